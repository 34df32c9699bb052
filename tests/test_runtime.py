"""OnnxModel loading and the ring buffer."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from audiogen import noise, tone
from onnx_tiny import LABELS, model_without_metadata, random_model, tone_model

from kws_edge.errors import KwsError
from kws_edge.labels import SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES
from kws_edge.onnx_model import OnnxModel, load_model
from kws_edge.ring_buffer import RingBuffer


@pytest.fixture(scope="module")
def tone_path(tmp_path_factory):
    return tone_model(tmp_path_factory.mktemp("m") / "tone.onnx", thresholds={"yes": 0.6, "no": 0.8})


def test_model_reads_metadata(tone_path):
    m = load_model(tone_path)
    assert m.labels == LABELS
    assert m.sample_rate == SAMPLE_RATE and m.window_samples == WINDOW_SAMPLES
    assert m.unknown_label == UNKNOWN_LABEL
    assert m.thresholds == {"yes": 0.6, "no": 0.8}
    assert m.metadata["model"] == "tiny-tone"
    assert m.name == "tiny-tone" and m.quantization == "none"


def test_predict_shapes_and_values(tone_path):
    m = OnnxModel(tone_path)
    windows = np.stack([tone(1000), tone(2000), noise(1.0)])
    probs = m.predict(windows)
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert probs.argmax(axis=1).tolist() == [0, 1, 2]
    assert m.predict(tone(1000)).shape == (1, 3)  # one window without a batch axis
    assert m.predict(np.zeros((0, WINDOW_SAMPLES), np.float32)).shape == (0, 3)
    with pytest.raises(ValueError):
        m.predict(np.zeros((2, 100), np.float32))


def test_session_is_single_threaded_cpu(tone_path):
    m = OnnxModel(tone_path)
    assert m._session.get_providers() == ["CPUExecutionProvider"]
    opts = m._session.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_batch_equals_single_window(tmp_path):
    m = OnnxModel(random_model(tmp_path / "r.onnx"))
    windows = np.stack([noise(1.0, seed=i) for i in range(5)])
    batched = m.predict(windows)
    single = np.concatenate([m.predict(w[None]) for w in windows])
    np.testing.assert_array_equal(batched, single)


def test_not_onnx_is_one_line_error(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"this is not a protobuf at all \x00\x01")
    with pytest.raises(KwsError, match=r"model\.onnx: not a loadable ONNX model") as err:
        load_model(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(KwsError, match="no such model file"):
        load_model(tmp_path / "absent.onnx")


def test_missing_metadata_is_an_error(tmp_path):
    path = model_without_metadata(tmp_path / "bare.onnx")
    with pytest.raises(KwsError, match=r"bare\.onnx: ONNX model lacks kws-edge metadata"):
        load_model(path)


@pytest.mark.parametrize("key,value,message", [
    ("labels", "not json", "not JSON"),
    ("labels", json.dumps(["a", "a", UNKNOWN_LABEL]), "duplicates"),
    ("sample_rate", "fast", "not an integer"),
    ("unknown_label", "_noise_", "not among the labels"),
    ("thresholds", json.dumps({"maybe": 0.5}), "unknown label"),
    ("thresholds", json.dumps({"yes": 3}), r"in \[0, 1\]"),
    ("window_samples", "8000", "does not match"),
])
def test_bad_metadata_values(tmp_path, key, value, message):
    path = tone_model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
    if key == "thresholds":
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    with pytest.raises(KwsError, match=message):
        load_model(path)


def test_label_count_mismatch_is_caught(tmp_path):
    # 3 outputs but metadata claims 4 labels: caught at load, not at the first detection.
    path = random_model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "labels":
            prop.value = json.dumps(["a", "b", "c", UNKNOWN_LABEL])
    onnx.save(model, str(path))
    with pytest.raises(KwsError, match=r"expected \[N, 4\]"):
        load_model(path)


def test_ring_buffer_keeps_latest_samples():
    rb = RingBuffer(10)
    np.testing.assert_array_equal(rb.latest(), np.zeros(10, np.float32))
    stream = np.arange(1, 38, dtype=np.float32)
    pos = 0
    for size in (3, 7, 1, 10, 12, 4):
        rb.write(stream[pos:pos + size])
        pos += size
        expect = np.concatenate([np.zeros(10, np.float32), stream[:pos]])[-10:]
        np.testing.assert_array_equal(rb.latest(), expect)
        np.testing.assert_array_equal(rb.latest(4), expect[-4:])
    assert rb.total_written == pos
    out = np.empty(10, np.float32)
    assert rb.latest(out=out) is out
    rb.reset()
    assert rb.total_written == 0 and not rb.latest().any()
    with pytest.raises(ValueError):
        rb.latest(11)

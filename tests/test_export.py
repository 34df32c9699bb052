"""kws-export end to end on a briefly trained M5: checker, parity, metadata, int8 accuracy, runtime loading.

The checkpoint comes from the real `kws-train` on espeak-ng speech generated here (5 words).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from audiogen import make_word_dataset, tone, write_wav
from conftest import requires_espeak
from onnx import helper

from kws_edge.errors import KwsError
from kws_edge.export import export_cli
from kws_edge.export.onnx_export import (
    OPSET,
    check_graph,
    export_torch,
    file_sha256,
    run_onnx,
    torch_probs,
)
from kws_edge.export.report import sign_test_p
from kws_edge.labels import SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES
from kws_edge.onnx_model import OnnxModel
from kws_edge.training import train_cli
from kws_edge.training.audio_io import load_clip
from kws_edge.training.checkpoint import atomic_save, load_checkpoint, model_from_checkpoint

pytestmark = [requires_espeak, pytest.mark.slow]  # one real kws-train run (~20 s) + several exports

WORDS = ["yes", "no", "up", "down", "stop"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A real kws-train run (30 quick epochs) plus an independent held-out set of other renditions."""
    root = tmp_path_factory.mktemp("export")
    data = make_word_dataset(root / "train_data", WORDS, per_word=20, seed=1)
    out = root / "run"
    code = train_cli.main(["--data", str(data), "--out", str(out), "--epochs", "30", "--lr", "0.01",
                           "--seed", "0", "--device", "cpu"])
    assert code == 0
    heldout = make_word_dataset(root / "heldout", WORDS, per_word=12, seed=7)
    return {"root": root, "data": data, "ckpt": out / "model.pt", "split": out / "split.json",
            "heldout": heldout}


def _clips(folder: Path, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    x, y = [], []
    for path in sorted(folder.glob("*/*.wav")):
        x.append(load_clip(path))
        y.append(labels.index(path.parent.name))
    return np.stack(x), np.array(y)


def _meta(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_fp32_export_checker_parity_and_metadata(trained, tmp_path):
    out = tmp_path / "model.onnx"
    assert export_cli.main([str(trained["ckpt"]), "-o", str(out)]) == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]

    (inp,), (outp,) = proto.graph.input, proto.graph.output
    assert inp.name == "audio" and outp.name == "probs"
    in_dims = inp.type.tensor_type.shape.dim
    assert in_dims[0].dim_param and in_dims[1].dim_value == WINDOW_SAMPLES  # dynamic batch, fixed window

    ckpt = load_checkpoint(trained["ckpt"])
    meta = _meta(out)
    assert json.loads(meta["labels"]) == ckpt["labels"]
    assert meta["sample_rate"] == str(SAMPLE_RATE) and meta["window_samples"] == str(WINDOW_SAMPLES)
    assert meta["unknown_label"] == UNKNOWN_LABEL and meta["model"] == "M5"
    assert meta["quantization"] == "none"
    assert json.loads(meta["source"])["sha256"] == file_sha256(trained["ckpt"])
    assert float(meta["test_accuracy"]) == pytest.approx(ckpt["metrics"]["test_accuracy"])
    assert json.loads(meta["metrics"])["test_accuracy"] == pytest.approx(ckpt["metrics"]["test_accuracy"])
    assert "stack_trace" not in out.read_bytes().decode("latin-1")  # exporter debug info stripped

    # Parity on clips the CLI never saw, at batch sizes 1 and 7, plus quiet and loud versions.
    model = model_from_checkpoint(ckpt)
    x, _ = _clips(trained["heldout"], ckpt["labels"])
    x = np.concatenate([x[:7], 0.01 * x[7:14], np.clip(4 * x[14:21], -1, 1)]).astype(np.float32)
    ref = torch_probs(model, x)
    for batch in (1, 7):
        got = run_onnx(proto, x, batch=batch)
        assert got.shape == ref.shape
        assert np.max(np.abs(got - ref)) < 1e-4
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5)  # softmax is inside the graph


def test_folded_front_end_equals_resampler_graph(trained):
    model = model_from_checkpoint(load_checkpoint(trained["ckpt"]))
    folded, kind = export_torch(model, fold=True)
    plain, plain_kind = export_torch(model, fold=False)
    assert kind.startswith("folded") and plain_kind == "resampler"
    conv_weights = {n.input[1] for n in folded.graph.node if n.op_type == "Conv"}
    assert not any("resample" in name for name in conv_weights)  # the resampler conv is gone
    assert any("resample" in n.input[1] for n in plain.graph.node if n.op_type == "Conv")
    rng = np.random.default_rng(0)
    x = np.concatenate([0.1 * rng.standard_normal((4, WINDOW_SAMPLES)),
                        np.stack([tone(f) for f in (300.0, 1200.0, 3700.0)])]).astype(np.float32)
    assert np.max(np.abs(run_onnx(folded, x) - run_onnx(plain, x))) < 1e-4


def test_log_front_exports_as_pooled_logs_equal_to_the_model(trained):
    """The log front's export (pool first, log on a quarter of the frames) equals the model, with
    bn1 scales of both signs (a falling channel pools its smallest energy)."""
    import torch

    from kws_edge.training.model import M5, M5Config

    model = model_from_checkpoint(load_checkpoint(trained["ckpt"]))
    log_model = M5(M5Config.from_dict({**model.config.to_dict(), "front": "log"}))
    log_model.load_state_dict(model.state_dict())
    with torch.no_grad():
        log_model.bn1.weight[::3] *= -1
    log_model.eval()
    folded, kind = export_torch(log_model, fold=True)
    plain, _ = export_torch(log_model, fold=False)
    assert kind.startswith("folded")
    assert "Log" in {n.op_type for n in folded.graph.node}
    rng = np.random.default_rng(1)
    x = np.concatenate([0.1 * rng.standard_normal((4, WINDOW_SAMPLES)),
                        np.stack([tone(f) for f in (300.0, 1200.0, 3700.0)])]).astype(np.float32)
    want = torch_probs(log_model, x)
    assert np.max(np.abs(run_onnx(folded, x) - want)) < 1e-4
    assert np.max(np.abs(run_onnx(plain, x) - want)) < 1e-4
    # ... and differs from the same weights with the linear front: the log is really in the graph.
    assert np.max(np.abs(run_onnx(export_torch(model, fold=True)[0], x) - want)) > 1e-3


def test_check_graph_catches_an_output_shape_drift(trained):
    model = model_from_checkpoint(load_checkpoint(trained["ckpt"]))
    proto, _ = export_torch(model)
    n_classes = len(load_checkpoint(trained["ckpt"])["labels"])
    check_graph(proto, n_classes, WINDOW_SAMPLES, "ok")
    # The trap quant_pre_process once set: [N, C] became [N, 1, C].
    last = proto.graph.node[-1]
    last.output[0] = "probs_2d"
    proto.graph.initializer.append(onnx.numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"))
    proto.graph.node.append(helper.make_node("Unsqueeze", ["probs_2d", "ax1"], ["probs"]))
    del proto.graph.output[0].type.tensor_type.shape.dim[:]
    with pytest.raises(KwsError, match=r"output shape \[3, 1, 6\]"):
        check_graph(proto, n_classes, WINDOW_SAMPLES, "drifted")


def test_int8_keeps_metadata_accuracy_and_loads_in_the_runtime(trained, tmp_path):
    out = tmp_path / "int8.onnx"
    report_path = tmp_path / "report.json"
    # Default calibration data: the checkpoint's own training data; held out = its test split.
    assert export_cli.main([str(trained["ckpt"]), "-o", str(out), "--quantize",
                            "--report", str(report_path)]) == 0
    fp32_path = tmp_path / "fp32.onnx"
    assert export_cli.main([str(trained["ckpt"]), "-o", str(fp32_path)]) == 0

    meta8, meta32 = _meta(out), _meta(fp32_path)
    assert meta8["quantization"] == "int8-static-qdq"
    for key in ("labels", "sample_rate", "window_samples", "unknown_label", "model", "version", "metrics",
                "test_accuracy", "source"):
        assert meta8[key] == meta32[key], key
    int8_ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= int8_ops
    assert out.stat().st_size < 0.5 * fp32_path.stat().st_size

    report = json.loads(report_path.read_text())
    assert report["accepted"] is True and report["held_out"] == "checkpoint test split"
    assert report["clips"] == len(json.loads(trained["split"].read_text())["test"])
    # Accepted: within --max-accuracy-drop, or a loss chance explains (one clip of 20 is 5 points).
    assert report["accuracy_drop_points"] <= 1.0 or report["sign_test_p"] >= 0.05
    assert set(report["latency"]) >= {"fp32", "int8", "speedup"}

    # Independently: on renditions neither training nor calibration saw, through the runtime loader.
    copy = tmp_path / "alone" / "model.onnx"  # the file alone, no sidecars
    copy.parent.mkdir()
    shutil.copy(out, copy)
    m8, m32 = OnnxModel(copy), OnnxModel(fp32_path)
    labels = json.loads(meta32["labels"])
    assert m8.labels == labels and m8.unknown_label == UNKNOWN_LABEL
    assert (m8.sample_rate, m8.window_samples) == (SAMPLE_RATE, WINDOW_SAMPLES)
    assert m8.quantization == "int8-static-qdq"
    x, y = _clips(trained["heldout"], labels)
    acc8 = float((m8.predict(x).argmax(1) == y).mean())
    acc32 = float((m32.predict(x).argmax(1) == y).mean())
    assert acc32 >= 0.6, "the briefly trained model should recognise most held-out renditions"
    # int8 may not be worse beyond chance: a clip on a decision boundary may flip either way.
    top8, top32 = m8.predict(x).argmax(1), m32.predict(x).argmax(1)
    lost, gained = int(((top32 == y) & (top8 != y)).sum()), int(((top32 != y) & (top8 == y)).sum())
    assert acc32 - acc8 <= 0.01 or sign_test_p(lost, gained) >= 0.05, (acc32, acc8, lost, gained)
    assert (m8.predict(x).argmax(1) == m32.predict(x).argmax(1)).mean() >= 0.9


def test_thresholds_travel_to_the_runtime(trained, tmp_path):
    ckpt = load_checkpoint(trained["ckpt"])
    ckpt["metrics"] = {**ckpt["metrics"], "thresholds": {"yes": 0.8, "stop": 0.65}}
    path = tmp_path / "with_thresholds.pt"
    atomic_save(ckpt, path)
    out = tmp_path / "t.onnx"
    assert export_cli.main([str(path), "-o", str(out)]) == 0
    assert OnnxModel(out).thresholds == {"yes": 0.8, "stop": 0.65}


def test_int8_refused_when_calibration_is_unrepresentative(trained, tmp_path):
    """Calibrating on tones (the test clips kept as speech) clips speech activations; the drop must
    be caught: exit 2, no int8 at OUT, fp32 beside it, report written."""
    data = tmp_path / "tones"
    shutil.copytree(trained["data"], data)
    test = set(json.loads(trained["split"].read_text())["test"])
    for i, path in enumerate(sorted(data.glob("*/*.wav"))):
        if f"{path.parent.name}/{path.name}" not in test:
            write_wav(path, tone(300.0 + 40 * i, 1.0, 0.3))
    # The same checkpoint, recorded as trained on that folder, so its test split is what is held out.
    run = tmp_path / "run"
    run.mkdir()
    ckpt = load_checkpoint(trained["ckpt"])
    ckpt["train_config"] = {**ckpt["train_config"], "data": str(data), "data_paths": [str(data)]}
    atomic_save(ckpt, run / "model.pt")
    shutil.copy(trained["split"], run / "split.json")
    out = tmp_path / "m.onnx"
    report = tmp_path / "r.json"
    code = export_cli.main([str(run / "model.pt"), "-o", str(out), "--quantize", "--report", str(report)])
    assert code == 2
    assert not out.exists()
    fallback = tmp_path / "m.fp32.onnx"
    assert _meta(fallback)["quantization"] == "none"
    doc = json.loads(report.read_text())
    assert doc["accepted"] is False and doc["accuracy_drop_points"] > 1.0
    assert doc["held_out"] == "checkpoint test split"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.fp32.onnx", "r.json", "run", "tones"]


def test_torch_is_not_needed_to_run_the_export(trained, tmp_path):
    """The exported file runs in a process that never imports torch (the runtime's situation)."""
    import subprocess
    import sys

    out = tmp_path / "m.onnx"
    assert export_cli.main([str(trained["ckpt"]), "-o", str(out)]) == 0
    code = ("import sys, numpy as np\nfrom kws_edge.onnx_model import OnnxModel\n"
            f"m = OnnxModel({str(out)!r})\np = m.predict(np.zeros((2, m.window_samples), np.float32))\n"
            "assert p.shape == (2, len(m.labels)) and 'torch' not in sys.modules\nprint('ok')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_int8_from_a_zip_with_other_options(trained, tmp_path):
    """Calibration data as a .zip that is not the training data: stratified half split; the
    per-tensor / percentile options produce a working int8 model too."""
    archive = Path(shutil.make_archive(str(tmp_path / "heldout"), "zip", root_dir=trained["heldout"]))
    out = tmp_path / "m.onnx"
    report_path = tmp_path / "r.json"
    assert export_cli.main([str(trained["ckpt"]), "-o", str(out), "--quantize", "--calibration-data",
                            str(archive), "--per-tensor", "--calibrate-method", "minmax",
                            "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["held_out"] == "stratified half split"
    assert report["per_channel"] is False and report["calibrate_method"] == "minmax"
    assert report["clips"] + report["calibration_clips"] == len(WORDS) * 12
    assert OnnxModel(out).quantization == "int8-static-qdq"
    # --report replaces an earlier report, and nothing else: not the checkpoint, the model, metrics.json.
    ckpt = tmp_path / "copy.pt"
    shutil.copy(trained["ckpt"], ckpt)
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"test_accuracy": 0.9}')
    for report, message in ((ckpt, "would overwrite the checkpoint"), (out, "names the model file"),
                            (metrics, "exists and is no kws-export report")):
        before = report.read_bytes()
        with pytest.raises(KwsError, match=message):
            export_cli.run(export_cli.build_parser().parse_args(
                [str(ckpt), "-o", str(out), "--quantize", "--report", str(report)]))
        assert report.read_bytes() == before


def test_held_out_clips_follow_the_datasets_testing_list(trained, tmp_path):
    from kws_edge.export.calibration import load_clip_set, split_for_calibration

    data = tmp_path / "sc"
    shutil.copytree(trained["heldout"], data)
    listed = sorted(f"{p.parent.name}/{p.name}" for p in data.glob("*/*.wav"))[::6]
    (data / "testing_list.txt").write_text("\n".join(listed) + "\n")
    ckpt = load_checkpoint(trained["ckpt"])
    clips = load_clip_set(data, ckpt["labels"])
    cal, held, how = split_for_calibration(clips, ckpt, trained["ckpt"], data)
    assert how == "dataset testing_list.txt"
    assert sorted("/".join(Path(p).parts[-2:]) for p in held.paths) == listed
    assert not set(cal.paths) & set(held.paths)


def test_calibration_clips_of_none_of_the_models_words_are_said_to_measure_rejection_only(tmp_path, caplog):
    from kws_edge.export.calibration import load_clip_set

    for word in ("alpha", "beta"):
        for i in range(3):
            write_wav(tmp_path / word / f"{i}.wav", tone(300.0 + 100 * i, 0.5))
    load_clip_set(tmp_path, ["alpha", "gamma", UNKNOWN_LABEL])
    assert not [r for r in caplog.records if "holds no clip of the model's words" in r.getMessage()]
    load_clip_set(tmp_path, ["gamma", UNKNOWN_LABEL])
    assert [r for r in caplog.records if "holds no clip of the model's words (gamma)" in r.getMessage()]

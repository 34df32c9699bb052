"""A microphone's DC offset is removed from the stream before the VAD and the model."""

from __future__ import annotations

import numpy as np
import pytest
from audiogen import coloured_noise, noise, tone
from onnx_tiny import tone_model

from kws_edge.dc_offset import DcRemover
from kws_edge.errors import KwsError
from kws_edge.labels import SAMPLE_RATE
from kws_edge.onnx_model import OnnxModel
from kws_edge.spotter import KeywordSpotter, SpotterOptions

BLOCK = 8000


def _signal() -> np.ndarray:
    return noise(3.3, amp=0.05, seed=3) + np.float32(0.07)


def test_output_does_not_depend_on_chunk_size():
    x = _signal()
    whole = DcRemover(BLOCK).process(x)
    for chunk in (1, 160, 7999, 8000, 12345):
        remover = DcRemover(BLOCK)
        parts = [remover.process(x[i:i + chunk]) for i in range(0, len(x), chunk)]
        np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_constant_offset_is_removed_after_the_first_block():
    x = _signal()
    y = DcRemover(BLOCK).process(x)
    np.testing.assert_array_equal(y[:BLOCK], x[:BLOCK])  # nothing known yet
    assert abs(float(y[BLOCK:].mean())) < 2e-3
    assert abs(float(x[BLOCK:].mean()) - 0.07) < 2e-3


def test_reset_forgets_the_offset():
    remover = DcRemover(BLOCK)
    remover.process(_signal())
    assert remover.offset == pytest.approx(0.07, abs=2e-3)
    remover.reset()
    assert remover.offset == 0.0


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return OnnxModel(tone_model(tmp_path_factory.mktemp("dc") / "tone.onnx"))


def _stream() -> np.ndarray:
    gap = [noise(s, amp=0.005, seed=i) for i, s in enumerate((2.0, 1.5, 1.5, 2.0))]
    return np.concatenate([gap[0], tone(1000, 0.6), gap[1], tone(2000, 0.7), gap[2], tone(1000, 0.5), gap[3]])


def _events(model, audio, **opts):
    spotter = KeywordSpotter(model, SpotterOptions(**opts))
    return [(e.label, round(e.time, 3)) for e in spotter.run(iter([audio]))]


def test_an_offset_stream_fires_as_the_clean_one(model):
    clean = _stream()
    expected = _events(model, clean)
    assert [label for label, _ in expected] == ["yes", "no", "yes"]
    assert _events(model, clean + np.float32(0.2)) == expected
    # The high-pass against rumble removes an offset too; without either, the offset swamps the
    # VAD and the window's RMS normalisation.
    assert _events(model, clean + np.float32(0.2), dc_block_ms=0) == expected
    assert _events(model, clean + np.float32(0.2), dc_block_ms=0, highpass_hz=0) != expected


def test_negative_block_is_an_error():
    with pytest.raises(KwsError, match="dc_block_ms"):
        SpotterOptions(dc_block_ms=-1)


def test_rumble_and_hum_are_filtered_out(model):
    """Mains hum (50 Hz, -17 dBFS) or brown-noise rumble (-20 dBFS), both louder than the words'
    quiet parts: filtered at 80 Hz the stream fires as the clean one; unfiltered, words are lost."""
    clean = _stream()
    expected = _events(model, clean)
    t = np.arange(len(clean)) / SAMPLE_RATE
    hum = (0.2 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    rumble = coloured_noise(len(clean), 0.1)
    for background in (hum, rumble):
        assert _events(model, clean + background) == expected
        unfiltered = _events(model, clean + background, highpass_hz=0)
        assert len(unfiltered) < len(expected), unfiltered


def test_a_cut_off_out_of_range_is_an_error():
    with pytest.raises(KwsError, match="highpass_hz"):
        SpotterOptions(highpass_hz=-1)

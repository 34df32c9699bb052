"""kws_edge/highpass.py: what it passes, what it removes, and that chunking changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from kws_edge.highpass import RUMBLE_HZ, HighPass


def _gain_db(rate: int, hz: float) -> float:
    t = np.arange(2 * rate) / rate
    y = HighPass(rate).process(np.sin(2 * np.pi * hz * t).astype(np.float32))
    settled = y[rate:]  # the second second: the filter's start-up is over
    return 10 * np.log10(np.mean(settled.astype(np.float64) ** 2) / 0.5)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_rumble_is_removed_and_speech_passes(rate):
    assert _gain_db(rate, 20) < -23  # 12 dB an octave
    assert _gain_db(rate, 40) < -11
    assert abs(_gain_db(rate, RUMBLE_HZ) + 3.0) < 0.3  # the cut-off
    for hz in (200, 500, 1000, 3000):
        assert abs(_gain_db(rate, hz)) < 0.7


def test_a_dc_offset_is_gone_within_twenty_ms():
    y = HighPass(16000).process(np.full(16000, 0.05, np.float32))
    assert np.abs(y[320:]).max() < 0.05 * 1e-3


def test_any_chunking_gives_the_same_output():
    x = np.random.default_rng(0).standard_normal(40000).astype(np.float32)
    whole = HighPass(16000).process(x)
    for chunk in (1, 160, 777, 16000):
        hp = HighPass(16000)
        parts = np.concatenate([hp.process(x[i:i + chunk]) for i in range(0, len(x), chunk)])
        np.testing.assert_allclose(parts, whole, atol=1e-5)
    assert len(HighPass(16000).process(np.zeros(0, np.float32))) == 0


def test_a_cut_off_outside_the_band_is_refused():
    with pytest.raises(ValueError, match="outside"):
        HighPass(16000, hz=9000)

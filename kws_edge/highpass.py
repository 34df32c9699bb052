"""A causal high-pass for level measures: rumble (traffic, a fan, wind, a desk knocked) out of them.

Low rumble carries most of its power under 80 Hz, where speech has next to none, and its level
swings widely from one 10-20 ms frame to the next (a frame holds less than one cycle of it). An
energy VAD or a word's frame levels then see sound come and go in the pauses of a word: over brown
noise 20-25 dB under the words, kws-record called nearly half of the takes "two words" or "too long"
(docs/recording.md has the measurement). The filter is a 2nd-order Butterworth high-pass whose
impulse response is applied by FFT, truncated where it has decayed by 100 dB: causal, with under a
millisecond of delay at speech frequencies, and stateful, so any chunking of a stream gives the
same output (to float rounding).
"""

from __future__ import annotations

import math

import numpy as np

RUMBLE_HZ = 80.0


def _impulse_response(rate: int, hz: float) -> np.ndarray:
    k = math.tan(math.pi * hz / rate)
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    b = (norm, -2.0 * norm, norm)
    a1, a2 = 2.0 * (k * k - 1.0) * norm, (1.0 - math.sqrt(2.0) * k + k * k) * norm
    # The poles' radius is sqrt(a2): the response has decayed by 100 dB after this many samples.
    n = int(math.ceil(math.log(1e-5) / math.log(math.sqrt(a2)))) + 3
    h = np.zeros(n)
    x1 = x2 = y1 = y2 = 0.0
    for i in range(n):
        x0 = 1.0 if i == 0 else 0.0
        y0 = b[0] * x0 + b[1] * x1 + b[2] * x2 - a1 * y1 - a2 * y2
        h[i] = y0
        x2, x1, y2, y1 = x1, x0, y1, y0
    return h


class HighPass:
    """`process(chunk) -> chunk` high-passed at `hz`, as float32; the state carries across calls."""

    def __init__(self, rate: int, hz: float = RUMBLE_HZ) -> None:
        if not 0.0 < hz < rate / 2:
            raise ValueError(f"cut-off {hz} Hz is outside 0-{rate / 2:g} Hz")
        self._h = _impulse_response(rate, hz)
        self._tail = np.zeros(len(self._h) - 1)
        self._spectra: dict[int, np.ndarray] = {}

    def process(self, chunk: np.ndarray) -> np.ndarray:
        x = np.asarray(chunk, dtype=np.float64)
        if not len(x):
            return np.zeros(0, np.float32)
        data = np.concatenate([self._tail, x])
        size = 1 << (len(data) - 1).bit_length()
        spectrum = self._spectra.get(size)
        if spectrum is None:
            spectrum = self._spectra[size] = np.fft.rfft(self._h, size)
        y = np.fft.irfft(np.fft.rfft(data, size) * spectrum, size)[len(self._tail):len(data)]
        self._tail = data[len(data) - len(self._tail):]
        return y.astype(np.float32)

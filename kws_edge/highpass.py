"""A causal high-pass: rumble and mains hum (traffic, a fan, wind, a desk knocked, 50/60 Hz) out of
the stream before it is measured or heard.

Low rumble carries most of its power under 80 Hz, where speech has next to none, and its level
swings widely from one 10-20 ms frame to the next (a frame holds less than one cycle of it). An
energy VAD or a word's frame levels then see sound come and go in the pauses of a word, and a
model that scales each window by its RMS hears the word quieter: over brown noise 20-25 dB under
the words kws-record called nearly half of the takes "two words" or "too long", and under mains
hum the shipped model heard half of the real keywords (docs/recording.md, docs/listening.md).

The filter is a 2nd-order Butterworth high-pass (12 dB an octave under the cut-off), run exactly
as its recursion: split into its direct part and one complex pole, whose recursion over a block
is a cumulative sum (numpy, no per-sample Python), blocks chained by their last value. It is
causal, with under a millisecond of delay at speech frequencies, and keeps its state, so any
chunking of a stream gives the same output (to float rounding).
"""

from __future__ import annotations

import math

import numpy as np

RUMBLE_HZ = 80.0
# Samples per block of the recursion: |pole|^-BLOCK must stay small for complex64 (at 80 Hz and
# 16 kHz it is 17; at 8 kHz, 300).
_BLOCK = 128


class HighPass:
    """`process(chunk) -> chunk` high-passed at `hz`, as float32; the state carries across calls."""

    def __init__(self, rate: int, hz: float = RUMBLE_HZ) -> None:
        if not 0.0 < hz < rate / 2:
            raise ValueError(f"cut-off {hz} Hz is outside 0-{rate / 2:g} Hz")
        k = math.tan(math.pi * hz / rate)
        norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
        b0, b1, b2 = norm, -2.0 * norm, norm
        a1, a2 = 2.0 * (k * k - 1.0) * norm, (1.0 - math.sqrt(2.0) * k + k * k) * norm
        # H(z) = B(z) / ((1 - p z^-1)(1 - p* z^-1)) = d + r / (1 - p z^-1) + r* / (1 - p* z^-1):
        # the output is d x + 2 Re(w), w[n] = p w[n-1] + r x[n].
        p = complex(-a1 / 2.0, math.sqrt(max(0.0, a2 - a1 * a1 / 4.0)))
        self._direct = b2 / a2
        zinv = 1.0 / p
        self._r = ((b0 - self._direct) + (b1 - self._direct * a1) * zinv) / (1.0 - p.conjugate() * zinv)
        powers = np.arange(_BLOCK)
        self._up = (p ** (powers + 1)).astype(np.complex64)  # p^(k+1): a block's carried-in value
        self._rise = (p ** powers).astype(np.complex64)
        self._fall = (self._r * p ** -powers).astype(np.complex64)
        self._p_block = complex(p ** _BLOCK)
        self._w = 0j

    def process(self, chunk: np.ndarray) -> np.ndarray:
        x = np.asarray(chunk, dtype=np.float32).reshape(-1)
        n = len(x)
        if not n:
            return np.zeros(0, np.float32)
        blocks = -(-n // _BLOCK)
        padded = x
        if n % _BLOCK:
            padded = np.zeros(blocks * _BLOCK, np.float32)
            padded[:n] = x
        # Each block's own response (zero state in), then what the blocks before it carry in.
        w = np.cumsum(self._fall * padded.reshape(blocks, _BLOCK), axis=1)
        w *= self._rise
        carried = np.empty(blocks, np.complex64)
        state = self._w
        for b, last in enumerate(w[:, -1].tolist()):
            carried[b] = state
            state = self._p_block * state + last
        w += self._up * carried[:, None]
        w = w.reshape(-1)[:n]
        self._w = complex(w[-1])
        out = w.real * np.float32(2.0)
        out += np.float32(self._direct) * x
        return out

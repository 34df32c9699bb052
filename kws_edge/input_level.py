"""What a recording's levels say about listening to it: too quiet to hear words, or clipped."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np

# kws-listen and kws-eval warn about a recording whose peak is under this: the detector starts to
# miss words under it (the bundled recording at -50 dBFS gives its 7 words, at -55 6, at -60 one).
LISTEN_QUIET_DBFS = -50.0
# A sample at or over this is at full scale (resampled clipping rings around 1.0).
CLIP_LEVEL = 0.98
# This many samples at full scale, and this share of the recording, make it clipped: a stray peak
# is not worth a warning, a recording whose words are squared off is (recall drops).
CLIP_SAMPLES = 100
CLIP_SHARE = 1e-4


# How loud the words are: the peak of the LOUD_FRAMES-th loudest 50-ms frame (at 16 kHz) once each
# chunk's mean (a DC offset) is taken off, so that a click or two cannot pass for a word.
LOUD_FRAME = 800
LOUD_FRAMES = 3


class InputLevels:
    """Levels and samples at full scale of everything `add()`ed; `warnings()` says what is wrong."""

    def __init__(self) -> None:
        self.peak = 0.0
        self.clipped = 0
        self.samples = 0
        self._loudest = np.zeros(LOUD_FRAMES)

    def add(self, chunk: np.ndarray) -> None:
        if len(chunk):
            level = np.abs(chunk)
            self.peak = max(self.peak, float(level.max()))
            self.clipped += int(np.count_nonzero(level >= CLIP_LEVEL))
            self.samples += len(chunk)
            ac = np.abs(chunk - chunk.mean(dtype=np.float64))
            frames = np.maximum.reduceat(ac, np.arange(0, len(ac), LOUD_FRAME))
            self._loudest = np.sort(np.concatenate([self._loudest, frames]))[-LOUD_FRAMES:]

    @property
    def words_peak(self) -> float:
        """About how loud the loudest words are (a peak, not counting a DC offset or a click)."""
        return float(self._loudest[0])

    def watch(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """`chunks` passed on unchanged, each `add()`ed on the way."""
        for chunk in chunks:
            self.add(chunk)
            yield chunk

    def warnings(self, name: str) -> list[str]:
        out = []
        if self.samples and self.peak == 0:
            out.append(f"{name}: every sample is zero (digital silence): nothing to hear; a muted input?")
        elif self.words_peak < 10 ** (LISTEN_QUIET_DBFS / 20):
            # Words this quiet are missed (and under -70 dBFS never counted as speech): say why.
            level = 20 * math.log10(max(self.words_peak, 1e-10))
            out.append(f"{name}: its loudest sounds peak at {level:.0f} dBFS, too quiet to "
                       f"hear words reliably (words under {LISTEN_QUIET_DBFS:.0f} dBFS start to be missed); "
                       "normalise it first, e.g. sox IN OUT gain -n -3")
        if self.clipped >= max(CLIP_SAMPLES, CLIP_SHARE * self.samples):
            out.append(f"{name}: {self.clipped} samples ({100 * self.clipped / self.samples:.2g}%) are at "
                       "full scale: it is clipped, and clipped words are heard less reliably; record "
                       "with the input volume lower")
        return out



class LiveClipping:
    """Clipping on a live input, said while listening (a file's is said at its end): `add()` returns
    a warning when a block of `block_s` seconds held CLIP_SAMPLES samples at full scale, at most
    once every `every_s` seconds."""

    def __init__(self, rate: int, block_s: float = 10.0, every_s: float = 60.0) -> None:
        self.rate = rate
        self.block = int(block_s * rate)
        self.every = int(every_s * rate)
        self.in_block = self.clipped = self.heard = self.quiet_until = 0

    def add(self, chunk: np.ndarray) -> str | None:
        self.clipped += int(np.count_nonzero(np.abs(chunk) >= CLIP_LEVEL))
        self.in_block += len(chunk)
        self.heard += len(chunk)
        if self.in_block < self.block:
            return None
        clipped, self.clipped, self.in_block = self.clipped, 0, 0
        if clipped < CLIP_SAMPLES or self.heard < self.quiet_until:
            return None
        self.quiet_until = self.heard + self.every
        return (f"the input is clipping ({clipped} samples at full scale in the last "
                f"{self.block / self.rate:.0f} s): clipped words are heard less reliably; turn the "
                "microphone's input volume down")

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
        if not len(chunk):
            return
        self.samples += len(chunk)
        high, low = _extremes(chunk)
        peak = max(float(high.max()), -float(low.min()))
        self.peak = max(self.peak, peak)
        if peak >= CLIP_LEVEL:
            self.clipped += int(np.count_nonzero(np.abs(chunk) >= CLIP_LEVEL))
        dc = _mean(chunk)
        peaks = np.maximum(high - dc, dc - low)  # with the chunk's mean (a DC offset) taken off
        if peaks.max() > self._loudest[0]:
            self._loudest = np.sort(np.concatenate([self._loudest, peaks]))[-LOUD_FRAMES:]

    @property
    def words_peak(self) -> float:
        """About how loud the loudest words are (a peak, not counting a DC offset or a click)."""
        return float(self._loudest[0])

    def watch(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """`chunks` passed on unchanged, each `add()`ed on the way."""
        for chunk in chunks:
            self.add(chunk)
            yield chunk

    def warnings(self, name: str, past_full_scale: bool = False) -> list[str]:
        """What is wrong with the input. `past_full_scale`: the file is floating point and its
        samples go past 1.0, so those at full scale are no clipping (nothing was cut off)."""
        out = []
        if self.samples and self.peak == 0:
            out.append(f"{name}: every sample is zero (digital silence): nothing to hear; a muted input?")
        elif self.samples and self.words_peak < 1e-6:
            out.append(f"{name}: holds nothing but a constant offset (DC): nothing to hear; a muted input?")
        elif self.words_peak < 10 ** (LISTEN_QUIET_DBFS / 20):
            # Words this quiet are missed (and under -70 dBFS never counted as speech): say why.
            level = 20 * math.log10(max(self.words_peak, 1e-10))
            out.append(f"{name}: its loudest sounds peak at {level:.0f} dBFS, too quiet to "
                       f"hear words reliably (words under {LISTEN_QUIET_DBFS:.0f} dBFS start to be missed); "
                       "normalise it first, e.g. sox IN OUT gain -n -3")
        if self.clipped >= max(CLIP_SAMPLES, CLIP_SHARE * self.samples) and not past_full_scale:
            out.append(f"{name}: {self.clipped} samples ({100 * self.clipped / self.samples:.2g}%) are at "
                       "full scale: it is clipped, and clipped words are heard less reliably; record "
                       "with the input volume lower")
        return out


# A block of live input in which something was said: its LOUD_FRAMES-th loudest 50-ms frame's RMS
# this far over its typical frame's (the median).
SAID_OVER_DB = 10.0


def _mean(audio: np.ndarray) -> np.float32:
    """The mean (a DC offset), summed in float32: a float64 sum of a 10-s block cost 0.1 ms."""
    return np.float32(np.add.reduce(audio, dtype=np.float32) / len(audio))


def _extremes(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The highest and lowest sample of each LOUD_FRAME-sample frame (the last one may be short)."""
    whole = len(audio) // LOUD_FRAME * LOUD_FRAME
    frames = audio[:whole].reshape(-1, LOUD_FRAME)
    high, low = frames.max(axis=1), frames.min(axis=1)
    if whole < len(audio):
        high, low = np.append(high, audio[whole:].max()), np.append(low, audio[whole:].min())
    return high, low


class LiveLevels:
    """A live input's levels, said while listening (a file's are said at its end): `add()` returns a
    warning at the end of a block of `block_s` seconds that held CLIP_SAMPLES samples at full
    scale (at most once every `every_s`), or in which a voice was heard (SAID_OVER_DB over the
    block's typical level, with a pitch) that peaked under LISTEN_QUIET_DBFS (at most once every
    `quiet_every_s`): a microphone too far away or turned down misses words and says nothing else.
    A chunk is only kept; the block is measured once, at its end (~0.2 s of CPU an hour)."""

    def __init__(self, rate: int, block_s: float = 10.0, every_s: float = 60.0,
                 quiet_every_s: float = 300.0) -> None:
        self.rate = rate
        self.block = int(block_s * rate)
        self.every = int(every_s * rate)
        self.quiet_every = int(quiet_every_s * rate)
        self.in_block = self.heard = self._next_clip_warning = self._next_quiet_warning = 0
        self._chunks: list[np.ndarray] = []

    def add(self, chunk: np.ndarray) -> str | None:
        self._chunks.append(chunk)
        self.in_block += len(chunk)
        self.heard += len(chunk)
        if self.in_block < self.block:
            return None
        audio, self._chunks, self.in_block = np.concatenate(self._chunks), [], 0
        frames = audio[:len(audio) // LOUD_FRAME * LOUD_FRAME].reshape(-1, LOUD_FRAME)
        high, low = frames.max(axis=1), frames.min(axis=1)
        clipped = 0
        if max(float(high.max(initial=0.0)), -float(low.min(initial=0.0))) >= CLIP_LEVEL:
            clipped = int(np.count_nonzero(np.abs(audio) >= CLIP_LEVEL))
        if clipped >= CLIP_SAMPLES and self.heard >= self._next_clip_warning:
            self._next_clip_warning = self.heard + self.every
            return (f"the input is clipping ({clipped} samples at full scale in the last "
                    f"{self.block / self.rate:.0f} s): clipped words are heard less reliably; turn the "
                    "microphone's input volume down")
        if self.heard < self._next_quiet_warning or len(frames) < LOUD_FRAMES:
            return None
        # Each frame's peak and energy with the block's mean (a DC offset) taken off.
        dc = _mean(audio)
        peaks = np.maximum(high - dc, dc - low)
        power = (np.einsum("ij,ij->i", frames, frames) - 2 * dc * frames.sum(axis=1)
                 + LOUD_FRAME * dc * dc)
        loud = float(np.sort(peaks)[-LOUD_FRAMES])
        power = np.sort(power)
        said = power[-LOUD_FRAMES] >= power[len(power) // 2] * 10 ** (SAID_OVER_DB / 10)  # the median
        if not (said and 0 < loud < 10 ** (LISTEN_QUIET_DBFS / 20)):
            return None
        # Keys typed next to a quiet microphone are no reason to say it is too quiet for words.
        from .voicing import VOICE_MS, voiced_ms

        centre = int(np.argmax(peaks)) * LOUD_FRAME + LOUD_FRAME // 2
        around = audio[max(0, centre - self.rate // 2):centre + self.rate // 2]  # voiced_ms ignores DC
        if voiced_ms(around, self.rate, enough_ms=VOICE_MS) < VOICE_MS:
            return None
        self._next_quiet_warning = self.heard + self.quiet_every
        return (f"the input is quiet: its loudest sounds of the last {self.block / self.rate:.0f} s "
                f"peak at {20 * math.log10(loud):.0f} dBFS, and words under {LISTEN_QUIET_DBFS:.0f} "
                "dBFS start to be missed: speak closer to the microphone, or turn its input volume up")

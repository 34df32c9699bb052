"""Loading clips for training: soundfile decodes, torchaudio resamples once, 1-s windows out.

torch is imported lazily so that `kws-eval` on an ONNX model (which resamples with soxr, as the
runtime does) can load datasets without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kws_edge.audio import decode, resample
from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.spotter import core_frames


def fit_window(audio: np.ndarray, length: int = WINDOW_SAMPLES) -> np.ndarray:
    """Pad short clips (centred) with zeros; crop long ones to the `length` samples that hold the
    most sound (`_busiest_start`)."""
    return fit_window_and_left_out(audio, length)[0]


def fit_window_and_left_out(audio: np.ndarray, length: int = WINDOW_SAMPLES) -> tuple[np.ndarray, int]:
    """`fit_window`, and how many ms of a long clip's loud sound the crop left out: its 10-ms frames
    within 20 dB of the loudest and 10 dB over the median (not a noisy room's steady level), outside
    the second kept. A tap is a few frames; a second word is 150 ms or more."""
    n = audio.shape[0]
    if n == length:
        return audio, 0
    if n < length:
        out = np.zeros(length, dtype=np.float32)
        start = (length - n) // 2
        out[start:start + n] = audio
        return out, 0
    db = _frame_db(audio)
    start = _busiest_start(db, n, length)
    loud = (db >= db.max() - 20.0) & (db >= np.median(db) + 10.0)
    loud[start // _FRAME:(start + length) // _FRAME] = False
    left_out = int(np.count_nonzero(loud)) * 1000 // (SAMPLE_RATE // _FRAME)
    return np.ascontiguousarray(audio[start:start + length]), left_out


def loud_part_seconds(audio: np.ndarray, depth_db: float, gap_ms: int) -> float:
    """How long the loud part of a clip lasts, as kws-listen's utterance gate measures a word's
    (its core, `kws_edge.spotter.core_frames`), on the clip's 10-ms frames."""
    db = _frame_db(audio)
    if not len(db):
        return 0.0
    first, stop = core_frames(db, depth_db, gap_ms // 10)
    return (stop - first) / 100


_FRAME = SAMPLE_RATE // 100
# A frame counts by its level over this many dB under the clip's loudest frame (0 below).
_COUNTED_DB = 40.0


def _frame_db(audio: np.ndarray) -> np.ndarray:
    """Each whole 10-ms frame's mean power in dB."""
    n = len(audio) // _FRAME
    power = np.mean(audio[:n * _FRAME].astype(np.float64).reshape(n, _FRAME) ** 2, axis=1)
    return 10.0 * np.log10(power + 1e-12)


def _busiest_start(db: np.ndarray, n: int, length: int) -> int:
    """Where, in a clip of `n` samples with frame levels `db`, the window with the most sound
    starts: each 10-ms frame weighs its level in dB over 40 dB under the loudest, so a word's half
    second outweighs a 50-ms tap louder than it (the record button of a phone memo), where summed
    energy chose the tap. Of equally good windows (a word in digital silence) the middle one,
    which centres the word."""
    frames = (n - length) // _FRAME + 1
    weight = np.clip(db - (db.max() - _COUNTED_DB), 0.0, None)
    per_window = length // _FRAME
    cum = np.concatenate([[0.0], np.cumsum(weight)])
    score = cum[per_window:per_window + frames] - cum[:frames]
    best = np.flatnonzero(score >= score.max() - 1e-9 * max(1.0, score.max()))
    return min(int(best[len(best) // 2]) * _FRAME, n - length)


def load_audio_16k(path: str | Path) -> np.ndarray:
    """Decode any soundfile format, mono, resampled to 16 kHz with torchaudio (full length)."""
    audio, rate = decode(path)
    return to_16k(audio, rate)


def load_clip(path: str | Path) -> np.ndarray:
    """One training example: float32 `[WINDOW_SAMPLES]` at 16 kHz."""
    return fit_window(load_audio_16k(path))


RESAMPLERS = ("torchaudio", "soxr")


def to_16k(audio: np.ndarray, rate: int, resampler: str = "torchaudio") -> np.ndarray:
    """Resample decoded audio to 16 kHz (torchaudio for training, soxr, the runtime's, for ONNX
    eval), without its DC offset: the runtime removes a microphone's offset from the stream
    (kws_edge/dc_offset.py), so clips recorded with one are trained and scored without it too."""
    audio = audio - np.float32(audio.mean(dtype=np.float64))
    if rate == SAMPLE_RATE:
        return audio.astype(np.float32, copy=False)
    if resampler == "soxr":
        return resample(audio, rate, SAMPLE_RATE)
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.from_numpy(audio), rate, SAMPLE_RATE).numpy().astype(np.float32, copy=False)

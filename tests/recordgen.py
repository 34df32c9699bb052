"""Streams for kws-record's tests and benchmark: one word said again and again with pauses,
made with espeak-ng (tests/audiogen.py), with where each word is, so a test can check the cuts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from audiogen import VOICES, espeak

from kws_edge.labels import SAMPLE_RATE


def trimmed(audio: np.ndarray, range_db: float = 40.0) -> np.ndarray:
    """espeak pads its output with silence: keep from the first to the last 10-ms frame within
    `range_db` of the loudest, so pauses are the pauses asked for."""
    f = SAMPLE_RATE // 100
    n = len(audio) // f
    lv = 10 * np.log10(np.var(audio[:n * f].reshape(n, f), axis=1) + 1e-12)
    loud = np.flatnonzero(lv > lv.max() - range_db)
    return audio[loud[0] * f:(loud[-1] + 1) * f]


@dataclass
class Stream:
    audio: np.ndarray
    words: list[tuple[int, int]] = field(default_factory=list)  # (start, end) samples of each word


def say(word: str, i: int, seed: int = 0) -> np.ndarray:
    """The i-th take of a word: voice, speed and pitch varied like a person's takes."""
    rng = np.random.default_rng([seed, i])
    return trimmed(espeak(word, VOICES[i % 3], speed=int(rng.integers(140, 190)),
                          pitch=int(rng.integers(35, 65))))


def word_stream(takes: list[np.ndarray], pauses: list[float], lead: float = 0.6, tail: float = 1.0,
                noise_dbfs: float | None = -65.0, seed: int = 0) -> Stream:
    """takes[i] followed by pauses[i] seconds; quiet noise under it all (a room, not digital zero)."""
    parts = [np.zeros(int(lead * SAMPLE_RATE), np.float32)]
    pos = len(parts[0])
    spans = []
    for take, pause in zip(takes, pauses, strict=True):
        spans.append((pos, pos + len(take)))
        parts += [take.astype(np.float32), np.zeros(int(pause * SAMPLE_RATE), np.float32)]
        pos += len(take) + len(parts[-1])
    parts.append(np.zeros(int(tail * SAMPLE_RATE), np.float32))
    audio = np.concatenate(parts)
    if noise_dbfs is not None:
        rng = np.random.default_rng(seed)
        audio = audio + (10 ** (noise_dbfs / 20) * rng.standard_normal(len(audio))).astype(np.float32)
    return Stream(audio, spans)


def repeated(word: str, times: int, pause: float = 0.8, seed: int = 0,
             noise_dbfs: float | None = -65.0) -> Stream:
    return word_stream([say(word, i, seed) for i in range(times)], [pause] * times, noise_dbfs=noise_dbfs,
                       seed=seed)


def problem_stream(word: str = "yes", seed: int = 0) -> tuple[Stream, dict[str, list[int]]]:
    """20 takes of a word: takes 4+5 and 11+12 run into each other (200 and 250 ms apart, under
    the cutter's hang-over, so each pair is one utterance), take 16 is clipped (x8, cut at full
    scale). Returns the stream and which takes make which problem ("ok": the good ones)."""
    takes = [say(word, i, seed) for i in range(20)]
    takes[16] = np.clip(takes[16] * 8.0, -1.0, 1.0)
    pauses = [0.8] * 20
    pauses[4], pauses[11] = 0.2, 0.25
    truth = {"two words": [4, 11], "clipped": [16],
             "ok": [i for i in range(20) if i not in (4, 5, 11, 12, 16)]}
    return word_stream(takes, pauses, seed=seed), truth

"""The voice check stops early (`enough_ms`) without changing its answer.

The utterance gate and kws-record only ask whether a sound holds enough voice; counting stops once
it does. Over speech, a voice made of harmonics, clicks, noise and rumble, in pieces of any length,
the early answer must say yes exactly where the full count does.
"""

from __future__ import annotations

import numpy as np
import pytest
from audiogen import coloured_noise, espeak, have_espeak, noise

from kws_edge.labels import SAMPLE_RATE
from kws_edge.voicing import VOICE_MS, voiced_ms


def _harmonics(seconds: float, pitch: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.1 * sum(np.sin(2 * np.pi * pitch * h * t) / h for h in range(1, 21))).astype(np.float32)


def _clicks(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    audio = noise(seconds, amp=1e-3, seed=seed)
    n = SAMPLE_RATE * 15 // 1000
    click = (0.3 * rng.standard_normal(n) * np.exp(-np.arange(n) / 48)).astype(np.float32)
    for at in rng.integers(0, len(audio) - n, 4):
        audio[at:at + n] += click
    return audio


def _sounds() -> list[np.ndarray]:
    sounds = [_harmonics(0.4, 140), _harmonics(0.05, 220), _clicks(0.8, 1), _clicks(0.3, 2),
              noise(0.6, seed=3), coloured_noise(SAMPLE_RATE, 0.05, seed=4),
              _clicks(1.0, 5) + np.pad(_harmonics(0.06, 120), (8000, 8000 - 960))]
    if have_espeak():
        speech = espeak("six, seven, marvin, a window")
        sounds += [speech[i:i + n] for i in range(0, len(speech), 5000) for n in (700, 3000, 12000)]
    return [s for s in sounds if len(s)]


@pytest.mark.parametrize("need", [10, VOICE_MS, 80])
def test_stopping_early_gives_the_full_counts_answer(need):
    answers = []
    for sound in _sounds():
        full, early = voiced_ms(sound, SAMPLE_RATE), voiced_ms(sound, SAMPLE_RATE, enough_ms=need)
        assert (early >= need) == (full >= need)
        assert early <= full
        answers.append(full >= need)
    assert any(answers) and not all(answers)  # both answers were asked for

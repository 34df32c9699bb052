"""Reject-class clips made from the user's own keyword clips: word-like, in the clip's room, no keyword."""

from __future__ import annotations

import numpy as np

from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.training.unknown import KINDS, _partial, _span, _splice, _swap, make_reject_clips

FREQS = (300, 500, 700, 900, 1100, 1300)


def _words(rng: np.random.Generator) -> np.ndarray:
    """Word k: 0.3-0.6 s of two tones (its first half at FREQS[k], its second half at FREQS[k] +
    100 Hz) at a random place in its clip, over faint noise (the room)."""
    clips = (rng.standard_normal((len(FREQS), WINDOW_SAMPLES)) * 0.002).astype(np.float32)
    for k, f in enumerate(FREQS):
        n = int(rng.uniform(0.3, 0.6) * SAMPLE_RATE)
        start = int(rng.integers(0, WINDOW_SAMPLES - n))
        t = np.arange(n) / SAMPLE_RATE
        clips[k, start:start + n] += 0.3 * np.where(t < t[-1] / 2, np.sin(2 * np.pi * f * t),
                                                    np.sin(2 * np.pi * (f + 100) * t))
    return clips


def _has(clip: np.ndarray, freq: float) -> bool:
    spectrum = np.abs(np.fft.rfft(clip))
    return spectrum[int(freq * len(clip) / SAMPLE_RATE)] > 0.2 * spectrum.max()


def test_every_kind_is_made_and_sane():
    rng = np.random.default_rng(0)
    words = _words(rng)
    bank = rng.normal(0, 0.05, (4, WINDOW_SAMPLES)).astype(np.float32)
    clips, made = make_reject_clips(words, np.arange(len(words)), 400, seed=1, noise_bank=bank)
    assert set(made) == set(KINDS) and sum(made.values()) == 400
    assert clips.shape == (400, WINDOW_SAMPLES) and clips.dtype == np.float32
    assert np.all(np.isfinite(clips)) and np.abs(clips).max() <= 1.0 + 1e-6


def test_splice_joins_the_start_of_one_word_to_the_end_of_another():
    rng = np.random.default_rng(1)
    words = _words(rng)
    for clip in _splice(words, np.arange(len(words)), 30, rng):
        s, e = _span(clip)
        starts = [k for k, f in enumerate(FREQS) if _has(clip[s:e], f)]
        ends = [k for k, f in enumerate(FREQS) if _has(clip[s:e], f + 100)]
        # One word's onset and another word's end: never one whole keyword.
        assert len(starts) >= 1 and len(ends) >= 1 and set(starts) != set(ends)


def test_partial_keeps_part_of_a_word_and_swap_reorders_it():
    rng = np.random.default_rng(2)
    words = _words(rng)
    spans = [_span(w) for w in words]
    longest = max(e - s for s, e in spans)
    for clip in _partial(words, 30, rng):
        s, e = _span(clip)
        assert e - s <= 0.65 * longest + SAMPLE_RATE // 50
    for clip in _swap(words, 30, rng):
        s, e = _span(clip)
        head, tail = clip[s:s + (e - s) // 4], clip[e - (e - s) // 4:e]
        # The word's second half (f + 100) comes first, its first half (f) last.
        k = next(k for k, f in enumerate(FREQS) if _has(clip[s:e], f))
        assert _has(head, FREQS[k] + 100) and _has(tail, FREQS[k])


def _pause(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def _talk_word(seconds: float) -> np.ndarray:
    """A tone with a syllable every 320 ms (200 ms on, 120 ms at 3%)."""
    n = int(seconds * SAMPLE_RATE)
    syllables = np.resize(np.concatenate([np.ones(3200), np.full(1920, 0.03)]), n)
    return (0.3 * np.sin(2 * np.pi * 500 * np.arange(n) / SAMPLE_RATE) * syllables).astype(np.float32)


def test_utterance_windows_centre_each_word_of_the_talk():
    """Talk: three short words and one 2.5-s run of speech, with pauses; faint room noise."""
    from kws_edge.training.unknown import utterance_windows

    rng = np.random.default_rng(4)
    parts = [_pause(2.0), _talk_word(0.4), _pause(1.0), _talk_word(0.6), _pause(1.2), _talk_word(0.3),
             _pause(1.0), _talk_word(2.5), _pause(1.0)]
    audio = np.concatenate(parts) + (rng.standard_normal(sum(map(len, parts))) * 0.001).astype(np.float32)
    windows = utterance_windows(audio)
    assert windows.shape[1] == WINDOW_SAMPLES and 3 + 3 <= len(windows) <= 3 + 5
    for w in windows[:3]:  # a short word: in the middle of its window, all of it
        s, e = _span(w)
        assert abs((s + e) / 2 - WINDOW_SAMPLES / 2) < 0.1 * SAMPLE_RATE
    assert utterance_windows(np.zeros(3 * SAMPLE_RATE, np.float32)).shape == (0, WINDOW_SAMPLES)

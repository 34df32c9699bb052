"""Reject-class clips made from the user's own keyword clips: word-like, in the clip's room, no keyword."""

from __future__ import annotations

import numpy as np

from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.training.unknown import (
    KINDS,
    _onset_and_vowel,
    _onset_donors,
    _partial,
    _rhyme,
    _span,
    _splice,
    _swap,
    make_reject_clips,
)

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


VOWEL_HZ = (300, 400, 500, 600, 700, 800)
ONSET_HZ = (2500, 3300, 4100, 4900, 5700, 6500)


def _band(x: np.ndarray, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def _syllables(rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Word k: 60-120 ms of noise in a band around ONSET_HZ[k] (its consonant), then 250-400 ms of
    a VOWEL_HZ[k] tone 20 dB louder (its vowel), at a random place in its clip; returns the clips
    and where each vowel starts."""
    clips = (rng.standard_normal((len(VOWEL_HZ), WINDOW_SAMPLES)) * 0.0005).astype(np.float32)
    starts = []
    for k, (vowel_hz, onset_hz) in enumerate(zip(VOWEL_HZ, ONSET_HZ, strict=True)):
        n_on, n_v = int(rng.uniform(0.06, 0.12) * SAMPLE_RATE), int(rng.uniform(0.25, 0.4) * SAMPLE_RATE)
        start = int(rng.integers(1000, WINDOW_SAMPLES - n_on - n_v - 1000))
        noise = np.fft.rfft(rng.standard_normal(n_on))
        freqs = np.fft.rfftfreq(n_on, 1.0 / SAMPLE_RATE)
        noise[np.abs(freqs - onset_hz) > 300] = 0
        burst = np.fft.irfft(noise, n=n_on)
        clips[k, start:start + n_on] += 0.03 * burst / burst.std()
        t = np.arange(n_v) / SAMPLE_RATE
        clips[k, start + n_on:start + n_on + n_v] += 0.3 * np.sin(2 * np.pi * vowel_hz * t)
        starts.append(start + n_on)
    return clips, starts


def test_onset_and_vowel_find_the_consonant_and_the_vowel():
    clips, vowels = _syllables(np.random.default_rng(5))
    for clip, vowel in zip(clips, vowels, strict=True):
        first, found, end = _onset_and_vowel(clip)
        assert abs(found - vowel) <= SAMPLE_RATE // 50
        assert vowel - first >= 0.05 * SAMPLE_RATE and end > found


def test_rhyme_puts_another_words_onset_before_a_words_vowel():
    rng = np.random.default_rng(6)
    clips, _ = _syllables(rng)
    for clip in _rhyme(clips, np.arange(len(clips)), 40, rng):
        first, vowel, end = _onset_and_vowel(clip)
        onset, rest = clip[first:vowel], clip[vowel:end]
        own = int(np.argmax([_band(rest, f - 30, f + 30) for f in VOWEL_HZ]))
        donor = int(np.argmax([_band(onset, f - 300, f + 300) for f in ONSET_HZ]))
        # The vowel of one word, the consonant of another: never a whole word of the set.
        assert donor != own
        assert _band(onset, ONSET_HZ[donor] - 300, ONSET_HZ[donor] + 300) > 3 * _band(
            onset, ONSET_HZ[own] - 300, ONSET_HZ[own] + 300)


def test_rhyme_borrows_no_onset_that_makes_another_keyword():
    names = ["tree", "three", "two", "bed", "go", "no", "nine", "one", "wow", "six", "eight"]
    allowed = _onset_donors(names)

    def donors(word: str) -> set[str]:
        return {names[b] for b in np.flatnonzero(allowed[names.index(word)])}

    assert donors("tree") == donors("three") == {"bed", "go", "no", "nine", "one", "wow", "six", "eight"}
    assert donors("go") == {"bed", "one", "wow", "six", "eight"}  # "n-o" is no, "t-o" near two
    assert "wow" not in donors("one") and "one" not in donors("wow")
    assert "six" not in donors("six")
    # Word 0's only other class may not lend its onset: word 0's rhymes keep their own start.
    rng = np.random.default_rng(7)
    clips, _ = _syllables(rng)
    pair = _rhyme(clips[:2], np.array([0, 1]), 10, rng, names=["tree", "two"])
    for clip in pair:
        first, vowel, _ = _onset_and_vowel(clip)
        assert vowel - first < 0.03 * SAMPLE_RATE  # the rhyme alone, no borrowed "t"


def test_rhyme_skips_a_word_whose_consonant_it_cannot_find():
    """A word spelled with a consonant first but showing none (the split failed) gives no rhyme:
    its "rhyme" would be the whole keyword after another's consonant. A word spelled with a vowel
    first ("eight") needs none."""
    rng = np.random.default_rng(8)
    clips, vowels = _syllables(rng)
    clips = clips[:3].copy()
    clips[0, vowels[0] - 2500:vowels[0]] = 0.0  # word 0 starts right on its vowel
    for names, expect_word_0 in ((["bed", "six", "go"], False), (["eight", "six", "go"], True)):
        made = _rhyme(clips, np.arange(3), 60, rng, names=names)
        vowel_of = [int(np.argmax([_band(clip[_onset_and_vowel(clip)[1]:], f - 30, f + 30)
                                   for f in VOWEL_HZ[:3]])) for clip in made]
        assert (0 in vowel_of) == expect_word_0, names
        assert {1, 2} <= set(vowel_of)


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

"""kws-synth building blocks without any TTS engine: effects, word lists, split rule, voice specs."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import soundfile as sf

from kws_edge.errors import KwsError
from kws_edge.labels import KEYWORDS, SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.training import synth_effects as fx
from kws_edge.training.synth import which_set
from kws_edge.training.synth_voices import Voice, match_voices, parse_spec, select_voices
from kws_edge.training.synth_words import (
    COMMON_WORDS,
    EVAL_WORDS,
    FILLER_WORDS,
    HOMOPHONES,
    NEAR_MISSES,
    keyword_texts,
)


def _band_power(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.shape[0], 1 / SAMPLE_RATE)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_colour_noise_slopes_and_unit_rms() -> None:
    rng = np.random.default_rng(0)
    ratios = {}
    for colour in ("white", "pink", "brown"):
        x = fx.colour_noise(rng, 4 * SAMPLE_RATE, colour)
        assert x.dtype == np.float32
        assert fx.rms(x) == pytest.approx(1.0, rel=1e-3)
        # One octave apart, equal widths in octaves: white 2x (3 dB), pink 1x, brown 0.5x.
        ratios[colour] = _band_power(x, 2000, 4000) / _band_power(x, 1000, 2000)
    assert ratios["white"] == pytest.approx(2.0, rel=0.1)
    assert ratios["pink"] == pytest.approx(1.0, rel=0.1)
    assert ratios["brown"] == pytest.approx(0.5, rel=0.1)


def test_room_impulse_decays_by_rt60() -> None:
    rng = np.random.default_rng(1)
    rt60 = 0.5
    ir = fx.room_impulse(rng, rt60, drr_db=0.0)
    assert ir.shape[0] == int(rt60 * SAMPLE_RATE)
    tail = ir[1:]
    # Energy drops 60 dB over rt60, so 20 dB over a third of it: compare early and late windows.
    w = SAMPLE_RATE // 50
    a = np.sum(tail[w:2 * w] ** 2)
    start = w + int(rt60 / 3 * SAMPLE_RATE)
    b = np.sum(tail[start:start + w] ** 2)
    assert 10 * np.log10(a / b) == pytest.approx(20.0, abs=4.0)
    assert np.sum(tail ** 2) == pytest.approx(1.0, rel=1e-6)   # drr 0 dB: tail energy = direct


def test_trim_silence_and_tape_speed() -> None:
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    word = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    padded = np.concatenate([np.zeros(4000, np.float32), word, np.zeros(3000, np.float32)])
    trimmed = fx.trim_silence(padded)
    assert abs(trimmed.shape[0] - word.shape[0]) <= SAMPLE_RATE // 100 * 2
    # A synthesiser's own noise floor ~45 dB down (flite awb) is trimmed too.
    hiss = 0.5 * 10 ** (-44 / 20) * np.random.default_rng(0).standard_normal(padded.shape[0])
    trimmed = fx.trim_silence((padded + hiss).astype(np.float32))
    assert abs(trimmed.shape[0] - word.shape[0]) <= SAMPLE_RATE // 100 * 2
    faster = fx.tape_speed(word, 1.25)
    assert faster.shape[0] == pytest.approx(word.shape[0] / 1.25, abs=2)


def test_render_places_speech_whole_and_sets_level() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(int(0.6 * SAMPLE_RATE)) / SAMPLE_RATE
    speech = (0.3 * np.sin(2 * np.pi * 220 * t) * np.hanning(t.shape[0])).astype(np.float32)
    ranges = fx.EffectRanges(p_reverb=0.0, p_mic=0.0, p_clean=1.0)
    for _ in range(20):
        out = fx.render(rng, speech, WINDOW_SAMPLES, None, ranges)
        assert out.shape == (WINDOW_SAMPLES,) and out.dtype == np.float32
        peak = float(np.abs(out).max())
        lo, hi = ranges.peak_dbfs
        assert 10 ** (lo / 20) * 0.99 <= peak <= 10 ** (hi / 20) * 1.01
        # The whole tone is inside: its energy is there, and the clean floor is >= 45 dB below it.
        frames = np.square(out.reshape(50, -1)).mean(axis=1)
        assert 10 * np.log10(frames.max() / np.sort(frames)[5]) > 40
    with pytest.raises(ValueError):
        fx.render(rng, np.ones(WINDOW_SAMPLES + 1, np.float32), WINDOW_SAMPLES, None, ranges)


def test_noise_bank(tmp_path) -> None:
    rng = np.random.default_rng(4)
    sf.write(str(tmp_path / "hum.wav"), 0.1 * fx.colour_noise(rng, 3 * SAMPLE_RATE, "pink"), SAMPLE_RATE)
    sf.write(str(tmp_path / "tiny.wav"), np.zeros(100, np.float32), SAMPLE_RATE)
    bank = fx.NoiseBank([tmp_path])
    assert len(bank.recordings) == 1
    seg = bank.segment(rng, WINDOW_SAMPLES)
    assert seg.shape == (WINDOW_SAMPLES,) and fx.rms(seg) == pytest.approx(1.0, rel=1e-3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KwsError, match="no .wav"):
        fx.NoiseBank([empty])
    with pytest.raises(KwsError, match="must be a folder"):
        fx.NoiseBank([tmp_path / "missing"])


def test_word_lists_hold_no_keyword_or_homophone() -> None:
    banned = set(KEYWORDS) | HOMOPHONES
    for text in (*NEAR_MISSES, *FILLER_WORDS, *COMMON_WORDS):
        assert not banned & set(text.lower().split()), text
    assert len(FILLER_WORDS) >= 300
    assert len(COMMON_WORDS) >= 2000 and len(set(COMMON_WORDS)) == len(COMMON_WORDS)
    assert not set(COMMON_WORDS) & set(EVAL_WORDS)
    for word in KEYWORDS:
        for engine in ("espeak", "flite"):
            texts = keyword_texts(word, engine)
            assert word in texts
            assert all(t.startswith(word) or t.startswith("[[") for t in texts)
            if engine == "flite":
                assert not any("[[" in t for t in texts)


def test_which_set_is_per_speaker_and_about_10_10_80() -> None:
    ids = [hashlib.sha1(str(i).encode()).hexdigest()[:8] for i in range(4000)]
    sets = [which_set(f"yes/{s}_nohash_0.wav") for s in ids]
    assert all(which_set(f"no/{s}_nohash_7.wav") == got for s, got in zip(ids, sets, strict=True))
    share = {k: sets.count(k) / len(sets) for k in ("validation", "testing", "training")}
    assert share["validation"] == pytest.approx(0.1, abs=0.02)
    assert share["testing"] == pytest.approx(0.1, abs=0.02)


def test_voice_specs_select_and_hold_out() -> None:
    voices = [Voice("espeak", n) for n in ("en-us", "en-us+f3", "en-us+f4", "en-029+f4", "en-029+m5")]
    voices += [Voice("flite", n) for n in ("kal", "slt")]
    assert {v.spec for v in match_voices(voices, parse_spec("flite:*"))} == {"flite:kal", "flite:slt"}
    f4 = {v.spec for v in match_voices(voices, parse_spec("*+f4"))}
    assert f4 == {"espeak:en-us+f4", "espeak:en-029+f4"}
    default = {v.spec for v in select_voices(voices, None, None)}
    assert default == {"espeak:en-us", "espeak:en-us+f3", "flite:kal"}   # DEFAULT_HOLDOUT left out
    # Explicitly chosen voices are generated even when they are in the default holdout.
    assert [v.spec for v in select_voices(voices, "flite:slt", None)] == ["flite:slt"]
    assert len(select_voices(voices, None, "")) == len(voices)
    with pytest.raises(KwsError, match="matches no installed voice"):
        select_voices(voices, "flite:nobody", None)
    # A typo in the holdout would hold out nothing; an engine not in use is no typo.
    with pytest.raises(KwsError, match="--holdout-voices: 'flite:slx' matches no installed voice"):
        select_voices(voices, None, "flite:slx")
    assert len(select_voices(voices, None, "rhvoice:slt,kokoro:mix00")) == len(voices)
    with pytest.raises(KwsError, match="engine must be"):
        parse_spec("festival:kal")
    with pytest.raises(KwsError, match="no voices left"):
        select_voices(voices, "flite:slt", "flite:*")
    assert len({v.speaker_id for v in voices}) == len(voices)
    assert Voice("flite", "slt").speaker_id == hashlib.sha1(b"flite:slt").hexdigest()[:8]


def test_custom_keywords_are_kept_out_of_the_reject_texts() -> None:
    from kws_edge.training.synth_words import reject_texts

    kept = reject_texts(FILLER_WORDS, ("hello", "kitchen"))
    assert "hello there" not in kept and "in the kitchen" not in kept and "kitchen" not in kept
    assert "good morning" in kept

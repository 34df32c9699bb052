"""The base's made-up near misses (scripts/make_rhyme_set.py) keep each made-up word in one voice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from audiogen import write_wav

from kws_edge.labels import KEYWORDS, SAMPLE_RATE, WINDOW_SAMPLES

REPO = Path(__file__).resolve().parents[1]
# Two "voices", each saying a word as a consonant-like noise burst then a vowel-like tone: voice A
# in the low band, voice B an octave up. A rhyme or swap across voices would hold both bands.
VOICES = {"aaaa1111": 1.0, "bbbb2222": 2.0}
WORDS = KEYWORDS[:4]


def _word(rng: np.random.Generator, k: int, scale: float) -> np.ndarray:
    clip = (rng.standard_normal(WINDOW_SAMPLES) * 1e-4).astype(np.float32)
    start = int(rng.integers(2000, 5000))
    t = np.arange(int(0.35 * SAMPLE_RATE)) / SAMPLE_RATE
    burst = np.sin(2 * np.pi * scale * (1800 + 150 * k) * t[:int(0.08 * SAMPLE_RATE)]) * 0.3
    vowel = np.sin(2 * np.pi * scale * (300 + 60 * k) * t) * 0.5
    word = np.concatenate([burst, vowel]).astype(np.float32)
    clip[start:start + len(word)] += word
    return clip


def _band_share(clip: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(clip)) ** 2
    freqs = np.fft.rfftfreq(len(clip), 1 / SAMPLE_RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum() / spectrum.sum())


def test_made_up_words_stay_in_one_voice(tmp_path):
    rng = np.random.default_rng(3)
    synth = tmp_path / "synth"
    for speaker, scale in VOICES.items():
        for k, word in enumerate(WORDS):
            for n in range(3):
                write_wav(synth / word / f"{speaker}_nohash_{n}.wav", _word(rng, k, scale))
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "make_rhyme_set.py"), str(tmp_path),
                           "--sets", str(synth), "--clips", "40", "--seed", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    made = sorted((tmp_path / "rhymes" / "_unknown_").glob("*.wav"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rhymes", "synth"]  # no staging left
    assert 36 <= len(made) <= 44  # each voice's share, rounded at random
    for path in made:
        clip, rate = sf.read(str(path), dtype="float32")
        assert rate == SAMPLE_RATE and clip.shape == (WINDOW_SAMPLES,)
        # Voice A's sounds lie under 700 Hz and at 1.8-2.3 kHz, voice B's at 600-1000 Hz and
        # 3.6-4.6 kHz: a made-up word holds one voice's bands, never both.
        a = _band_share(clip, 250, 560) + _band_share(clip, 1700, 2400)
        b = _band_share(clip, 580, 1100) + _band_share(clip, 3500, 4700)
        assert max(a, b) > 0.9 and min(a, b) < 0.05, (path.name, a, b)


def test_a_set_without_keyword_clips_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "make_rhyme_set.py"), str(tmp_path),
                           "--sets", str(tmp_path / "empty")], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "no voice with keyword clips" in done.stderr
    assert not (tmp_path / "rhymes").exists()
    assert len(done.stderr.strip().splitlines()) == 1

"""Test data made on the fly: espeak-ng speech, tones and noise, written as real WAV files."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_edge.audio import resample
from kws_edge.labels import SAMPLE_RATE

VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-us+f3", "en-gb-x-rp+m3", "en-029+f2")


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50, amp: int = 100) -> np.ndarray:
    """Speech from espeak-ng as float32 mono at 16 kHz."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amp), "--stdout", text],
        check=True, capture_output=True,
    ).stdout
    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return resample(audio, rate, SAMPLE_RATE)


def tone(freq: float, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, amp: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)


def coloured_noise(n: int, rms: float, beta: float = 2.0, seed: int = 0) -> np.ndarray:
    """`n` samples of noise whose power falls as 1/f^beta from 10 Hz up (1: pink; 2: brown, rumble:
    traffic, a fan, wind), at RMS `rms`."""
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spec /= np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), 10.0) ** (beta / 2)
    x = np.fft.irfft(spec, n)
    return (x * (rms / np.sqrt(np.mean(x ** 2)))).astype(np.float32)


def babble(seconds: float, seed: int = 0, amp: float = 0.02, talkers: int = 4) -> np.ndarray:
    """Background talk, crudely: `talkers` voices of noise bursts (syllables, 150-350 ms) with
    pauses (50-300 ms), each pausing on its own, so the sum dips often but rarely to silence."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n, dtype=np.float32)
    for _ in range(talkers):
        parts, length = [], 0
        while length < n:
            burst = noise(float(rng.uniform(0.15, 0.35)), amp=amp / 2 * float(rng.uniform(0.5, 1.5)),
                          seed=int(rng.integers(1 << 30)))
            pause = noise(float(rng.uniform(0.05, 0.3)), amp=0.0005, seed=int(rng.integers(1 << 30)))
            parts += [burst, pause]
            length += len(burst) + len(pause)
        out += np.concatenate(parts)[:n]
    return out


def write_wav(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, rate, subtype=subtype)
    return path


def make_word_dataset(root: Path, words: list[str], per_word: int, seed: int = 0,
                      voices: tuple[str, ...] = VOICES) -> Path:
    """A custom-layout dataset `root/<word>/*.wav` of espeak-ng speech with varied voice, speed, pitch."""
    rng = np.random.default_rng(seed)
    for word in words:
        for i in range(per_word):
            voice = voices[i % len(voices)]
            audio = espeak(word, voice, speed=int(rng.integers(120, 200)), pitch=int(rng.integers(20, 80)))
            audio = audio + rng.normal(0, 0.003, audio.shape).astype(np.float32)
            write_wav(root / word / f"{voice.replace('+', '_')}_{i:03d}.wav", audio)
    return root

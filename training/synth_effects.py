"""Realism effects for synthetic clips: room, microphone, noise, level. numpy only, vectorised.

Every function takes an explicit `np.random.Generator`, so a clip's sound depends only on the
generator it is given (kws-synth derives one per clip from the seed, the word and the index).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws_edge.audio import load_16k, resample
from kws_edge.errors import KwsError
from kws_edge.labels import SAMPLE_RATE

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
# Room noise is mostly pink/brown; white hiss is rarer (and overweights the top octave).
NOISE_COLOURS = ("white", "pink", "brown")
NOISE_WEIGHTS = (0.2, 0.45, 0.35)
_EPS = 1e-12


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + _EPS))


def trim_silence(audio: np.ndarray, rate: int = SAMPLE_RATE, floor_db: float = -45.0,
                 above_noise_db: float = 8.0) -> np.ndarray:
    """Cut leading/trailing 10-ms frames quieter than `floor_db` below the loudest frame, or than
    `above_noise_db` over the quietest frames (flite's awb has a noise floor only ~45 dB down)."""
    frame = rate // 100
    n = audio.shape[0] // frame
    if n == 0:
        return audio
    energy = np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64).mean(axis=1)
    threshold = max(energy.max() * 10.0 ** (floor_db / 10.0),
                    np.percentile(energy, 10) * 10.0 ** (above_noise_db / 10.0))
    keep = np.flatnonzero(energy > threshold)
    if keep.size == 0:
        return audio[:0]
    return audio[keep[0] * frame: (keep[-1] + 1) * frame]


def tape_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (pitch rises with it), like a tape or a clock mismatch."""
    if abs(factor - 1.0) < 1e-4:
        return audio
    return resample(audio, round(SAMPLE_RATE * factor), SAMPLE_RATE)


def colour_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """Unit-RMS white (flat), pink (1/f) or brown (1/f^2) noise, shaped in the frequency domain."""
    exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[colour]
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    # Below 20 Hz brown/pink noise would be mostly DC drift: hold the gain flat there.
    spec *= np.maximum(freqs, 20.0) ** -exponent
    out = np.fft.irfft(spec, n)
    return (out / (rms(out))).astype(np.float32)


def room_impulse(rng: np.random.Generator, rt60: float, drr_db: float) -> np.ndarray:
    """A synthetic room: direct path + exponentially decaying noise tail (RT60 seconds) whose
    energy sits `drr_db` below the direct sound; high frequencies decay faster, as in real rooms."""
    n = max(int(rt60 * SAMPLE_RATE), 16)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)   # 60 dB down at t = rt60
    # One-pole low-pass on the tail: absorption darkens late reverberation.
    tail = np.fft.irfft(np.fft.rfft(tail) / (1.0 + 1j * np.fft.rfftfreq(n, 1 / SAMPLE_RATE) / 4000.0), n)
    predelay = int(rng.uniform(0.002, 0.012) * SAMPLE_RATE)
    tail[:predelay] = 0.0
    tail *= db_to_gain(-drr_db) / np.sqrt(np.sum(tail ** 2) + _EPS)
    tail[0] += 1.0
    return tail


def mic_response(rng: np.random.Generator, n_fft: int) -> np.ndarray:
    """Gains over rfft bins for a random cheap-microphone / channel colouration: high-pass,
    band-limit (lossy codecs, phone / Bluetooth / 8-kHz-era audio), spectral tilt, one resonance.

    Ranges follow real Speech Commands clips (synth_compare, docs/synth.md): they carry much less
    energy below 300 Hz and above 6 kHz than the engines' output."""
    f = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    hp = rng.uniform(80.0, 400.0)
    gain = 1.0 / np.sqrt(1.0 + (hp / np.maximum(f, 1.0)) ** 4)          # 2nd-order high-pass
    lp = rng.uniform(3400.0, 5500.0) if rng.random() < 0.25 else rng.uniform(5500.0, 7800.0)
    gain = gain / np.sqrt(1.0 + (f / lp) ** 8)                           # 4th-order low-pass
    tilt_db_per_oct = rng.uniform(-3.0, 2.0)
    gain = gain * 10.0 ** (tilt_db_per_oct * np.log2(np.maximum(f, 100.0) / 1000.0) / 20.0)
    centre, width, peak_db = rng.uniform(300.0, 5000.0), rng.uniform(0.3, 1.2), rng.uniform(-6.0, 8.0)
    bump = np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / centre) / width) ** 2)
    gain = gain * 10.0 ** (peak_db * bump / 20.0)
    return gain


class NoiseBank:
    """Real background recordings (Speech Commands' `_background_noise_` style), loaded once."""

    def __init__(self, dirs: list[Path]):
        self.recordings: list[np.ndarray] = []
        self.names: list[str] = []
        for d in dirs:
            if not d.is_dir():
                raise KwsError(f"{d}: --noise must be a folder of noise recordings")
            files = sorted(p for p in d.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                raise KwsError(f"{d}: no .wav/.flac/.ogg noise recordings in this folder")
            for p in files:
                audio = load_16k(p)
                if audio.shape[0] < SAMPLE_RATE:
                    log.warning("%s: shorter than 1 s, not used as background noise", p)
                    continue
                self.recordings.append(audio)
                self.names.append(str(p))
        if dirs and not self.recordings:
            raise KwsError(f"{', '.join(map(str, dirs))}: no noise recording of at least 1 s")

    def __bool__(self) -> bool:
        return bool(self.recordings)

    def segment(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """A random unit-RMS `n`-sample stretch of a random recording."""
        rec = self.recordings[int(rng.integers(len(self.recordings)))]
        start = int(rng.integers(0, rec.shape[0] - n + 1)) if rec.shape[0] > n else 0
        seg = rec[start:start + n]
        if seg.shape[0] < n:
            seg = np.resize(seg, n)
        return (seg / rms(seg)).astype(np.float32)


@dataclass(frozen=True)
class EffectRanges:
    """How much each effect varies; the defaults aim at phone / laptop recordings in rooms."""
    p_reverb: float = 0.5
    rt60: tuple[float, float] = (0.1, 0.7)
    drr_db: tuple[float, float] = (0.0, 15.0)
    p_mic: float = 0.9
    p_clean: float = 0.2             # only a faint noise floor (still mic + reverb)
    clean_snr_db: tuple[float, float] = (45.0, 65.0)
    p_real_noise: float = 0.6        # of the noisy clips, when a noise bank is loaded
    snr_db: tuple[float, float] = (8.0, 50.0)
    peak_dbfs: tuple[float, float] = (-19.0, -0.5)
    tape: tuple[float, float] = (0.92, 1.08)
    # flite has only five voices: a wider tape-speed range shifts their formants and pitch
    # together (like a shorter or longer vocal tract), making more distinct speakers of each.
    flite_tape: tuple[float, float] = (0.85, 1.17)

    @classmethod
    def dry(cls) -> EffectRanges:
        """The engines' own sound: no room, microphone, noise or speed change; peak -3 dBFS."""
        return cls(p_reverb=0.0, p_mic=0.0, p_clean=1.0, clean_snr_db=(90.0, 90.0),
                   peak_dbfs=(-3.0, -3.0), tape=(1.0, 1.0), flite_tape=(1.0, 1.0))


def background(rng: np.random.Generator, n: int, bank: NoiseBank | None, p_real: float) -> np.ndarray:
    """Unit-RMS background: a real recording or coloured noise."""
    if bank and rng.random() < p_real:
        return bank.segment(rng, n)
    return colour_noise(rng, n, NOISE_COLOURS[int(rng.choice(3, p=NOISE_WEIGHTS))])


def render(rng: np.random.Generator, speech: np.ndarray, window: int, bank: NoiseBank | None,
           ranges: EffectRanges) -> np.ndarray:
    """Place trimmed `speech` at a random offset inside `window` samples (never cut off), then room,
    noise at a random SNR, microphone colouration and a random level. Returns float32 in [-1, 1]."""
    if speech.shape[0] > window:
        raise ValueError(f"speech of {speech.shape[0]} samples does not fit a {window}-sample window")
    clip = np.zeros(window, dtype=np.float64)
    offset = int(rng.integers(0, window - speech.shape[0] + 1))
    clip[offset:offset + speech.shape[0]] = speech
    speech_power = np.mean(np.square(speech, dtype=np.float64)) + _EPS

    n_fft = 2 * window  # room tail wraps into the zero half, never onto the speech start
    spec = np.fft.rfft(clip, n_fft)
    if rng.random() < ranges.p_reverb:
        ir = room_impulse(rng, rng.uniform(*ranges.rt60), rng.uniform(*ranges.drr_db))[:n_fft - window]
        spec = spec * np.fft.rfft(ir, n_fft)
    clip = np.fft.irfft(spec, n_fft)[:window]
    # Reverb redistributes the energy; keep the SNR referenced to the dry speech level.
    clip *= np.sqrt(speech_power / (np.mean(np.square(clip[offset:offset + speech.shape[0]])) + _EPS))

    if rng.random() < ranges.p_clean:
        # "Clean" still has a microphone's self-noise: digital silence never occurs in recordings.
        snr = rng.uniform(*ranges.clean_snr_db)
        noise = colour_noise(rng, window, str(rng.choice(["white", "pink"])))
    else:
        snr = rng.uniform(*ranges.snr_db)
        noise = background(rng, window, bank, ranges.p_real_noise)
    clip = clip + noise * np.sqrt(speech_power) * db_to_gain(-snr)

    if rng.random() < ranges.p_mic:
        clip = np.fft.irfft(np.fft.rfft(clip, n_fft) * mic_response(rng, n_fft), n_fft)[:window]

    return set_peak(clip, rng.uniform(*ranges.peak_dbfs))


def set_peak(clip: np.ndarray, peak_dbfs: float) -> np.ndarray:
    peak = float(np.max(np.abs(clip))) + _EPS
    return (clip * (db_to_gain(peak_dbfs) / peak)).astype(np.float32)


def silence(rng: np.random.Generator, window: int) -> np.ndarray:
    """Near-silence: a quiet room or an idle microphone (-80 to -55 dBFS of coloured noise)."""
    noise = colour_noise(rng, window, str(rng.choice(["white", "pink", "brown"])))
    return (noise * db_to_gain(rng.uniform(-80.0, -55.0))).astype(np.float32)


def noise_clip(rng: np.random.Generator, window: int, bank: NoiseBank | None) -> np.ndarray:
    """A noise-only clip (real or coloured, sometimes both) at a random level."""
    clip = background(rng, window, bank, 0.6).astype(np.float64)
    if rng.random() < 0.3:
        clip = clip + background(rng, window, bank, 0.6) * db_to_gain(rng.uniform(-20.0, 0.0))
    if rng.random() < 0.5:
        n_fft = 2 * window
        clip = np.fft.irfft(np.fft.rfft(clip, n_fft) * mic_response(rng, n_fft), n_fft)[:window]
    level = db_to_gain(rng.uniform(-50.0, -15.0)) / rms(clip)
    clip = clip * level
    peak = float(np.max(np.abs(clip)))
    if peak > 0.99:
        clip *= 0.99 / peak
    return clip.astype(np.float32)

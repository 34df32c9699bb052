"""Reject-class (`_unknown_`) examples for datasets that bring none.

A streaming detector spends most of its life on silence, noise and talk that holds no keyword; a
model fine-tuned only on keyword clips forgets how to say "nothing". These generators make that
class from what is at hand: silence, coloured noise, real noise recordings, and pseudo-speech
built from the keyword clips themselves (time-reversed clips keep the voice and the spectrum but
no word; splices of the start of one word onto the end of another are word-like but no keyword;
chains of short pieces of several different words sound like the user talking, which is what a
streaming window sees most of the day).
"""

from __future__ import annotations

import numpy as np

from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES

KINDS = ("silence", "coloured_noise", "real_noise", "reversed", "splice", "chain")
# Mixture of kinds; pseudo-speech gets the largest share because it is the hard negative.
DEFAULT_MIX = {"silence": 0.08, "coloured_noise": 0.12, "real_noise": 0.12, "reversed": 0.2, "splice": 0.2,
               "chain": 0.28}
# A chain: this many pieces of different words, each this long (ms), like running speech.
CHAIN_PIECES = (3, 6)
CHAIN_PIECE_MS = (120, 300)


def coloured_noise(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise (1/f^beta, beta in {0, 1, 2}) at random levels, [n, length]."""
    white = rng.standard_normal((n, length))
    spec = np.fft.rfft(white, axis=1)
    freqs = np.fft.rfftfreq(length, d=1.0 / SAMPLE_RATE)
    freqs[0] = freqs[1]
    beta = rng.integers(0, 3, size=(n, 1))
    shaped = np.fft.irfft(spec / freqs[None, :] ** (beta / 2.0), n=length, axis=1)
    shaped /= shaped.std(axis=1, keepdims=True) + 1e-12
    level = 10.0 ** rng.uniform(-3.0, -0.7, size=(n, 1))  # RMS 0.001 .. 0.2
    return (shaped * level).astype(np.float32)


def _splice(clips: np.ndarray, classes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """First part of one word + last part of a word of another class, joined with a short crossfade."""
    length = clips.shape[1]
    fade = SAMPLE_RATE // 100
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    out = np.empty((n, length), dtype=np.float32)
    for i in range(n):
        a = int(rng.integers(len(clips)))
        others = np.flatnonzero(classes != classes[a])
        b = int(rng.choice(others)) if len(others) else int(rng.integers(len(clips)))
        # Cut each word near the middle of its energy so both halves carry speech.
        cut = int(rng.uniform(0.35, 0.65) * length)
        head, tail = clips[a].copy(), clips[b].copy()
        out[i, :cut] = head[:cut]
        out[i, cut:] = tail[cut:]
        lo = max(0, cut - fade // 2)
        hi = lo + fade
        if hi <= length:
            out[i, lo:hi] = head[lo:hi] * (1 - ramp) + tail[lo:hi] * ramp
    return out


def _active_starts(clip: np.ndarray, frame: int) -> np.ndarray:
    """Frame starts whose energy is within 20 dB of the clip's loudest frame (where the word is)."""
    n = len(clip) // frame
    energy = (clip[:n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
    return np.flatnonzero(energy >= energy.max() * 0.01) * frame


def _chain(clips: np.ndarray, classes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Short pieces of several different words back to back: talk in the user's voice, no keyword."""
    length = clips.shape[1]
    frame = SAMPLE_RATE // 100
    fade = SAMPLE_RATE // 200
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    out = np.zeros((n, length), dtype=np.float32)
    for i in range(n):
        pos = int(rng.integers(0, length // 5))
        used: set[int] = set()
        for _ in range(int(rng.integers(*CHAIN_PIECES))):
            choices = np.flatnonzero(~np.isin(classes, list(used))) if used else np.arange(len(clips))
            k = int(rng.choice(choices)) if len(choices) else int(rng.integers(len(clips)))
            used.add(int(classes[k]))
            piece_len = SAMPLE_RATE * int(rng.integers(*CHAIN_PIECE_MS)) // 1000
            starts = _active_starts(clips[k], frame)
            if len(starts):  # keep at least half of each piece inside the word
                starts = starts[starts <= max(starts[0], starts[-1] - piece_len // 2)]
            start = int(rng.choice(starts)) if len(starts) else 0
            piece = clips[k, start:start + piece_len].copy()
            piece = piece[:max(0, length - pos)]
            if len(piece) > 2 * fade:
                piece[:fade] *= ramp
                piece[-fade:] *= ramp[::-1]
            out[i, pos:pos + len(piece)] += piece
            pos += len(piece) + SAMPLE_RATE * int(rng.integers(0, 40)) // 1000
            if pos >= length:
                break
    return out


def make_reject_clips(word_clips: np.ndarray, word_classes: np.ndarray, n: int, *, seed: int,
                      noise_bank: np.ndarray | None = None,
                      mix: dict[str, float] | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """`n` reject examples [n, WINDOW_SAMPLES] and how many of each kind were made."""
    mix = dict(DEFAULT_MIX if mix is None else mix)
    rng = np.random.default_rng(seed)
    if noise_bank is None or len(noise_bank) == 0:
        mix["coloured_noise"] = mix.get("coloured_noise", 0) + mix.pop("real_noise", 0)
    if len(word_clips) == 0:
        mix = {k: v for k, v in mix.items() if k not in ("reversed", "splice", "chain")}
    kinds = list(mix)
    weights = np.asarray([mix[k] for k in kinds], dtype=float)
    counts = rng.multinomial(n, weights / weights.sum())
    parts: list[np.ndarray] = []
    made: dict[str, int] = {}
    for kind, count in zip(kinds, counts, strict=True):
        count = int(count)
        if count == 0:
            continue
        made[kind] = count
        if kind == "silence":
            # Digital silence and a near-silent room (below the model's RMS floor).
            level = rng.choice([0.0, 1e-4, 3e-4], size=(count, 1))
            parts.append((rng.standard_normal((count, WINDOW_SAMPLES)) * level).astype(np.float32))
        elif kind == "coloured_noise":
            parts.append(coloured_noise(count, WINDOW_SAMPLES, rng))
        elif kind == "real_noise":
            pick = noise_bank[rng.integers(len(noise_bank), size=count)]
            gain = 10.0 ** (rng.uniform(-20, 6, size=(count, 1)) / 20)
            parts.append(np.clip(pick * gain, -1, 1).astype(np.float32))
        elif kind == "reversed":
            pick = word_clips[rng.integers(len(word_clips), size=count)]
            parts.append(np.ascontiguousarray(pick[:, ::-1]))
        elif kind == "splice":
            parts.append(_splice(word_clips, word_classes, count, rng))
        elif kind == "chain":
            parts.append(_chain(word_clips, word_classes, count, rng))
    out = np.concatenate(parts) if parts else np.zeros((0, WINDOW_SAMPLES), dtype=np.float32)
    return out[rng.permutation(len(out))], made

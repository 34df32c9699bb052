"""Augmentation of whole batches on the training device: speed, time shift, room and microphone,
gain, background noise.

Working on `[B, L]` tensors where the data already lives (GPU or CPU) replaces a per-sample
Python Dataset/DataLoader, which is what made the original tutorial loop slow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES

from .synth_effects import EffectRanges, mic_response, room_impulse

# Windows of synthetic noise made once when there are no recordings: drawing fresh white/brown
# noise for every batch cost ~35% of a fine-tuning step on a 2-core CPU.
SYNTH_BANK_SIZE = 256
# Rooms and microphones drawn once per run, as filters; a clip picks one at random.
ROOM_BANK_SIZE = 128


@dataclass(frozen=True)
class AugmentConfig:
    shift_ms: float = 100.0  # random shift in [-shift, +shift], zero-filled
    gain_db: float = 6.0  # random gain in [-gain, +gain]
    noise_prob: float = 0.8  # share of a batch that gets background noise
    snr_low_db: float = 3.0
    snr_high_db: float = 30.0
    speed: float = 0.0  # random speed (tempo and pitch) change in [1 - speed, 1 + speed]; 0 = off
    room_prob: float = 0.0  # share of clips played through a random room and microphone

    @property
    def varies_clips(self) -> bool:
        """Whether clips are changed before conv1 (what a cached front end must precompute)."""
        return self.speed > 0 or self.room_prob > 0

    def to_dict(self) -> dict:
        return asdict(self)


def change_speed(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Rows of `x` [B, L] played `factor` [B] times faster about their centre, by linear
    interpolation, zero where the source runs out. Linear interpolation is enough here: the model
    low-passes at 4 kHz before anything else, well below where its error lies."""
    b, n = x.shape
    centre = (n - 1) / 2
    t = torch.arange(n, device=x.device, dtype=x.dtype)
    src = centre + (t.unsqueeze(0) - centre) * factor.to(x.device, x.dtype).unsqueeze(1)
    valid = (src >= 0) & (src <= n - 1)
    lo = src.floor().clamp(0, n - 2)
    frac = src - lo
    lo = lo.long()
    out = torch.gather(x, 1, lo) * (1 - frac) + torch.gather(x, 1, lo + 1) * frac
    return out * valid


def room_filters(n: int, length: int, seed: int) -> torch.Tensor:
    """`n` complex rfft gains over `2 * length` points: each a synthetic room (reverb) and a cheap
    microphone's colouration, as kws-synth draws them (synth_effects), so that a user's few clips
    stand for the same words said further from the mic, in another room, on another device."""
    rng = np.random.default_rng(seed)
    ranges = EffectRanges()
    n_fft = 2 * length  # a room's tail wraps into the zero half, never onto the clip's start
    out = np.ones((n, n_fft // 2 + 1), dtype=np.complex64)
    for i in range(n):
        if rng.random() < ranges.p_reverb:
            ir = room_impulse(rng, rng.uniform(*ranges.rt60), rng.uniform(*ranges.drr_db))
            out[i] *= np.fft.rfft(ir[:n_fft - length], n_fft)
        if rng.random() < ranges.p_mic:
            out[i] *= mic_response(rng, n_fft)
    return torch.from_numpy(out)


def apply_room(x: torch.Tensor, filters: torch.Tensor, pick: torch.Tensor, use: torch.Tensor) -> torch.Tensor:
    """Rows of `x` [B, L] where `use` [B] is true, filtered by `filters[pick]`, at their own RMS."""
    rows = torch.nonzero(use).flatten()
    if len(rows) == 0:
        return x
    n = x.shape[1]
    part = x[rows]
    spec = torch.fft.rfft(part, 2 * n) * filters[pick[rows]].to(x.device)
    out = torch.fft.irfft(spec, 2 * n)[:, :n]
    before = part.pow(2).mean(dim=1, keepdim=True).sqrt()
    after = out.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)
    x = x.clone()
    x[rows] = out * (before / after)
    return x


def synthetic_noise(n: int, length: int, gen: torch.Generator,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """`n` windows of white and brown (integrated white) noise, half each: the noise bank when no
    recordings are given."""
    white = torch.randn(n, length, generator=gen, device=device)
    brown = torch.cumsum(white[n // 2:], dim=1)
    brown = brown - brown.mean(dim=1, keepdim=True)
    return torch.cat([white[: n // 2], brown])


def with_steady_noise(bank: np.ndarray, seed: int, times: int = 3) -> np.ndarray:
    """`bank` (1-s noise windows) followed by `times` as many windows of white and brown noise, so
    that the recordings are 1 / (times + 1) of what augmentation draws from."""
    gen = torch.Generator().manual_seed(seed)
    steady = synthetic_noise(times * len(bank), bank.shape[1], gen)
    return np.concatenate([bank, steady.numpy().astype(np.float32)])


class BatchAugmenter:
    """Callable on a float batch `[B, L]`; draws from its own generator so runs are reproducible."""

    def __init__(self, config: AugmentConfig, noise_bank: torch.Tensor | None, device: torch.device,
                 seed: int) -> None:
        self.config = config
        self.device = device
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(seed)
        if noise_bank is None or len(noise_bank) == 0:
            noise_bank = self._synthetic_bank(SYNTH_BANK_SIZE, WINDOW_SAMPLES)
        self.noise = noise_bank
        # Drawn on first use: with a cached front end (fine-tuning's default) the waveform path
        # never runs, and the cache draws its own filters.
        self.rooms: torch.Tensor | None = None
        self._room_seed = seed

    def _synthetic_bank(self, n: int, length: int) -> torch.Tensor:
        return synthetic_noise(n, length, self.gen, self.device)

    def reseed(self, seed: int) -> None:
        self.gen.manual_seed(seed)

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.gen, device=self.device)

    def shift(self, x: torch.Tensor) -> torch.Tensor:
        b, n = x.shape
        max_shift = int(self.config.shift_ms * SAMPLE_RATE / 1000)
        if max_shift <= 0:
            return x
        shifts = (self._rand(b, 1) * (2 * max_shift + 1)).long() - max_shift
        if x.device.type == "cpu":
            # On a CPU, row-wise slice copies beat building a [B, L] int64 index for gather (~5x).
            out = torch.zeros_like(x)
            for i, s in enumerate(shifts[:, 0].tolist()):
                if s >= 0:
                    out[i, s:] = x[i, : n - s]
                else:
                    out[i, : n + s] = x[i, -s:]
            return out
        src = torch.arange(n, device=self.device).unsqueeze(0) - shifts
        valid = (src >= 0) & (src < n)
        return torch.gather(x, 1, src.clamp(0, n - 1)) * valid

    def add_noise(self, x: torch.Tensor) -> torch.Tensor:
        b, n = x.shape
        noise = self.noise[(self._rand(b) * len(self.noise)).long()]
        lo, hi = self.config.snr_low_db, self.config.snr_high_db
        snr_db = lo + self._rand(b, 1) * (hi - lo)
        sig_rms = x.pow(2).mean(dim=1, keepdim=True).sqrt()
        noise_rms = noise.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)
        scale = sig_rms / noise_rms * torch.pow(10.0, -snr_db / 20)
        use = (self._rand(b, 1) < self.config.noise_prob).to(x.dtype)
        return x + use * scale * noise

    def speed(self, x: torch.Tensor) -> torch.Tensor:
        s = self.config.speed
        if s <= 0:
            return x
        return change_speed(x, 1 + (self._rand(x.shape[0]) * 2 - 1) * s)

    def room(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.room_prob <= 0:
            return x
        if self.rooms is None:
            self.rooms = room_filters(ROOM_BANK_SIZE, WINDOW_SAMPLES, self._room_seed).to(self.device)
        b = x.shape[0]
        pick = (self._rand(b) * len(self.rooms)).long()
        return apply_room(x, self.rooms, pick, self._rand(b) < self.config.room_prob)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = self.room(self.shift(self.speed(x)))
        gain = torch.pow(10.0, (self._rand(x.shape[0], 1) * 2 - 1) * self.config.gain_db / 20)
        x = self.add_noise(x * gain)
        return x.clamp(-1.0, 1.0)

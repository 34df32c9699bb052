"""Cached front end for fine-tuning with conv1 frozen: resampler + conv1 run once per clip.

Both are linear and frozen, so `front(g * shift(x) + s * n) = g * shift(front(x)) + s * front(n)`
for whole-frame shifts; the model's input RMS norm divides that by the mix's RMS, which follows
from the clip and noise energies (the cross term of independent noise averages out over a
second). So the same augmentation as `augment.BatchAugmenter` (gain, shift, noise at a random
SNR) is applied to cached conv1 outputs, and a step skips the resampler and conv1 entirely.
Speed changes and rooms/microphones do not pass through the strided conv1 that way: they are
baked into cached copies of each clip (four augmented, one as recorded), and a batch draws one
copy per clip.
Differences from waveform augmentation: shifts move by whole frames (2 ms at 16 kHz), the energy
lost at the shifted edge and the [-1, 1] clamp are ignored.
"""

from __future__ import annotations

import logging

import torch

from .augment import (
    ROOM_BANK_SIZE,
    SYNTH_BANK_SIZE,
    AugmentConfig,
    BatchAugmenter,
    apply_room,
    change_speed,
    room_filters,
)
from .model import M5

log = logging.getLogger(__name__)

_CHUNK = 256
# Speed augmentation on cached fronts: each clip is cached at this many speeds spread evenly over
# [1 - speed, 1 + speed], and a batch picks one per clip at random. Fewer (3, then none) when the
# copies would pass SPEED_CACHE_BYTES: a fine-tune on all of Speech Commands caches ~5 GB per speed.
SPEED_VARIANTS = 5
SPEED_CACHE_BYTES = 3 << 30


def _frames(model: M5) -> int:
    """conv1 output frames of one 1-s window."""
    return (model.config.model_rate - model.config.first_kernel) // model.config.stride + 1


@torch.no_grad()
def _front(model: M5, x: torch.Tensor, device: torch.device, z: torch.Tensor, energy: torch.Tensor) -> None:
    """conv1 outputs and energies of `x`, computed on `device`, written into `z` and `energy` (no
    second copy of a cache of a gigabyte)."""
    for i in range(0, x.shape[0], _CHUNK):
        xb = x[i:i + _CHUNK].to(device)
        z[i:i + _CHUNK] = model.front_linear(xb)
        energy[i:i + _CHUNK] = xb.pow(2).mean(dim=1)


def _empty(model: M5, n: int, where: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty(n, model.config.n_channel, _frames(model), device=where), torch.empty(n, device=where)


def _variant(x: torch.Tensor, factor: float, rooms: torch.Tensor | None, room_prob: float,
             gen: torch.Generator) -> torch.Tensor:
    """One cached copy of the clips: at `factor` speed, a share `room_prob` through random rooms."""
    out = torch.empty_like(x)
    for i in range(0, x.shape[0], _CHUNK):
        part = x[i:i + _CHUNK]
        if factor != 1.0:
            part = change_speed(part, torch.full((part.shape[0],), factor))
        if rooms is not None:
            pick = (torch.rand(part.shape[0], generator=gen) * len(rooms)).long()
            part = apply_room(part, rooms, pick, torch.rand(part.shape[0], generator=gen) < room_prob)
        out[i:i + _CHUNK] = part
    return out


def _copy_speeds(config: AugmentConfig, bytes_per_speed: int) -> list[float]:
    """Evenly spread speeds with 1.0 exactly in the middle (the clips as recorded). With room
    augmentation and no speed changes, as many copies at 1.0."""
    speed = config.speed
    variants = SPEED_VARIANTS
    while variants > 1 and (not config.varies_clips or variants * bytes_per_speed > SPEED_CACHE_BYTES):
        variants -= 2
    if variants < SPEED_VARIANTS and config.varies_clips:
        log.warning("speed/room augmentation: %d cached copies instead of %d (the cache would pass %d GB)",
                    variants, SPEED_VARIANTS, SPEED_CACHE_BYTES >> 30)
    step = 2 * speed / (variants - 1) if variants > 1 else 0.0
    factors = [1 - speed + i * step for i in range(variants)]
    factors[variants // 2] = 1.0
    return factors


class FrontCache:
    """conv1 outputs of the train clips and of the noise bank, and batches drawn from them."""

    def __init__(self, model: M5, x_train: torch.Tensor, noise_bank: torch.Tensor | None,
                 config: AugmentConfig, device: torch.device, seed: int) -> None:
        self.model = model
        self.config = config
        self.device = device
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(seed)
        was_training = model.training
        model.eval()
        self.n = x_train.shape[0]
        self.factors = _copy_speeds(config, self._clip_bytes(model) * self.n)
        # The middle copy stays as recorded: it is what batches without augmentation use. The other
        # copies take more rooms, so that `room_prob` stays the share of clips a batch draws coloured.
        middle = len(self.factors) // 2
        copies = len(self.factors) - 1
        room_share = min(1.0, config.room_prob * (copies + 1) / copies) if copies else 0.0
        rooms = room_filters(ROOM_BANK_SIZE, x_train.shape[1], seed) if room_share > 0 else None
        cpu_gen = torch.Generator().manual_seed(seed)
        # Stored where the clips live (host memory when the data did not fit the GPU).
        self.z, self.energy = _empty(model, len(self.factors) * self.n, x_train.device)
        for i, f in enumerate(self.factors):
            rows = slice(i * self.n, (i + 1) * self.n)
            _front(model, x_train if i == middle else _variant(x_train, f, rooms, room_share, cpu_gen),
                   device, self.z[rows], self.energy[rows])
        if self.z.device.type == "cpu" and device.type == "cuda":
            self.z, self.energy = self.z.pin_memory(), self.energy.pin_memory()
        if noise_bank is None or len(noise_bank) == 0:
            noise_bank = BatchAugmenter(config, None, device, seed).noise[:SYNTH_BANK_SIZE]
        self.zn, self.en = _empty(model, len(noise_bank), device)
        _front(model, noise_bank, device, self.zn, self.en)
        model.train(was_training)
        self.max_frames = int(config.shift_ms * model.config.sample_rate / 1000) // model.samples_per_frame

    @staticmethod
    def _clip_bytes(model: M5) -> int:
        return model.config.n_channel * _frames(model) * 4

    def reseed(self, seed: int) -> None:
        self.gen.manual_seed(seed)

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.gen, device=self.device)

    def _shift(self, z: torch.Tensor) -> torch.Tensor:
        b, _, t = z.shape
        k = self.max_frames
        if k <= 0:
            return z
        shifts = (self._rand(b) * (2 * k + 1)).long() - k
        if z.device.type == "cpu":
            out = torch.zeros_like(z)
            for i, s in enumerate(shifts.tolist()):
                if s >= 0:
                    out[i, :, s:] = z[i, :, : t - s]
                else:
                    out[i, :, : t + s] = z[i, :, -s:]
            return out
        src = torch.arange(t, device=self.device).unsqueeze(0) - shifts.unsqueeze(1)
        valid = ((src >= 0) & (src < t)).unsqueeze(1)
        index = src.clamp(0, t - 1).unsqueeze(1).expand(-1, z.shape[1], -1)
        return torch.gather(z, 2, index) * valid

    def _norm(self, energy: torch.Tensor) -> torch.Tensor:
        """The factor the model's input norm applies to a clip of this energy."""
        mcfg = self.model.config
        if mcfg.input_norm == "rms":
            return 1.0 / energy.sqrt().clamp_min(mcfg.rms_floor)
        return torch.ones_like(energy)

    def batch(self, idx: torch.Tensor, augment: bool) -> torch.Tensor:
        """conv1 outputs (bias added, RMS-normalised as the model would) for train rows `idx`."""
        if augment and len(self.factors) > 1:
            variant = (self._rand(len(idx)) * len(self.factors)).long().to(idx.device)
            idx = idx + variant * self.n
        else:
            idx = idx + len(self.factors) // 2 * self.n
        z = self.z[idx].to(self.device, non_blocking=True)
        energy = self.energy[idx].to(self.device, non_blocking=True)
        # z is this batch's own copy (an index gather): scale, add the noise and the bias in place
        # (a batch is 16 MB, and each pass over it costs as much as the arithmetic).
        if augment:
            cfg = self.config
            b = z.shape[0]
            z = self._shift(z)
            gain = torch.pow(10.0, (self._rand(b) * 2 - 1) * cfg.gain_db / 20)
            pick = (self._rand(b) * len(self.zn)).long()
            snr_db = cfg.snr_low_db + self._rand(b) * (cfg.snr_high_db - cfg.snr_low_db)
            use = (self._rand(b) < cfg.noise_prob).to(z.dtype)
            sig = gain * energy.sqrt()
            scale = use * sig / self.en[pick].sqrt().clamp_min(1e-8) * torch.pow(10.0, -snr_db / 20)
            norm = self._norm(gain.pow(2) * energy + scale.pow(2) * self.en[pick])
            z.mul_((gain * norm)[:, None, None])
            z.addcmul_(self.zn[pick], (scale * norm)[:, None, None])
        else:
            z.mul_(self._norm(energy)[:, None, None])
        return z.add_(self.model.conv1.bias.detach()[None, :, None])

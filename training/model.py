"""M5 (Dai et al. 2017, as in the torchaudio speech-command tutorial) with the 16->8 kHz resampler inside."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES

FRONTS = ("linear", "log")
# Floor under conv1's squared output in the log front: about 40 dB under a vowel's (the input is
# RMS-normalised per window), so silence and the quietest noise do not dominate the log.
LOG_FLOOR = 1e-4


@dataclass(frozen=True)
class M5Config:
    n_output: int
    n_channel: int = 32
    stride: int = 16
    first_kernel: int = 80
    sample_rate: int = SAMPLE_RATE
    model_rate: int = 8000
    window_samples: int = WINDOW_SAMPLES
    # Per-window RMS normalisation inside the model so recording level never matters and the
    # runtime feeds raw windows (less a microphone's DC offset, removed at the edge). The floor
    # keeps near-silence from being blown up to speech level.
    input_norm: str = "rms"
    rms_floor: float = 1e-3
    # "log": conv1's output log-compressed, log(x^2 + LOG_FLOOR), before bn1, so a consonant 30 dB
    # under the vowel of its window moves the features as much as the vowel does; "linear" (the
    # tutorial's M5, and every checkpoint before the option) lets the loudest part dominate.
    front: str = "linear"

    def __post_init__(self) -> None:
        if self.front not in FRONTS:
            raise ValueError(f"unknown M5 front {self.front!r} (expected one of {', '.join(FRONTS)})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> M5Config:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown M5 config keys: {sorted(unknown)}")
        return cls(**data)


class M5(nn.Module):
    """Input `[N, window_samples]` float32 at `sample_rate`; output logits `[N, n_output]`."""

    def __init__(self, config: M5Config) -> None:
        super().__init__()
        self.config = config
        c = config.n_channel
        self.resample = torchaudio.transforms.Resample(config.sample_rate, config.model_rate)
        self.conv1 = nn.Conv1d(1, c, kernel_size=config.first_kernel, stride=config.stride)
        self.bn1 = nn.BatchNorm1d(c)
        self.pool1 = nn.MaxPool1d(4)
        self.conv2 = nn.Conv1d(c, c, kernel_size=3)
        self.bn2 = nn.BatchNorm1d(c)
        self.pool2 = nn.MaxPool1d(4)
        self.conv3 = nn.Conv1d(c, 2 * c, kernel_size=3)
        self.bn3 = nn.BatchNorm1d(2 * c)
        self.pool3 = nn.MaxPool1d(4)
        self.conv4 = nn.Conv1d(2 * c, 2 * c, kernel_size=3)
        self.bn4 = nn.BatchNorm1d(2 * c)
        self.pool4 = nn.MaxPool1d(4)
        self.fc1 = nn.Linear(2 * c, config.n_output)
        # conv1's output to pool1's, replacing (log,) bn1, ReLU and pool1 when set: the export's
        # cheaper equivalent of the log front (export/fold.py).
        self.front_block: nn.Module | None = None

    # Names of the conv blocks in order, for --freeze.
    BLOCKS = ("conv1", "conv2", "conv3", "conv4")

    # Rows per resampler call, or None for one call. Not part of the config or the weights: a
    # speed setting the training loop turns on for CPUs. oneDNN's stride-2 single-channel conv
    # that implements the resampler fell off a cliff above ~64 rows on the 2-core dev box
    # (2.4 ms per 32 rows, 48 ms per 128); slices of 64 keep it on the fast path. Exports
    # (torch.export) never see it: it is skipped while compiling.
    resample_chunk: int | None = None

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        chunk = self.resample_chunk
        if chunk and not torch.compiler.is_compiling() and x.shape[0] > chunk:
            return torch.cat([self.resample(part) for part in x.split(chunk)])
        return self.resample(x)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        x = audio
        if self.config.input_norm == "rms":
            rms = x.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(self.config.rms_floor)
            x = x / rms
        x = self._resample(x).unsqueeze(1)
        return self.features_from_conv1(self.conv1(x))

    def front_linear(self, audio: torch.Tensor) -> torch.Tensor:
        """Resampler + conv1 without its bias and without the input norm: a linear map of the
        audio, so gain, added noise and whole-frame shifts can be applied to its output (the
        trainer caches it when conv1 is frozen). `features_from_conv1(front_linear(x) / rms(x)
        + conv1.bias)` equals `features(x)`."""
        x = self._resample(audio).unsqueeze(1)
        return F.conv1d(x, self.conv1.weight, None, self.conv1.stride)

    @property
    def samples_per_frame(self) -> int:
        """Input samples per conv1 output frame (a shift by this many samples moves one frame)."""
        return self.config.stride * self.config.sample_rate // self.config.model_rate

    def features_from_conv1(self, x: torch.Tensor) -> torch.Tensor:
        if self.front_block is not None:
            x = self.front_block(x)
        else:
            if self.config.front == "log":
                x = torch.log(x * x + LOG_FLOOR)
            x = self.pool1(F.relu(self.bn1(x)))
        x = self.pool2(F.relu(self.bn2(self.conv2(x))))
        x = self.pool3(F.relu(self.bn3(self.conv3(x))))
        x = self.pool4(F.relu(self.bn4(self.conv4(x))))
        return x.mean(dim=2)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.fc1(self.features(audio))

    def block_modules(self, name: str) -> list[nn.Module]:
        """The conv and its batch norm for block `name` (conv1..conv4)."""
        idx = name[-1]
        return [getattr(self, f"conv{idx}"), getattr(self, f"bn{idx}")]


def build_m5(labels: list[str] | tuple[str, ...], **overrides) -> M5:
    return M5(M5Config(n_output=len(labels), **overrides))


def count_macs(config: M5Config) -> int:
    """Multiply-accumulates per window (convs + linear; the resampler counted as its conv)."""
    model = M5(config)
    total = 0
    hooks = []

    def conv_hook(mod: nn.Module, _inp, out) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.in_channels // mod.groups
        total += int(out.shape[-1] * mod.out_channels * k)

    def lin_hook(mod: nn.Module, _inp, _out) -> None:
        nonlocal total
        total += mod.in_features * mod.out_features

    for m in model.modules():
        if isinstance(m, nn.Conv1d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, config.window_samples))
    for h in hooks:
        h.remove()
    kernel = model.resample.kernel  # [new_rate/gcd, 1, width]
    out_len = config.window_samples * config.model_rate // config.sample_rate
    total += int(out_len * kernel.shape[-1])
    return total

"""Export-time rewrite of M5's front end: the 16->8 kHz resampler, conv1 and bn1 become one conv.

Why: torchaudio's Resample is a 1-in/1-out channel strided conv. onnxruntime runs it as a
matrix-vector product and it alone took ~70 us of a ~120 us fp32 window on one core, and it
cannot be usefully quantized (int8 made the whole model slower). Resampling by an integer
factor D is a linear, bias-free conv with stride D; conv1 (no padding, one input channel) and
the eval-mode bn1 are linear too, so the three compose exactly into a single conv with stride
D * conv1.stride and kernel D * (conv1.kernel - 1) + resampler.kernel. That conv has 32 output
channels, which onnxruntime's (int8) GEMM runs fast. The maths is unchanged; the export checks
parity against the unmodified model.

The RMS normalisation is rewritten the same way: x / max(sqrt(mean(x^2)), floor) equals
(x / max(||x||, floor * sqrt(n))) * sqrt(n), and the constant sqrt(n) moves into the (linear)
folded conv's weights, and the norm is computed with the ops onnxruntime runs fastest on one
thread (Mul, ReduceSum, Sqrt, Clip, Reciprocal, Mul: ~4 us per window against ~8 us for Pow,
ReduceMean, Sqrt, Clip, Div; measured).
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import replace

import torch
from torch import nn

from kws_edge.training.model import LOG_FLOOR, M5

log = logging.getLogger(__name__)


class ProbsModel(nn.Module):
    """M5 logits modules with the softmax in the graph: `[N, window]` audio -> `[N, C]`
    probabilities; with several members (a pair exported as one model), the mean of theirs."""

    def __init__(self, *members: nn.Module) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        probs = [torch.softmax(member(audio), dim=-1) for member in self.members]
        return probs[0] if len(probs) == 1 else torch.stack(probs).mean(dim=0)


def _bn_scale_shift(bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class L2Normalised(nn.Module):
    """`x / max(||x||_2, floor)` per window, then `body` (an M5 whose own normalisation is off)."""

    def __init__(self, body: M5, floor: float) -> None:
        super().__init__()
        self.body = body
        self.floor = float(floor)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        # Mul+ReduceSum and Reciprocal+Mul: onnxruntime runs these ~2x faster per window than
        # ReduceL2 / Pow+ReduceMean and Div over 16000 samples (measured, one thread).
        norm = (audio * audio).sum(dim=1, keepdim=True).sqrt().clamp_min(self.floor)
        return self.body(audio * torch.reciprocal(norm))


class PooledLog(nn.Module):
    """The log front's `pool1(relu(bn1(log(x^2 + floor))))` computed on a quarter of the values: per
    channel, relu(a * log(e + floor) + b) is monotonic in e (rising where the eval-mode bn1's scale a
    is >= 0, falling where it is < 0), so the max-pool of it is its value at the pool's largest
    (or smallest) e. The log then runs on the pooled frames only, and the pool is a ReduceMax /
    ReduceMin, which onnxruntime runs far faster than its float MaxPool over a 1-D sequence."""

    def __init__(self, bn: nn.BatchNorm1d, floor: float, pool: int) -> None:
        super().__init__()
        scale, shift = _bn_scale_shift(bn)
        self.register_buffer("scale", scale.detach().reshape(1, -1, 1).clone())
        self.register_buffer("shift", shift.detach().reshape(1, -1, 1).clone())
        self.register_buffer("rising", (scale.detach() >= 0).reshape(1, -1, 1).clone())
        self.floor = float(floor)
        self.pool = int(pool)
        self.all_rising = bool(self.rising.all())  # bn1's scales start at 1 and stay positive

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = x * x
        frames = e.shape[-1] // self.pool
        e = e[..., :frames * self.pool].reshape(e.shape[0], e.shape[1], frames, self.pool)
        e = e.amax(dim=-1) if self.all_rising else torch.where(self.rising, e.amax(dim=-1), e.amin(dim=-1))
        return torch.relu(self.scale * torch.log(e + self.floor) + self.shift)


def fold_front_end(model: M5) -> nn.Module | None:
    """Logits module equal to `model` with resampler+conv1+bn1 as one conv (and the RMS norm as an
    L2 norm when the model uses it), or None when the shapes do not allow folding."""
    res = model.resample
    conv1 = model.conv1
    orig = getattr(res, "orig_freq", None)
    new = getattr(res, "new_freq", None)
    if orig is None or orig == new:
        return None  # no resampler in this model: nothing to fold
    decim = orig // res.gcd
    if new // res.gcd != 1:
        log.info("resampler %s->%s Hz is not an integer decimation; exporting it unfolded", orig, new)
        return None
    if conv1.in_channels != 1 or conv1.padding != (0,) or conv1.dilation != (1,) or conv1.groups != 1:
        log.info("conv1 has padding/dilation/groups; exporting the front end unfolded")
        return None

    kernel = res.kernel.detach().reshape(-1).double()  # [K]
    k_res = kernel.numel()
    width = int(res.width)
    weight = conv1.weight.detach().double()[:, 0, :]  # [C, k1]
    bias = (conv1.bias.detach().double() if conv1.bias is not None
            else torch.zeros(conv1.out_channels, dtype=torch.float64))
    log_front = model.config.front == "log"
    if not log_front:  # bn1 is linear only when nothing sits between it and conv1
        scale, shift = _bn_scale_shift(model.bn1)
        weight = weight * scale.detach().double()[:, None]
        bias = bias * scale.detach().double() + shift.detach().double()

    k1 = weight.shape[1]
    folded = torch.zeros(weight.shape[0], decim * (k1 - 1) + k_res, dtype=torch.float64)
    for m in range(k1):
        folded[:, decim * m:decim * m + k_res] += weight[:, m:m + 1] * kernel[None, :]

    # Resample pads `width` zeros left and `width + decim` right; conv1 then reads only the first
    # floor((T - k1) / s1) + 1 positions. Symmetric padding of `width` covers what those reads reach.
    n = model.config.window_samples
    target = -(-n // decim)  # the resampler's output length, ceil(n / decim)
    out_len = (target - k1) // conv1.stride[0] + 1
    stride = decim * conv1.stride[0]
    last_read = stride * (out_len - 1) + folded.shape[1] - 1  # index into the padded input
    if last_read >= n + 2 * width:
        log.info("folded conv would read past symmetric padding; exporting the front end unfolded")
        return None
    if (n + 2 * width - folded.shape[1]) // stride + 1 != out_len:
        log.info("folded conv output length differs; exporting the front end unfolded")
        return None

    front = nn.Conv1d(1, conv1.out_channels, kernel_size=folded.shape[1], stride=stride, padding=width)
    with torch.no_grad():
        front.weight.copy_(folded[:, None, :].float())
        front.bias.copy_(bias.float())
    out = copy.deepcopy(model)
    out.resample = nn.Identity()
    out.conv1 = front
    if log_front:
        pool = model.pool1.kernel_size
        if model.pool1.stride != pool or model.pool1.padding != 0 or model.pool1.ceil_mode:
            log.info("pool1 is not a plain max-pool; exporting the log front unfolded")
            return None
        out.front_block = PooledLog(model.bn1, LOG_FLOOR, pool)
    else:
        out.bn1 = nn.Identity()
    if model.config.input_norm != "rms":
        return out.eval()
    # rms = ||x|| / sqrt(n): normalising by the L2 norm leaves a factor sqrt(n) that the linear
    # front conv absorbs (its bias is unaffected: it is added after the weights).
    out.config = replace(model.config, input_norm="none")
    with torch.no_grad():
        front.weight.mul_(math.sqrt(n))
    return L2Normalised(out, model.config.rms_floor * math.sqrt(n)).eval()

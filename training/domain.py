"""Class-conditional domain-adversarial training (`kws-train --domain-adversarial F`).

Trained on synthetic speech of 35 words plus real recordings of only 12 of them, M5 learns a
shortcut: "sounds like a real microphone" -> one of the 12 words. On real people it then hears
"bird" as "bed" (measured: the 23 synthetic-only words fell from 55% to 41% on speech_real while
the 12 rose from 52% to 91%). This head removes the shortcut at its source: for each class that
more than one `--data` source holds, a small classifier tries to tell from M5's pooled features
which source a clip came from, and a gradient-reversal layer makes the features defeat it. Within
"bed", real and synthetic clips must look alike, so the features stop encoding "real" at all, and
a word only heard synthetically is recognised in real recordings too. Conditioning on the class
(one source-logit row per class) keeps the features free to separate the classes themselves.
The head is used in training only; checkpoints and ONNX exports never contain it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:  # type: ignore[override]
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.weight * grad, None


def shared_classes(labels: np.ndarray, sources: np.ndarray, n_classes: int) -> np.ndarray:
    """Bool [n_classes]: classes with training clips from at least two sources (rows with source
    -1, generated clips, are ignored)."""
    mask = np.zeros(n_classes, dtype=bool)
    known = sources >= 0
    for c in range(n_classes):
        mask[c] = len(np.unique(sources[known & (labels == c)])) >= 2
    return mask


class DomainHead(nn.Module):
    """Per-class source classifier on M5's pooled features, behind a gradient-reversal layer."""

    def __init__(self, n_features: int, n_classes: int, n_sources: int, class_mask: np.ndarray,
                 hidden: int = 64) -> None:
        super().__init__()
        self.n_classes, self.n_sources = n_classes, n_sources
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_classes * n_sources))
        self.register_buffer("class_mask", torch.as_tensor(class_mask, dtype=torch.bool))

    def loss(self, features: torch.Tensor, labels: torch.Tensor, sources: torch.Tensor,
             weight: float) -> torch.Tensor:
        """Source cross-entropy on the clips whose class is shared and whose source is known;
        zero when the batch has none."""
        keep = (sources >= 0) & self.class_mask[labels]
        if not bool(keep.any()):
            return features.sum() * 0.0
        z = _GradReverse.apply(features[keep].float(), weight)
        logits = self.net(z).view(-1, self.n_classes, self.n_sources)
        rows = logits[torch.arange(logits.shape[0], device=logits.device), labels[keep]]
        return F.cross_entropy(rows, sources[keep])


def ramp(weight: float, progress: float) -> float:
    """The usual DANN schedule: from 0 to `weight` over training, so the adversary starts once
    the features mean something (Ganin & Lempitsky, 2015)."""
    return weight * (2.0 / (1.0 + math.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0)

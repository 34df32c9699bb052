"""Refit: after the measured run, train again on every clip (train, val and test) with the same
recipe, so the model a user keeps learns from all ~30 recordings of each word, not 22 of them.

The measured run's test accuracy stays the honest estimate of how the recipe does on clips it
has not heard; the refit model has heard them all, so it is not re-scored. On two held-out
synthetic voices (docs/training.md), training on 16 instead of 22 clips a word cost 4-7 points of
clip accuracy, which is what the extra clips are worth at this size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .front_cache import FrontCache
from .model import M5
from .trainer import DistInfo, TrainConfig, Trainer

log = logging.getLogger(__name__)


def all_clips(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    splits = [s for s in ("train", "val", "test") if s in x and len(x[s])]
    return np.concatenate([x[s] for s in splits]), np.concatenate([y[s] for s in splits])


def refit_epochs(config: TrainConfig, summary: dict) -> int:
    """A fixed schedule ("last") reruns in full; an early-stopped one stops at its best epoch."""
    if config.select == "last":
        return config.epochs
    return max(1, int(summary["best_epoch"]))


def rest_clips(x: dict[str, np.ndarray]) -> np.ndarray:
    """The clips `all_clips` puts after the train split, in its order."""
    parts = [x[s] for s in ("val", "test") if s in x and len(x[s])]
    return np.concatenate(parts) if parts else np.zeros((0, x["train"].shape[1]), dtype=x["train"].dtype)


def refit(make_model: Callable[[], M5], config: TrainConfig, x: dict[str, np.ndarray],
          y: dict[str, np.ndarray], noise: np.ndarray, epochs: int, dist: DistInfo,
          front: FrontCache | None = None) -> tuple[M5, dict]:
    """A fresh model from `make_model`, trained `epochs` epochs on all clips; returns it and a summary.
    `front`: the measured run's cached conv1 outputs of all clips (built with `rest_clips`): conv1
    is frozen and the same in both models, so the refit need not run it again."""
    x_all, y_all = all_clips(x, y)
    empty_x = np.zeros((0, x_all.shape[1]), dtype=x_all.dtype)
    cfg = replace(config, epochs=epochs, select="last")
    log.info("refit: training again on all %d clips for %d epochs", len(y_all), epochs)
    trainer = Trainer(make_model(), cfg, {"train": x_all, "val": empty_x},
                      {"train": y_all, "val": np.zeros(0, dtype=y_all.dtype)}, noise, out_dir=None, dist=dist,
                      front=front)
    summary = trainer.fit()
    return trainer.model, {"clips": int(len(y_all)), "epochs": epochs,
                           "train_seconds": summary["train_seconds"]}

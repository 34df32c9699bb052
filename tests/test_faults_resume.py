"""Fault 1: --resume of a fine-tune with conv1 frozen continues from the saved weights.

The cached conv1 front end (front_cache.py) must be computed from the weights training resumes
with, not from the freshly built model the resume state is loaded into: two epochs in one go
and one epoch, a save, a fresh model and one more epoch give the same weights.
"""

from __future__ import annotations

import numpy as np
import torch

from kws_edge.training.augment import AugmentConfig
from kws_edge.training.model import build_m5
from kws_edge.training.trainer import TrainConfig, Trainer

LABELS = ["a", "b", "_unknown_"]


def _data(seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    x, y = [], []
    for k, f in enumerate((300.0, 900.0, 2000.0)):
        for i in range(8):
            clip = 0.3 * np.sin(2 * np.pi * f * (1 + 0.02 * i) * t) + 0.01 * rng.standard_normal(16000)
            x.append(clip.astype(np.float32))
            y.append(k)
    x_all, y_all = np.stack(x), np.array(y, dtype=np.int64)
    val = np.arange(len(y_all)) % 4 == 0
    return ({"train": x_all[~val], "val": x_all[val]}, {"train": y_all[~val], "val": y_all[val]})


def _base() -> torch.nn.Module:
    """A 'checkpoint' whose conv1 differs from a freshly built model's (as a real base does)."""
    torch.manual_seed(123)
    return build_m5(LABELS, n_channel=8)


def _config(epochs: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=8, lr=2e-3, select="last", seed=0, device="cpu",
                       freeze=("conv1",), threads=1,
                       augment_config=AugmentConfig(speed=0.1, room_prob=0.5))


def test_resume_with_frozen_conv1_continues_the_same_run():
    x, y = _data()
    noise = np.zeros((0, 16000), dtype=np.float32)
    straight = Trainer(_base(), _config(2), x, y, noise, out_dir=None)
    straight.fit()

    first = Trainer(_base(), _config(2), x, y, noise, out_dir=None)
    first.config.epochs = 1
    first.fit()
    state = first.state()
    # The resume path of kws-train: a model built fresh from the saved config, then the state.
    torch.manual_seed(999)
    resumed = Trainer(build_m5(LABELS, n_channel=8), _config(2), x, y, noise, out_dir=None)
    resumed.load_state(state)
    resumed.fit()

    assert [h["epoch"] for h in resumed.history] == [1, 2]
    for key, want in straight.model.state_dict().items():
        got = resumed.model.state_dict()[key]
        assert torch.allclose(got.float(), want.float(), atol=1e-5), key
    assert abs(resumed.history[-1]["loss"] - straight.history[-1]["loss"]) < 1e-5

"""kws-train --teacher: half the loss matches the teachers' mean probabilities on each clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audiogen import tone, write_wav
from test_train_errors import assert_one_line_error, run, tones

from kws_edge.training.model import build_m5
from kws_edge.training.trainer import TrainConfig, Trainer

LABELS = ["a", "b", "_unknown_"]


def _p_b_after_training(soft: np.ndarray | None) -> float:
    """Noise clips labelled a or _unknown_ (nothing to learn from the audio, only the priors)."""
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((32, 16000))).astype(np.float32)
    y = np.array([0, 2] * 16, dtype=np.int64)
    torch.manual_seed(0)
    config = TrainConfig(epochs=12, batch_size=8, lr=5e-3, select="last", seed=0, device="cpu", threads=1,
                         augment=False)
    trainer = Trainer(build_m5(LABELS, n_channel=8), config, {"train": x, "val": x[:0]},
                      {"train": y, "val": y[:0]}, np.zeros((0, 16000), dtype=np.float32), out_dir=None,
                      soft_targets=soft)
    trainer.fit()
    trainer.model.eval()
    with torch.inference_mode():
        return float(torch.softmax(trainer.model(torch.from_numpy(x)), 1)[:, 1].mean())


def test_soft_targets_pull_the_model_towards_the_teacher():
    teacher_says_b = np.tile(np.array([0.0, 1.0, 0.0], dtype=np.float32), (32, 1))
    assert _p_b_after_training(None) < 0.1  # no clip is labelled b
    assert _p_b_after_training(teacher_says_b) > 0.3  # half the loss says b


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    data = tones(root / "data")
    out = root / "teacher"
    proc = run("train_cli", "--data", data, "--out", out, "--epochs", "2", "--channels", "8",
               "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    return data, out / "model.pt"


def test_kws_train_learns_from_a_teacher(teacher, tmp_path):
    data, ckpt = teacher
    out = tmp_path / "student"
    proc = run("train_cli", "--data", data, "--out", out, "--epochs", "2", "--channels", "8",
               "--threads", "1", "--teacher", ckpt, ckpt)
    assert proc.returncode == 0, proc.stderr
    student = torch.load(out / "model.pt", weights_only=True)
    from kws_edge.export.onnx_export import file_sha256

    assert [t["sha256"] for t in student["provenance"]["teacher"]] == [file_sha256(ckpt)] * 2


def test_teacher_errors_are_one_line(teacher, tmp_path):
    data, ckpt = teacher
    proc = run("train_cli", "--data", data, "--out", tmp_path / "a", "--init", ckpt, "--teacher", ckpt)
    assert_one_line_error(proc, "kws-train", "--teacher trains a new model from scratch")
    other = tmp_path / "other"
    for word, f in (("zz", 500.0), ("yy", 1200.0)):
        for i in range(8):
            write_wav(other / word / f"c{i}.wav", tone(f + 10 * i, 0.7))
    proc = run("train_cli", "--data", other, "--out", tmp_path / "b", "--channels", "8", "--teacher", ckpt)
    assert_one_line_error(proc, "kws-train", "model.pt: --teacher has labels")
    assert not (tmp_path / "b" / "model.pt").exists()
    proc = run("train_cli", "--data", data, "--out", tmp_path / "c", "--teacher", tmp_path / "missing.pt")
    assert_one_line_error(proc, "kws-train", "missing.pt")

"""kws-train under torchrun with 2 CPU processes (gloo): each rank trains a shard, only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from audiogen import noise, tone, write_wav

from kws_edge.training.checkpoint import load_checkpoint, model_from_checkpoint


def run_two_ranks(tmp_path: Path, clips_per_class: int,
                  *flags: str) -> tuple[subprocess.CompletedProcess, Path]:
    """kws-train under torchrun, 2 gloo processes on the CPU, on 3 tone classes."""
    data = tmp_path / "ds"
    for k, f in enumerate((300.0, 900.0, 2500.0)):
        for i in range(clips_per_class):
            write_wav(data / f"w{k}" / f"c{i}.wav", tone(f * (1 + 0.01 * i), 0.6) + noise(0.6, 0.005, seed=i))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "kws_edge.training.train_cli", "--data", str(data), "--out", str(out),
           "--batch-size", "8", "--device", "cpu", *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc, out


@pytest.mark.slow
def test_two_gloo_processes(tmp_path):
    proc, out = run_two_ranks(tmp_path, 8, "--epochs", "3")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["epochs"] == 3
    # Each step uses the whole batch across both ranks: the samples counted per epoch equal the
    # train split (every batch of 8 splits 4 + 4), not twice it and not half of it.
    n_train = sum(metrics["counts"]["train"].values())
    first = metrics["history"][0]
    assert first["samples_per_s"] * first["seconds"] == pytest.approx(n_train, abs=1)
    # Only rank 0 wrote: one line per epoch in the log, one set of outputs, no temp files.
    assert proc.stderr.count("epoch 1/3 loss") == 1 and proc.stderr.count("training on cpu") == 1
    assert proc.stderr.count("INFO kws_edge.training.train_cli: data:") == 1
    written = sorted(p.name for p in out.iterdir())
    assert written == ["confusion.png", "metrics.json", "model.pt", "split.json"]
    model = model_from_checkpoint(load_checkpoint(out / "model.pt"))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_refit_under_two_gloo_processes(tmp_path):
    proc, out = run_two_ranks(tmp_path, 6, "--epochs", "2", "--select", "last", "--refit")
    metrics = json.loads((out / "metrics.json").read_text())
    every = sum(sum(metrics["counts"][s].values()) for s in ("train", "val", "test"))
    assert metrics["world_size"] == 2 and metrics["refit"]["clips"] == every
    assert metrics["refit"]["epochs"] == 2


def test_plain_run_is_rank_zero_of_one(monkeypatch):
    from kws_edge.training.trainer import dist_from_env

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    d = dist_from_env()
    assert (d.rank, d.world, d.main) == (0, 1, True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    d = dist_from_env()
    assert (d.rank, d.world, d.main) == (1, 2, False)



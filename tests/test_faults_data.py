"""Faults in datasets: link loops (10), corrupt ZIP members (3), undecodable folder names (4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audiogen import noise, tone, write_wav

from kws_edge.training.data import scan_dataset

PY = sys.executable


def cli(module: str, *args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", f"kws_edge.{module}", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(stderr: str, prog: str, fragment: str) -> None:
    errors = [ln for ln in stderr.splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(errors) == 1, stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in stderr


def tones(root: Path, words=(("yes", 1000.0), ("no", 2000.0)), per_class: int = 6) -> Path:
    for k, (word, freq) in enumerate(words):
        for i in range(per_class):
            write_wav(root / word / f"c{i:02d}.wav",
                      tone(freq * (1 + 0.02 * i), 0.8) + noise(0.8, amp=0.01, seed=10 * k + i))
    return root


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_link_loops_are_read_once_and_outside_class_folders_still_count(tmp_path):
    data = tones(tmp_path / "ds")
    os.symlink("..", data / "yes" / "up")           # back to the dataset root
    os.symlink(".", data / "no" / "self")           # a folder holding itself
    os.symlink("../..", data / "no" / "parent")     # the folder that holds the dataset
    elsewhere = tones(tmp_path / "elsewhere", words=(("stop", 3000.0),))
    os.symlink(elsewhere / "stop", data / "stop")  # a class folder kept elsewhere: followed
    index = scan_dataset(data)
    assert sorted(index.clips) == ["no", "stop", "yes"]
    assert all(len(v) == 6 for v in index.clips.values()), index.clips
    out = tmp_path / "run"
    proc = cli("training.train_cli", "--data", data, "--out", out, "--epochs", "1", "--channels", "8")
    assert proc.returncode == 0, proc.stderr
    assert "linked folder(s) already read or holding the dataset" in proc.stderr
    labels = json.loads((out / "metrics.json").read_text())["per_class_accuracy"]
    assert set(labels) >= {"yes", "no", "stop"}
    proc = cli("training.eval_cli", "--model", out / "model.pt", "--data", data, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n"] == 18


def test_scan_terminates_on_a_deep_loop(tmp_path):
    data = tones(tmp_path / "ds", per_class=2)
    # a -> b -> a: each real folder once, however the links nest
    (data / "yes" / "a").mkdir()
    os.symlink("../b", data / "yes" / "a" / "to_b")
    (data / "yes" / "b").mkdir()
    os.symlink("../a", data / "yes" / "b" / "to_a")
    index = scan_dataset(data)
    assert len(index.clips["yes"]) == 2 and len(index.clips["no"]) == 2
    assert np.all([k.count("/") == 1 for k in index.clips["yes"]])

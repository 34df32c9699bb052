"""What kws-record writes is what kws-train reads: its clips become the words, its `_talk/` the
user's own negatives (never a class)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from audiogen import espeak, write_wav
from conftest import requires_espeak
from recordgen import repeated, trimmed

from kws_edge.labels import SAMPLE_RATE, UNKNOWN_LABEL

pytest.importorskip("torch")
pytestmark = [requires_espeak, pytest.mark.slow]

WORDS = ("yes", "no", "up")


def _record(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kws_edge.record_cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_kws_train_runs_on_what_kws_record_wrote_with_its_talk(tmp_path):
    dataset = tmp_path / "me"
    for n, word in enumerate(WORDS):
        takes = write_wav(tmp_path / f"{word}.wav", repeated(word, 8, seed=10 + n).audio)
        res = _record(str(dataset), "--word", word, "--input", str(takes))
        assert res.returncode == 0 and "8 clips" in res.stderr, res.stderr
    gap = np.zeros(SAMPLE_RATE * 2, np.float32)
    said = [trimmed(espeak(text, "en-us")) for text in
            ("The weather was mild and the sky stayed clear all afternoon.",
             "Please put the kettle in the kitchen and bring some milk.",
             "We walked along the river and watched the boats pass by.")]
    talk = write_wav(tmp_path / "talk.wav", np.concatenate([x for s in said for x in (gap, s)] + [gap]))
    res = _record(str(dataset), "--talk", "--input", str(talk))
    assert res.returncode == 0, res.stderr
    assert len(list((dataset / "_talk").glob("*.wav"))) == 3
    # The corrected command run again (docs/recording.md) adds no second copy of the same talk.
    res = _record(str(dataset), "--talk", "--input", str(talk))
    assert res.returncode == 1 and res.stdout.count("not kept: the same talk as _talk/") == 3, res.stdout
    assert len(list((dataset / "_talk").glob("*.wav"))) == 3

    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "kws_edge.training.train_cli", "--data", str(dataset),
                          "--init", "base", "--epochs", "1", "--out", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    # The talk's ~11 s became reject-class windows (1 s each).
    talk_windows = re.search(r"(\d+) windows of non-keyword talk from _talk/ used as negatives", res.stderr)
    assert talk_windows and int(talk_windows[1]) >= 8, res.stderr[-3000:]
    assert "no usable _talk/ recording in the data" not in res.stderr
    import torch

    ckpt = torch.load(out / "model.pt", weights_only=True, map_location="cpu")
    assert sorted(ckpt["labels"]) == sorted([*WORDS, UNKNOWN_LABEL])
    metrics = json.loads((out / "metrics.json").read_text())
    assert "_talk" not in json.dumps(metrics.get("per_class", {}))
    # kws-info says the model heard the user's own talk.
    info = subprocess.run([sys.executable, "-m", "kws_edge.info_cli", str(out / "model.pt")],
                          capture_output=True, text=True, timeout=120)
    said = " ".join(info.stdout.split())  # kws-info wraps long lines
    assert f"your own talk: {talk_windows[1]} windows from _talk/" in said, info.stdout

"""Faults 8, 9 and 14: broken or unusual models get one line, never a wrong answer.

8: an ONNX model with a fixed batch of one runs in kws-listen and kws-eval (fed a window at a time).
9: NaN outputs, NaN checkpoint weights and a diverging training run are refused, nothing written.
14: absurd metadata (sample_rate) is blamed on the model, not on --hop-ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from audiogen import noise, tone, write_wav
from onnx import numpy_helper
from onnx_tiny import LABELS, random_model, tone_model

from kws_edge.labels import UNKNOWN_LABEL
from kws_edge.listen_cli import main as listen_main
from kws_edge.onnx_model import OnnxModel

PY = sys.executable


def one_line_error(stderr: str, prog: str, fragment: str) -> None:
    errors = [ln for ln in stderr.splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(errors) == 1, stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in stderr


def cli(module: str, *args: object, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", f"kws_edge.{module}", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("faults_models")
    gap = lambda s, seed: noise(s, amp=0.005, seed=seed)  # noqa: E731
    audio = np.concatenate([gap(1.5, 1), tone(1000, 0.6), gap(1.5, 2), tone(2000, 0.6), gap(1.5, 3)])
    return write_wav(d / "two.wav", audio)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults_clips") / "ds"
    for word, freq in (("yes", 1000.0), ("no", 2000.0)):
        for i in range(6):
            write_wav(root / word / f"{i}.wav", tone(freq, 0.8) + noise(0.8, 0.01, seed=i))
    return root


def _fixed_batch(src: Path, dst: Path) -> Path:
    model = onnx.load(str(src))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, str(dst))
    return dst


def test_fixed_batch_model_gives_the_same_detections_and_scores(tmp_path, wav, clips, capsys):
    dynamic = tone_model(tmp_path / "dynamic.onnx")
    fixed = _fixed_batch(dynamic, tmp_path / "fixed.onnx")
    assert OnnxModel(fixed)._session.get_inputs()[0].shape[0] == 1
    outputs = []
    for path in (dynamic, fixed):
        assert listen_main(["--model", str(path), "--input", str(wav), "--json", "--vad", "off"]) == 0
        outputs.append([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    assert [e["label"] for e in outputs[1]] == ["yes", "no"]
    assert outputs[0] == outputs[1]
    x = np.stack([tone(1000, 1.0), tone(2000, 1.0), noise(1.0, seed=5)])
    np.testing.assert_allclose(OnnxModel(fixed).predict(x), OnnxModel(dynamic).predict(x), atol=1e-6)
    proc = cli("training.eval_cli", "--model", fixed, "--data", clips, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accuracy"] == 1.0


def _nan_model(tmp_path: Path) -> Path:
    path = random_model(tmp_path / "nan.onnx")
    model = onnx.load(str(path))
    for i, init in enumerate(model.graph.initializer):
        if init.name == "b2":
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(
                np.full(len(LABELS), np.nan, dtype=np.float32), "b2"))
    onnx.save(model, str(path))
    return path


def test_nan_onnx_model_is_refused_by_listen_and_eval(tmp_path, wav, clips, capsys):
    bad = _nan_model(tmp_path)
    assert listen_main(["--model", str(bad), "--input", str(wav)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    one_line_error(err, "kws-listen", "nan.onnx: the model output NaN or infinite probabilities")
    proc = cli("training.eval_cli", "--model", bad, "--data", clips, "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    one_line_error(proc.stderr, "kws-eval", "NaN or infinite probabilities")


def test_absurd_sample_rate_blames_the_model(tmp_path, wav, capsys):
    for rate, fragment in (("1", "metadata 'sample_rate' 1 Hz"), ("2000000000", "metadata 'sample_rate'")):
        bad = tone_model(tmp_path / f"rate{rate}.onnx", metadata={"sample_rate": rate})
        assert listen_main(["--model", str(bad), "--input", str(wav)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and "--hop-ms" not in err
        one_line_error(err, "kws-listen", fragment)


def _nan_checkpoint(tmp_path: Path) -> Path:
    from kws_edge.training.checkpoint import atomic_save, make_checkpoint
    from kws_edge.training.model import build_m5

    labels = ["yes", "no", UNKNOWN_LABEL]
    ckpt = make_checkpoint(build_m5(labels, n_channel=8), labels, train_config={}, metrics={}, split={})
    ckpt["state_dict"]["conv2.weight"][0, 0, 0] = float("nan")
    path = tmp_path / "nan.pt"
    atomic_save(ckpt, path)
    return path


def test_nan_checkpoint_is_refused_everywhere(tmp_path, clips):
    bad = _nan_checkpoint(tmp_path)
    proc = cli("training.eval_cli", "--model", bad, "--data", clips, "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    one_line_error(proc.stderr, "kws-eval", "nan.pt: checkpoint has NaN or infinite weights (conv2.weight)")
    out = tmp_path / "run"
    proc = cli("training.train_cli", "--data", clips, "--init", bad, "--out", out, "--epochs", "1")
    one_line_error(proc.stderr, "kws-train", "checkpoint has NaN or infinite weights")
    assert proc.returncode == 2 and not out.exists()
    proc = cli("export.export_cli", bad, "-o", tmp_path / "m.onnx")
    one_line_error(proc.stderr, "kws-export", "checkpoint has NaN or infinite weights")
    assert proc.returncode == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["nan.pt"]


def test_diverging_training_writes_no_model(tmp_path, clips):
    out = tmp_path / "run"
    proc = cli("training.train_cli", "--data", clips, "--out", out, "--epochs", "3", "--channels", "8",
               "--lr", "1e30", "--no-augment")
    assert proc.returncode == 2, proc.stderr
    one_line_error(proc.stderr, "kws-train", "training diverged: loss nan in epoch")
    assert not (out / "model.pt").exists() and not (out / "metrics.json").exists()
    for leftover in out.glob("resume.pt"):
        state = torch.load(leftover, weights_only=True)
        assert all(bool(torch.isfinite(v).all()) for v in state["model"].values() if v.is_floating_point())

"""kws-eval on a checkpoint and on its ONNX export: same output shape, same numbers, no torch for ONNX."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audiogen import noise, tone, write_wav

from kws_edge.labels import UNKNOWN_LABEL
from kws_edge.training import train_cli

PY = sys.executable
FREQS = {"low": 300.0, "mid": 900.0, "high": 2500.0}


def make_tones(root: Path, per_class: int = 10) -> Path:
    for k, (word, f) in enumerate(FREQS.items()):
        for i in range(per_class):
            audio = tone(f * (1 + 0.01 * i), seconds=0.6) + noise(0.6, amp=0.005, seed=10 * k + i)
            write_wav(root / word / f"c{i:02d}.wav", audio)
    return root


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("evalclips")
    data = make_tones(base / "ds")
    out = base / "run"
    assert train_cli.main(["--data", str(data), "--out", str(out), "--epochs", "12"]) == 0
    onnx_path = out / "model.onnx"
    cmd = [PY, "-m", "kws_edge.export.export_cli", str(out / "model.pt"), "-o", str(onnx_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not onnx_path.is_file():
        pytest.fail(f"kws-export failed: {proc.stderr[-2000:]}")
    return out / "model.pt", onnx_path, data


def eval_json(*args: str) -> tuple[dict, str]:
    code = ("import sys, json; from kws_edge.training import eval_cli; rc = eval_cli.main(sys.argv[1:]); "
            "print('TORCH_LOADED', 'torch' in sys.modules, file=sys.stderr); sys.exit(rc)")
    proc = subprocess.run([PY, "-c", code, *args, "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_pt_and_onnx_give_the_same_report(model_and_data):
    pt, onnx_path, data = model_and_data
    r_pt, _ = eval_json("--model", str(pt), "--data", str(data), "--split", "test")
    r_onnx, err = eval_json("--model", str(onnx_path), "--data", str(data), "--split", "test",
                            "--split-file", str(pt.parent / "split.json"))
    assert set(r_pt) == set(r_onnx)
    assert r_pt["labels"] == r_onnx["labels"] == sorted(FREQS) + [UNKNOWN_LABEL]
    assert r_pt["n"] == r_onnx["n"] == 6  # 20% of 10 clips x 3 classes
    assert r_pt["confusion"] == r_onnx["confusion"]
    assert r_pt["accuracy"] >= 0.8
    assert "TORCH_LOADED False" in err  # the ONNX path never imported torch


def test_unknown_words_count_as_unknown_truth(model_and_data, tmp_path):
    _, onnx_path, _ = model_and_data
    other = tmp_path / "other"
    for i in range(4):
        write_wav(other / "mystery" / f"m{i}.wav", noise(1.0, amp=0.1, seed=i))
        write_wav(other / "low" / f"l{i}.wav", tone(300.0 + i, seconds=0.6))
    r, _ = eval_json("--model", str(onnx_path), "--data", str(other))
    assert r["support"][UNKNOWN_LABEL] == 4 and r["support"]["low"] == 4
    assert r["n"] == 8


def test_confusion_png_and_human_output(model_and_data, tmp_path):
    pt, _, data = model_and_data
    png = tmp_path / "cm.png"
    proc = subprocess.run([PY, "-m", "kws_edge.training.eval_cli", "--model", str(pt), "--data", str(data),
                           "--confusion", str(png)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("model ") and "accuracy" in proc.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stream_mode(model_and_data, tmp_path):
    _, onnx_path, _ = model_and_data
    proc = subprocess.run([PY, "-m", "kws_edge.training.eval_cli", "--model", str(onnx_path), "--stream",
                           str(tmp_path / "x.wav")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "needs --truth" in proc.stderr
    pytest.importorskip("kws_edge.stream_eval")
    stream = np.concatenate([noise(1.0, amp=0.002, seed=1), tone(300.0, 0.6), noise(1.0, amp=0.002, seed=2),
                             tone(2500.0, 0.6), noise(1.0, amp=0.002, seed=3)])
    wav = write_wav(tmp_path / "s.wav", stream)
    truth = tmp_path / "s.csv"
    truth.write_text("start_s,end_s,label\n1.0,1.6,low\n2.6,3.2,high\n")
    r, _ = eval_json("--model", str(onnx_path), "--stream", str(wav), "--truth", str(truth))
    assert isinstance(r, dict) and r

"""A fine-tune mixes the shipped background talk (two people reading) under its clips by default."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from audiogen import noise, tone, write_wav
from test_train_errors import assert_one_line_error, run, tones

from kws_edge.models import BASE_BABBLE

REPO = Path(__file__).resolve().parents[1]


def _make_babble_module():
    sys.path.insert(0, str(REPO / "scripts"))  # as when run: it imports make_negatives beside it
    spec = importlib.util.spec_from_file_location("make_babble", REPO / "scripts" / "make_babble.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_babble_is_two_readers_of_the_talk_folder(tmp_path):
    talk = tmp_path / "other_train" / "_talk"
    for i, f in enumerate((300.0, 900.0, 1700.0)):
        write_wav(talk / f"read{i}.wav", tone(f, 2.0, amp=0.05 * (i + 1)))
    write_wav(tmp_path / "other_train" / "_unknown_" / "word.wav", tone(4000.0, 1.0))
    mix = _make_babble_module().babble(tmp_path / "other_train", seconds=6, seed=1)
    assert mix.shape == (6 * 16000,) and np.abs(mix).max() <= 0.5 + 1e-6
    freqs = np.fft.rfftfreq(16000, 1 / 16000)
    heard = []
    for second in mix.reshape(6, 16000):
        spectrum = np.abs(np.fft.rfft(second))
        heard.append({f for f in (300, 900, 1700, 4000)
                      if spectrum[np.abs(freqs - f) < 5].max() > 0.05 * spectrum.max()})
    assert max(len(h) for h in heard) == 2  # two readers at once
    assert not any(4000 in h for h in heard)  # only the read speech, never the reject clips


def test_shipped_background_talk_is_minutes_long():
    info = sf.info(BASE_BABBLE)
    assert info.samplerate == 8000 and info.duration >= 200


def _tiny_base(root: Path) -> Path:
    data = tones(root / "data")
    proc = run("train_cli", "--data", data, "--out", root / "base", "--epochs", "1", "--channels", "8",
               "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    return root / "base" / "model.pt"


def test_fine_tune_uses_the_background_talk_unless_given_noise(tmp_path):
    base = _tiny_base(tmp_path)
    data = tmp_path / "data"
    common = ["--init", base, "--epochs", "1", "--no-refit", "--negatives", "none", "--threads", "1"]
    proc = run("train_cli", "--data", data, "--out", tmp_path / "ft", *common)
    assert proc.returncode == 0, proc.stderr
    assert "no usable _talk/ recording in the data" in proc.stderr  # the hint to record one's own talk
    assert torch.load(tmp_path / "ft" / "model.pt", weights_only=True)["train_config"]["noise"] == "base"

    write_wav(tmp_path / "room" / "hum.wav", noise(3.0, amp=0.1, seed=3))
    proc = run("train_cli", "--data", data, "--out", tmp_path / "ft2", *common, "--noise", tmp_path / "room")
    assert proc.returncode == 0, proc.stderr
    noise_used = torch.load(tmp_path / "ft2" / "model.pt", weights_only=True)["train_config"]["noise"]
    assert noise_used == str(tmp_path / "room")

    proc = run("train_cli", "--data", data, "--out", tmp_path / "ft4", *common, "--noise", "none")
    assert proc.returncode == 0, proc.stderr
    assert torch.load(tmp_path / "ft4" / "model.pt", weights_only=True)["train_config"]["noise"] == "none"

    proc = run("train_cli", "--data", data, "--out", tmp_path / "ft3", *common, "--noise", tmp_path / "nope")
    assert_one_line_error(proc, "kws-train", "nope: --noise must be a folder of recordings")
    assert not (tmp_path / "ft3").exists()

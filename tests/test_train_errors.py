"""kws-train / kws-eval as a user runs them: bad input gives one line and exit 2, Ctrl-C then --resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from audiogen import noise, tone, write_wav

from kws_edge.labels import UNKNOWN_LABEL

PY = sys.executable


def tones(root: Path, per_class: int = 8, freqs=(300.0, 700.0, 1500.0)) -> Path:
    for k, f in enumerate(freqs):
        for i in range(per_class):
            audio = tone(f * (1 + 0.02 * i), seconds=0.7) + noise(0.7, amp=0.01, seed=100 * k + i)
            write_wav(root / f"w{k}" / f"c{i:02d}.wav", audio)
    return root


def run(module: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", f"kws_edge.training.{module}", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, prog: str, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(f"{prog}: error:")]
    assert len(errors) == 1, proc.stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in proc.stderr


def no_outputs(out: Path) -> bool:
    return not out.exists()


@pytest.fixture(scope="module")
def tone_data(tmp_path_factory) -> Path:
    return tones(tmp_path_factory.mktemp("tones") / "ds")


def test_missing_path(tmp_path):
    proc = run("train_cli", "--data", tmp_path / "nope", "--out", tmp_path / "out")
    assert_one_line_error(proc, "kws-train", "nope: no such dataset")
    assert no_outputs(tmp_path / "out")


@pytest.mark.parametrize("device", ["tpu", "cuda"])
def test_a_wrong_device_writes_nothing(tone_data, tmp_path, device):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "out", "--device", device)
    assert_one_line_error(proc, "kws-train", f"--device {device}")
    assert no_outputs(tmp_path / "out")


def test_zip_slip_is_refused(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("yes/a.wav", b"x")
        zf.writestr("../../escape.wav", b"x")
    proc = run("train_cli", "--data", z, "--out", tmp_path / "out")
    assert_one_line_error(proc, "kws-train", "unsafe member path")
    assert not (tmp_path.parent / "escape.wav").exists()
    assert no_outputs(tmp_path / "out")


def test_one_class_and_too_few_clips(tmp_path):
    one = tones(tmp_path / "one", freqs=(440.0,))
    # One word trains against a generated reject class; without one there is nothing to tell it from.
    proc = run("train_cli", "--data", one, "--out", tmp_path / "o1", "--no-reject-synthesis")
    assert_one_line_error(proc, "kws-train", "only one class")
    few = tones(tmp_path / "few", per_class=1)
    proc = run("train_cli", "--data", few, "--out", tmp_path / "o2")
    assert_one_line_error(proc, "kws-train", "at least 2")
    assert no_outputs(tmp_path / "o1") and no_outputs(tmp_path / "o2")


def test_corrupt_files_are_skipped_with_a_count(tone_data, tmp_path):
    data = tmp_path / "ds"
    tones(data)
    (data / "w0" / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    (data / "w1" / "readme.pdf").write_bytes(b"%PDF-1.4")
    proc = run("train_cli", "--data", data, "--out", tmp_path / "out", "--epochs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "2 skipped" in proc.stderr
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["skipped_files"] == 2


def test_bad_checkpoints(tone_data, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    proc = run("train_cli", "--data", tone_data, "--init", junk, "--out", tmp_path / "o1")
    assert_one_line_error(proc, "kws-train", "not a kws-edge checkpoint")
    # a real checkpoint dict whose weights do not fit M5
    from kws_edge.training.checkpoint import make_checkpoint
    from kws_edge.training.model import build_m5

    ckpt = make_checkpoint(build_m5(["a", UNKNOWN_LABEL]), ["a", UNKNOWN_LABEL], train_config={}, metrics={},
                           split={})
    ckpt["state_dict"]["conv2.weight"] = torch.zeros(3, 3, 3)
    torch.save(ckpt, tmp_path / "misfit.pt")
    proc = run("train_cli", "--data", tone_data, "--init", tmp_path / "misfit.pt", "--out", tmp_path / "o2")
    assert_one_line_error(proc, "kws-train", "do not fit M5")
    proc = run("eval_cli", "--model", junk, "--data", tone_data)
    assert_one_line_error(proc, "kws-eval", "not a kws-edge checkpoint")
    assert no_outputs(tmp_path / "o1") and no_outputs(tmp_path / "o2")


def test_init_base_when_missing_or_present(tone_data, tmp_path):
    from kws_edge.models import BASE_CHECKPOINT

    proc = run("train_cli", "--data", tone_data, "--init", "base", "--out", tmp_path / "o", "--epochs", "1")
    if BASE_CHECKPOINT.is_file():
        assert proc.returncode == 0, proc.stderr
    else:
        assert_one_line_error(proc, "kws-train", "base checkpoint is missing")


def test_bad_flags(tone_data, tmp_path):
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "o", "--freeze", "conv9")
    assert_one_line_error(proc, "kws-train", "unknown block")
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "o", "--epochs", "0")
    assert_one_line_error(proc, "kws-train", "at least 1")
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "o2", "--resume")
    assert_one_line_error(proc, "kws-train", "nothing to resume")
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "o3", "--snr-db", "30,3")
    assert_one_line_error(proc, "kws-train", "out of range")
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "o3", "--room-prob", "1.5")
    assert_one_line_error(proc, "kws-train", "out of range")
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "o4", "--negatives", tmp_path / "talk")
    assert_one_line_error(proc, "kws-train", "talk: --negatives must be a folder of recordings")
    assert no_outputs(tmp_path / "o4")
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "o5", "--init", "base",
               "--channels", "64")
    assert_one_line_error(proc, "kws-train", "--init and --resume keep the checkpoint's")
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "o6", "--channels", "2")
    assert_one_line_error(proc, "kws-train", "--channels must be between 4 and 512")
    assert no_outputs(tmp_path / "o5") and no_outputs(tmp_path / "o6")
    # Values torch would have refused with a traceback, after the data had loaded.
    for flag, value, said in (("--seed", "-1", "--seed must be 0 or more"),
                              ("--weight-decay", "-1", "--weight-decay must be 0 or more"),
                              ("--threads", "-2", "--threads must be 0"),
                              ("--lr-gamma", "0", "--lr-gamma is the factor"),
                              ("--reject-ratio", "-1", "--reject-ratio must be 0 or more"),
                              ("--words", ",,", "no word given")):
        proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "o7", flag, value)
        assert_one_line_error(proc, "kws-train", said)
        assert no_outputs(tmp_path / "o7")


def test_channels_sets_the_width_and_fine_tuning_keeps_it(tone_data, tmp_path):
    from kws_edge.training.checkpoint import load_checkpoint

    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "w", "--channels", "8",
               "--epochs", "1")
    assert proc.returncode == 0, proc.stderr
    ckpt = load_checkpoint(tmp_path / "w" / "model.pt")
    assert ckpt["model_config"]["n_channel"] == 8
    assert ckpt["state_dict"]["conv4.weight"].shape[:2] == (16, 16)
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "f",
               "--init", tmp_path / "w" / "model.pt", "--epochs", "1", "--no-refit")
    assert proc.returncode == 0, proc.stderr
    assert load_checkpoint(tmp_path / "f" / "model.pt")["model_config"]["n_channel"] == 8
    assert "holds an earlier run" not in proc.stderr
    # 8 clips a word: the fine-tune says that is few, and that its test accuracy is rough.
    assert "few clips: " in proc.stderr and "one clip moves it by more than 5 points" in proc.stderr
    scratch = run("train_cli", "--data", tone_data, "--out", tmp_path / "s", "--channels", "8",
                  "--epochs", "1")
    assert "few clips" not in scratch.stderr  # from scratch: no recipe of 30 to compare with
    # Training again into the same folder says that the earlier run will be replaced, and an
    # interrupted one (its resume.pt) that --resume would have continued.
    (tmp_path / "f" / "resume.pt").write_bytes(b"state of an interrupted run")
    proc = run("train_cli", "--data", tone_data, "--out", tmp_path / "f",
               "--init", tmp_path / "w" / "model.pt", "--epochs", "1", "--no-refit")
    assert proc.returncode == 0 and "holds an earlier run" in proc.stderr, proc.stderr
    assert "holds an interrupted run (resume.pt)" in proc.stderr and "--resume" in proc.stderr


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX SIGINT delivery")
def test_ctrl_c_then_resume(tone_data, tmp_path):
    out = tmp_path / "out"
    data = shutil.copytree(tone_data, tmp_path / "ds")
    next(p for p in data.iterdir() if p.is_dir()).joinpath("broken.wav").write_bytes(b"RIFF" + bytes(40))
    tone_data = data  # with one unreadable clip, which the resumed run's metrics must still count
    cmd = [PY, "-m", "kws_edge.training.train_cli", "--data", str(tone_data), "--out", str(out),
           "--epochs", "400", "--patience", "400", "--batch-size", "4", "--channels", "8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not (out / "resume.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    # One line says it stopped and where to continue from.
    assert [ln for ln in err.splitlines() if "interrupted" in ln] == [err.strip().splitlines()[-1]], err
    assert err.strip().splitlines()[-1].startswith("kws-train: interrupted; state after epoch"), err
    assert (out / "resume.pt").is_file() and not (out / "model.pt").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    done = torch.load(out / "resume.pt", weights_only=True)["epoch"]
    assert done >= 1
    resumed = run("train_cli", "--data", tone_data, "--out", out, "--resume", "--epochs", str(done + 2),
                  "--refit")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after epoch {done}" in resumed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == done + 2 and len(metrics["history"]) == done + 2
    assert metrics["skipped_files"] == 1
    # The split's source is the first start's, not the resume-split.json that is gone now.
    assert "resume-split" not in json.loads((out / "split.json").read_text())["source"]
    assert not (out / "resume.pt").exists()
    # The refit after a resume builds the run's own model, not a default-width one.
    assert metrics["refit"]["epochs"] == max(1, metrics["best_epoch"])
    assert torch.load(out / "model.pt", weights_only=True)["model_config"]["n_channel"] == 8


def test_eval_errors(tone_data, tmp_path):
    proc = run("eval_cli", "--model", tmp_path / "none.pt", "--data", tone_data)
    assert_one_line_error(proc, "kws-eval", "no such model file")
    proc = run("eval_cli", "--model", "base", "--stream", "s.wav", "--truth", "t.csv", "--confusion", "c.png")
    assert_one_line_error(proc, "kws-eval", "--confusion goes with --data")
    proc = run("eval_cli", "--model", "base", "--stream", "s.wav", "--truth", "t.csv", "--split", "test")
    assert_one_line_error(proc, "kws-eval", "--split goes with --data")
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not onnx")
    proc = run("eval_cli", "--model", bogus, "--data", tone_data)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr


def test_help_texts():
    for module, words in (("train_cli", ["--init", "--freeze", "--resume", "SKIPPED", "ERROR"]),
                          ("eval_cli", ["--model", "--split", "--stream", "--truth"])):
        proc = run(module, "--help")
        assert proc.returncode == 0
        for w in words:
            assert w in proc.stdout, (module, w)


def test_export_finds_the_training_data_from_another_folder(tone_data, tmp_path):
    # kws-train recorded --data as typed: from another folder, or with two datasets, kws-export
    # --quantize said the training data was gone.
    import shutil

    work = tmp_path / "work"
    shutil.copytree(tone_data, work / "ds")
    shutil.copytree(tone_data, work / "ds2")
    proc = subprocess.run([PY, "-m", "kws_edge.training.train_cli", "--data", "ds", "ds2", "--out", "run",
                           "--epochs", "1"], capture_output=True, text=True, timeout=300, cwd=work)
    assert proc.returncode == 0, proc.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([PY, "-m", "kws_edge.export.export_cli", str(work / "run" / "model.pt"), "-o",
                           "m.onnx", "--quantize", "--max-accuracy-drop", "100"],
                          capture_output=True, text=True, timeout=300, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert f"using the checkpoint's training data {work / 'ds'} (the first of its 2 datasets)" in proc.stderr
    assert (elsewhere / "m.onnx").is_file()

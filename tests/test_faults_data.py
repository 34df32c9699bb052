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


def _zip_of(folder: Path, path: Path, stored: set[str]) -> Path:
    """The dataset as a ZIP; members named in `stored` are not compressed (for byte surgery)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(folder.rglob("*.wav")):
            name = f.relative_to(folder).as_posix()
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            zf.write(f, name, compress_type=method)
    return path


def _damage(path: Path, name: str, how: str) -> None:
    """Corrupt member `name` in place: 'crc' flips audio bytes of a stored member, 'deflate'
    overwrites a compressed stream, 'size' makes the central directory understate its size."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    blob = bytearray(path.read_bytes())
    local = info.header_offset
    name_len, extra_len = struct.unpack("<HH", blob[local + 26:local + 30])
    data = local + 30 + name_len + extra_len
    if how == "crc":
        blob[data + 2000:data + 2010] = bytes(10)
    elif how == "deflate":
        blob[data:data + 64] = b"\xff" * 64
    else:
        central = blob.find(b"PK\x01\x02")
        while central >= 0:
            n = struct.unpack("<H", blob[central + 28:central + 30])[0]
            if blob[central + 46:central + 46 + n].decode() == name:
                break
            central = blob.find(b"PK\x01\x02", central + 4)
        blob[central + 24:central + 28] = struct.pack("<I", info.file_size // 2)
    path.write_bytes(bytes(blob))


def test_damaged_zip_members_are_skipped_and_counted(tmp_path):
    data = tones(tmp_path / "ds")
    z = _zip_of(data, tmp_path / "ds.zip", stored={"yes/c01.wav"})
    _damage(z, "yes/c01.wav", "crc")
    _damage(z, "no/c02.wav", "deflate")
    _damage(z, "yes/c03.wav", "size")
    out = tmp_path / "run"
    proc = cli("training.train_cli", "--data", z, "--out", out, "--epochs", "1", "--channels", "8")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for name in ("yes/c01.wav", "no/c02.wav", "yes/c03.wav"):
        assert f"member '{name}' is damaged" in proc.stderr, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["skipped_files"] == 3
    proc = cli("training.eval_cli", "--model", out / "model.pt", "--data", z, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["skipped_files"] == 3 and doc["n"] == 9


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems refuse non-UTF-8 names")
@pytest.mark.parametrize("folder,file", [(b"caf\xe9", b"c00.wav"), (b"yes", b"\xff.wav")])
def test_names_that_are_not_utf8_are_one_line_errors(tmp_path, folder, file):
    import io

    import soundfile as sf

    data = tones(tmp_path / "ds")
    buf = io.BytesIO()
    sf.write(buf, tone(500.0, 0.8), 16000, format="WAV")
    bad = os.path.join(os.fsencode(data), folder)
    os.makedirs(bad, exist_ok=True)
    for name in (file, b"c01.wav"):
        with open(os.path.join(bad, name), "wb") as fh:
            fh.write(buf.getvalue())
    out = tmp_path / "run"
    proc = cli("training.train_cli", "--data", data, "--out", out, "--epochs", "1", "--channels", "8")
    assert proc.returncode == 2
    one_line_error(proc.stderr, "kws-train", "is not a valid UTF-8 name; rename it")
    assert repr(folder)[2:-1] in proc.stderr
    assert not out.exists()
    from kws_edge.models import base_model_path

    proc = cli("training.eval_cli", "--model", base_model_path(), "--data", data)
    assert proc.returncode == 2 and proc.stdout == ""
    one_line_error(proc.stderr, "kws-eval", "is not a valid UTF-8 name")


def test_tiny_and_silent_clips_are_skipped_with_a_warning(tmp_path):
    """Fault 12: 5-ms, 1-sample and all-zero files are no spoken words: skipped, named, counted."""
    data = tones(tmp_path / "ds")
    write_wav(data / "yes" / "blip.wav", tone(1000.0, 0.005))
    write_wav(data / "yes" / "one.wav", np.array([0.5], dtype=np.float32))
    write_wav(data / "no" / "zeros.wav", np.zeros(16000, dtype=np.float32))
    out = tmp_path / "run"
    proc = cli("training.train_cli", "--data", data, "--out", out, "--epochs", "1", "--channels", "8")
    assert proc.returncode == 0, proc.stderr
    assert "blip.wav: 5.0 ms long; a clip needs at least 100 ms" in proc.stderr
    assert "one.wav: 0.1 ms long" in proc.stderr
    assert "zeros.wav: silent" in proc.stderr
    assert json.loads((out / "metrics.json").read_text())["skipped_files"] == 3
    split = json.loads((out / "split.json").read_text())
    kept = {k for part in ("train", "val", "test") for k in split[part]}
    assert not kept & {"yes/blip.wav", "yes/one.wav", "no/zeros.wav"}


def test_an_unreadable_talk_recording_is_counted_as_skipped(tmp_path):
    data = tones(tmp_path / "ds")
    write_wav(data / "_talk" / "001.wav", tone(300.0, 3.0))
    (data / "_talk" / "002.wav").write_bytes(b"RIFF\x00\x00\x00\x00not audio at all")
    out = tmp_path / "run"
    proc = cli("training.train_cli", "--data", data, "--out", out, "--epochs", "1", "--channels", "8")
    assert proc.returncode == 0, proc.stderr
    assert "_talk/002.wav" in proc.stderr
    assert json.loads((out / "metrics.json").read_text())["skipped_files"] == 1

"""Faults 5 and 15: outputs that cannot be written, and temp files of a killed writer.

A full disk is simulated with RLIMIT_FSIZE (writes past the limit fail with EFBIG, the way
ENOSPC fails them): real files, real processes, no mocks.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from audiogen import noise, tone, write_wav

from kws_edge.atomic import atomic_path, pid_alive, write_bytes_atomic

PY = sys.executable


def cli(module: str, *args: object, fsize: int | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess:
    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return subprocess.run([PY, "-m", f"kws_edge.{module}", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit)


def one_line_error(stderr: str, prog: str, fragment: str) -> str:
    errors = [ln for ln in stderr.splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(errors) == 1, stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in stderr
    return errors[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("faults_outputs")
    data = root / "ds"
    for k, freq in enumerate((700.0, 1900.0)):
        for i in range(6):
            audio = tone(freq * (1 + 0.02 * i), 0.8) + noise(0.8, 0.01, seed=i)
            write_wav(data / f"w{k}" / f"c{i:02d}.wav", audio)
    out = root / "run"
    proc = cli("training.train_cli", "--data", data, "--out", out, "--epochs", "1", "--channels", "8")
    assert proc.returncode == 0, proc.stderr
    return {"data": data, "out": out}


def test_train_out_naming_a_file(trained, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    proc = cli("training.train_cli", "--data", trained["data"], "--out", target, "--epochs", "1")
    assert proc.returncode == 2
    one_line_error(proc.stderr, "kws-train", "--out names an existing file, not a folder")
    assert target.read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_train_out_in_a_read_only_folder(trained, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        proc = cli("training.train_cli", "--data", trained["data"], "--out", locked / "run", "--epochs", "1")
        assert proc.returncode == 2
        one_line_error(proc.stderr, "kws-train", "is not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("fsize", [0, 4096])
def test_train_on_a_full_disk_keeps_the_previous_run(trained, tmp_path, fsize):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(trained["out"], out)
    before = snapshot(out)
    # A rerun with another seed (other split, other weights) whose writes fail: at the first
    # byte (split.json), or past 4 KB (the epoch's resume.pt).
    proc = cli("training.train_cli", "--data", trained["data"], "--out", out, "--epochs", "1",
               "--channels", "8", "--seed", "5", fsize=fsize)
    assert proc.returncode == 2, proc.stderr
    line = one_line_error(proc.stderr, "kws-train", "cannot write it (")
    assert "too large" in line
    assert "the existing file is unchanged" in line or "nothing was written" in line
    after = snapshot(out)
    # Nothing replaced, no temp files; the failed run's own split may stay beside (no) resume.pt.
    assert {k: v for k, v in after.items() if k != "resume-split.json"} == before
    assert set(after) - set(before) <= {"resume-split.json"}


def test_eval_refuses_a_split_that_is_not_the_models(trained, tmp_path):
    """Fault 11: a split.json from another run would score training clips as test clips."""
    import json
    import shutil

    out = tmp_path / "run"
    shutil.copytree(trained["out"], out)
    # A rerun with another seed that dies after its first epoch's split (disk full at 4 KB): the
    # folder's split.json is still the model's, and --split test scores the model's test clips.
    cli("training.train_cli", "--data", trained["data"], "--out", out, "--epochs", "1", "--channels", "8",
        "--seed", "5", fsize=4096)
    assert (out / "split.json").read_bytes() == (trained["out"] / "split.json").read_bytes()
    proc = cli("training.eval_cli", "--model", out / "model.pt", "--data", trained["data"], "--split", "test",
               "--json")
    assert proc.returncode == 0, proc.stderr
    n_test = len(json.loads((out / "split.json").read_text())["test"])
    assert json.loads(proc.stdout)["n"] == n_test
    # A split.json from elsewhere (an older kws-train replaced it first; or copied by hand).
    shutil.copy(out / "resume-split.json", out / "split.json")
    for model in (out / "model.pt", _export(out)):
        proc = cli("training.eval_cli", "--model", model, "--data", trained["data"], "--split", "test")
        assert proc.returncode == 2 and proc.stdout == ""
        one_line_error(proc.stderr, "kws-eval", "split.json: not the split")


def _export(run: Path) -> Path:
    out = run / "model.onnx"
    proc = cli("export.export_cli", run / "model.pt", "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


def _checkpoint(tmp_path: Path) -> Path:
    from kws_edge.training.checkpoint import atomic_save, make_checkpoint
    from kws_edge.training.model import build_m5

    labels = ["a", "b", "_unknown_"]
    path = tmp_path / "model.pt"
    atomic_save(make_checkpoint(build_m5(labels, n_channel=8), labels, train_config={}, metrics={}, split={}),
                path)
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


def test_export_on_a_full_disk_and_stale_scratch_of_a_killed_export(tmp_path):
    ckpt = _checkpoint(tmp_path)
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous model")
    dead = _dead_pid()
    stale_file = tmp_path / f".model.onnx.{dead}.abcd_123.onnx"
    stale_dir = tmp_path / f".kws-export-{dead}-abcd_123"
    live_file = tmp_path / f".model.onnx.{os.getpid()}.zzzz_999.onnx"  # a writer still running
    stale_file.write_bytes(b"half")
    stale_dir.mkdir()
    (stale_dir / "model.onnx").write_bytes(b"half")
    live_file.write_bytes(b"in progress")

    proc = cli("export.export_cli", ckpt, "-o", out, fsize=30_000)
    assert proc.returncode == 2, proc.stderr
    # The exporter's own temporary file (in TMPDIR) or OUT's: whichever passes the limit first.
    line = one_line_error(proc.stderr, "kws-export", "(File too large)")
    assert line.endswith("model.onnx: the existing file is unchanged") or line.endswith(
        "model.onnx: cannot write it (File too large); the existing file is unchanged"), line
    assert out.read_bytes() == b"previous model"
    assert not stale_file.exists() and not stale_dir.exists() and live_file.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live_file.name, "model.onnx", "model.pt"])

    proc = cli("export.export_cli", ckpt, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:2] != b"pr"


@pytest.mark.skipif(os.name != "posix", reason="kill -9")
def test_temp_file_of_a_writer_killed_with_sigkill_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "metrics.json"
    code = ("import sys, time\nfrom kws_edge.atomic import atomic_path\n"
            f"with atomic_path({str(target)!r}) as tmp:\n"
            "    tmp.write_text('half'); print('written', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while pid_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".metrics.json.{proc.pid}.")
    write_bytes_atomic(target, b"{}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_atomic_write_failure_is_one_line_and_keeps_the_old_file(tmp_path):
    from kws_edge.errors import KwsError

    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    match = r"a\.bin: cannot write it \(No space left on device\); the existing file is unchanged"
    with pytest.raises(KwsError, match=match), atomic_path(target) as tmp:
        tmp.write_bytes(b"x")
        raise OSError(28, "No space left on device")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_export_into_a_read_only_folder(tmp_path):
    ckpt = _checkpoint(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        proc = cli("export.export_cli", ckpt, "-o", locked / "model.onnx")
        assert proc.returncode == 2
        one_line_error(proc.stderr, "kws-export", "is not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_kws_synth_that_cannot_write_its_clips_is_one_line(tmp_path):
    """A full disk while the clips are written (libsndfile says only "System error", in a worker).
    A real one: a 300-KB tmpfs (root only; espeak-ng's own files rule out RLIMIT_FSIZE here)."""
    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(full)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        out = full / "syn"
        proc = cli("training.synth_cli", out, "--words", "yes,no", "--per-word", "30", "--unknown", "0",
                   "--noise", "none")
        assert proc.returncode == 2, proc.stderr
        one_line_error(proc.stderr, "kws-synth", f"{out}: cannot write the clips (no space left on device)")
        assert list(full.iterdir()) == []
    finally:
        subprocess.run(["umount", str(full)], check=True)

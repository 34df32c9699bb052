"""Atomic writes: all or nothing, readable permissions, no temp files left behind."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from kws_edge.atomic import atomic_path, atomic_paths, staged_folder, write_json_atomic
from kws_edge.errors import KwsError


def test_success_replaces_with_umask_permissions(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".onnx" and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_failure_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert target.read_text() == '{\n "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_staged_folder_swaps_in_whole_or_not_at_all(tmp_path):
    target = tmp_path / "set"
    (target / "old").mkdir(parents=True)
    with pytest.raises(RuntimeError), staged_folder(target) as staging:
        (staging / "half").mkdir()
        raise RuntimeError("builder died")
    assert [p.name for p in target.iterdir()] == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["set"]
    with staged_folder(target) as staging:
        assert staging.parent == tmp_path and not any(staging.iterdir())
        (staging / "new").mkdir()
        assert [p.name for p in target.iterdir()] == ["old"]  # nothing seen before the block ends
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_a_staged_folder_left_by_a_killed_run_is_swept_by_the_next(tmp_path):
    """A run killed outright (SIGTERM to kws-synth's pool) leaves its hidden staging folder; the
    next run beside it removes those of dead processes, never a live one's."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f".set.partial-{dead}.k2x9q0ab" / "yes").mkdir(parents=True)
    (tmp_path / f".set.partial-{os.getppid()}.m3c1z7rd").mkdir()  # a live process's: another run at work
    (tmp_path / f".other.partial-{dead}.p8s2w4ee").mkdir()  # not this output's
    with staged_folder(tmp_path / "set") as staging:
        (staging / "new").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["set", f".set.partial-{os.getppid()}.m3c1z7rd", f".other.partial-{dead}.p8s2w4ee"])


def test_a_failed_set_names_the_set_not_the_last_file_opened(tmp_path):
    """kws-train writes model.pt, metrics.json, confusion.png and split.json as one set; a full
    disk while writing model.pt was reported as "split.json: cannot write it"."""
    paths = [tmp_path / n for n in ("model.pt", "metrics.json", "split.json")]
    with pytest.raises(KwsError) as err, atomic_paths(paths) as tmps:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmps[0]))
    assert str(err.value) == (f"{tmp_path}: cannot write model.pt, metrics.json, split.json (No space left "
                              "on device); nothing was written")
    assert list(tmp_path.iterdir()) == []

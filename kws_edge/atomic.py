"""Writing files so that no reader ever sees half of one: a temp file beside it, then a rename.

A temp file is named `.<name>.<pid>.<random><suffix>`, so that a later write of the same file can
remove the ones whose writer died (kill -9, power loss) without touching a live writer's.
A write that fails for want of space or permission is a one-line KwsError that says the old file
is unchanged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .errors import KwsError, stop_if_terminated


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (ours to signal or not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folder: Path, prefix: str) -> int:
    """Remove entries `<prefix><pid>.*` / `<prefix><pid>-*` in `folder` whose process is gone;
    returns how many. Files and folders alike (exports keep scratch folders beside the output)."""
    removed = 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    # <pid> then tempfile's 8 random characters: nothing a person would name a file.
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)[.-][a-z0-9_]{{8}}")
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError:
            pass  # another run removed it first, or it is not ours to remove
    return removed


def _reason(exc: BaseException) -> str:
    """Why a write failed, in a few words ("No space left on device")."""
    return (getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0] or type(exc).__name__)[:200]


def cannot_write(path: Path, exc: BaseException) -> KwsError:
    """The one-line error for a failed write: what failed, and that nothing was replaced."""
    kept = "the existing file is unchanged" if path.exists() else "nothing was written"
    return KwsError(f"{path}: cannot write it ({_reason(exc)}); {kept}")


@contextmanager
def atomic_path(path: str | Path, *, name_errors: bool = True) -> Iterator[Path]:
    """Yield a temp path in `path`'s folder (same suffix, so writers that go by the extension work);
    once the block succeeds it replaces `path`, with the usual umask permissions rather than
    mkstemp's 0600; if the block fails it is removed and `path` is untouched. An OSError (disk
    full, read-only folder, no permission) becomes a one-line KwsError naming `path` (with
    `name_errors`; atomic_paths names the set instead, as it cannot tell whose write failed)."""
    path = Path(path)
    prefix = f".{path.name}."
    sweep_stale(path.parent, prefix)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}.", suffix=path.suffix or ".tmp",
                                   dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    os.close(fd)
    try:
        yield Path(tmp)
        stop_if_terminated()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and name_errors:
            raise cannot_write(path, exc) from None
        raise


@contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """Yield an empty folder beside `out` (`.<name>.partial-<pid>.<random>`) to build a whole set in; once
    the block succeeds it takes `out`'s place (an old `out` is removed only after the swap), and if
    the block fails it is removed, so no reader ever takes a half-built set for a finished one."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # What a run killed outright left (SIGKILL, SIGTERM in a worker pool), once its process is
    # gone; an old folder only when `out` is in place (killed between the swap's two renames, the
    # old folder is all there is).
    sweep_stale(out.parent, f".{out.name}.partial-")
    if out.is_dir():
        sweep_stale(out.parent, f".{out.name}.old-")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}.", dir=out.parent))
    try:
        yield staging
        stop_if_terminated()
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, out: Path) -> None:
    old = None
    if out.exists():
        if any(out.iterdir()):
            old = out.with_name(f".{out.name}.old-" + staging.name[len(f".{out.name}.partial-"):])
            os.replace(out, old)
        else:
            out.rmdir()
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old)


@contextmanager
def atomic_paths(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Several files that belong together (a model and its metrics): every one is written to its
    temp first, and only when all succeeded are they renamed into place, so a full disk halfway
    leaves the old set whole rather than a new model beside old metrics. A failed write names the
    set, not whichever file's temp happened to be opened last."""
    paths = [Path(p) for p in paths]
    try:
        with ExitStack() as stack:
            yield [stack.enter_context(atomic_path(p, name_errors=False)) for p in paths]
    except OSError as exc:
        kept = "the existing files are unchanged" if any(p.exists() for p in paths) else "nothing was written"
        raise KwsError(f"{paths[0].parent}: cannot write {', '.join(p.name for p in paths)} "
                       f"({_reason(exc)}); {kept}") from None


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, doc: object, **dump_options: object) -> None:
    """JSON (indent 1 unless told otherwise), written atomically."""
    dump_options.setdefault("indent", 1)
    write_bytes_atomic(path, (json.dumps(doc, **dump_options) + "\n").encode())


def check_output_folder(folder: str | Path, what: str) -> None:
    """Before minutes of work: `folder` (made later if missing) must be a folder we may write in."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise KwsError(f"{folder}: {what} names an existing file, not a folder")
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise KwsError(f"{folder}: {what}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise KwsError(f"{folder}: {what}: {probe} is not writable (read-only or not yours)")

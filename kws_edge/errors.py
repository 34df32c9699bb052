"""User-facing errors and the one-line error convention shared by every CLI."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path


class KwsError(Exception):
    """A problem with the user's input (file, flag, dataset). Printed as one line, never a traceback."""


class StdoutError(OSError):
    """Standard output cannot be written (a full disk, /dev/full): not a problem with any input."""


class _GuardedStdout:
    """sys.stdout for the run of a CLI body: a failed write or flush is raised as StdoutError,
    so the error can say that the output, not some file, is what failed."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's exit-time flush of what is still buffered cannot
    raise again (and print 'Exception ignored ...')."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# The `train` extra of pyproject.toml: an install of the runtime alone has none of them.
TRAINING_PACKAGES = frozenset({"torch", "torchaudio", "onnx", "onnxscript", "matplotlib"})


def missing_training_tools(prog: str, exc: ModuleNotFoundError) -> int:
    """A training tool run where only the runtime is installed: one line saying how to add the
    tools, exit status 2. Any other missing module is a real bug and is raised again."""
    name = (exc.name or "").split(".")[0]
    if name not in TRAINING_PACKAGES:
        raise exc
    print(f"{prog}: error: needs the training tools ({name} is not installed): in a clone of kws-edge, "
          "bash scripts/setup.sh --dev (or pip install '.[train]')", file=sys.stderr)
    return 2


def not_a_file(path: str | Path, what: str) -> KwsError:
    """The one-line error for a path that should be a file of kind `what` and is not: a folder
    given where a file belongs is said to be one, rather than "no such"."""
    if Path(path).is_dir():
        return KwsError(f"{path}: is a folder, not {'an' if what[0] in 'aeiou' else 'a'} {what}")
    return KwsError(f"{path}: no such {what}")


def run_cli(prog: str, main: Callable[[], int | None]) -> int:
    """Run a CLI body: KwsError -> one-line error, exit 2; Ctrl-C -> exit 130; an OSError (disk
    full, no permission, stdout unwritable) -> one line naming the file, exit 2; a training
    package missing from a runtime-only install -> one line saying how to add it, exit 2; SIGTERM,
    once `exit_cleanly_on_sigterm` is on -> one line, exit 143."""
    real_stdout = sys.stdout
    if real_stdout is None:  # started with stdout closed (`>&-`)
        print(f"{prog}: error: standard output is closed; redirect it (> FILE or > /dev/null)",
              file=sys.stderr)
        return 2
    if hasattr(real_stdout, "reconfigure"):
        # A label of a new word ("lumière") on a terminal that is not UTF-8 is escaped, not a traceback.
        real_stdout.reconfigure(errors="backslashreplace")
    sys.stdout = _GuardedStdout(real_stdout)
    try:
        code = main()
        # Surface a failing stdout here (`> /dev/full`), not at exit as an ignored exception.
        sys.stdout.flush()
    except KwsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        return missing_training_tools(prog, exc)
    except KeyboardInterrupt as exc:
        detail = str(exc)  # where to continue from, when the command knows (kws-train)
        print(f"{prog}: interrupted" + (f"; {detail}" if detail else ""), file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`kws-eval ... | head`): stop quietly.
        _silence_stdout()
        return 0
    except StdoutError as exc:
        _silence_stdout()
        print(f"{prog}: error: cannot write standard output ({exc.strerror}); the output is incomplete",
              file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{exc.strerror or exc or type(exc).__name__}", file=sys.stderr)
        return 2
    except BaseException:
        if _terminated_by is None:
            raise
        print(f"{prog}: terminated" + (f"; {_terminated_note}" if _terminated_note else ""), file=sys.stderr)
        return 128 + _terminated_by
    finally:
        sys.stdout = real_stdout
    return int(code or 0)


def setup_logging(verbose: bool = False) -> None:
    """Entry points only: named loggers everywhere, handlers configured here."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


_terminated_by: int | None = None
_terminated_note = ""


def exit_cleanly_on_sigterm(note: str = "") -> None:
    """SIGTERM (systemd, a CI timeout, `kill`) raises SystemExit(143) instead of ending the process
    at once, so temp folders and staged outputs are removed on the way out, as on Ctrl-C; run_cli
    then says `PROG: terminated; NOTE` and exits 143, whatever the SystemExit became on its way out
    (torch.export re-raises it as an error of its own)."""
    import signal

    global _terminated_note
    _terminated_note = note

    def terminated(signum: int, frame: object) -> None:
        global _terminated_by
        _terminated_by = signum
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)


def stop_if_terminated() -> None:
    """Before a file is put in place: a SIGTERM that a library caught and logged still stops the
    command, rather than let it finish writing."""
    if _terminated_by is not None:
        raise SystemExit(128 + _terminated_by)

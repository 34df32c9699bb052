"""User-facing errors and the one-line error convention shared by every CLI."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable


class KwsError(Exception):
    """A problem with the user's input (file, flag, dataset). Printed as one line, never a traceback."""


def run_cli(prog: str, main: Callable[[], int | None]) -> int:
    """Run a CLI body: KwsError -> one-line error, exit 2; Ctrl-C -> exit 130."""
    try:
        code = main()
    except KwsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`kws-eval ... | head`): stop quietly, and keep Python's exit-time
        # flush of stdout from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(code or 0)


def setup_logging(verbose: bool = False) -> None:
    """Entry points only: named loggers everywhere, handlers configured here."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )

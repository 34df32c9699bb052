"""argparse pieces the CLIs share."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .errors import KwsError


class Parser(argparse.ArgumentParser):
    """Every command's parser: a usage mistake is one line, as every other bad input is, naming
    --help, where argparse printed its usage block (up to 15 lines) before the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Once(argparse.Action):
    """A flag that takes one value and may be given once: argparse keeps the last of two
    (`--input A --input B` read only B, `--data A --data B` scored only B) without a word."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        if getattr(namespace, f"_once_{self.dest}", False):
            parser.error(f"{option_string} is given twice; it takes one value")
        setattr(namespace, f"_once_{self.dest}", True)
        setattr(namespace, self.dest, values)


def word_list(text: str | None, flag: str = "--words") -> list[str] | None:
    """`--words "yes, no,,up"` -> ["yes", "no", "up"]; None when the flag was not given. A value
    that names no word (",,") is a one-line error, not "every word"."""
    if text is None:
        return None
    words = [w.strip() for w in text.split(",") if w.strip()]
    if not words:
        raise KwsError(f"{flag} {text!r}: no word given (e.g. {flag} yes,no)")
    return words

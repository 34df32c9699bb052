"""argparse pieces the CLIs share."""

from __future__ import annotations

import argparse


class Once(argparse.Action):
    """A flag that takes one value and may be given once: argparse keeps the last of two
    (`--input A --input B` read only B, `--data A --data B` scored only B) without a word."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        if getattr(namespace, f"_once_{self.dest}", False):
            parser.error(f"{option_string} is given twice; it takes one value")
        setattr(namespace, f"_once_{self.dest}", True)
        setattr(namespace, self.dest, values)

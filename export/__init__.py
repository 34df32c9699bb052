"""Export: ONNX export, int8 quantization, parity checks and `kws-export` (needs the `train` extra)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """`kws-export`. Its modules import torch and onnx, so where only the runtime is installed
    this says so in one line instead of failing on the import."""
    from kws_edge.errors import missing_training_tools

    try:
        from .export_cli import main as export_main
    except ModuleNotFoundError as exc:
        from .parser import build_parser

        build_parser().parse_args(argv)  # --help and flag errors, as where the tools are installed
        return missing_training_tools("kws-export", exc)
    return export_main(argv)

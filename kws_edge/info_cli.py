"""`kws-info MODEL`: what a model file knows and carries -- words, thresholds, quantization, training.

Torch-free for both kinds of file. An ONNX model's settings are its metadata (read without
running it). A training checkpoint (.pt, torch.save's ZIP) is read with a restricted unpickler
that knows only the few globals a kws-edge checkpoint holds and turns each tensor into a shape
placeholder: no weights are loaded and no other Python object can be built, so a hostile file
cannot run code (the same rule as kws-train's `torch.load(weights_only=True)`).
"""

from __future__ import annotations

import argparse
import collections
import json
import pickle
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

from .cli_args import Parser
from .errors import KwsError, not_a_file, run_cli

PROG = "kws-info"
DEFAULT_THRESHOLD = 0.5  # kws-listen's, for words without a stored threshold (kws_edge/spotter.py)
EPILOG = """\
examples:
  kws-info base                       the shipped model (kws-listen's default)
  kws-info runs/me.onnx               a model kws-export wrote
  kws-info runs/me/model.pt --json    a checkpoint kws-train wrote, everything as JSON
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Show what a keyword model knows: its words, thresholds, quantization, accuracy "
                    "and what it was trained on. Reads .onnx (kws-export) and .pt (kws-train) files.")
    p.add_argument("model", metavar="MODEL",
                   help="model.onnx, model.pt, or 'base' / 'base-b' for a shipped one")
    p.add_argument("--json", action="store_true", help="print everything the file carries as one JSON object")
    return p


# --- reading the files --------------------------------------------------------------------------

def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value


def read_onnx(path: Path) -> dict[str, Any]:
    """The kws-edge metadata of an ONNX model, values decoded from JSON where they are JSON. The
    model is loaded as kws-listen loads it, so what the runtime refuses (broken metadata, wrong
    shapes) kws-info refuses alike."""
    from .onnx_model import OnnxModel

    meta = {k: _json_or_text(v) for k, v in OnnxModel(path).metadata.items()}
    return {"kind": "onnx", "file": str(path), "bytes": path.stat().st_size, **meta}


class _Tensor:
    """A tensor in a checkpoint, as its shape only."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(int(s) for s in shape)

    def __repr__(self) -> str:
        return f"tensor{list(self.shape)}"


def _rebuild_tensor(storage: object, offset: int, size: tuple, *args: object) -> _Tensor:
    return _Tensor(size)


class _Storage:
    def __init__(self, *args: object) -> None:
        pass


class _CheckpointUnpickler(pickle.Unpickler):
    """Only the globals a kws-edge checkpoint holds; tensors become `_Tensor` placeholders."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return _Storage
        raise pickle.UnpicklingError(f"refused global {module}.{name}")

    def persistent_load(self, pid: object) -> _Storage:
        return _Storage()


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Everything a kws-train checkpoint carries except its weights (which become shapes)."""
    try:
        with zipfile.ZipFile(path) as zf:
            pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pickles) != 1:
                raise KwsError(f"{path}: not a kws-edge checkpoint (no single data.pkl inside)")
            ckpt = _CheckpointUnpickler(zf.open(pickles[0])).load()
    except zipfile.BadZipFile:
        raise KwsError(f"{path}: not a kws-edge checkpoint (not a file written by torch.save)") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as exc:
        raise KwsError(f"{path}: not a kws-edge checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or "labels" not in ckpt:
        raise KwsError(f"{path}: not a kws-edge checkpoint (no labels)")
    # What kws-export and kws-eval need of it too (training/checkpoint.py checks the full list).
    missing = [k for k in ("state_dict", "model_config") if not ckpt.get(k)]
    if missing:
        raise KwsError(f"{path}: not a complete kws-edge checkpoint (no {' or '.join(missing)})")
    state = ckpt.pop("state_dict")
    params = sum(_numel(t.shape) for t in state.values() if isinstance(t, _Tensor))
    return {"kind": "checkpoint", "file": str(path), "bytes": path.stat().st_size, "parameters": params,
            **ckpt}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def resolve(spec: str) -> Path:
    """'base' is the shipped ONNX model; 'base-b' the second shipped checkpoint; else a path."""
    from . import models

    if spec == "base":
        return models.base_model_path()
    if spec == "base-b":
        return models.base_b_checkpoint_path()
    path = Path(spec)
    if not path.is_file():
        raise not_a_file(path, "model file")
    return path


def read_model(spec: str) -> dict[str, Any]:
    path = resolve(spec)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PK\x03\x04":  # torch.save's ZIP
        return read_checkpoint(path)
    if path.suffix == ".pt":
        raise KwsError(f"{path}: not a kws-edge checkpoint (kws-train writes them; not a torch file)")
    return read_onnx(path)


# --- the text report ----------------------------------------------------------------------------

def _wrap(label: str, text: str) -> list[str]:
    lines = textwrap.wrap(text, width=96, initial_indent=f"{label:<14}", subsequent_indent=" " * 14,
                          break_on_hyphens=False)
    return lines or [label]


def _fmt(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) else "?"


def _thresholds(info: dict[str, Any], words: list[str]) -> str:
    stored = info.get("thresholds") if isinstance(info.get("thresholds"), dict) else {}
    if not stored:
        return f"{DEFAULT_THRESHOLD} for every word (kws-listen's default; none stored in the file)"
    raised = ", ".join(f"{w} {float(stored[w]):.2f}" for w in words if w in stored)
    rest = len([w for w in words if w not in stored])
    return f"{raised}" + (f"; {DEFAULT_THRESHOLD} for the other {rest}" if rest else "")


def _training(info: dict[str, Any]) -> list[str]:
    prov = info.get("provenance") if isinstance(info.get("provenance"), dict) else {}
    train = info.get("train_config") if isinstance(info.get("train_config"), dict) else {}
    recorded = info.get("training") if isinstance(info.get("training"), dict) else {}
    parts = []
    data = recorded.get("data") or train.get("data") or prov.get("data")
    if data:
        parts.append(f"data {', '.join(data) if isinstance(data, list) else data}")
    what = recorded.get("training_data") or prov.get("training_data")
    if what:
        parts.append(str(what))
    init = recorded.get("init") or train.get("init") or prov.get("init")
    inits = init if isinstance(init, list) else [init] if init else []
    parts.append(f"fine-tuned from {', '.join(Path(str(i)).name for i in inits)}" if inits
                 else "trained from scratch")
    negatives = recorded.get("negatives") or train.get("negatives")
    if negatives:
        parts.append(f"non-keyword talk {negatives if isinstance(negatives, str) else ', '.join(negatives)}")
    talk = recorded.get("talk_windows") or train.get("talk_windows")
    if talk:
        parts.append(f"your own talk: {talk} windows from _talk/")
    recipe = recorded.get("recipe") or prov.get("recipe")
    if recipe:
        parts.append(f"recipe {recipe}")
    commit = recorded.get("git_commit") or prov.get("git_commit")
    if commit:
        parts.append(f"git {str(commit)[:12]}")
    if not (data or what or recipe):
        return _wrap("trained on", "not recorded in this file (exported before kws-export stored it)")
    return _wrap("trained on", "; ".join(parts))


def report(info: dict[str, Any]) -> list[str]:
    labels = [str(x) for x in info.get("labels", [])]
    unknown = info.get("unknown_label", "_unknown_")
    words = [w for w in labels if w != unknown]
    metrics = info.get("metrics") if isinstance(info.get("metrics"), dict) else {}
    config = info.get("model_config") if isinstance(info.get("model_config"), dict) else {}
    rate = int(info.get("sample_rate") or config.get("sample_rate") or 0)
    window = int(info.get("window_samples") or config.get("window_samples") or 0)
    size = f"{info['bytes'] / 1024:.1f} KB"
    if info["kind"] == "onnx":
        head = (f"{info['file']}: ONNX model for kws-listen, {size}, "
                f"quantization {info.get('quantization', 'none')}")
    else:
        head = (f"{info['file']}: training checkpoint (export it with kws-export), {size}, "
                f"{info['parameters']:,} parameters")
    lines = [head]
    model = str(info.get("model", "M5"))
    if config.get("n_channel"):
        model += f", {config['n_channel']} channels"
    if config.get("front", "linear") != "linear":
        model += f", {config['front']} front end"
    lines.append(f"{'model':<14}{model}; {rate} Hz, {window / rate if rate else 0:g}-s window")
    ensemble = info.get("ensemble") if isinstance(info.get("ensemble"), dict) else None
    if ensemble:
        members = ", ".join(str(m.get("checkpoint")) for m in ensemble.get("members", []))
        lines.append(f"{'ensemble':<14}{ensemble.get('combine', 'mean')} of {members}")
    lines += _wrap(f"words ({len(words)})", " ".join(words) + f"  (+ {unknown}: no keyword)")
    lines += _wrap("thresholds", _thresholds(info, words))
    boost = info.get("boost") if isinstance(info.get("boost"), dict) else None
    if boost:
        by_factor: dict[str, list[str]] = {}
        for word, factor in sorted(boost.items()):
            by_factor.setdefault(f"{factor:g}", []).append(word)
        lines += _wrap("boost", "; ".join(f"odds x{f}: {' '.join(ws)}" for f, ws in by_factor.items())
                       + (" (set by kws-export --boost)" if info["kind"] == "onnx"
                          else " (kws-export applies it; --boost none does not)"))
    test = metrics.get("test_accuracy", info.get("test_accuracy"))
    if ensemble:  # the stored metrics are the first member's: give each member's instead
        accs = [m.get("test_accuracy") for m in ensemble.get("members", [])]
        lines.append(f"{'accuracy':<14}members {' / '.join(_fmt(a) for a in accs)} on their test splits")
    elif isinstance(test, (int, float)):
        refit = metrics.get("refit")
        note = " (measured before the refit on all clips)" if refit else ""
        lines.append(f"{'accuracy':<14}{_fmt(test)} on its test split{note}")
    check = info.get("quantization_check") if isinstance(info.get("quantization_check"), dict) else None
    if check:
        heard = "refit" in str(check.get("held_out", ""))
        clips = ("clips held out of calibration (the refit model trained on them)" if heard
                 else "held-out clips")
        lines.append(f"{'int8 check':<14}fp32 {_fmt(check.get('fp32_accuracy'))} / int8 "
                     f"{_fmt(check.get('int8_accuracy'))} on {check.get('held_out_clips')} {clips}")
    lines += _training(info)
    source = info.get("source") if isinstance(info.get("source"), dict) else None
    if source:
        # A pair's `source` is its first member: name every member.
        sources = ensemble.get("members", []) if ensemble else [source]
        named = ", ".join(f"{m.get('checkpoint')} (sha256 {str(m.get('sha256'))[:12]})" for m in sources)
        lines.append(f"{'exported from':<14}{named}, kws-edge {info.get('version', '?')}")
    return lines


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    info = read_model(args.model)
    if args.json:
        print(json.dumps(info, default=repr))
        return 0
    try:
        lines = report(info)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # Metadata the runtime does not read (boost, metrics) written by hand or another tool.
        raise KwsError(f"{info['file']}: malformed kws-edge metadata ({exc})") from None
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(PROG, lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

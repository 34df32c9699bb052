"""The checkpoint contract (DESIGN.md): a plain dict, saved atomically, loaded with weights_only=True."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import torch

from kws_edge.atomic import atomic_path
from kws_edge.errors import KwsError, not_a_file

from .model import M5, M5Config

CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("state_dict", "labels", "model_config", "sample_rate", "train_config", "metrics", "split",
                 "version")
BASE_NAME = "base"
BASE_B_NAME = "base-b"


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temp file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    if not path.parent.is_dir():
        raise KwsError(f"{path}: output folder {path.parent} does not exist")
    with atomic_path(path) as tmp:
        save_to(obj, tmp)


def save_to(obj: Any, tmp: Path) -> None:
    """torch.save; its writer reports a full disk as RuntimeError ("file write failed" in
    inline_container.cc): raised as the OSError it is, which atomic_path turns into one line."""
    try:
        torch.save(obj, tmp)
    except RuntimeError as exc:
        text = str(exc)
        if "write" not in text and "inline_container" not in text:
            raise
        raise OSError(errno.EIO, "torch.save failed writing: disk full or file too large") from None


def non_finite_tensors(state_dict: dict) -> list[str]:
    """Names of floating-point tensors holding NaN or inf (a diverged or corrupted model)."""
    return [k for k, v in state_dict.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def make_checkpoint(model: M5, labels: list[str], *, train_config: dict, metrics: dict, split: dict,
                    provenance: dict | None = None) -> dict:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = non_finite_tensors(state)
    if bad:
        raise KwsError(f"the trained model has NaN or infinite weights ({', '.join(bad[:3])}); "
                       "no model written (training diverged: try a lower --lr)")
    return {
        "version": CHECKPOINT_VERSION,
        "model": "M5",
        "state_dict": state,
        "labels": list(labels),
        "model_config": model.config.to_dict(),
        "sample_rate": model.config.sample_rate,
        "train_config": train_config,
        "metrics": metrics,
        "split": split,
        "provenance": provenance or {},
    }


def resolve_checkpoint_path(spec: str | Path) -> Path:
    """`base` and `base-b` name the checkpoints shipped in the package; anything else is a path."""
    if str(spec) == BASE_NAME:
        from kws_edge.models import base_checkpoint_path

        return base_checkpoint_path()
    if str(spec) == BASE_B_NAME:
        from kws_edge.models import base_b_checkpoint_path

        return base_b_checkpoint_path()
    return Path(spec)


def load_checkpoint(spec: str | Path) -> dict:
    """Load and validate a checkpoint; a one-line KwsError for anything that is not one."""
    path = resolve_checkpoint_path(spec)
    if not path.is_file():
        hint = "" if path.suffix else f" ('{BASE_NAME}' and '{BASE_B_NAME}' name the shipped ones)"
        raise KwsError(f"{not_a_file(path, 'checkpoint file')}{hint}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04" and path.suffix == ".onnx":
        raise KwsError(f"{path}: is an exported ONNX model, not a training checkpoint; kws-export and "
                       f"--init take the model.pt kws-train wrote (see what it holds: kws-info {path})")
    if magic != b"PK\x03\x04":  # torch.save writes a ZIP archive
        raise KwsError(f"{path}: not a kws-edge checkpoint (not a file written by torch.save)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for non-checkpoints; all mean "not one"
        text = str(exc).strip()
        if text.startswith("Weights only load failed"):
            # torch's own hint (load with weights_only=False) would run arbitrary code: never.
            raise KwsError(f"{path}: not a kws-edge checkpoint (it holds Python objects other than "
                           "tensors and plain data; refused without unpickling them)") from None
        first = text.splitlines()[0] if text else type(exc).__name__
        raise KwsError(f"{path}: not a kws-edge checkpoint ({first[:200]})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        missing = [k for k in REQUIRED_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
        raise KwsError(f"{path}: not a kws-edge checkpoint (missing {', '.join(missing)})")
    if ckpt.get("model", "M5") != "M5":
        raise KwsError(f"{path}: checkpoint is for model {ckpt.get('model')!r}, kws-edge builds M5")
    return ckpt


def model_from_checkpoint(ckpt: dict, path: str | Path = "checkpoint") -> M5:
    """Rebuild M5 from the config the checkpoint carries and load its weights strictly."""
    try:
        config = M5Config.from_dict(dict(ckpt["model_config"]))
        model = M5(config)
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise KwsError(f"{path}: checkpoint weights do not fit M5 ({first[:200]})") from None
    if config.n_output != len(ckpt["labels"]):
        raise KwsError(f"{path}: {len(ckpt['labels'])} labels but the model has {config.n_output} outputs")
    bad = non_finite_tensors(ckpt["state_dict"])
    if bad:
        raise KwsError(f"{path}: checkpoint has NaN or infinite weights ({', '.join(bad[:3])}); "
                       "it cannot score or be trained on")
    model.eval()
    return model

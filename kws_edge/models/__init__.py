"""The base model shipped with the package (made by scripts/make_base_model.sh)."""

from __future__ import annotations

from pathlib import Path

from ..errors import KwsError

MODELS_DIR = Path(__file__).resolve().parent
BASE_ONNX = MODELS_DIR / "base.onnx"
BASE_CHECKPOINT = MODELS_DIR / "base.pt"
# The second base: the same training with another seed (scripts/make_base_model.sh). base.onnx is
# the mean of base.pt and base_b.pt; a fine-tune of each can be exported the same way
# (docs/export.md, "A pair of models").
BASE_B_CHECKPOINT = MODELS_DIR / "base_b.pt"
# Talk that is no keyword, for the reject class when fine-tuning (scripts/make_negatives.py).
BASE_NEGATIVES = MODELS_DIR / "base_negatives.flac"
# Two people reading at once, a fine-tune's background noise by default (scripts/make_babble.py).
BASE_BABBLE = MODELS_DIR / "base_babble.flac"


def base_model_path() -> Path:
    """The shipped int8 ONNX model used by `kws-listen` when no --model is given."""
    if not BASE_ONNX.is_file():
        raise KwsError(f"{BASE_ONNX}: the shipped base model is missing (run scripts/make_base_model.sh)")
    return BASE_ONNX


def model_path(spec: str | Path) -> Path:
    """An ONNX model argument: `base` names the shipped model (as `kws-export base` and `kws-info
    base` take it), unless a file of that name is in the current folder; anything else is a path."""
    if str(spec) == "base" and not Path(spec).exists():
        return base_model_path()
    if str(spec) == "base-b" and not Path(spec).exists():
        raise KwsError("base-b: the second shipped network is a training checkpoint (for kws-train --init "
                       "and kws-export); 'base' is the shipped model, base and base-b in one file")
    return Path(spec)


def base_checkpoint_path() -> Path:
    """The shipped M5 checkpoint used by `kws-train --init base`."""
    if not BASE_CHECKPOINT.is_file():
        raise KwsError(f"{BASE_CHECKPOINT}: the shipped base checkpoint is missing "
                       "(run scripts/make_base_model.sh)")
    return BASE_CHECKPOINT


def base_b_checkpoint_path() -> Path:
    """The second shipped checkpoint, `kws-train --init base-b`."""
    if not BASE_B_CHECKPOINT.is_file():
        raise KwsError(f"{BASE_B_CHECKPOINT}: the second shipped base checkpoint is missing "
                       "(run scripts/make_base_model.sh)")
    return BASE_B_CHECKPOINT


def base_negatives_path() -> Path:
    """The non-keyword speech `kws-train --init ... --negatives base` adds to the reject class."""
    if not BASE_NEGATIVES.is_file():
        raise KwsError(f"{BASE_NEGATIVES}: the shipped negatives are missing (run scripts/make_negatives.py)")
    return BASE_NEGATIVES


def base_babble_path() -> Path:
    """The background talk `kws-train --init ... --noise base` mixes under the clips."""
    if not BASE_BABBLE.is_file():
        raise KwsError(f"{BASE_BABBLE}: the shipped background talk is missing (run scripts/make_babble.py)")
    return BASE_BABBLE

"""Fine-tuning: start from a checkpoint with another label set, freeze early blocks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from kws_edge.errors import KwsError

from .checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint_path
from .data import class_name
from .model import M5, M5Config

log = logging.getLogger(__name__)


def model_from_init(spec: str | Path, labels: Sequence[str], quiet: bool = False) -> tuple[M5, dict]:
    """M5 for `labels` initialised from a checkpoint: all conv weights, and the classifier rows of
    labels both share; new labels start from a fresh (seeded) row. Returns (model, provenance)."""
    path = resolve_checkpoint_path(spec)
    ckpt = load_checkpoint(path)
    source = model_from_checkpoint(ckpt, path)
    old_labels = list(ckpt["labels"])
    config = M5Config.from_dict({**source.config.to_dict(), "n_output": len(labels)})
    model = M5(config)
    state = source.state_dict()
    body = {k: v for k, v in state.items() if not k.startswith("fc1.")}
    model.load_state_dict(body, strict=False)
    carried = []
    with torch.no_grad():
        # A model trained when new words kept their folder's case says "Lights" for "lights".
        old_classes = [class_name(old) for old in old_labels]
        for i, label in enumerate(labels):
            if class_name(label) in old_classes:
                j = old_classes.index(class_name(label))
                model.fc1.weight[i] = source.fc1.weight[j]
                model.fc1.bias[i] = source.fc1.bias[j]
                carried.append(label)
    new = [label for label in labels if label not in carried]
    # quiet: the refit builds the same start again; the log said it once already.
    log.log(logging.DEBUG if quiet else logging.INFO, "init from %s: %d classifier row(s) carried over, "
            "%d new (%s)", path, len(carried), len(new), ", ".join(new) or "none")
    return model, {"init": str(path), "init_labels": old_labels, "carried_labels": carried,
                   "new_labels": new, "init_metrics": ckpt.get("metrics", {})}


def parse_freeze(spec: str | None) -> tuple[str, ...]:
    """`--freeze 2` = the first two conv blocks; `--freeze conv1,conv2` names them; "" or 0 = none."""
    if spec is None or spec.strip() in ("", "0", "none"):
        return ()
    spec = spec.strip()
    if spec.isdigit():
        n = int(spec)
        if not 0 <= n <= len(M5.BLOCKS):
            raise KwsError(f"--freeze {spec}: choose 0..{len(M5.BLOCKS)} blocks")
        return M5.BLOCKS[:n]
    names = tuple(s.strip() for s in spec.split(",") if s.strip())
    bad = [n for n in names if n not in M5.BLOCKS]
    if bad:
        raise KwsError(f"--freeze: unknown block {bad[0]!r} (choose from {', '.join(M5.BLOCKS)} or a count)")
    return names


def apply_freeze(model: M5, blocks: Sequence[str]) -> None:
    """Stop gradients into the named blocks; their batch norms keep the statistics they learnt."""
    for name in blocks:
        for module in model.block_modules(name):
            for p in module.parameters():
                p.requires_grad_(False)


def set_train_mode(model: M5, blocks: Sequence[str]) -> None:
    """model.train(), except frozen blocks' batch norms, which stay in eval (fixed running stats)."""
    model.train()
    for name in blocks:
        for module in model.block_modules(name):
            module.eval()

"""Seeded, stratified train/val/test splits and the split.json that makes them reproducible."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kws_edge.atomic import write_json_atomic
from kws_edge.errors import KwsError

SPLIT_VERSION = 1
SPLITS = ("train", "val", "test")


def stratified_split(keys: Sequence[str], classes: Sequence[str], *, seed: int, test_fraction: float = 0.2,
                     val_fraction: float = 0.1) -> dict[str, list[str]]:
    """Per class: `test_fraction` to test, then `val_fraction` of the rest to val, at least one each.

    Keys are sorted within a class before shuffling, so the result depends only on the set of
    files and the seed, never on directory listing order. A class of 2 clips gives 1 train + 1 test.
    """
    by_class: dict[str, list[str]] = defaultdict(list)
    for key, cls in zip(keys, classes, strict=True):
        by_class[cls].append(key)
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for cls in sorted(by_class):
        items = sorted(by_class[cls])
        # One generator per class, derived from the seed and the class name: adding a class does
        # not reshuffle the others.
        digest = hashlib.sha256(f"{seed}:{cls}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        order = [items[i] for i in rng.permutation(len(items))]
        n = len(order)
        n_test = min(max(1, round(n * test_fraction)), n - 1) if n >= 2 and test_fraction > 0 else 0
        rest = order[n_test:]
        n_val = round(len(rest) * val_fraction)
        if len(rest) >= 3 and val_fraction > 0:
            n_val = max(1, n_val)
        n_val = max(0, min(n_val, len(rest) - 1))
        out["test"] += order[:n_test]
        out["val"] += rest[:n_val]
        out["train"] += rest[n_val:]
    return {s: sorted(v) for s, v in out.items()}


def speaker_split(keys: Sequence[str], speakers: Sequence[str | None], classes: Sequence[str], *, seed: int,
                  test_fraction: float = 0.2, val_fraction: float = 0.1) -> dict[str, list[str]]:
    """Like `stratified_split`, but every clip of a speaker lands in the same split, so a test score
    is a score on voices the model never heard. Speakers go to test / val / train by a seeded hash
    of their id (the same speaker stays on the same side when clips are added). Clips without a
    speaker id are split as in `stratified_split`.
    """
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    loose = [(k, c) for k, spk, c in zip(keys, speakers, classes, strict=True) if spk is None]
    for key, spk in zip(keys, speakers, strict=True):
        if spk is None:
            continue
        digest = hashlib.sha256(f"{seed}:speaker:{spk}".encode()).digest()
        u = int.from_bytes(digest[:8], "little") / 2**64
        if u < test_fraction:
            out["test"].append(key)
        elif u < test_fraction + (1 - test_fraction) * val_fraction:
            out["val"].append(key)
        else:
            out["train"].append(key)
    if loose:
        rest = stratified_split([k for k, _ in loose], [c for _, c in loose], seed=seed,
                                test_fraction=test_fraction, val_fraction=val_fraction)
        for s in SPLITS:
            out[s] += rest[s]
    return {s: sorted(v) for s, v in out.items()}


def split_hash(split: dict[str, list[str]]) -> str:
    blob = json.dumps({s: sorted(split.get(s, [])) for s in SPLITS}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def write_split(path: str | Path, split: dict[str, list[str]], *, seed: int, data: str, source: str) -> str:
    """Write split.json atomically; returns its content hash (stored in the checkpoint)."""
    path = Path(path)
    digest = split_hash(split)
    doc = {"version": SPLIT_VERSION, "seed": seed, "data": data, "source": source, "sha256": digest,
           **{s: sorted(split.get(s, [])) for s in SPLITS}}
    write_json_atomic(path, doc)
    return digest


def read_split(path: str | Path) -> dict[str, list[str]]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise KwsError(f"{path}: no such split file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KwsError(f"{path}: not a split.json ({exc})") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(s), list) for s in SPLITS):
        raise KwsError(f"{path}: not a split.json (needs lists 'train', 'val', 'test')")
    return {s: [str(k) for k in doc[s]] for s in SPLITS}

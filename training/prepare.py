"""From a dataset path to in-memory train/val/test arrays: labels, split, loading, reject class."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kws_edge.errors import KwsError
from kws_edge.labels import UNKNOWN_LABEL, WINDOW_SAMPLES

from .data import (
    DatasetIndex,
    choose_words,
    class_of,
    labels_for,
    load_noise_dir,
    load_noise_windows,
    load_windows,
    scan_dataset,
)
from .split import SPLITS, read_split, stratified_split
from .unknown import make_reject_clips

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    labels: list[str]
    x: dict[str, np.ndarray]  # split -> float32 [N, WINDOW_SAMPLES]
    y: dict[str, np.ndarray]  # split -> int64 [N]
    noise: np.ndarray  # augmentation noise bank, float32 [M, WINDOW_SAMPLES]
    split: dict[str, list[str]]  # split -> dataset keys (what split.json records)
    split_source: str
    layout: str
    skipped: int = 0
    generated_reject: dict[str, dict[str, int]] = field(default_factory=dict)

    def counts(self, name: str) -> dict[str, int]:
        c = Counter(self.y[name].tolist())
        return {label: int(c.get(i, 0)) for i, label in enumerate(self.labels)}


def _keys_by_class(index: DatasetIndex, labels: Sequence[str]) -> dict[str, str]:
    """dataset key -> class label, for every clip the label set uses."""
    out: dict[str, str] = {}
    for folder in index.folders:
        cls = class_of(folder, labels)
        if cls is not None:
            out.update(dict.fromkeys(index.clips[folder], cls))
    return out


def _check_classes(source: Path, key_class: dict[str, str], labels: Sequence[str], what: str) -> None:
    counts = Counter(key_class.values())
    for label in labels:
        if label != UNKNOWN_LABEL and counts.get(label, 0) < 2:
            raise KwsError(f"{source}: class {label!r} has {counts.get(label, 0)} {what} clip(s); "
                           "each class needs at least 2 (one to train, one to test)")
    if len([c for c in counts if counts[c] > 0]) < 2:
        raise KwsError(f"{source}: only one class ({', '.join(counts)}); a keyword model needs at least "
                       "two classes (e.g. two words, or a word and an _unknown_/ folder)")


def _make_split(index: DatasetIndex, key_class: dict[str, str],
                seed: int) -> tuple[dict[str, list[str]], str]:
    keys = sorted(key_class)
    if index.split_lists:
        test = [k for k in keys if k in index.split_lists.get("test", set())]
        val = [k for k in keys if k in index.split_lists.get("val", set())]
        taken = set(test) | set(val)
        train = [k for k in keys if k not in taken]
        if not val:  # only a testing list: carve validation from train for early stopping
            carved = stratified_split(train, [key_class[k] for k in train], seed=seed, test_fraction=0)
            train, val = carved["train"], carved["val"]
        return {"train": train, "val": val, "test": test}, "official validation/testing lists"
    split = stratified_split(keys, [key_class[k] for k in keys], seed=seed)
    return split, f"stratified 80/20 (val 10% of train), seed {seed}"


def prepare_dataset(path: str | Path, *, words: Sequence[str] | None = None, seed: int = 0,
                    split_file: str | Path | None = None, noise_dir: str | Path | None = None,
                    synth_reject: bool = True, reject_ratio: float = 1.5,
                    negatives: str | Path | None = None, progress: bool = False) -> PreparedData:
    """Scan, split, decode, (when the data has none) synthesise the reject class, and add
    `negatives` (recordings of non-keyword speech) to it."""
    index = scan_dataset(path)
    labels = labels_for(choose_words(index, words))
    key_class = _keys_by_class(index, labels)
    _check_classes(index.source, key_class, labels, "")

    # Noise: in Speech Commands layout the 1-s windows are reject-class clips (and the augmentation
    # bank, from train only); in a custom dataset they are the augmentation bank only.
    noise_windows, noise_keys = load_noise_windows(index) if index.noise else (None, [])
    noise_by_key = dict(zip(noise_keys, noise_windows, strict=True)) if noise_keys else {}
    if index.layout == "speech_commands":
        key_class.update(dict.fromkeys(noise_keys, UNKNOWN_LABEL))

    if split_file is not None:
        split = read_split(split_file)
        unknown_keys = [k for s in SPLITS for k in split[s] if k not in key_class]
        if unknown_keys:
            raise KwsError(f"{split_file}: lists {len(unknown_keys)} clip(s) not in {index.source} "
                           f"(e.g. {unknown_keys[0]}); it belongs to another dataset")
        source = f"{split_file}"
    else:
        split, source = _make_split(index, key_class, seed)

    clip_keys = [k for s in SPLITS for k in split[s] if k not in noise_by_key]
    x_all, loaded, skipped = load_windows(index, clip_keys, progress=progress)
    if skipped:
        log.warning("%s: skipped %d unreadable file(s) (see warnings above)", index.source, len(skipped))
    row = {k: i for i, k in enumerate(loaded)}
    _check_classes(index.source, {k: key_class[k] for k in loaded}, labels, "readable")

    lab_idx = {label: i for i, label in enumerate(labels)}
    xs: dict[str, np.ndarray] = {}
    ys: dict[str, np.ndarray] = {}
    for s in SPLITS:
        kept = [k for k in split[s] if k in row or k in noise_by_key]
        split[s] = kept
        if kept:
            xs[s] = np.stack([x_all[row[k]] if k in row else noise_by_key[k] for k in kept])
        else:
            xs[s] = np.zeros((0, WINDOW_SAMPLES), dtype=np.float32)
        ys[s] = np.asarray([lab_idx[key_class[k]] for k in kept], dtype=np.int64)

    bank = [noise_by_key[k] for k in split["train"] if k in noise_by_key]
    if index.layout != "speech_commands" and noise_keys:
        bank = list(noise_windows)
    if noise_dir is not None:
        bank += list(load_noise_dir(noise_dir))
    noise = np.stack(bank).astype(np.float32) if bank else np.zeros((0, WINDOW_SAMPLES), dtype=np.float32)

    data = PreparedData(labels=labels, x=xs, y=ys, noise=noise, split=split, split_source=source,
                        layout=index.layout, skipped=len(skipped))
    if synth_reject:
        _add_reject(data, seed, reject_ratio)
    if negatives is not None:
        _add_negatives(data, load_noise_dir(negatives, what="--negatives"), seed)
    return data


def _add_negatives(data: PreparedData, windows: np.ndarray, seed: int) -> None:
    """Reject-class windows on top of the generated ones: 90% to train, 10% to val, never test
    (test accuracy stays a measure of the user's own clips)."""
    unk = data.labels.index(UNKNOWN_LABEL)
    order = np.random.default_rng(seed + 104729).permutation(len(windows))
    n_val = len(windows) // 10
    for s, rows in (("val", order[:n_val]), ("train", order[n_val:])):
        data.x[s] = np.concatenate([data.x[s], windows[rows]])
        data.y[s] = np.concatenate([data.y[s], np.full(len(rows), unk, dtype=np.int64)])
    data.generated_reject["negatives"] = {"windows": int(len(windows))}
    log.info("negatives: %d reject-class windows (%d to validation)", len(windows), n_val)


def _add_reject(data: PreparedData, seed: int, ratio: float) -> None:
    """Top the reject class up to `ratio` x the median keyword class, in train and val (never test)."""
    unk = data.labels.index(UNKNOWN_LABEL)
    for offset, s in enumerate(("train", "val")):
        y = data.y[s]
        words = y[y != unk]
        if len(words) == 0:
            continue
        target = int(ratio * np.median(np.bincount(words)[np.bincount(words) > 0]))
        need = target - int((y == unk).sum())
        if need <= 0:
            continue
        clips, made = make_reject_clips(data.x[s][y != unk], words, need, seed=seed * 7919 + offset,
                                        noise_bank=data.noise)
        data.x[s] = np.concatenate([data.x[s], clips])
        data.y[s] = np.concatenate([y, np.full(len(clips), unk, dtype=np.int64)])
        data.generated_reject[s] = made
        log.info("%s: generated %d reject-class clips (%s)", s, len(clips),
                 ", ".join(f"{k} {v}" for k, v in made.items()))


def load_eval_clips(path: str | Path, labels: Sequence[str], *, split_name: str = "all",
                    split_file: str | Path | None = None,
                    resampler: str = "torchaudio") -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """Clips of a dataset (or of one split recorded in split.json) against a model's labels.

    Returns (windows, label indices, keys, skipped count). Dataset words the model lacks count
    as `_unknown_` truth; Speech Commands noise windows count as `_unknown_` too.
    """
    labels = list(labels)
    index = scan_dataset(path)
    key_class = _keys_by_class(index, labels)
    with_noise = index.layout == "speech_commands" and index.noise and UNKNOWN_LABEL in labels
    noise_windows, noise_keys = load_noise_windows(index, resampler=resampler) if with_noise else (None, [])
    noise_by_key = dict(zip(noise_keys, noise_windows, strict=True)) if noise_keys else {}
    key_class.update(dict.fromkeys(noise_keys, UNKNOWN_LABEL))
    keys = sorted(key_class)
    if split_name != "all":
        if split_file is None:
            raise KwsError(f"--split {split_name} needs a split.json (next to the model or via --split-file)")
        wanted = read_split(split_file)[split_name]
        missing = [k for k in wanted if k not in key_class]
        if len(missing) == len(wanted) and wanted:
            raise KwsError(f"{split_file}: none of its {split_name} clips are in {index.source}")
        keys = [k for k in wanted if k in key_class]
    clip_keys = [k for k in keys if k not in noise_by_key]
    x, loaded, skipped = load_windows(index, clip_keys, progress=True, resampler=resampler)
    parts = [x] + [noise_by_key[k][None] for k in keys if k in noise_by_key]
    all_keys = loaded + [k for k in keys if k in noise_by_key]
    x = np.concatenate(parts) if len(parts) > 1 else x
    if x.shape[0] == 0:
        raise KwsError(f"{index.source}: no usable audio for the model's labels")
    y = np.asarray([labels.index(key_class[k]) for k in all_keys], dtype=np.int64)
    return x, y, all_keys, len(skipped)

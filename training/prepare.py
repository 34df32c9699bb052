"""From a dataset path to in-memory train/val/test arrays: labels, split, loading, reject class."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from kws_edge.errors import KwsError
from kws_edge.labels import UNKNOWN_LABEL, WINDOW_SAMPLES

from .data import (
    TALK_FOLDER,
    DatasetIndex,
    choose_words,
    class_name,
    class_of,
    iter_windows,
    labels_for,
    load_noise_dir,
    load_noise_windows,
    load_talk_windows,
    load_windows,
    scan_dataset,
    warn_odd_names,
)
from .holdout import speaker_of
from .split import SPLITS, read_split, speaker_split, stratified_split
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
    talk_windows: int = 0  # windows of the datasets' own `_talk/` among the negatives
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


def _check_classes(source: Path | str, key_class: dict[str, str], labels: Sequence[str], what: str,
                   reject_coming: bool = False) -> None:
    """Each word has clips to train and test on, and there is something to tell them from: a second
    class, or (`reject_coming`) the reject class that generated clips or negatives will make."""
    counts = Counter(key_class.values())
    for label in labels:
        if label != UNKNOWN_LABEL and counts.get(label, 0) < 2:
            kind = f"{what} " if what else ""
            raise KwsError(f"{source}: class {label!r} has {counts.get(label, 0)} {kind}clip(s); "
                           "each class needs at least 2 (one to train, one to test)")
    if len([c for c in counts if counts[c] > 0]) + reject_coming < 2:
        raise KwsError(f"{source}: only one class ({', '.join(counts)}); a keyword model needs at least "
                       "two classes (e.g. two words, or a word and an _unknown_/ folder)")


# A source whose file names carry speaker ids from at least this many speakers is split by
# speaker; fewer (one person's recordings named like Speech Commands) are split by clip.
MIN_SPEAKERS_TO_GROUP = 10


def _as_class_key(key: str) -> str:
    """A dataset key with its folder read as the class it holds: `Up/x.wav` -> `up/x.wav`."""
    folder, _, rest = key.partition("/")
    return f"{class_name(folder)}/{rest}"


def _make_split(index: DatasetIndex, key_class: dict[str, str],
                seed: int) -> tuple[dict[str, list[str]], str]:
    keys = sorted(key_class)
    listed = {_as_class_key(k) for names in index.split_lists.values() for k in names}
    if index.split_lists and not listed & {_as_class_key(k) for k in keys}:
        # kws-synth splits by voice and, for one voice, writes both lists empty: split by clip.
        log.info("%s: its validation/testing lists name none of its clips; split as a custom dataset",
                 index.source)
    elif index.split_lists:
        # The lists name `up/x.wav`; the folder may be `Up/`, read as the word up.
        lists = {s: {_as_class_key(k) for k in index.split_lists.get(s, set())} for s in ("test", "val")}
        test = [k for k in keys if _as_class_key(k) in lists["test"]]
        val = [k for k in keys if _as_class_key(k) in lists["val"]]
        taken = set(test) | set(val)
        train = [k for k in keys if k not in taken]
        untrained = sorted(set(key_class.values()) - {key_class[k] for k in train})
        if not untrained:
            if not val:  # only a testing list: carve validation from train for early stopping
                carved = stratified_split(train, [key_class[k] for k in train], seed=seed, test_fraction=0)
                train, val = carved["train"], carved["val"]
            return {"train": train, "val": val, "test": test}, "official validation/testing lists"
        # kws-synth's lists split by voice: one voice's clips go wholly to one list, so a set of one
        # voice could name every clip in testing_list.txt, and nothing would be trained on.
        named = ", ".join(untrained[:5]) + (", ..." if len(untrained) > 5 else "")
        log.warning("%s: its validation/testing lists leave no clip of %s to train on; split as a custom "
                    "dataset instead", index.source, named)
    speakers = [speaker_of(k) for k in keys]
    if len({s for s in speakers if s is not None}) >= MIN_SPEAKERS_TO_GROUP:
        split = speaker_split(keys, speakers, [key_class[k] for k in keys], seed=seed)
        return split, f"by speaker 80/20 (val 10% of train), seed {seed}"
    split = stratified_split(keys, [key_class[k] for k in keys], seed=seed)
    counts = "/".join(str(len(split[s])) for s in ("train", "val", "test"))
    # With few clips a word the "at least one" rule, not 80/20, sets the sizes: say what it gave.
    return split, (f"stratified 80/20 (val 10% of train; at least one clip a word in each), seed {seed}: "
                   f"train/val/test {counts} clips")


@dataclass
class _Source:
    """One `--data` path, loaded: its split keys are already tagged (see `_tag`)."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    split: dict[str, list[str]]
    split_source: str
    bank: list[np.ndarray]
    talk: np.ndarray | None
    skipped: int


def _tag(i: int, n: int, key: str) -> str:
    """Split keys of source i of n: bare with one source (split.json as it always was), else
    prefixed with the source's position in --data."""
    return key if n == 1 else f"{i}:{key}"


def _split_for_source(split: dict[str, list[str]], i: int, n: int) -> dict[str, list[str]] | None:
    if n == 1:
        return split
    prefix = f"{i}:"
    return {s: [k[len(prefix):] for k in split[s] if k.startswith(prefix)] for s in SPLITS}


def _load_source(index: DatasetIndex, labels: Sequence[str], *, seed: int, given_split: dict | None,
                 split_file: str | Path | None, tag: Callable[[str], str], progress: bool) -> _Source:
    key_class = _keys_by_class(index, labels)
    # Noise: in Speech Commands layout the 1-s windows are reject-class clips (and the augmentation
    # bank, from train only); in a custom dataset they are the augmentation bank only.
    unread: list[str] = []  # noise and talk recordings that could not be read, counted as skipped
    noise_windows, noise_keys = load_noise_windows(index, skipped=unread) if index.noise else (None, [])
    noise_by_key = dict(zip(noise_keys, noise_windows, strict=True)) if noise_keys else {}
    if index.layout == "speech_commands":
        key_class.update(dict.fromkeys(noise_keys, UNKNOWN_LABEL))

    if given_split is not None:
        split = {s: list(v) for s, v in given_split.items()}
        unknown_keys = [k for s in SPLITS for k in split[s] if k not in key_class]
        if unknown_keys:
            raise KwsError(f"{split_file}: lists {len(unknown_keys)} clip(s) not in {index.source} "
                           f"(e.g. {unknown_keys[0]}); it belongs to another dataset")
        listed = {k for s in SPLITS for k in split[s]}
        left_out = sorted(k for k in key_class if k not in listed and k not in noise_by_key)
        if left_out:
            log.warning("%s: %d clip(s) of %s are not in it and are not used (e.g. %s); without "
                        "--split-file they would be split anew", split_file, len(left_out), index.source,
                        left_out[0])
        source = f"{split_file}"
    else:
        split, source = _make_split(index, key_class, seed)

    clip_keys = [k for s in SPLITS for k in split[s] if k not in noise_by_key]
    x_all, loaded, skipped = load_windows(index, clip_keys, progress=progress)
    if skipped:
        log.warning("%s: skipped %d file(s): unreadable, silent or too short (see warnings above)",
                    index.source, len(skipped))
    row = {k: i for i, k in enumerate(loaded)}

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
    talk = None
    if index.talk:
        talk = load_talk_windows(index, index.talk, skipped=unread)
        if not len(talk):
            log.warning("%s: %s/ holds no usable recording (see the warnings above)", index.source,
                        TALK_FOLDER)
        log.info("%s: %d windows of non-keyword talk from %s/ used as negatives", index.source,
                 len(talk), TALK_FOLDER)
    return _Source(x=xs, y=ys, split={s: [tag(k) for k in split[s]] for s in SPLITS}, split_source=source,
                   bank=bank, talk=talk if talk is not None and len(talk) else None,
                   skipped=len(skipped) + len(unread))


def prepare_dataset(path: str | Path | Sequence[str | Path], *, words: Sequence[str] | None = None,
                    seed: int = 0, split_file: str | Path | None = None,
                    noise_dir: str | Path | None = None, synth_reject: bool = True,
                    reject_ratio: float = 1.5, negatives: str | Path | Sequence[str | Path] | None = None,
                    progress: bool = False) -> PreparedData:
    """Scan, split, decode, (when the data has none) synthesise the reject class, and add
    `negatives` (recordings of non-keyword speech) and each dataset's `_talk/` to it.

    `path` may be several datasets (e.g. synthetic clips, real keyword clips, real non-keyword
    speech): labels are the union of their words, each is split on its own (by speaker where file
    names carry one), and the splits are concatenated.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths:
        raise KwsError("no dataset given")
    indexes = [scan_dataset(p) for p in paths]
    labels = labels_for(_words_of_sources(indexes, words))
    for index in indexes:
        warn_odd_names(index, labels)
    what = indexes[0].source if len(indexes) == 1 else ", ".join(map(str, paths))
    # One word alone (a wake word) is a model once the reject class is made for it.
    reject_coming = synth_reject or bool(negatives) or any(index.talk for index in indexes)
    _check_classes(what, {f"{i}:{k}": c for i, index in enumerate(indexes)
                    for k, c in _keys_by_class(index, labels).items()}, labels, "", reject_coming)
    given = read_split(split_file) if split_file is not None else None
    sources = [_load_source(index, labels, seed=seed, split_file=split_file,
                            given_split=_split_for_source(given, i, len(indexes)) if given else None,
                            tag=partial(_tag, i, len(indexes)), progress=progress)
               for i, index in enumerate(indexes)]
    loaded_classes = {f"{s}:{part}:{n}": labels[int(c)] for s, src in enumerate(sources) for part in SPLITS
                      for n, c in enumerate(src.y[part])}
    _check_classes(what, loaded_classes, labels, "readable", reject_coming)

    xs = {s: np.concatenate([src.x[s] for src in sources]) for s in SPLITS}
    ys = {s: np.concatenate([src.y[s] for src in sources]) for s in SPLITS}
    split = {s: [k for src in sources for k in src.split[s]] for s in SPLITS}
    bank = [w for src in sources for w in src.bank]
    if noise_dir is not None:
        bank += list(load_noise_dir(noise_dir))
    noise = np.stack(bank).astype(np.float32) if bank else np.zeros((0, WINDOW_SAMPLES), dtype=np.float32)
    layouts = sorted({index.layout for index in indexes})
    data = PreparedData(labels=labels, x=xs, y=ys, noise=noise, split=split,
                        split_source="; ".join(dict.fromkeys(src.split_source for src in sources)),
                        layout="+".join(layouts), skipped=sum(src.skipped for src in sources))
    if synth_reject:
        _add_reject(data, seed, reject_ratio)
    negative_paths = [] if negatives is None else (
        [negatives] if isinstance(negatives, (str, Path)) else list(negatives))
    windows = [load_noise_dir(p, what="--negatives") for p in negative_paths]
    talk = [src.talk for src in sources if src.talk is not None]
    data.talk_windows = sum(len(t) for t in talk)
    windows += talk
    if windows:
        _add_negatives(data, np.concatenate(windows), seed)
    return data


def _words_of_sources(indexes: Sequence[DatasetIndex], words: Sequence[str] | None) -> list[str]:
    if len(indexes) == 1:
        return choose_words(indexes[0], words)
    if words:
        words = [class_name(w) for w in words]
        folders = {f for index in indexes for f in index.folders}
        missing = [w for w in words if w not in folders]
        if missing:
            raise KwsError(f"no dataset has a folder for word(s) {', '.join(missing)}")
        return sorted(set(words))
    return sorted({w for index in indexes for w in choose_words(index)})


def _append(data: PreparedData, split: str, x: np.ndarray, label: int) -> None:
    """Rows of one label added to a split (the reject class's generated clips and negatives)."""
    data.x[split] = np.concatenate([data.x[split], x])
    data.y[split] = np.concatenate([data.y[split], np.full(len(x), label, dtype=np.int64)])


def _add_negatives(data: PreparedData, windows: np.ndarray, seed: int) -> None:
    """Reject-class windows on top of the generated ones: 90% to train, 10% to val, never test
    (test accuracy stays a measure of the user's own clips)."""
    unk = data.labels.index(UNKNOWN_LABEL)
    order = np.random.default_rng(seed + 104729).permutation(len(windows))
    n_val = len(windows) // 10
    for s, rows in (("val", order[:n_val]), ("train", order[n_val:])):
        _append(data, s, windows[rows], unk)
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
                                        noise_bank=data.noise, names=data.labels)
        _append(data, s, clips, unk)
        data.generated_reject[s] = made
        log.info("%s: generated %d reject-class clips (%s)", s, len(clips),
                 ", ".join(f"{k} {v}" for k, v in made.items()))


def iter_eval_clips(path: str | Path, labels: Sequence[str], *, split_name: str = "all",
                    split_file: str | Path | None = None,
                    resampler: str = "torchaudio") -> Iterator[tuple[np.ndarray, np.ndarray, list[str], int]]:
    """Clips of a dataset (or of one split recorded in split.json) against a model's labels, a
    few thousand at a time (a large dataset never sits in memory whole).

    Yields (windows, label indices, keys, skipped count) per part. Dataset words the model lacks
    count as `_unknown_` truth; Speech Commands noise windows count as `_unknown_` too.
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

    def truth(part_keys: list[str]) -> np.ndarray:
        return np.asarray([labels.index(key_class[k]) for k in part_keys], dtype=np.int64)

    clip_keys = [k for k in keys if k not in noise_by_key]
    loaded_any = False
    for x, loaded, skipped in iter_windows(index, clip_keys, resampler=resampler):
        loaded_any = loaded_any or bool(loaded)
        yield x, truth(loaded), loaded, len(skipped)
    in_noise = [k for k in keys if k in noise_by_key]
    if in_noise:
        yield np.stack([noise_by_key[k] for k in in_noise]), truth(in_noise), in_noise, 0
    elif not loaded_any:
        raise KwsError(f"{index.source}: no usable audio for the model's labels")

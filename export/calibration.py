"""Clips for quantization: finding the data, splitting calibration from held-out, feeding onnxruntime."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from kws_edge.errors import KwsError
from kws_edge.labels import UNKNOWN_LABEL

log = logging.getLogger(__name__)

# Enough windows for stable min/max ranges of a small conv net; more only slows calibration.
MAX_CALIBRATION_CLIPS = 400
CALIBRATION_SEED = 0


@dataclass
class ClipSet:
    x: np.ndarray  # float32 [N, window]
    y: np.ndarray  # int64 [N] indices into labels
    paths: list[str]

    def take(self, idx: np.ndarray) -> ClipSet:
        return ClipSet(self.x[idx], self.y[idx], [self.paths[i] for i in idx])

    def __len__(self) -> int:
        return int(self.x.shape[0])


def resolve_calibration_data(arg: str | Path | None, ckpt: dict) -> Path:
    """`--calibration-data`, else the checkpoint's own training data if still reachable."""
    if arg is not None:
        path = Path(arg)
        if not path.exists():
            raise KwsError(f"{path}: no such calibration data (a folder or .zip of <word>/*.wav)")
        return path
    train_config = ckpt.get("train_config") if isinstance(ckpt.get("train_config"), dict) else {}
    recorded = train_config.get("data")
    paths = _data_paths(train_config)
    if paths and all(p.exists() for p in paths):
        log.info("using the checkpoint's training data %s%s", paths[0],
                 f" (the first of its {len(paths)} datasets)" if len(paths) > 1 else "")
        return paths[0]
    where = f" (the checkpoint's training data {recorded} is gone)" if recorded else ""
    raise KwsError(f"--quantize needs --calibration-data PATH (a folder or .zip of <word>/*.wav){where}")


def load_clip_set(path: str | Path, labels: list[str]) -> ClipSet:
    from kws_edge.training.data import load_labelled_clips

    x, y, paths = load_labelled_clips(path, labels)
    if len(x) < 2:
        raise KwsError(f"{path}: {len(x)} usable clip(s); calibration needs at least 2")
    if UNKNOWN_LABEL in labels and np.all(np.asarray(y) == labels.index(UNKNOWN_LABEL)):
        log.warning("%s holds no clip of the model's words (%s): every clip counts as %s, so the int8 "
                    "check measures only how both models reject; give clips of its words", path,
                    ", ".join(w for w in labels if w != UNKNOWN_LABEL), UNKNOWN_LABEL)
    return ClipSet(np.ascontiguousarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64), list(paths))


def _clip_key(path: str) -> str:
    """`<folder>/<file>`, how split.json names a clip."""
    parts = Path(path).parts
    return "/".join(parts[-2:])


def recorded_test_keys(ckpt: dict, ckpt_path: str | Path | None) -> set[str]:
    """The checkpoint's test clips (`<folder>/<file>`): listed inline, or in the split.json that
    kws-train writes beside model.pt (used only if its sha256 matches the checkpoint's)."""
    split = ckpt.get("split")
    if not isinstance(split, dict):
        return set()
    if isinstance(split.get("test"), list):
        return {str(k) for k in split["test"]}
    name = split.get("file")
    if not name or ckpt_path is None:
        return set()
    path = Path(ckpt_path).parent / str(name)
    if not path.is_file():
        return set()
    from kws_edge.training.split import read_split, split_hash

    try:
        recorded = read_split(path)
    except KwsError as exc:
        log.warning("ignoring %s: %s", path, exc)
        return set()
    if split.get("sha256") and split_hash(recorded) != split["sha256"]:
        log.warning("ignoring %s: it is not the split this checkpoint was trained with", path)
        return set()
    return set(recorded["test"])


def dataset_test_list(path: str | Path) -> set[str]:
    """Keys named by the dataset's own `testing_list.txt` (Speech Commands layout), if any."""
    from kws_edge.training.data import scan_dataset

    try:
        return set(scan_dataset(path).split_lists.get("test", set()))
    except KwsError:
        return set()


def _data_paths(train_config: dict) -> list[Path]:
    """The datasets a checkpoint was trained on: `data_paths` (absolute) where kws-train recorded
    it, else `data` as older checkpoints wrote it (one path as typed)."""
    paths = train_config.get("data_paths")
    if isinstance(paths, list) and paths:
        return [Path(str(p)) for p in paths]
    recorded = train_config.get("data")
    return [Path(str(recorded))] if recorded else []


def is_training_data(path: str | Path, ckpt: dict) -> bool:
    """Whether `path` is the one dataset the checkpoint was trained on (so its split applies)."""
    train_config = ckpt.get("train_config") if isinstance(ckpt.get("train_config"), dict) else {}
    paths = _data_paths(train_config)
    return len(paths) == 1 and paths[0].resolve() == Path(path).resolve()


def split_for_calibration(clips: ClipSet, ckpt: dict, ckpt_path: str | Path | None = None,
                          data_path: str | Path | None = None) -> tuple[ClipSet, ClipSet, str]:
    """(calibration, held-out, how). Held out, in order of preference: the checkpoint's test split
    when `data_path` is its training data (file names repeat across datasets, so only then); the
    dataset's own testing_list.txt; a seeded stratified half/half split. Either way int8 accuracy
    is never measured on the clips that set its ranges."""
    keys = [_clip_key(p) for p in clips.paths]
    same = data_path is not None and is_training_data(data_path, ckpt)
    candidates = []
    recorded: set[str] = set()  # the checkpoint's own test split, when `data_path` is its data
    if same:
        how = "checkpoint test split"
        metrics = ckpt.get("metrics") if isinstance(ckpt.get("metrics"), dict) else {}
        if metrics.get("refit"):
            # kws-train --refit trained the kept model on every clip, test split included: these
            # clips are held out from calibration only, so they compare int8 with fp32 but are
            # no measure of accuracy on unheard speech.
            how += " (kept from calibration; the refit model trained on these clips)"
        recorded = recorded_test_keys(ckpt, ckpt_path)
        candidates.append((recorded, how))
    if data_path is not None:
        candidates.append((dataset_test_list(data_path), "dataset testing_list.txt"))
    for test, how in candidates:
        held = np.array([i for i, k in enumerate(keys) if k in test], dtype=np.int64)
        rest = np.array([i for i, k in enumerate(keys) if k not in test], dtype=np.int64)
        if len(held) > 0 and len(rest) > 0:
            return _cap(clips.take(rest)), clips.take(held), how
    if recorded:
        log.warning("%s: this checkpoint's test split holds every clip of it, leaving none to calibrate "
                    "on; calibrating on half of them, checking on the other half", data_path)
    elif same:
        log.warning("%s is this checkpoint's training data but its split.json is not beside the "
                    "checkpoint: the held-out half may include clips it trained on (copy split.json "
                    "next to the checkpoint for a true test split)", data_path)
    from kws_edge.training.split import stratified_split

    # Unique keys even when one file yields several windows (noise recordings).
    unique = [f"{k}#{i}" for i, k in enumerate(keys)]
    parts = stratified_split(unique, [str(c) for c in clips.y], seed=CALIBRATION_SEED, test_fraction=0.5,
                             val_fraction=0.0)
    index = {k: i for i, k in enumerate(unique)}
    cal = np.array([index[k] for k in parts["train"] + parts["val"]], dtype=np.int64)
    held = np.array([index[k] for k in parts["test"]], dtype=np.int64)
    if len(cal) == 0 or len(held) == 0:
        raise KwsError("calibration data too small to keep clips aside for the int8 check")
    return _cap(clips.take(np.sort(cal))), clips.take(np.sort(held)), "stratified half split"


def _cap(clips: ClipSet) -> ClipSet:
    if len(clips) <= MAX_CALIBRATION_CLIPS:
        return clips
    rng = np.random.default_rng(CALIBRATION_SEED)
    return clips.take(np.sort(rng.choice(len(clips), MAX_CALIBRATION_CLIPS, replace=False)))


class WindowReader(CalibrationDataReader):
    """Feeds calibration windows to onnxruntime's calibrator in small batches."""

    def __init__(self, windows: np.ndarray, input_name: str = "audio", batch: int = 16) -> None:
        self._batches = [np.ascontiguousarray(windows[i:i + batch]) for i in range(0, len(windows), batch)]
        self._input = input_name
        self._pos = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._pos >= len(self._batches):
            return None
        self._pos += 1
        return {self._input: self._batches[self._pos - 1]}

    def rewind(self) -> None:
        self._pos = 0

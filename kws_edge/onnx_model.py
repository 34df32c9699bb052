"""An exported keyword model: an onnxruntime session plus the settings it carries in its metadata."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from .errors import KwsError, not_a_file

log = logging.getLogger(__name__)

INPUT_NAME = "audio"
OUTPUT_NAME = "probs"
REQUIRED_METADATA = ("labels", "sample_rate", "window_samples", "unknown_label")
# Audio rates a keyword model can plausibly run at, and window lengths in seconds: a file outside
# them is broken, and saying so beats an error about --hop-ms or a buffer of billions of samples.
SAMPLE_RATES = (4000, 192000)
WINDOW_SECONDS = (0.1, 10.0)


def _session_options():
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # One thread, no spinning: a detector runs all day next to other programs on a small CPU, and
    # a spinning worker burns a core while it waits for the next window.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def _parse_int(path: Path, meta: dict[str, str], key: str) -> int:
    try:
        value = int(meta[key])
    except ValueError:
        raise KwsError(f"{path}: metadata '{key}' is not an integer ({meta[key]!r})") from None
    if value <= 0:
        raise KwsError(f"{path}: metadata '{key}' must be positive, got {value}")
    return value


def _parse_labels(path: Path, raw: str) -> list[str]:
    try:
        labels = json.loads(raw)
    except json.JSONDecodeError:
        raise KwsError(f"{path}: metadata 'labels' is not JSON") from None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise KwsError(f"{path}: metadata 'labels' must be a non-empty JSON list of strings")
    if len(set(labels)) != len(labels):
        raise KwsError(f"{path}: metadata 'labels' has duplicates")
    return labels


def _parse_thresholds(path: Path, raw: str | None, labels: list[str]) -> dict[str, float] | None:
    if raw is None or raw.strip() in ("", "null"):
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise KwsError(f"{path}: metadata 'thresholds' is not JSON") from None
    if not isinstance(data, dict):
        raise KwsError(f"{path}: metadata 'thresholds' must be a JSON object {{label: float}}")
    out: dict[str, float] = {}
    for label, value in data.items():
        if label not in labels:
            raise KwsError(f"{path}: metadata 'thresholds' names unknown label {label!r}")
        if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise KwsError(f"{path}: threshold for {label!r} must be a number in [0, 1], got {value!r}")
        out[label] = float(value)
    return out


def _parse_rms_floor(raw: str | None) -> float | None:
    """The RMS under which the model's input normalisation stops scaling a window up (kws-export
    writes it in `model_config`); None when the model does not normalise by RMS or does not say."""
    try:
        config = json.loads(raw) if raw else {}
        floor = float(config["rms_floor"]) if config.get("input_norm", "rms") == "rms" else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return floor if floor is not None and math.isfinite(floor) and floor > 0 else None


# The first bytes of audio files (WAV, FLAC, Ogg, MP3 with and without a tag), given as a model.
AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"FORM")


def _refuse_non_model(path: Path) -> None:
    """A training checkpoint or an audio file where a model was expected: say what it is and what
    to do (onnxruntime's own message, a protobuf parse error, says nothing of the kind)."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic.startswith(AUDIO_MAGIC):
        raise KwsError(f"{path}: is an audio file, not a model (kws-listen reads audio with --input)")
    if path.suffix in (".pt", ".pth") or magic == b"PK\x03\x04":  # torch.save writes a ZIP archive
        from .models import BASE_B_CHECKPOINT, BASE_CHECKPOINT

        if path.resolve() in (BASE_CHECKPOINT, BASE_B_CHECKPOINT):
            raise KwsError(f"{path}: is the shipped base's training checkpoint; its ONNX model is "
                           f"'base' ({BASE_CHECKPOINT.with_suffix('.onnx')})")
        raise KwsError(f"{path}: is a training checkpoint, not an ONNX model; export it first: "
                       f"kws-export {path} -o model.onnx --quantize")


class OnnxModel:
    """A keyword model in ONNX: `predict(windows [N, window_samples]) -> probs [N, C]`."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise not_a_file(self.path, "model file")
        _refuse_non_model(self.path)
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=_session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises several private exception types for bad files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise KwsError(f"{self.path}: not a loadable ONNX model ({first[:200]})") from None

        meta = dict(self._session.get_modelmeta().custom_metadata_map)
        missing = [k for k in REQUIRED_METADATA if k not in meta]
        if missing:
            raise KwsError(f"{self.path}: ONNX model lacks kws-edge metadata {missing} "
                           "(export it with kws-export)")
        self.metadata: dict[str, str] = meta
        self.labels: list[str] = _parse_labels(self.path, meta["labels"])
        self.sample_rate: int = _parse_int(self.path, meta, "sample_rate")
        self.window_samples: int = _parse_int(self.path, meta, "window_samples")
        if not SAMPLE_RATES[0] <= self.sample_rate <= SAMPLE_RATES[1]:
            raise KwsError(f"{self.path}: metadata 'sample_rate' {self.sample_rate} Hz is not an audio rate "
                           f"a keyword model runs at ({SAMPLE_RATES[0]}..{SAMPLE_RATES[1]}); a broken export")
        seconds = self.window_samples / self.sample_rate
        if not WINDOW_SECONDS[0] <= seconds <= WINDOW_SECONDS[1]:
            low, high = WINDOW_SECONDS
            raise KwsError(f"{self.path}: metadata 'window_samples' {self.window_samples} at "
                           f"{self.sample_rate} Hz is a {seconds:g}-s window (expected {low:g}..{high:g} s)")
        self.unknown_label: str = meta["unknown_label"]
        if self.unknown_label not in self.labels:
            raise KwsError(f"{self.path}: unknown_label {self.unknown_label!r} is not among the labels")
        self.thresholds: dict[str, float] | None = _parse_thresholds(self.path, meta.get("thresholds"),
                                                                     self.labels)
        self.rms_floor: float | None = _parse_rms_floor(meta.get("model_config"))
        self._check_io()

    def _check_io(self) -> None:
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            raise KwsError(f"{self.path}: expected one input named '{INPUT_NAME}', "
                           f"got {[i.name for i in inputs]}")
        if OUTPUT_NAME not in [o.name for o in outputs]:
            raise KwsError(f"{self.path}: expected an output named '{OUTPUT_NAME}', "
                           f"got {[o.name for o in outputs]}")
        shape = inputs[0].shape
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != self.window_samples):
            raise KwsError(f"{self.path}: input shape {shape} does not match "
                           f"window_samples={self.window_samples}")
        # A graph exported with a fixed batch (e.g. [1, 16000]) takes that many windows per run;
        # batches are fed in slices of it (the runtime and kws-eval batch windows).
        self._fixed_batch: int | None = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        # Probe once: catches graphs whose output shape drifted (e.g. [N, 1, C]) before any audio flows.
        rows = self._fixed_batch or 1
        try:
            probe = self._run(np.zeros((rows, self.window_samples), dtype=np.float32))
        except Exception as exc:  # onnxruntime's own exception types: a graph that cannot run
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise KwsError(f"{self.path}: the model fails on a silent window ({first[:200]})") from None
        if probe.shape != (rows, len(self.labels)):
            raise KwsError(f"{self.path}: output '{OUTPUT_NAME}' has shape {list(probe.shape)}, "
                           f"expected [N, {len(self.labels)}] for {len(self.labels)} labels")
        self._check_finite(probe, rows)

    def _check_finite(self, probs: np.ndarray, rows: int) -> None:
        """NaN or inf probabilities mean broken weights: scores such a model gives are no scores."""
        if not np.isfinite(probs).all():
            raise KwsError(f"{self.path}: the model output NaN or infinite probabilities on {rows} "
                           "window(s); its weights are broken (re-export it from a sound checkpoint)")

    def _run(self, windows: np.ndarray) -> np.ndarray:
        fixed = self._fixed_batch
        if fixed is None or windows.shape[0] == fixed:
            return self._session.run([OUTPUT_NAME], {INPUT_NAME: windows})[0]
        outs = []
        for i in range(0, windows.shape[0], fixed):
            part = windows[i:i + fixed]
            n = part.shape[0]
            if n < fixed:  # pad the last slice to the graph's batch; its extra rows are dropped
                part = np.concatenate([part, np.zeros((fixed - n, part.shape[1]), dtype=part.dtype)])
            outs.append(self._session.run([OUTPUT_NAME], {INPUT_NAME: part})[0][:n])
        return np.concatenate(outs)

    @property
    def name(self) -> str:
        return self.metadata.get("model", "?")

    @property
    def quantization(self) -> str:
        return self.metadata.get("quantization", "none")

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities `[N, C]` for float32 windows `[N, window_samples]` at `sample_rate`."""
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim == 1:
            windows = windows[None, :]
        if windows.ndim != 2 or windows.shape[1] != self.window_samples:
            raise ValueError(f"windows must have shape [N, {self.window_samples}], got {list(windows.shape)}")
        if windows.shape[0] == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        probs = self._run(np.ascontiguousarray(windows))
        self._check_finite(probs, windows.shape[0])
        return probs

    def __repr__(self) -> str:
        return (f"OnnxModel({str(self.path)!r}, model={self.name}, labels={len(self.labels)}, "
                f"quantization={self.quantization})")


def load_model(path: str | Path | None = None) -> OnnxModel:
    """Load a model file; `None` or `base` loads the shipped base model."""
    from .models import base_model_path, model_path

    model = OnnxModel(base_model_path() if path is None else model_path(path))
    log.debug("loaded %r", model)
    return model

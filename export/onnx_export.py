"""Checkpoint -> fp32 ONNX: softmax in the graph, kws-edge metadata, checker, and parity with PyTorch.

Exporter choice (torch 2.11): `torch.onnx.export(..., dynamo=True)` at opset 18. It emits a clean
graph (BatchNorm folded, no Shape/Gather/Concat chains around the resampler; the TorchScript
exporter emitted ~85 nodes for the same model) and opset 18 is its native opset: asking it for 17
runs onnx's version converter, which fails on this graph (ReduceMean axes). Opset 18 is implemented
by onnxruntime >= 1.14; the exported fp32 and int8 graphs were run with onnxruntime 1.22.0 (the
release that runs on the emulated Raspberry Pi) as well as 1.32.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from kws_edge.atomic import write_bytes_atomic
from kws_edge.errors import KwsError
from kws_edge.labels import UNKNOWN_LABEL
from kws_edge.training.model import M5

from .fold import ProbsModel, fold_front_end
from .parser import PARITY_TOLERANCE

log = logging.getLogger(__name__)

OPSET = 18
INPUT_NAME = "audio"
OUTPUT_NAME = "probs"


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kws-edge")
    except PackageNotFoundError:
        return "unknown"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_thresholds(ckpt: dict) -> dict[str, float] | None:
    """Per-class calibrated thresholds if the checkpoint carries them (either place), else None."""
    metrics = ckpt.get("metrics") if isinstance(ckpt.get("metrics"), dict) else {}
    raw = ckpt.get("thresholds") or metrics.get("thresholds")
    if not raw:
        return None
    labels = list(ckpt["labels"])
    if not isinstance(raw, dict):
        raise KwsError("checkpoint: 'thresholds' must be a mapping {label: float}")
    out = {}
    for label, value in raw.items():
        if label not in labels or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise KwsError(f"checkpoint: bad threshold {label!r}: {value!r} (labels {labels}, range [0, 1])")
        out[str(label)] = float(value)
    return out


def _json_safe(obj: Any) -> Any:
    """Metrics may hold tensors/numpy scalars; metadata must be plain JSON."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def build_metadata(ckpt: dict, *, source: str, source_sha256: str, quantization: str = "none",
                   front_end: str = "resampler") -> dict[str, str]:
    """The `metadata_props` the runtime reads (DESIGN.md), all values strings."""
    labels = [str(x) for x in ckpt["labels"]]
    if UNKNOWN_LABEL not in labels:
        # The streaming runtime must be able to say "nothing"; a model without the reject class cannot.
        raise KwsError(f"{source}: labels have no {UNKNOWN_LABEL!r} class ({', '.join(labels)})")
    config = dict(ckpt["model_config"])
    metrics = _json_safe(ckpt.get("metrics") or {})
    meta = {
        "labels": json.dumps(labels),
        "sample_rate": str(int(config.get("sample_rate", ckpt["sample_rate"]))),
        "window_samples": str(int(config["window_samples"])),
        "unknown_label": UNKNOWN_LABEL,
        "model": str(ckpt.get("model", "M5")),
        "version": package_version(),
        "quantization": quantization,
        "metrics": json.dumps(metrics, sort_keys=True),
        "model_config": json.dumps(_json_safe(config), sort_keys=True),
        "front_end": front_end,
        "opset": str(OPSET),
        # File name only: a shipped model should not carry the exporting machine's folders.
        "source": json.dumps({"checkpoint": Path(source).name, "sha256": source_sha256,
                              "checkpoint_version": _json_safe(ckpt.get("version"))}),
    }
    if isinstance(metrics, dict):
        for key in ("test_accuracy", "val_accuracy"):
            if isinstance(metrics.get(key), (int, float)):
                meta[key] = f"{float(metrics[key]):.6g}"
    split = ckpt.get("split")
    if isinstance(split, dict) and isinstance(split.get("sha256"), str):
        meta["split_sha256"] = split["sha256"]  # kws-eval --split checks split.json against it
    thresholds = checkpoint_thresholds(ckpt)
    if thresholds:
        meta["thresholds"] = json.dumps(thresholds, sort_keys=True)
    meta["training"] = json.dumps(training_summary(ckpt), sort_keys=True)
    return meta


def _names(value: object) -> object:
    """File and folder names without the training machine's folders: a list of str, or a str that
    kws-train wrote as several paths joined by spaces (`--data A B`) -> a list of names."""
    if isinstance(value, str):
        value = value.split()
    if isinstance(value, (list, tuple)):
        names = [Path(str(v)).name for v in value]
        return names[0] if len(names) == 1 else names or None
    return None


def training_summary(ckpt: dict) -> dict:
    """What the model was trained on, for `kws-info`: data, start, recipe (names only)."""
    prov = ckpt.get("provenance") if isinstance(ckpt.get("provenance"), dict) else {}
    train = ckpt.get("train_config") if isinstance(ckpt.get("train_config"), dict) else {}
    out = {"data": _names(train.get("data") or prov.get("data")),
           "init": _names(train.get("init") or prov.get("init")),
           "negatives": _names(train.get("negatives")),
           "talk_windows": train.get("talk_windows"),
           "training_data": prov.get("training_data"), "recipe": prov.get("recipe"),
           "git_commit": prov.get("git_commit")}
    return {k: _json_safe(v) for k, v in out.items() if v}


def set_metadata(model: onnx.ModelProto, meta: dict[str, str]) -> None:
    existing = {p.key: p for p in model.metadata_props}
    for key, value in meta.items():
        if key in existing:
            existing[key].value = value
        else:
            model.metadata_props.add(key=key, value=value)


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def strip_debug_info(model: onnx.ModelProto) -> None:
    """Drop the exporter's per-node stack traces and doc strings: ~40% of an int8 file, and they
    embed the exporting machine's source paths."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    model.graph.doc_string = ""
    model.doc_string = ""


def export_torch(model: M5 | Sequence[M5], *, fold: bool = True) -> tuple[onnx.ModelProto, str]:
    """Export M5 (+softmax) to an in-memory fp32 ModelProto; returns it and the front-end kind.
    Several models become one graph whose output is the mean of their probabilities."""
    members = _members(model)
    folded = [fold_front_end(m) for m in members] if fold else [None] * len(members)
    front_end = "folded(resampler+conv1+bn1)" if all(f is not None for f in folded) else "resampler"
    wrapped = ProbsModel(*(f if f is not None else m for f, m in zip(folded, members, strict=True))).eval()
    example = torch.zeros(2, members[0].config.window_samples)
    with tempfile.TemporaryDirectory(prefix="kws-export-") as tmp:
        path = Path(tmp) / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter warns about optional torchvision ops
            torch.onnx.export(
                wrapped, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
                dynamic_shapes={"audio": {0: torch.export.Dim("batch")}},
            )
        proto = onnx.load(str(path))
    strip_debug_info(proto)
    proto.producer_name = "kws-edge"
    proto.producer_version = package_version()
    return proto, front_end


def check_graph(model: onnx.ModelProto, n_classes: int, window_samples: int, what: str) -> None:
    """onnx.checker plus the I/O contract; raised as KwsError so a broken transform stops the export."""
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise KwsError(f"{what}: onnx.checker failed ({str(exc).splitlines()[0][:200]})") from None
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise KwsError(f"{what}: expected input {INPUT_NAME!r} / output {OUTPUT_NAME!r}, "
                       f"got {inputs} / {outputs}")
    probs = run_onnx(model, np.zeros((3, window_samples), dtype=np.float32))
    if probs.shape != (3, n_classes):
        raise KwsError(f"{what}: output shape {list(probs.shape)} for 3 windows, expected [3, {n_classes}]")


def make_session(model: onnx.ModelProto | str | Path, threads: int = 1):
    """A CPU onnxruntime session; one thread, no spinning (the deployment setting)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def run_onnx(model: onnx.ModelProto, windows: np.ndarray, batch: int = 64, session=None) -> np.ndarray:
    sess = session or make_session(model)
    outs = [sess.run([OUTPUT_NAME], {INPUT_NAME: windows[i:i + batch]})[0]
            for i in range(0, windows.shape[0], batch)]
    return np.concatenate(outs) if outs else np.zeros((0, 0), dtype=np.float32)


def _members(model: M5 | Sequence[M5]) -> list[M5]:
    return [model] if isinstance(model, torch.nn.Module) else list(model)


def torch_probs(model: M5 | Sequence[M5], windows: np.ndarray, batch: int = 64) -> np.ndarray:
    """Probabilities of `windows` (the mean over the models when given several)."""
    members = _members(model)
    with torch.no_grad():
        outs = [np.mean([torch.softmax(m(torch.from_numpy(windows[i:i + batch])), dim=-1).numpy()
                         for m in members], axis=0)
                for i in range(0, windows.shape[0], batch)]
    return np.concatenate(outs)


def parity(model: M5 | Sequence[M5], onnx_model: onnx.ModelProto, windows: np.ndarray) -> float:
    """Max |p_torch - p_onnx| over `windows`."""
    ref = torch_probs(model, windows)
    got = run_onnx(onnx_model, windows)
    if got.shape != ref.shape:
        raise KwsError(f"ONNX output shape {list(got.shape)} differs from PyTorch {list(ref.shape)}")
    return float(np.max(np.abs(ref - got)))


def verify_parity(model: M5 | Sequence[M5], onnx_model: onnx.ModelProto, windows: np.ndarray,
                  tolerance: float = PARITY_TOLERANCE) -> float:
    diff = parity(model, onnx_model, windows)
    if not np.isfinite(diff) or diff > tolerance:
        raise KwsError(f"exported model disagrees with PyTorch: max |dp| = {diff:.3g} on "
                       f"{windows.shape[0]} clips (tolerance {tolerance:g}); no file written")
    log.info("parity with PyTorch on %d clips: max |dp| = %.2g (tolerance %g)", windows.shape[0], diff,
             tolerance)
    return diff


def save_onnx(model: onnx.ModelProto, path: str | Path) -> None:
    write_bytes_atomic(path, model.SerializeToString())


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Load an ONNX file; anything that is not one is a one-line KwsError."""
    path = Path(path)
    if not path.is_file():
        raise KwsError(f"{path}: no such ONNX file")
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf raises DecodeError and friends for non-ONNX bytes
        raise KwsError(f"{path}: not an ONNX model ({type(exc).__name__})") from None

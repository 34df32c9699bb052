"""Tiny ONNX keyword models built with onnx.helper (no torch), for testing the runtime end to end.

`tone_model` is a hand-made graph whose output depends on a simple signal property: the share of
the window's energy at a few tone frequencies. A played tone therefore "says" a keyword, which is
enough to drive the real runtime path (files, sounddevice, PulseAudio) deterministically.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from kws_edge.labels import SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES

TONES = {"yes": 1000.0, "no": 2000.0}
LABELS = [*TONES, UNKNOWN_LABEL]


def _save(name: str, nodes: list, inits: list, n_labels: int, path: Path,
          metadata: dict[str, str]) -> Path:
    """Wrap nodes in the M5 I/O contract (audio [N, window] -> probs [N, C]), check and save."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["N", WINDOW_SAMPLES])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", n_labels])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def base_metadata(labels: list[str], **extra: str) -> dict[str, str]:
    meta = {
        "labels": json.dumps(labels),
        "sample_rate": str(SAMPLE_RATE),
        "window_samples": str(WINDOW_SAMPLES),
        "unknown_label": UNKNOWN_LABEL,
        "model": "tiny-tone",
        "version": "test",
        "quantization": "none",
    }
    meta.update(extra)
    return meta


def tone_model(path: Path, tones: dict[str, float] | None = None, gain: float = 12.0,
               unknown_logit: float = 4.0, thresholds: dict[str, float] | None = None,
               metadata: dict[str, str] | None = None) -> Path:
    """probs = softmax([gain * share_of_energy_at(tone_k) ..., unknown_logit]).

    A tone filling the whole window gives share ~1 (p(keyword) ~ 0.9997 with the defaults); a
    tone over half the window gives ~0.5; noise and speech give ~0.
    """
    tones = dict(TONES if tones is None else tones)
    labels = [*tones, UNKNOWN_LABEL]
    n = WINDOW_SAMPLES
    t = np.arange(n) / SAMPLE_RATE
    basis = []
    for freq in tones.values():
        basis += [np.cos(2 * np.pi * freq * t), np.sin(2 * np.pi * freq * t)]
    basis_w = np.stack(basis, axis=1).astype(np.float32)  # [n, 2K]
    k = len(tones)
    # Sums each cos/sin pair of squared projections into one power per tone.
    pair = np.zeros((2 * k, k), dtype=np.float32)
    for i in range(k):
        pair[2 * i, i] = pair[2 * i + 1, i] = 1.0
    inits = [
        numpy_helper.from_array(basis_w, "basis"),
        numpy_helper.from_array(pair, "pair"),
        numpy_helper.from_array(np.array([n / 2.0], dtype=np.float32), "half_n"),
        numpy_helper.from_array(np.array([1e-6], dtype=np.float32), "eps"),
        numpy_helper.from_array(np.array([gain], dtype=np.float32), "gain"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node("MatMul", ["audio", "basis"], ["proj"]),
        helper.make_node("Mul", ["proj", "proj"], ["proj2"]),
        helper.make_node("MatMul", ["proj2", "pair"], ["power"]),               # [N, K]
        helper.make_node("ReduceSumSquare", ["audio", "axis1"], ["energy"], keepdims=1),  # [N, 1]
        helper.make_node("Mul", ["energy", "half_n"], ["energy_scaled"]),
        helper.make_node("Add", ["energy_scaled", "eps"], ["denom"]),
        helper.make_node("Div", ["power", "denom"], ["share"]),                 # [N, K] in [0, 1]
        helper.make_node("Mul", ["share", "gain"], ["kw_logits"]),
        # Constant unknown logit per row: 0 * energy + c keeps the batch dimension.
        helper.make_node("Mul", ["energy", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "unk"], ["unk_logit"]),
        helper.make_node("Concat", ["kw_logits", "unk_logit"], ["logits"], axis=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    inits += [
        numpy_helper.from_array(np.array([0.0], dtype=np.float32), "zero"),
        numpy_helper.from_array(np.array([unknown_logit], dtype=np.float32), "unk"),
    ]
    meta = base_metadata(labels)
    if thresholds is not None:
        meta["thresholds"] = json.dumps(thresholds)
    meta.update(metadata or {})
    return _save("tiny_tone", nodes, inits, len(labels), path, meta)


def random_model(path: Path, labels: list[str] | None = None, seed: int = 0,
                 metadata: dict[str, str] | None = None) -> Path:
    """A small random conv net (strided Conv -> ReLU -> mean -> Gemm -> Softmax) with M5-like I/O."""
    labels = list(labels or LABELS)
    rng = np.random.default_rng(seed)
    n = WINDOW_SAMPLES
    channels, kernel, stride = 8, 80, 16
    inits = [
        numpy_helper.from_array(np.array([-1, 1, n], dtype=np.int64), "shape3"),
        numpy_helper.from_array((rng.standard_normal((channels, 1, kernel)) * 0.3).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(channels, dtype=np.float32), "b1"),
        numpy_helper.from_array((rng.standard_normal((channels, len(labels))) * 2).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(len(labels), dtype=np.float32), "b2"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
    ]
    nodes = [
        helper.make_node("Reshape", ["audio", "shape3"], ["x3"]),
        helper.make_node("Conv", ["x3", "w1", "b1"], ["c1"], strides=[stride]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("ReduceMean", ["r1", "axis2"], ["pooled"], keepdims=0),
        helper.make_node("Gemm", ["pooled", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    meta = base_metadata(labels, model="tiny-random")
    meta.update(metadata or {})
    return _save("tiny_random", nodes, inits, len(labels), path, meta)


def model_without_metadata(path: Path) -> Path:
    """A valid ONNX graph with the right I/O names but none of the kws-edge metadata."""
    random_model(path)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    return path

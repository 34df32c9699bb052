"""Static int8 quantization (onnxruntime, QDQ) of an exported fp32 M5 graph.

Choices, measured with benchmarks/bench_infer.py and the sweep in docs/export.md (batch 1, one
thread): the RMS normalisation stays float (quantizing raw audio before it is normalised would
throw quiet recordings onto a handful of int8 levels); single-channel convs (an unfolded
resampler) stay float because onnxruntime's int8 conv is slower than fp32 for them; the small
classifier head stays float; Conv, MaxPool and Relu are quantized with per-channel weights, uint8
activations, QDQ format and min/max calibration. onnxruntime fuses the QDQ pairs into QLinearConv
at load time.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from kws_edge.errors import KwsError

from .calibration import WindowReader
from .onnx_export import check_graph, read_metadata, set_metadata, strip_debug_info

log = logging.getLogger(__name__)

# Gemm (the 64 -> C classifier) stays float: quantizing it adds a Quantize/Dequantize pair for a
# ~2k-MAC op, and its int8 logits flipped more top-1 decisions on real speech (bench --sweep).
QUANTIZED_OPS = ("Conv", "MaxPool", "Relu")


@dataclass(frozen=True)
class QuantOptions:
    per_channel: bool = True
    quant_format: str = "qdq"  # "qdq" | "qoperator"
    activation_type: str = "uint8"  # "uint8" | "int8"
    reduce_range: bool = False
    # Percentile clips rare activation peaks: on the base model minmax lost 1.58 points of accuracy
    # (94.4% top-1 agreement), percentile 0.00 (98.8%), at the same speed.
    calibrate_method: str = "percentile"  # "minmax" | "percentile"
    op_types: tuple[str, ...] = QUANTIZED_OPS  # () = every op onnxruntime can quantize
    preprocess: bool = True
    keep_single_channel_convs_float: bool = True

    def label(self) -> str:
        """The `quantization` metadata value."""
        return f"int8-static-{self.quant_format}"


def _single_channel_convs(model: onnx.ModelProto) -> list[str]:
    """Conv nodes with one input and one output channel (torchaudio's resampler when not folded)."""
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type == "Conv" and len(node.input) > 1:
            dims = shapes.get(node.input[1])
            if dims and dims[0] == 1 and dims[1] == 1:
                out.append(node.name)
    return out


def preprocess(model: onnx.ModelProto, n_classes: int, window: int) -> onnx.ModelProto:
    """onnxruntime's quant_pre_process (symbolic shape inference + basic graph optimisation),
    then the I/O contract check: it has turned M5's output [N, C] into [N, 1, C] before."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="kws-quant-") as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "pre.onnx"
        onnx.save(model, str(src))
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        out = onnx.load(str(dst))
    set_metadata(out, read_metadata(model))
    check_graph(out, n_classes, window, "after quant_pre_process")
    return out


def _enum(options: QuantOptions):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    formats = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}
    acts = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}
    try:
        return formats[options.quant_format], acts[options.activation_type], methods[options.calibrate_method]
    except KeyError as exc:
        raise KwsError(f"unsupported quantization option {exc.args[0]!r}") from None


def quantize_int8(fp32: onnx.ModelProto, calibration: np.ndarray, n_classes: int, window: int,
                  options: QuantOptions | None = None) -> onnx.ModelProto:
    """Static int8 copy of `fp32`, calibrated on `calibration` windows `[N, window]`; metadata kept."""
    from onnxruntime.quantization import QuantType, quantize_static

    options = options or QuantOptions()
    if calibration.ndim != 2 or calibration.shape[0] == 0 or calibration.shape[1] != window:
        raise KwsError(f"calibration windows must be [N>0, {window}], got {list(calibration.shape)}")
    quant_format, act_type, method = _enum(options)
    model = preprocess(fp32, n_classes, window) if options.preprocess else fp32
    exclude = _single_channel_convs(model) if options.keep_single_channel_convs_float else []
    if exclude:
        log.info("keeping single-channel conv(s) in float: %s", ", ".join(exclude))
    with tempfile.TemporaryDirectory(prefix="kws-quant-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(src))
        # One window per calibration batch: onnxruntime's histogram calibrator (percentile) fails
        # on a ragged last batch, and this model runs a window in microseconds.
        # onnxruntime's histogram calibrators print() their progress ("Finding optimal threshold
        # ...", tensor and bin counts) to stdout: noise in kws-export's report, so it goes to debug.
        chatter = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter):
            warnings.simplefilter("ignore")
            quantize_static(
                str(src), str(dst), WindowReader(calibration, batch=1),
                quant_format=quant_format, activation_type=act_type, weight_type=QuantType.QInt8,
                per_channel=options.per_channel, reduce_range=options.reduce_range,
                op_types_to_quantize=list(options.op_types) or None, nodes_to_exclude=exclude,
                calibrate_method=method,
            )
        out = onnx.load(str(dst))
    if chatter.getvalue().strip():
        log.debug("onnxruntime calibration: %s", " | ".join(chatter.getvalue().split("\n")).strip(" |"))
    strip_debug_info(out)
    del out.metadata_props[:]
    set_metadata(out, {**read_metadata(fp32), "quantization": options.label()})
    check_graph(out, n_classes, window, "after int8 quantization")
    return out


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes of all initializers (the parameters as stored)."""
    return int(sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer))

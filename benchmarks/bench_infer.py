"""Per-window inference speed, side by side in one run: PyTorch eager, ONNX fp32, ONNX int8.

Batch 1, ONE thread everywhere (torch.set_num_threads(1); onnxruntime intra_op 1, inter_op 1, no
spinning), the same 1-s windows, runs interleaved so load from other processes hits all models
alike. Also prints the model's multiply-accumulates per window and how far int8 is from the time
that arithmetic alone would take at the measured int8 GEMM throughput of this CPU (one core).

    .venv/bin/python benchmarks/bench_infer.py CKPT [--data DIR] [--repeats N] [--sweep] [--json FILE]

CKPT is a kws-train checkpoint or 'base'. --data (default ../shared/data/speech_real when present)
gives the windows, the int8 calibration clips and the held-out clips for the accuracy columns.
--sweep also times the quantization choices compared in docs/export.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from kws_edge.errors import run_cli, setup_logging
from kws_edge.export.calibration import load_clip_set, split_for_calibration
from kws_edge.export.onnx_export import export_torch, make_session
from kws_edge.export.quantize import QuantOptions, quantize_int8
from kws_edge.training.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint_path
from kws_edge.training.model import count_macs

log = logging.getLogger("bench_infer")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "speech_real"
GEMM_SIZE = 512  # big enough that MLAS runs at its steady-state rate, small enough for L2


def _median_p90(times: list[float]) -> tuple[float, float]:
    return float(np.median(times)), float(np.percentile(times, 90))


def interleaved_latency(runners: dict[str, callable], windows: np.ndarray, repeats: int) -> dict[str, dict]:
    """Per-window seconds for each runner; runner order rotates every window."""
    names = list(runners)
    for name in names:  # warm up caches and lazy allocations
        for i in range(10):
            runners[name](windows[i % len(windows)][None])
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(repeats):
        x = np.ascontiguousarray(windows[i % len(windows)][None])
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            t0 = time.perf_counter()
            runners[name](x)
            times[name].append(time.perf_counter() - t0)
    return {n: dict(zip(("median_s", "p90_s"), _median_p90(t), strict=True)) for n, t in times.items()}


def ort_runner(model: onnx.ModelProto):
    sess = make_session(model, threads=1)
    return lambda x: sess.run(None, {"audio": x})


def torch_runner(model: torch.nn.Module):
    def run(x: np.ndarray):
        with torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(x)), dim=-1)
    return run


def gemm_throughput(kind: str, size: int = GEMM_SIZE, repeats: int = 30) -> float:
    """MAC/s of one onnxruntime MatMul (fp32) or MatMulInteger (uint8 x int8) on one thread."""
    rng = np.random.default_rng(0)
    if kind == "int8":
        a = rng.integers(0, 255, (size, size), dtype=np.uint8)
        b = numpy_helper.from_array(rng.integers(-127, 127, (size, size), dtype=np.int8), "B")
        node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    else:
        a = rng.standard_normal((size, size)).astype(np.float32)
        b = numpy_helper.from_array(rng.standard_normal((size, size)).astype(np.float32), "B")
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        a_type = y_type = TensorProto.FLOAT
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("A", a_type, [size, size])],
                              [helper.make_tensor_value_info("Y", y_type, [size, size])], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    sess = make_session(model, threads=1)
    for _ in range(3):
        sess.run(None, {"A": a})
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, {"A": a})
        times.append(time.perf_counter() - t0)
    return size ** 3 / float(np.median(times))


def run_overhead(repeats: int = 2000) -> float:
    """Median seconds of sess.run on a one-node graph (Identity of a window): the floor every
    model pays per call from Python (binding, allocation), whatever its arithmetic."""
    graph = helper.make_graph([helper.make_node("Identity", ["audio"], ["probs"])], "noop",
                              [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 16000])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 16000])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    sess = make_session(model, threads=1)
    x = np.zeros((1, 16000), dtype=np.float32)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, {"audio": x})
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def folded_macs(model: onnx.ModelProto) -> int:
    """MACs of the exported graph's convs and Gemm (the folded front end does more arithmetic)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*inferred.graph.value_info, *inferred.graph.output]}
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv" and node.input[1] in weights:
            c_out, c_in, k = weights[node.input[1]]
            total += shapes[node.output[0]][-1] * c_out * c_in * k
        elif node.op_type == "Gemm" and node.input[1] in weights:
            total += int(np.prod(weights[node.input[1]]))
    return total


def accuracy(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    sess = make_session(model)
    top = np.concatenate([sess.run(None, {"audio": x[i:i + 64]})[0].argmax(1) for i in range(0, len(x), 64)])
    return float((top == y).mean()), top


SWEEP = {
    "default: QDQ, per-channel, u8 act, head fp32": QuantOptions(),
    "per-tensor weights": QuantOptions(per_channel=False),
    "QOperator format": QuantOptions(quant_format="qoperator"),
    "reduce_range (7-bit weights)": QuantOptions(reduce_range=True),
    "int8 (s8) activations": QuantOptions(activation_type="int8"),
    "percentile calibration": QuantOptions(calibrate_method="percentile"),
    "no quant_pre_process": QuantOptions(preprocess=False),
    "all ops (RMS norm too)": QuantOptions(op_types=()),
    "head (Gemm) quantized too": QuantOptions(op_types=("Conv", "Gemm", "MaxPool", "Relu")),
}


def dynamic_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnxruntime's dynamic quantization (weights int8, activations quantized at run time)."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        onnx.save(model, str(src))
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
        return onnx.load(str(dst))


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ckpt_path = resolve_checkpoint_path(args.checkpoint)
    ckpt = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(ckpt, ckpt_path)
    labels = [str(x) for x in ckpt["labels"]]
    window = model.config.window_samples
    data = Path(args.data) if args.data else DEFAULT_DATA
    clips = load_clip_set(data, labels)
    cal, held, how = split_for_calibration(clips, ckpt, ckpt_path, data)
    print(f"checkpoint {ckpt_path} ({len(labels)} labels); data {data}: {len(cal)} calibration / "
          f"{len(held)} held-out clips ({how})")

    fp32, front = export_torch(model, fold=True)
    fp32_plain, _ = export_torch(model, fold=False)
    int8 = quantize_int8(fp32, cal.x, len(labels), window)
    int8_plain = quantize_int8(fp32_plain, cal.x, len(labels), window)
    models = {"fp32 (resampler conv)": fp32_plain, "fp32": fp32,
              "int8 (resampler conv kept fp32)": int8_plain, "int8": int8}
    runners = {"torch eager": torch_runner(model), **{f"onnx {k}": ort_runner(m) for k, m in models.items()}}
    print(f"timing {len(runners)} runners x {args.repeats} windows, interleaved, batch 1, 1 thread ...",
          flush=True)
    lat = interleaved_latency(runners, held.x, args.repeats)

    sizes = {k: len(m.SerializeToString()) for k, m in models.items()}
    acc = {k: accuracy(m, held.x, held.y) for k, m in models.items()}
    print(f"\n{'model':36s} {'median us':>10s} {'p90 us':>8s} {'size KB':>8s} {'held-out acc':>12s}")
    for name, res in lat.items():
        key = name.removeprefix("onnx ")
        size = f"{sizes[key] / 1024:8.1f}" if key in sizes else f"{'':8s}"
        a = f"{100 * acc[key][0]:11.1f}%" if key in acc else ""
        print(f"{name:36s} {1e6 * res['median_s']:10.1f} {1e6 * res['p90_s']:8.1f} {size} {a}")
    t8, t32, tt = lat["onnx int8"]["median_s"], lat["onnx fp32"]["median_s"], lat["torch eager"]["median_s"]
    agree = float((acc["int8"][1] == acc["fp32"][1]).mean())
    print(f"\nint8 vs fp32:           {t32 / t8:5.2f}x faster")
    print(f"int8 vs fp32 unfolded:  {lat['onnx fp32 (resampler conv)']['median_s'] / t8:5.2f}x faster")
    print(f"int8 vs PyTorch eager:  {tt / t8:5.1f}x faster")
    print(f"int8 size:              {sizes['int8'] / 1024:5.1f} KB")
    print(f"int8/fp32 top-1 agreement on {len(held)} held-out clips: {100 * agree:.1f}%")

    macs = count_macs(model.config)
    macs_folded = folded_macs(fp32)
    peak8 = gemm_throughput("int8")
    peak32 = gemm_throughput("fp32")
    print(f"\nMACs per window: {macs / 1e6:.2f} M as trained (count_macs), "
          f"{macs_folded / 1e6:.2f} M as exported ({front})")
    print(f"measured peak, one core, onnxruntime {GEMM_SIZE}^3 GEMM: int8 {peak8 / 1e9:.1f} GMAC/s, "
          f"fp32 {peak32 / 1e9:.1f} GMAC/s")
    overhead = run_overhead()
    bound8 = macs_folded / peak8
    print(f"int8 arithmetic alone: {1e6 * bound8:.1f} us/window; measured {1e6 * t8:.1f} us = "
          f"{t8 / bound8:.1f}x that bound ({100 * bound8 / t8:.0f}% of the time is MACs at peak rate)")
    print(f"sess.run floor (one Identity node, same input): {1e6 * overhead:.1f} us; the rest, "
          f"{1e6 * (t8 - overhead - bound8):.1f} us, is ~20 small kernels' fixed costs, quantize/"
          f"dequantize and layout transposes")

    result = {"latency": lat, "size_bytes": sizes, "accuracy": {k: v[0] for k, v in acc.items()},
              "int8_fp32_agreement": agree, "macs": macs, "macs_exported": macs_folded,
              "peak_int8_mac_per_s": peak8, "peak_fp32_mac_per_s": peak32, "held_out": len(held),
              "sess_run_floor_s": overhead}

    if args.sweep:
        print("\nquantization choices (folded front end unless noted), same windows, interleaved:")
        variants = {name: quantize_int8(fp32, cal.x, len(labels), window, opt) for name, opt in SWEEP.items()}
        every_conv = replace(QuantOptions(), keep_single_channel_convs_float=False)
        variants["resampler conv quantized too (unfolded)"] = quantize_int8(
            fp32_plain, cal.x, len(labels), window, every_conv)
        variants["dynamic int8 (quantize_dynamic, no calibration)"] = dynamic_int8(fp32)
        variants["fp32 reference"] = fp32
        sweep_lat = interleaved_latency({k: ort_runner(m) for k, m in variants.items()}, held.x,
                                        max(100, args.repeats // 2))
        ref = sweep_lat["fp32 reference"]["median_s"]
        print(f"{'variant':48s} {'median us':>9s} {'vs fp32':>8s} {'KB':>6s} {'acc':>6s} {'agree':>6s}")
        rows = {}
        for name, m in variants.items():
            a, top = accuracy(m, held.x, held.y)
            med = sweep_lat[name]["median_s"]
            rows[name] = {"median_s": med, "speedup": ref / med, "size_bytes": len(m.SerializeToString()),
                          "accuracy": a, "agreement": float((top == acc["fp32"][1]).mean())}
            print(f"{name:48s} {1e6 * med:9.1f} {ref / med:7.2f}x {rows[name]['size_bytes'] / 1024:6.1f} "
                  f"{100 * a:5.1f}% {100 * rows[name]['agreement']:5.1f}%")
        result["sweep"] = rows

    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("checkpoint", metavar="CKPT", help="kws-train checkpoint, or 'base'")
    p.add_argument("--data", metavar="DIR", help=f"clips (<word>/*.wav); default {DEFAULT_DATA}")
    p.add_argument("--repeats", type=int, default=400, help="timed windows per model (default 400)")
    p.add_argument("--sweep", action="store_true", help="also time the quantization choices")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = p.parse_args(argv)
    setup_logging(False)
    for name in ("onnx_ir", "onnxscript", "onnxruntime", "torch.onnx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.repeats < 10:
        raise SystemExit("bench_infer: --repeats must be at least 10")
    return run_cli("bench_infer", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())

"""ESTIMATE of what keyword spotting costs a Raspberry Pi 4 and 5, per second of listening.

No Pi was available, and an emulator's speed says nothing about one (qemu-user translates every
instruction). So this counts what can be counted and states what is assumed:

1. Multiply-accumulates per 1-s window, counted from the ONNX graph itself (Conv, Gemm, MatMul;
   output size x kernel work), each classified int8 or fp32 the way onnxruntime will run it: in a
   QDQ model a Conv/Gemm whose activation *and* weight come out of DequantizeLinear is fused into an
   integer kernel; anything else runs in fp32.
2. Windows scored per second: 1000 / hop_ms, times the share of windows the VAD lets through.
3. Peak MAC rates per core from the microarchitecture and the kernels onnxruntime's MLAS picks
   (see docs/raspberry-pi.md for sources):
     Pi 4, Cortex-A72 @ 1.5 GHz (1.8 GHz on board rev 1.4+/Pi 400): 2 FP/ASIMD pipes, each a 4-lane
       fp32 FMLA per cycle -> 8 fp32 MAC/cycle. No dot-product instructions, so MLAS's int8 GEMM is
       its NEON u8 kernel (UXTL + UMLAL by element: 4 MACs per instruction), and ASIMD integer
       multiply issues on one pipe (F0) only -> 4 int8 MAC/cycle: int8 has HALF the fp32 peak.
       (Convs with >= 64 input channels take MLAS's ConvSym kernel instead: SMULL/SMLAL, 8 MACs per
       instruction -> 8 int8 MAC/cycle, fp32's peak. In M5 that is conv4 only.)
     Pi 5, Cortex-A76 @ 2.4 GHz: 2 ASIMD pipes -> 8 fp32 MAC/cycle; SDOT/UDOT (16 MACs each, both
       pipes) -> 32 int8 MAC/cycle: int8 has 4x the fp32 peak.
4. Efficiency (share of peak reached on these small 1-D convolutions) and a fixed per-inference
   overhead (onnxruntime dispatch, Quantize/Dequantize, pooling, Python) are ASSUMED, as a range.

    python benchmarks/pi_estimate.py --model kws_edge/models/base.onnx [--model other.onnx]
        [--hop-ms 100] [--vad-share 1.0] [--measure]

Needs numpy and the `onnx` package (in the train extra; `pip install onnx`), no torch. --measure
also times the model on this machine (one thread) as a sanity reference for the efficiency range.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MAC_OPS = ("Conv", "Gemm", "MatMul", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul")


@dataclass(frozen=True)
class Core:
    board: str
    cpu: str
    ghz: float
    fp32_mac_per_cycle: int
    int8_mac_per_cycle: int  # MLAS QGEMM (im2col convs, Gemm)
    convsym_mac_per_cycle: int  # MLAS ConvSym (convs with >= 64 input channels and kernel > 1)
    int8_kernel: str

    def int8_rate(self, layer: LayerCount) -> float:
        per_cycle = self.convsym_mac_per_cycle if layer.convsym else self.int8_mac_per_cycle
        return self.ghz * 1e9 * per_cycle


CORES = (
    Core("Pi 4", "Cortex-A72", 1.5, 8, 4, 8, "NEON UMLAL (no dot product)"),
    Core("Pi 4 (rev 1.4+/400)", "Cortex-A72", 1.8, 8, 4, 8, "NEON UMLAL (no dot product)"),
    Core("Pi 5", "Cortex-A76", 2.4, 8, 32, 32, "UDOT/SDOT"),
)

# (name, share of peak reached, fixed overhead per inference in microseconds). Assumptions, not
# measurements: small convolutions (32-64 channels, short 1-D kernels) keep GEMM kernels far from
# peak, and each of ~15-60 graph nodes costs a few microseconds of dispatch on an in-order-ish
# budget. The range is wide on purpose.
SCENARIOS = (("optimistic", 0.50, 150.0), ("typical", 0.25, 400.0), ("pessimistic", 0.10, 1000.0))


@dataclass
class LayerCount:
    name: str
    op: str
    macs: int
    int8: bool
    convsym: bool  # on aarch64, MLAS's direct symmetric-conv kernel rather than im2col + QGEMM


def _producers(graph) -> dict[str, object]:
    return {out: node for node in graph.node for out in node.output}


def _run_shapes(model, names: list[str], feed: str, window: int) -> dict[str, list[int]]:
    """Shapes static inference cannot see (e.g. behind Shape/Reshape chains): run one window.

    Exposes those tensors as extra graph outputs and runs the graph unoptimized in onnxruntime.
    """
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {o.name for o in probe.graph.output}
    for name in names:
        if name not in existing:
            probe.graph.output.append(onnx.ValueInfoProto(name=name))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    values = session.run(outputs, {feed: np.zeros((1, window), dtype=np.float32)})
    return {name: list(value.shape) for name, value in zip(outputs, values, strict=True) if name in names}


def count_macs(path: Path) -> tuple[list[LayerCount], int]:
    """MACs per window for each MAC-carrying node of the model, with its expected precision."""
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        raise SystemExit("pi_estimate: needs the onnx package (pip install onnx)") from None

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise SystemExit(f"pi_estimate: {path}: not an ONNX model ({type(exc).__name__})") from None
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    feed = [i for i in graph.input if i.name not in inits][0]
    dims = feed.type.tensor_type.shape.dim
    # One window at a time, as the live runtime scores them.
    if dims and not dims[0].dim_value:
        dims[0].ClearField("dim_param")
        dims[0].dim_value = 1
    window = dims[-1].dim_value
    model = shape_inference.infer_shapes(model, data_prop=True)
    graph = model.graph
    shapes: dict[str, list[int]] = {}
    for vi in [*graph.value_info, *graph.input, *graph.output]:
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for name, init in inits.items():
        shapes[name] = list(init.dims)
    wanted = {t for n in graph.node if n.op_type in MAC_OPS for t in (*n.input[:4], n.output[0]) if t}
    unknown = sorted(t for t in wanted if not shapes.get(t) or 0 in shapes[t])
    if unknown:
        shapes.update(_run_shapes(model, unknown, feed.name, window))
    producers = _producers(graph)

    def is_dq(tensor: str) -> bool:
        node = producers.get(tensor)
        return node is not None and node.op_type == "DequantizeLinear"

    layers = []
    for node in graph.node:
        if node.op_type not in MAC_OPS:
            continue
        out = shapes.get(node.output[0])
        if node.op_type in ("Conv", "ConvInteger", "QLinearConv"):
            w_index = 3 if node.op_type == "QLinearConv" else 1
            w = shapes.get(node.input[w_index])
            if not out or not w or 0 in out:
                raise SystemExit(f"pi_estimate: {path}: no static shape for {node.name or node.op_type}")
            # Each output element: in_channels/groups x kernel MACs; w = [out_c, in_c/groups, *kernel].
            macs = int(np.prod(out)) * int(np.prod(w[1:]))
            # MlasConvSymPackWSize (aarch64): only for >= 64 input channels and kernel > 1.
            convsym = w[1] >= 64 and int(np.prod(w[2:])) > 1
        else:
            a_index, b_index = (0, 3) if node.op_type == "QLinearMatMul" else (0, 1)
            a, b = shapes.get(node.input[a_index]), shapes.get(node.input[b_index])
            if not out or not a or not b:
                raise SystemExit(f"pi_estimate: {path}: no static shape for {node.name or node.op_type}")
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = a[-2] if trans_a else a[-1]
            macs = int(np.prod(out)) * int(k)
            convsym = False
        int8 = node.op_type in ("ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul") or (
            is_dq(node.input[0]) and is_dq(node.input[1]))
        layers.append(LayerCount(node.name or node.op_type, node.op_type, macs, int8, int8 and convsym))
    return layers, window


def measure(path: Path, window: int, runs: int = 200) -> float:
    """Median seconds per single-window inference on this machine, one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = (np.random.default_rng(0).standard_normal((1, window)) * 0.1).astype(np.float32)
    for _ in range(20):
        session.run(None, {name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def report(path: Path, hop_ms: int, vad_share: float, do_measure: bool) -> None:
    layers, window = count_macs(path)
    int8_macs = sum(layer.macs for layer in layers if layer.int8)
    fp32_macs = sum(layer.macs for layer in layers if not layer.int8)
    windows_per_s = 1000.0 / hop_ms * vad_share
    print(f"== {path}")
    for layer in layers:
        kind = ("int8 (ConvSym)" if layer.convsym else "int8") if layer.int8 else "fp32"
        print(f"   {layer.op:<8} {layer.name:<40} {layer.macs / 1e6:7.3f} M MAC  {kind}")
    print(f"   per window: {(int8_macs + fp32_macs) / 1e6:.3f} M MAC ({int8_macs / 1e6:.3f} M int8, "
          f"{fp32_macs / 1e6:.3f} M fp32); windows scored per second: 1000/{hop_ms} ms x VAD share "
          f"{vad_share:g} = {windows_per_s:g}")
    if do_measure:
        import platform

        t = measure(path, window)
        print(f"   measured here ({platform.machine()}, 1 thread): {t * 1e3:.3f} ms/window = "
              f"{(int8_macs + fp32_macs) / t / 1e9:.2f} G MAC/s achieved, {windows_per_s * t * 100:.2f}% "
              f"of one core at {windows_per_s:g} windows/s")
    print("   ESTIMATE per core (time per window; share of ONE core busy while listening):")
    print(f"   {'board':<22} {'peak fp32/int8 GMAC/s':>22}  {'at peak':>9}  "
          + "  ".join(f"{name:>20}" for name, _, _ in SCENARIOS))
    for core in CORES:
        fp32_rate = core.ghz * 1e9 * core.fp32_mac_per_cycle
        int8_rate = core.ghz * 1e9 * core.int8_mac_per_cycle
        at_peak = fp32_macs / fp32_rate + sum(la.macs / core.int8_rate(la) for la in layers if la.int8)
        cells = []
        for _name, efficiency, overhead_us in SCENARIOS:
            t = at_peak / efficiency + overhead_us * 1e-6
            cells.append(f"{t * 1e3:6.2f} ms {windows_per_s * t * 100:5.1f}%  ")
        peaks = f"{fp32_rate / 1e9:10.1f} / {int8_rate / 1e9:<9.1f}"
        row = "  ".join(f"{c:>20}" for c in cells)
        print(f"   {core.board:<22} {peaks}  {at_peak * 1e3:6.3f} ms  {row}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append",
                        help="ONNX model (repeatable; default: kws_edge/models/base.onnx)")
    parser.add_argument("--hop-ms", type=int, default=100, help="kws-listen --hop-ms (default 100)")
    parser.add_argument("--vad-share", type=float, default=1.0,
                        help="share of windows the VAD lets through (default 1.0: worst case, "
                             "someone talks all the time or --vad off)")
    parser.add_argument("--measure", action="store_true", help="also time each model on this machine")
    args = parser.parse_args()
    models = args.model or [REPO / "kws_edge" / "models" / "base.onnx"]
    if not 0 < args.vad_share <= 1:
        parser.error(f"--vad-share must be in (0, 1], got {args.vad_share:g}")
    if args.hop_ms <= 0:
        parser.error(f"--hop-ms must be positive, got {args.hop_ms}")
    print("ESTIMATE, not a measurement on a Pi: MACs counted from the graph, peaks from the cores' "
          "pipelines, efficiency and overhead assumed (optimistic/typical/pessimistic = "
          + ", ".join(f"{e:.0%} of peak + {o:g} us" for _, e, o in SCENARIOS) + ").")
    for path in models:
        if not path.is_file():
            raise SystemExit(f"pi_estimate: {path}: not found")
        report(path, args.hop_ms, args.vad_share, args.measure)
    return 0


if __name__ == "__main__":
    sys.exit(main())

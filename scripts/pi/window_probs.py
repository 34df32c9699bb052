"""Raw model scores on every window of a recording, for the x86-64 vs aarch64 parity figure.

Runs with the runtime's dependencies alone (numpy, onnxruntime, soundfile, soxr): it is executed by
the emulated aarch64 Python as well as by x86-64 ones. Detections (kws-listen --json) are the
product-level comparison; these probabilities show how far the int8 kernels of the two ISAs drift
apart before any threshold hides or amplifies it.

    python scripts/pi/window_probs.py MODEL.onnx INPUT.wav OUT.npz [--hop-ms 100]
"""

from __future__ import annotations

import argparse
import platform
import sys

import numpy as np
import onnxruntime as ort

from kws_edge.audio import load_16k

# AT_HWCAP / AT_HWCAP2 bits (linux/arch/arm64/include/uapi/asm/hwcap.h) that decide which int8 and
# fp32 kernels onnxruntime's MLAS picks: SDOT/UDOT (asimddp) and I8MM are the int8 fast paths.
_HWCAP = {"fp": 0, "asimd": 1, "asimdhp": 10, "asimddp": 20, "sve": 22}
_HWCAP2 = {"i8mm": 13, "bf16": 14}


def hwcaps() -> str:
    """The aarch64 CPU features the process sees (under qemu-user: those of the emulated CPU model).

    Read from the auxiliary vector, not /proc/cpuinfo: qemu-user passes the host's cpuinfo through.
    """
    if platform.machine() != "aarch64":
        return ""
    import ctypes

    getauxval = ctypes.CDLL(None).getauxval
    getauxval.restype = ctypes.c_ulong
    getauxval.argtypes = [ctypes.c_ulong]
    at_hwcap, at_hwcap2 = getauxval(16), getauxval(26)
    names = [n for n, b in _HWCAP.items() if at_hwcap >> b & 1]
    names += [n for n, b in _HWCAP2.items() if at_hwcap2 >> b & 1]
    return " ".join(names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("out")
    parser.add_argument("--hop-ms", type=int, default=100)
    args = parser.parse_args()

    opts = ort.SessionOptions()
    # One thread, as the runtime uses: results must not depend on how work is split.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    window = int(meta.get("window_samples", 16000))
    rate = int(meta.get("sample_rate", 16000))
    audio = load_16k(args.input)
    hop = rate * args.hop_ms // 1000
    if len(audio) < window:
        audio = np.pad(audio, (0, window - len(audio)))
    starts = range(0, len(audio) - window + 1, hop)
    windows = np.stack([audio[s:s + window] for s in starts]).astype(np.float32)
    # Batches of one, as the streaming runtime runs them: batching can change kernel blocking.
    probs = np.concatenate([session.run(["probs"], {"audio": w[None, :]})[0] for w in windows])
    np.savez(args.out, probs=probs, machine=platform.machine(), onnxruntime=ort.__version__, hwcaps=hwcaps())
    print(f"{platform.machine()} onnxruntime {ort.__version__}: {len(windows)} windows -> {args.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

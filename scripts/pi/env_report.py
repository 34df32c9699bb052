"""Prove an installed kws-edge runtime environment is what a Raspberry Pi needs, and no more.

Run by the emulated aarch64 venv and by the x86-64 reference venv of scripts/pi_check.sh:

    python scripts/pi/env_report.py [--expect-machine aarch64]

Checks (exit 1 with one line per failure):
- the machine is the expected one (under qemu-user, platform.machine() reports the emulated CPU);
- no torch / torchaudio / onnx / training tools are installed, and `import torch` fails;
- the runtime's dependencies import: numpy, onnxruntime (CPU provider), soundfile with the
  libsndfile its wheel bundles (no Debian libsndfile1 needed), soxr, and sounddevice with PortAudio
  (the one native library that must come from the OS: libportaudio2);
- `kws_edge.listen_cli` imports without pulling torch in.
Prints the installed distributions, so the report shows the full dependency set.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import platform
import sys

# Installed only with the `train`/`dev` extras; a Pi must never need them.
FORBIDDEN = ("torch", "torchaudio", "onnx", "onnxscript", "matplotlib", "pytest")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect-machine", default=None)
    args = parser.parse_args()
    problems: list[str] = []

    machine = platform.machine()
    if args.expect_machine and machine != args.expect_machine:
        problems.append(f"machine is {machine}, expected {args.expect_machine}")

    dists = sorted({(d.metadata["Name"] or "?").lower(): d.version for d in md.distributions()}.items())
    print(f"{machine} Python {platform.python_version()}: {len(dists)} distributions: "
          + ", ".join(f"{n}=={v}" for n, v in dists))
    installed = {n.replace("_", "-") for n, _ in dists}
    for name in FORBIDDEN:
        if name in installed:
            problems.append(f"{name} is installed; the runtime must not need it")
    try:
        importlib.import_module("torch")
        problems.append("import torch succeeded")
    except ImportError:
        pass

    import numpy
    import onnxruntime
    import soundfile
    import soxr

    providers = onnxruntime.get_available_providers()
    if "CPUExecutionProvider" not in providers:
        problems.append(f"onnxruntime has no CPUExecutionProvider: {providers}")
    # soundfile loads the libsndfile shipped inside its wheel when there is one; its path says which.
    snd_path = str(getattr(soundfile._snd, "_name", "")) or repr(soundfile._snd)
    bundled = "_soundfile_data" in snd_path
    print(f"numpy {numpy.__version__}, onnxruntime {onnxruntime.__version__} {providers}, "
          f"soxr {soxr.__version__}, soundfile {soundfile.__version__} with libsndfile "
          f"{soundfile.__libsndfile_version__} ({'bundled in the wheel' if bundled else snd_path})")
    try:
        import sounddevice

        print(f"sounddevice {sounddevice.__version__} with {sounddevice.get_portaudio_version()[1]} "
              f"({sounddevice._libname})")
    except OSError as exc:
        problems.append(f"sounddevice cannot load PortAudio ({exc}); install libportaudio2")

    importlib.import_module("kws_edge.listen_cli")
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchaudio", "onnx"))
    if leaked:
        problems.append(f"kws_edge.listen_cli imported {leaked}")

    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

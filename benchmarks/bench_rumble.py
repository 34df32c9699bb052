"""Keyword recall and false alarms over rumble, mains hum and typing: the runtime's 80-Hz high-pass
and the gate's voice check, each turned off against the defaults.

Streams (written once under --out): every keyword clip between pauses of 0.5-3 s, over six
backgrounds at the RMS level in their names: `stationary` and `steps` (bench_reject.py's pink,
white and running-tap noise at -40 dBFS, and the six background recordings stepping every
0.7-1.3 s), `brown-32` (brown noise, power falling 6 dB an octave from 10 Hz up: traffic, a fan,
wind), `hum-30` (60 Hz with its 2nd and 3rd harmonics over the stationary noise 10 dB under it),
and `keys-50` / `keys-40` (keys typed, 6 a second on average: 15-ms clicks of noise and a
1.5-4 kHz ring, in a quiet room: the stationary noise at -65 dBFS). Each stream goes through the
streaming detector (what kws-listen --input runs) three ways: `SpotterOptions.highpass_hz=0`,
`min_voice_ms=0`, and the defaults; the table gives recall, wrong words and false alarms per hour.

    .venv/bin/python benchmarks/bench_rumble.py                        # speech_real's 300 clips, base.onnx
    .venv/bin/python benchmarks/bench_rumble.py --work work-data/reject/espeak-en-us+f4-s11 \\
        --model work-data/reject/espeak-en-us+f4-s11/variants/NAME/model.onnx
        # a bench_reject.py fine-tune: its held-out keywords between other voices' words
    .venv/bin/python benchmarks/bench_rumble.py --speed                # CPU an hour, filter off and on

About a minute a stream on this 2-core machine, most of it writing the streams the first time.
`--speed`: CPU seconds an hour of audio, the filter off and on (`bench_cpu.py`, which also runs
this checkout against an older revision).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

import bench_reject as br  # noqa: E402
from audiogen import coloured_noise  # noqa: E402

from kws_edge.audio import load_16k  # noqa: E402
from kws_edge.labels import SAMPLE_RATE  # noqa: E402

NOISES = ("stationary", "steps", "brown-32", "hum-30", "keys-50", "keys-40")


ORIGINAL_TRACK = br.noise_track


def track(kind: str, seconds: float, seed: int, talk: np.ndarray | None) -> tuple[np.ndarray, float]:
    """bench_reject's backgrounds, plus brown noise and mains hum at the level in their names."""
    n = int(seconds * SAMPLE_RATE) + SAMPLE_RATE
    if kind.startswith("brown"):
        return coloured_noise(n, 1.0, seed=seed), float(kind[5:])
    if kind.startswith("hum"):
        t = np.arange(n) / SAMPLE_RATE
        hum = br.unit(sum(a * np.sin(2 * np.pi * f * t) for f, a in ((60, 1.0), (120, 0.3), (180, 0.1))))
        noise, _ = ORIGINAL_TRACK("stationary", seconds, seed, talk)
        return br.unit(hum + 10 ** (-10 / 20) * noise), float(kind[3:])
    if kind.startswith("keys"):
        rng = np.random.default_rng(seed)
        keys = np.zeros(n)
        size = SAMPLE_RATE * 15 // 1000
        t = np.arange(size) / SAMPLE_RATE
        at = int(rng.exponential(1 / 6.0) * SAMPLE_RATE)
        while at + size < n:
            keys[at:at + size] += (rng.standard_normal(size) * np.exp(-400 * t) * rng.uniform(0.5, 1.0)
                                   + 0.5 * np.sin(2 * np.pi * rng.uniform(1500, 4000) * t) * np.exp(-300 * t))
            at += int((rng.exponential(1 / 6.0) + 0.05) * SAMPLE_RATE)
        room, _ = ORIGINAL_TRACK("stationary", seconds, seed, talk)
        level = float(kind[4:])
        return br.unit(br.unit(keys) + 10 ** ((-65 - level) / 20) * room), level
    return ORIGINAL_TRACK(kind, seconds, seed, talk)


def keywords_of(folder: Path) -> list[tuple[np.ndarray, str]]:
    return [(load_16k(f), d.name) for d in sorted(p for p in folder.iterdir() if p.is_dir())
            for f in sorted(d.glob("*.wav"))]


def material(work: Path | None, out_root: Path, model: Path) -> tuple[list, list, Path]:
    """The keywords, the other words between them and the streams' folder: speech_real's 300
    clips, or a bench_reject.py work folder's held-out keywords and other voices' words."""
    if work:
        keywords = keywords_of(work / "heldout")
        others, _ = br.load_clips(work / "items_others.npz")
        out = out_root / work.name
    else:
        keywords, others = keywords_of(REPO.parent / "shared" / "data" / "speech_real"), []
        out = out_root / "speech_real"
    out.mkdir(parents=True, exist_ok=True)
    print(f"model {model}; {len(keywords)} keywords, {len(others)} other words; streams in {out}")
    return keywords, others, out


def parser(doc: str, out: str) -> argparse.ArgumentParser:
    """The flags of the streams benchmarks built on `material`: the model, the keywords' source,
    where the streams go (work-data/OUT) and the seed."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--model", type=Path, default=REPO / "kws_edge" / "models" / "base.onnx")
    p.add_argument("--work", type=Path, help="a bench_reject.py work folder: its held-out keywords and "
                                             "other voices' words instead of speech_real's clips")
    p.add_argument("--out", type=Path, default=REPO / "work-data" / out)
    p.add_argument("--seed", type=int, default=3)
    return p


def table(model: Path, streams: list[Path], ways: dict[str, dict], first: str, name: int, width: int) -> None:
    """Each stream through the streaming detector each way: recall / wrong words / false alarms an
    hour; `name` and `width` are the widths of the first column and of the others."""
    print(f"{first:<{name}}" + "".join(f"{w + ': recall / wrong / FA/h':>{width}}" for w in ways))
    for stream in streams:
        rows = [br.score(model, stream, **options) for options in ways.values()]
        cells = [f"{r.recall:.3f} / {r.wrong} / {r.fa_per_hour:.1f}" for r in rows]
        print(f"{stream.name:<{name}}" + "".join(f"{c:>{width}}" for c in cells), flush=True)


def speed(model: Path, out: Path) -> int:
    from bench_cpu import compare

    compare([("high-pass off", REPO, {"highpass_hz": 0.0}), ("high-pass 80 Hz", REPO, {})], model, out)
    return 0


def main() -> int:
    p = parser(__doc__, "rumble")
    p.add_argument("--speed", action="store_true",
                   help="instead: CPU an hour of audio, the filter off and on")
    args = p.parse_args()
    if args.speed:
        return speed(args.model, args.out)
    br.noise_track = track
    keywords, others, out = material(args.work, args.out, args.model)
    for noise in NOISES:
        br.build(out / noise, keywords, others, noise, args.seed, None)
    ways = {"no high-pass": {"highpass_hz": 0.0}, "no voice check": {"min_voice_ms": 0}, "defaults": {}}
    table(args.model, [out / noise for noise in NOISES], ways, "background", 12, 42)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compare the aarch64 run with the x86-64 run: detections (the product) and raw scores (the kernels).

    python compare.py detections REF.jsonl OTHER.jsonl [--score-tol 0.02]
    python compare.py probs REF.npz OTHER.npz [--prob-tol 0.02]

Exit status 1 on any mismatch, with one line per difference. Detections must have identical labels
and times and scores within --score-tol; see docs/raspberry-pi.md for why scores get a tolerance and
times get none. `detections` needs the standard library only; `probs` needs numpy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EVENT_KEYS = ("time", "label", "score", "start", "end")


def read_events(path: Path) -> list[dict]:
    events = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise SystemExit(f"{path}:{n}: not a JSON line: {line[:80]!r}") from None
        missing = [k for k in EVENT_KEYS if k not in event]
        if missing:
            raise SystemExit(f"{path}:{n}: detection lacks {missing}: {line[:80]!r}")
        events.append(event)
    return events


def compare_detections(ref_path: Path, other_path: Path, score_tol: float) -> list[str]:
    ref, other = read_events(ref_path), read_events(other_path)
    problems = []
    if len(ref) != len(other):
        problems.append(f"{len(ref)} detections in {ref_path.name}, {len(other)} in {other_path.name}")
    worst = 0.0
    for i, (a, b) in enumerate(zip(ref, other, strict=False)):
        # Times come from sample counts and the hop, never from wall time: any difference means a
        # different window won, so they must match exactly (to the printed precision).
        for key in ("label", "time", "start", "end"):
            if a[key] != b[key]:
                problems.append(f"detection {i}: {key} {a[key]!r} != {b[key]!r}")
        diff = abs(float(a["score"]) - float(b["score"]))
        worst = max(worst, diff)
        if diff > score_tol:
            problems.append(f"detection {i} ({a['label']} at {a['time']}): score {a['score']} vs "
                            f"{b['score']} differs by {diff:.4g} > {score_tol}")
    print(f"detections: {len(ref)} vs {len(other)}, labels "
          f"{[e['label'] for e in ref]}, max score difference {worst:.3g} (tolerance {score_tol})")
    return problems


def compare_probs(ref_path: Path, other_path: Path, prob_tol: float) -> list[str]:
    import numpy as np

    ref, other = np.load(ref_path), np.load(other_path)
    a, b = ref["probs"], other["probs"]
    if a.shape != b.shape:
        return [f"probability shapes differ: {a.shape} vs {b.shape}"]
    diff = float(np.abs(a - b).max())
    agree = float((a.argmax(1) == b.argmax(1)).mean())
    print(f"probs: {a.shape[0]} windows x {a.shape[1]} classes; {ref['machine']} onnxruntime "
          f"{ref['onnxruntime']} vs {other['machine']} onnxruntime {other['onnxruntime']} "
          f"[{other['hwcaps']}]: max |diff| {diff:.3g}, argmax agreement {agree:.1%}")
    if diff > prob_tol:
        return [f"window probabilities differ by up to {diff:.4g} > {prob_tol}"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    det = sub.add_parser("detections")
    det.add_argument("ref", type=Path)
    det.add_argument("other", type=Path)
    det.add_argument("--score-tol", type=float, default=0.02)
    det.add_argument("--require-some", action="store_true",
                     help="fail when the reference has no detections (an empty comparison proves nothing)")
    prb = sub.add_parser("probs")
    prb.add_argument("ref", type=Path)
    prb.add_argument("other", type=Path)
    prb.add_argument("--prob-tol", type=float, default=0.02)
    args = parser.parse_args()

    if args.what == "detections":
        if args.require_some and not read_events(args.ref):
            print(f"FAIL: {args.ref} has no detections; the recording or model proves nothing",
                  file=sys.stderr)
            return 1
        problems = compare_detections(args.ref, args.other, args.score_tol)
    else:
        problems = compare_probs(args.ref, args.other, args.prob_tol)
    for p in problems:
        print(f"MISMATCH: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

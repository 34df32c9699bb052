"""fp32 vs int8 on held-out clips: size, top-1 agreement, accuracy, per-class change, latency."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import onnx

from kws_edge.atomic import write_json_atomic

from .onnx_export import make_session, run_onnx

LATENCY_REPEATS = 200
LATENCY_WARMUP = 20
# The int8 check refuses a drop only when chance cannot explain it: on 20 held-out clips one
# clip is 5 points, and a clip near a decision boundary may flip either way under int8 rounding.
# The test is exact and one-sided (McNemar's, on the clips the two models disagree on): the
# chance that int8 loses at least this many of them if it were no worse than fp32.
SIGNIFICANCE = 0.05


def sign_test_p(lost: int, gained: int) -> float:
    """P(X >= lost) for X ~ Binomial(lost + gained, 1/2); 1.0 when the models never disagree."""
    n = lost + gained
    if n == 0 or lost == 0:
        return 1.0
    return float(sum(math.comb(n, k) for k in range(lost, n + 1)) / 2 ** n)


def int8_verdict(report: dict[str, Any], max_drop_points: float,
                 significance: float = SIGNIFICANCE) -> tuple[bool, str]:
    """(accepted, why). Refused when int8 is more than `max_drop_points` below fp32 on the held-out
    clips AND the loss is beyond chance (sign test p < `significance`)."""
    drop, p = report["accuracy_drop_points"], report["sign_test_p"]
    lost, gained, n = report["clips_lost"], report["clips_gained"], report["clips"]
    counts = f"int8 lost {lost} and won {gained} of {n} held-out clips vs fp32"
    if drop <= max_drop_points:
        return True, f"{counts}: drop {drop:.2f} points <= --max-accuracy-drop {max_drop_points:g}"
    if p >= significance:
        return True, (f"{counts}: drop {drop:.2f} points, within chance on {n} clips "
                      f"(sign test p = {p:.2g} >= {significance:g}; "
                      f"one clip is {100 / max(n, 1):.1f} points)")
    return False, (f"{counts}: drop {drop:.2f} points > --max-accuracy-drop {max_drop_points:g}, "
                   f"beyond chance (sign test p = {p:.2g})")


def latency_per_window(model: onnx.ModelProto, windows: np.ndarray, repeats: int = LATENCY_REPEATS) -> dict:
    """Median and p90 seconds per window: batch 1, one thread, no spinning (the runtime's setting)."""
    sess = make_session(model, threads=1)
    feed = [np.ascontiguousarray(windows[i % len(windows)][None]) for i in range(max(repeats, 1))]
    for i in range(LATENCY_WARMUP):
        sess.run(None, {"audio": feed[i % len(feed)]})
    times = []
    for x in feed:
        t0 = time.perf_counter()
        sess.run(None, {"audio": x})
        times.append(time.perf_counter() - t0)
    return {"median_s": float(np.median(times)), "p90_s": float(np.percentile(times, 90)), "runs": len(times)}


def compare(fp32: onnx.ModelProto, int8: onnx.ModelProto, windows: np.ndarray, targets: np.ndarray,
            labels: list[str], *, latency_repeats: int = LATENCY_REPEATS) -> dict[str, Any]:
    """The numbers behind the accept/refuse decision, as a JSON-ready dict."""
    p32 = run_onnx(fp32, windows)
    p8 = run_onnx(int8, windows)
    top32, top8 = p32.argmax(1), p8.argmax(1)
    per_class = {}
    for c, label in enumerate(labels):
        mask = targets == c
        if mask.any():
            per_class[label] = {
                "n": int(mask.sum()),
                "fp32_accuracy": float((top32[mask] == c).mean()),
                "int8_accuracy": float((top8[mask] == c).mean()),
            }
            per_class[label]["change"] = per_class[label]["int8_accuracy"] - per_class[label]["fp32_accuracy"]
    # Latency on a handful of the held-out windows; interleaved runs would not change the medians.
    lat_windows = windows[: min(len(windows), 32)]
    lat32 = latency_per_window(fp32, lat_windows, latency_repeats)
    lat8 = latency_per_window(int8, lat_windows, latency_repeats)
    acc32 = float((top32 == targets).mean())
    acc8 = float((top8 == targets).mean())
    lost = int(((top32 == targets) & (top8 != targets)).sum())
    gained = int(((top32 != targets) & (top8 == targets)).sum())
    return {
        "clips": int(len(targets)),
        "size_bytes": {"fp32": len(fp32.SerializeToString()), "int8": len(int8.SerializeToString())},
        "top1_agreement": float((top32 == top8).mean()),
        "max_abs_prob_diff": float(np.max(np.abs(p32 - p8))) if len(p32) else 0.0,
        "accuracy": {"fp32": acc32, "int8": acc8},
        "accuracy_drop_points": 100.0 * (acc32 - acc8),
        "clips_lost": lost, "clips_gained": gained, "sign_test_p": sign_test_p(lost, gained),
        "per_class": per_class,
        "latency": {"fp32": lat32, "int8": lat8, "speedup": lat32["median_s"] / max(lat8["median_s"], 1e-12),
                    "setting": "batch 1, 1 intra-op thread, no spinning, ORT_ENABLE_ALL"},
    }


def format_report(report: dict[str, Any]) -> str:
    """Human-readable summary for the terminal."""
    size, acc, lat = report["size_bytes"], report["accuracy"], report["latency"]
    lines = [
        f"held-out clips: {report['clips']} ({report.get('held_out', 'held out')})",
        f"size:      fp32 {size['fp32'] / 1024:.1f} KB   int8 {size['int8'] / 1024:.1f} KB",
        f"accuracy:  fp32 {100 * acc['fp32']:.2f}%   int8 {100 * acc['int8']:.2f}%   "
        f"drop {report['accuracy_drop_points']:+.2f} points ({report['clips_lost']} clips lost, "
        f"{report['clips_gained']} won, sign test p = {report['sign_test_p']:.2g})",
        f"top-1 agreement: {100 * report['top1_agreement']:.2f}%   "
        f"max |dp| {report['max_abs_prob_diff']:.3f}",
        f"latency/window (median, p90): fp32 {1e6 * lat['fp32']['median_s']:.0f} / "
        f"{1e6 * lat['fp32']['p90_s']:.0f} us   int8 {1e6 * lat['int8']['median_s']:.0f} / "
        f"{1e6 * lat['int8']['p90_s']:.0f} us   speed-up {lat['speedup']:.2f}x ({lat['setting']})",
    ]
    changed = {k: v for k, v in report["per_class"].items() if abs(v["change"]) > 1e-9}
    if changed:
        ordered = sorted(changed.items(), key=lambda kv: kv[1]["change"])
        changes = ", ".join(f"{k} {100 * v['change']:+.1f}" for k, v in ordered)
        lines.append(f"per-class accuracy change (points): {changes}")
    else:
        lines.append("per-class accuracy change: none")
    return "\n".join(lines)


def write_report(report: dict[str, Any], path) -> None:
    write_json_atomic(path, report, sort_keys=True)

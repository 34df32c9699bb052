"""Per-word thresholds carried from one fine-tune to another, against one threshold for all words.

A default per-word threshold (one that suits a new user with no recording of their own) would be
chosen on some users' fine-tunes and used on everyone's. This measures whether that beats a single
threshold: every decision the utterance gate makes on `bench_reject.py`'s cached streams (its best
keyword and score, `kws-listen` defaults otherwise), then

  - for each word, on the `--calibrate` fine-tunes' streams (own voice's words in the three noises,
    other voices' words in stationary noise), the threshold in 0.30-0.95 that maximises its keywords
    heard less `--weight` times its non-keyword items that fire;
  - on the `--evaluate` fine-tunes' own-voice streams: keyword recall and the share of non-keyword
    items that fire with those thresholds, and with one threshold of 0.4-0.9 for all words.

Each fine-tune is WORK=MODEL: a `bench_reject.py` work folder and the model scored on it, e.g.

    R=work-data/reject; V=variants/VARIANT/model.onnx
    .venv/bin/python benchmarks/bench_word_thresholds.py \\
        --calibrate $R/espeak-en-us+f4-s11=$R/espeak-en-us+f4-s11/$V \\
        --evaluate $R/espeak-en-us+f4-s12=$R/espeak-en-us+f4-s12/$V \\
        --evaluate $R/flite-slt-s11=$R/flite-slt-s11/$V
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kws_edge.errors import KwsError, run_cli
from kws_edge.onnx_model import load_model
from kws_edge.sources import FileSource
from kws_edge.spotter import KeywordSpotter, SpotterOptions
from kws_edge.stream_eval import read_truth_csv

OWN = ("own_stationary", "own_steps", "own_tv")
CALIBRATE = OWN + ("others_stationary",)
GRID = np.round(np.arange(0.30, 0.96, 0.05), 2)
SLACK_S = 0.3  # a decision belongs to the item whose span, widened by this, holds its centre

# Per item: its label ("other" for a non-keyword item) and the gate's decisions on it, (word, score).
Items = list[tuple[str, list[tuple[str, float]]]]


def decisions(work: Path, model: Path, stream: str) -> Items:
    """Every gate decision on one cached stream (a threshold of ~0 reports each), by item."""
    path = work / "streams" / f"{stream}.wav"
    if not path.is_file():
        raise KwsError(f"{path}: no such stream (run bench_reject.py for this voice and seed first)")
    spotter = KeywordSpotter(load_model(model), SpotterOptions(threshold=1e-6, refractory_ms=0))
    with FileSource(path, spotter.sample_rate) as source:
        made = [((d.start + d.end) / 2, d.label, d.score) for d in spotter.run(iter(source))]
    return [(r.label, [(w, s) for t, w, s in made if r.start_s - SLACK_S <= t <= r.end_s + SLACK_S])
            for r in read_truth_csv(path.with_suffix(".csv"))]


def rates(items: Items, threshold: dict[str, float]) -> tuple[float, float]:
    """(keyword recall, share of non-keyword items with a decision over its word's threshold)."""
    keywords = [ds for label, ds in items if label != "other"]
    others = [ds for label, ds in items if label == "other"]
    heard = sum(any(w == label and s >= threshold[w] for w, s in ds)
                for label, ds in items if label != "other")
    fired = sum(any(s >= threshold[w] for w, s in ds) for ds in others)
    return heard / max(1, len(keywords)), fired / max(1, len(others))


def per_word(items: Items, words: list[str], weight: float) -> dict[str, float]:
    chosen = {}
    for word in words:
        def gain(t: float, word: str = word) -> float:
            heard = sum(any(w == word == label and s >= t for w, s in ds) for label, ds in items)
            fired = sum(any(w == word and s >= t for w, s in ds) for label, ds in items if label == "other")
            return heard - weight * fired
        chosen[word] = float(max(GRID, key=gain))
    return chosen


def fine_tune(spec: str) -> tuple[Path, Path]:
    work, sep, model = spec.partition("=")
    if not sep:
        raise KwsError(f"{spec}: expected WORK=MODEL")
    return Path(work), Path(model)


def run(args: argparse.Namespace) -> None:
    calibration: Items = []
    for spec in args.calibrate:
        work, model = fine_tune(spec)
        for stream in CALIBRATE:
            calibration += decisions(work, model, stream)
    words = sorted({label for label, _ in calibration if label != "other"})
    thresholds = per_word(calibration, words, args.weight)
    print(f"per-word thresholds (mean {np.mean(list(thresholds.values())):.2f}): "
          + ", ".join(f"{w} {t:.2f}" for w, t in thresholds.items()))
    for spec in args.evaluate:
        work, model = fine_tune(spec)
        items = [item for stream in OWN for item in decisions(work, model, stream)]
        print(f"{work.name} (own voice's words, {', '.join(OWN)}):")
        recall, fired = rates(items, thresholds)
        print(f"  per-word       recall {recall:.3f}, own words fired {fired:.1%}")
        for t in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            recall, fired = rates(items, {w: t for w in words})
            print(f"  threshold {t}  recall {recall:.3f}, own words fired {fired:.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="append", required=True, metavar="WORK=MODEL")
    parser.add_argument("--evaluate", action="append", required=True, metavar="WORK=MODEL")
    parser.add_argument("--weight", type=float, default=0.5,
                        help="non-keyword items fired, against keywords heard (0.5)")
    return run_cli("bench_word_thresholds", lambda: run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())

"""The utterance gate on real people's keywords: does each keyword get its decision?

Independent of any classifier. The stream has bench_stream_accuracy's keyword-stream layout, with
real people's words: every clip of ../shared/data/speech_real (300, many speakers, recorded at
their own levels), cut to its word, each after a phrase of non-keyword speech by a synthetic voice
(`--voice`), with pauses of 0.6-1.5 s, over the real background noises at -40 dBFS.

For each pair of `--max-utterance-ms` and `--core-gap-ms` values, the same stream goes through
the spotter with the shipped base model, with a threshold of ~0 and no refractory period, so every
decision the gate makes is reported. It prints:
  - coverage: the share of keywords that get a decision whose windows are centred on the word
    (within 150 ms of its span). A keyword without one can never be detected, whatever the model;
  - decisions elsewhere, per minute: on the phrases and the noise. The classifier must reject
    each of them, so fewer is better.

With `--split` (a kws-train split.json of a fine-tune on speech_real) the stream holds only that
split's test clips, which the fine-tune never saw, and `--model` (that fine-tune, exported) is also
scored on the stream with the default gate: keyword recall and wrong words per `--thresholds` value,
next to its clip accuracy on the same clips.

    .venv/bin/python benchmarks/bench_gate.py [--max-utterance-ms 1500,3000] [--core-gap-ms 0,400]
                                              [--seed 5] [--voice espeak:en-us]
                                              [--split RUN/split.json --model RUN.onnx]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf
from bench_stream_accuracy import keyword_stream

from kws_edge.audio import load_16k
from kws_edge.errors import KwsError, run_cli
from kws_edge.onnx_model import load_model
from kws_edge.sources import FileSource
from kws_edge.spotter import KeywordSpotter, SpotterOptions
from kws_edge.stream_eval import evaluate_stream_file, read_truth_csv
from kws_edge.training.audio_io import fit_window
from kws_edge.training.synth_voices import Voice, synthesize

REPO = Path(__file__).resolve().parents[1]
SLACK_S = 0.15


def gate_decisions(model_path: Path, stream: Path, **gate: int) -> list[float]:
    """Centres (s) of the windows behind every decision the gate makes on `stream`."""
    options = SpotterOptions(threshold=1e-6, refractory_ms=0, batch_windows=16, **gate)
    spotter = KeywordSpotter(load_model(model_path), options)
    with FileSource(stream, spotter.sample_rate) as source:
        return [(d.start + d.end) / 2 for d in spotter.run(iter(source))]


def int_list(text: str) -> list[int]:
    """'1500,3000' -> [1500, 3000], for the comparison flags."""
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def test_clips(real: Path, split: Path) -> list[Path]:
    """The test clips a kws-train split.json lists, as paths under `real`."""
    try:
        names = json.loads(split.read_text())["test"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KwsError(f"{split}: not a kws-train split.json with a 'test' list ({exc})") from None
    return [(real / name).resolve() for name in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--voice", default="espeak:en-us", help="who speaks the phrases between keywords")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--max-utterance-ms", type=int_list, default="1500,3000",
                        help="comma-separated segment limits to compare on the same stream")
    parser.add_argument("--core-gap-ms", type=int_list, default="0,400",
                        help="comma-separated core pause lengths")
    parser.add_argument("--work", type=Path, default=None, help="keep the stream here")
    parser.add_argument("--split", type=Path, help="a fine-tune's split.json: only its test clips")
    parser.add_argument("--model", type=Path,
                        help="an ONNX model to score on the stream too (with --split: that fine-tune's)")
    parser.add_argument("--thresholds", default="0.3,0.5", help="with --model: thresholds to score at")
    args = parser.parse_args()
    return run_cli("bench_gate", lambda: run(args))


def run(args: argparse.Namespace) -> None:
    real = args.data / "speech_real"
    clips = sorted(p.resolve() for p in real.glob("*/*.wav"))
    if args.split:
        clips = test_clips(real, args.split)
    if not clips:
        raise KwsError(f"{real}: no clips")
    if args.model and not args.model.is_file():
        raise KwsError(f"{args.model}: no such model file")
    missing = [p for p in clips if not p.is_file()]
    if missing:
        raise KwsError(f"{missing[0]}: no such clip ({len(missing)} of {len(clips)} missing)")
    tag = f"-{args.split.parent.name}" if args.split else ""
    work = args.work or Path(f"/tmp/kws-bench-gate-{args.seed}{tag}")
    work.mkdir(parents=True, exist_ok=True)
    stream = work / "keywords.wav"
    if not stream.is_file():
        speak = partial(synthesize, Voice(*args.voice.split(":", 1)))
        keyword_stream(np.random.default_rng(args.seed), clips, work, speak, work / "keywords",
                       seed=args.seed)
    words = [r for r in read_truth_csv(work / "keywords.csv") if r.label != "other"]
    minutes = sf.info(stream).duration / 60
    print(f"{len(words)} real keywords ({len(clips)} clips) in {stream}")
    print(f"{'max-utterance-ms':>16}  {'core-gap-ms':>11}  {'coverage':>8}  {'decisions elsewhere':>19}"
          "  wall s")
    for limit, gap in itertools.product(args.max_utterance_ms, args.core_gap_ms):
        t = time.perf_counter()
        centres = np.array(gate_decisions(REPO / "kws_edge" / "models" / "base.onnx", stream,
                                          max_utterance_ms=limit, core_gap_ms=gap))
        wall = time.perf_counter() - t
        on_word = np.zeros(len(centres), dtype=bool)
        covered = 0
        for w in words:
            hit = (centres >= w.start_s - SLACK_S) & (centres <= w.end_s + SLACK_S)
            covered += bool(hit.any())
            on_word |= hit
        elsewhere = int((~on_word).sum())
        rate = f"{elsewhere} ({elsewhere / minutes:.2f}/min)"
        print(f"{limit:>16}  {gap:>11}  {covered / len(words):>8.3f}  {rate:>19}  {wall:6.1f}")
    if args.model:
        print(f"{args.model}: clip accuracy {clip_accuracy(args.model, clips):.3f} on the same clips")
        for threshold in (float(v) for v in args.thresholds.split(",")):
            r = evaluate_stream_file(args.model, stream, work / "keywords.csv", threshold=threshold)
            print(f"  threshold {threshold}: stream recall {r['recall']:.3f}, wrong words {r['wrong_word']}")


def clip_accuracy(model_path: Path, clips: list[Path]) -> float:
    """Top-1 accuracy on the clips, each fitted to a 1-s window as training fits them."""
    model = load_model(model_path)
    windows = np.stack([fit_window(load_16k(path)) for path in clips])
    best = np.argmax(model.predict(windows), axis=1)
    return float(np.mean([model.labels[b] == path.parent.name for b, path in zip(best, clips, strict=True)]))


if __name__ == "__main__":
    sys.exit(main())

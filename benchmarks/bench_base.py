"""Base models side by side on real speech none of them trained on.

    .venv/bin/python benchmarks/bench_base.py --model old=work-data/old_base/base \
        --model new=kws_edge/models/base
    .venv/bin/python benchmarks/bench_base.py --finetune-splits 6      # + fine-tuning on speech_real
    .venv/bin/python benchmarks/bench_base.py --finetune-splits 6 --train-args --noise none

Each `--model NAME=STEM` names STEM.onnx (scored as kws-listen/kws-eval use it) and STEM.pt (for
fine-tuning). Rows, all from `../shared/data` (what is held out is decided by
kws_edge.training.holdout):
- speech_real: 300 clips, 30 words, speakers in no training folder (kws-eval, int8 ONNX);
- held-out speakers: the 15% of speech_commands_train's speakers no base trains on, all their
  clips, and the 12 words with real training clips on their own;
- held-out non-keyword speech: every held-out utterance of speech_other (wake words no base
  hears, read speech of other sources) laid end to end 2 s apart over quiet real noise, through
  `kws-listen --input` with its defaults; the share of utterances on which a keyword fires;
- with --finetune-splits N: `kws-train --data speech_real --init STEM.pt --seed S --no-refit` for
  S = 1..N (80/20 by speaker: about 7 clips a word to learn from), the mean test accuracy, and the
  mean share of the held-out non-keyword utterances on which those fine-tunes (fp32) fire.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_edge.audio import decode
from kws_edge.labelled_stream import Piece, build_stream, silence, write_stream
from kws_edge.training.audio_io import to_16k
from kws_edge.training.holdout import is_heldout_other, is_heldout_speaker, speaker_of

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
REAL_WORDS = ("bed", "cat", "down", "eight", "five", "go", "happy", "left", "one", "right", "up", "zero")


def kws(cmd: str, *args: str) -> str:
    proc = subprocess.run([str(BIN / cmd), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench_base: {cmd} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def heldout_speakers_folder(data: Path, work: Path) -> Path:
    out = work / "real_heldout"
    if out.is_dir():
        return out
    for path in sorted((data / "speech_commands_train").glob("*/*")):
        spk = speaker_of(path.name)
        if spk is not None and is_heldout_speaker(spk):
            (out / path.parent.name).mkdir(parents=True, exist_ok=True)
            (out / path.parent.name / path.name).symlink_to(path.resolve())
    return out


def other_stream(data: Path, work: Path) -> tuple[Path, list[tuple[float, float]]]:
    wav, spans_path = work / "other_heldout.wav", work / "other_heldout.json"
    if wav.is_file() and spans_path.is_file():
        return wav, [tuple(s) for s in json.loads(spans_path.read_text())]
    root = data / "speech_other"
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and is_heldout_other(p.relative_to(root).as_posix()))
    pieces = []
    for i, path in enumerate(files):
        audio, rate = decode(path)
        pieces += [Piece(to_16k(audio, rate, "soxr"), "other"), silence(2.0 if i % 2 else 1.5)]
    noise, rate = sf.read(str(data / "background_noise" / "running_tap.wav"), dtype="float32")
    audio, rows = build_stream([silence(2.0)] + pieces, background=noise, background_dbfs=-50.0)
    write_stream(audio, rows, wav, work / "other_heldout.csv")
    spans = [(r.start_s, r.end_s) for r in rows]
    spans_path.write_text(json.dumps(spans))
    return wav, spans


def fired_share(onnx: Path, wav: Path, spans: list[tuple[float, float]]) -> tuple[float, int, float]:
    events = [json.loads(line) for line in kws("kws-listen", "--model", str(onnx), "--input", str(wav),
                                               "--json").splitlines() if line.startswith("{")]
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    hit = np.zeros(len(spans), dtype=bool)
    for ev in events:
        # The utterance the detection's window overlaps most (0.5 s slack for the window's edges).
        overlap = np.minimum(ends + 0.5, ev["end"]) - np.maximum(starts - 0.5, ev["start"])
        if overlap.max() > 0:
            hit[int(overlap.argmax())] = True
    hours = sf.info(str(wav)).duration / 3600
    return float(hit.mean()), len(events), len(events) / hours


def evaluate(onnx: Path, folder: Path) -> dict:
    return json.loads(kws("kws-eval", "--model", str(onnx), "--data", str(folder), "--json"))


def finetune_real(name: str, pt: Path, data: Path, work: Path, splits: int, extra: list[str],
                  other: tuple[Path, list[tuple[float, float]]]) -> tuple[float, float]:
    """Mean test accuracy of the fine-tunes, and the mean share of held-out non-keyword utterances
    on which each (exported fp32) fires: fewer negatives or a weaker reject class buy accuracy there."""
    accs, fired = [], []
    for seed in range(1, splits + 1):
        out = work / f"finetune_{name}_{seed}"
        kws("kws-train", "--data", str(data / "speech_real"), "--init", str(pt), "--seed", str(seed),
            "--no-refit", "--out", str(out), *extra)
        accs.append(json.loads((out / "metrics.json").read_text())["test_accuracy"])
        kws("kws-export", str(out / "model.pt"), "-o", str(out / "model.onnx"))
        fired.append(fired_share(out / "model.onnx", *other)[0])
    return float(np.mean(accs)), float(np.mean(fired))


def split_by_real(per_class: dict[str, float | None]) -> tuple[list[float], list[float]]:
    """Per-word accuracies of the words with real training clips, and of the other keywords."""
    scored = {w: a for w, a in per_class.items() if a is not None and w != "_unknown_"}
    return ([a for w, a in scored.items() if w in REAL_WORDS],
            [a for w, a in scored.items() if w not in REAL_WORDS])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", metavar="NAME=STEM",
                        help="STEM.onnx and STEM.pt (default: new=kws_edge/models/base)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=REPO / "work-data" / "bench_base")
    parser.add_argument("--finetune-splits", type=int, default=0, metavar="N",
                        help="also fine-tune each on speech_real, N seeded splits (about 40 s each)")
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[],
                        help="more kws-train flags for those fine-tunes (last)")
    args = parser.parse_args()
    models = dict(m.split("=", 1) for m in (args.model or ["new=kws_edge/models/base"]))
    args.work.mkdir(parents=True, exist_ok=True)
    heldout = heldout_speakers_folder(args.data, args.work)
    wav, spans = other_stream(args.data, args.work)
    rows: dict[str, dict[str, str]] = {}
    for name, stem in models.items():
        t0 = time.perf_counter()
        onnx, pt = Path(stem + ".onnx"), Path(stem + ".pt")
        real = evaluate(onnx, args.data / "speech_real")
        held = evaluate(onnx, heldout)
        twelve = split_by_real(held["per_class_accuracy"])[0]
        share, n_events, per_hour = fired_share(onnx, wav, spans)
        rows[name] = {
            "speech_real (300 clips, 30 words)": f"{real['accuracy']:.1%}",
            "... its 12 words with real training clips / its other words (mean per word)":
                " / ".join(f"{np.mean(g):.1%}" for g in split_by_real(real["per_class_accuracy"])),
            f"held-out speakers ({held['n']} clips)": f"{held['accuracy']:.1%}",
            "... the 12 words with real training clips (mean per word)": f"{np.mean(twelve):.1%}",
            f"held-out non-keyword utterances ({len(spans)}) that fire": f"{share:.1%} ({n_events} events, "
                                                                            f"{per_hour:.0f}/h)",
        }
        if args.finetune_splits:
            acc, fired = finetune_real(name, pt, args.data, args.work, args.finetune_splits, args.train_args,
                                       (wav, spans))
            rows[name][f"fine-tuned on speech_real, mean of {args.finetune_splits} splits"] = f"{acc:.1%}"
            rows[name]["... held-out non-keyword utterances they fire on (fp32)"] = f"{fired:.1%}"
        print(f"bench_base: {name} measured in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    names = list(rows)
    keys = list(dict.fromkeys(k for r in rows.values() for k in r))
    width = max(map(len, keys))
    print(f"{'':{width}}  " + "  ".join(f"{n:>22}" for n in names))
    for k in keys:
        print(f"{k:{width}}  " + "  ".join(f"{rows[n].get(k, '-'):>22}" for n in names))


if __name__ == "__main__":
    main()

"""Streaming accuracy on a voice the model was fine-tuned on but whose test clips it never saw.

1. `kws-synth` a 35-word set of a held-out voice (default flite:slt), 36 clips a word; 6 a word
   are moved out of the dataset, and `kws-train --init base` fine-tunes on the other 30 with its
   defaults (as a user would: measured on its own 80/20 split, then refit on all 30);
   `kws-export --quantize` makes the int8 model.
2. Builds two labelled streams with `kws_edge.labelled_stream`, over real background noise:
   - keywords: every moved-out clip of that voice (never in training), between phrases of
     non-keyword speech;
   - an hour (`--minutes`) of non-keyword speech by the same voice and noise, no keyword at all.
   With `--conditions`, also keyword streams in other conditions (CONDITIONS below), the
   keyword-free hour with the noise bank again on top at -30 dBFS (`other_loud`): a loud room,
   and both streams with background talk (6 or 2 other synthetic voices at once, `babble`) at
   -40 dBFS instead of the noise (`keywords_talkN`) or added to it (`other_talkN`).
3. Scores them with the streaming detector (`kws_edge.stream_eval`, what `kws-eval --stream`
   does): keyword recall, wrong words, false alarms per hour, latency from word end to event.

    .venv/bin/python benchmarks/bench_stream_accuracy.py [--work DIR] [--minutes 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from kws_edge.audio import load_16k
from kws_edge.labelled_stream import Piece, TruthRow, active_span, build_stream, silence, write_stream
from kws_edge.labels import SAMPLE_RATE
from kws_edge.stream_eval import evaluate_stream_file
from kws_edge.training import synth_effects as fx
from kws_edge.training.synth_voices import Voice, synthesize
from kws_edge.training.synth_words import EVAL_WORDS

BIN = Path(sys.executable).parent
NOISE = Path(__file__).resolve().parents[2] / "shared" / "data" / "background_noise"


def cli(*cmd: str) -> None:
    """Run a kws-* command quietly; on failure show the end of what it logged, and stop."""
    proc = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"{cmd[0]} failed (exit {proc.returncode})")


# Speech for a text at a speed (x the engine's rate) and a pitch (0..1 across the voice's range),
# e.g. partial(synthesize, voice); bench_new_engine.py passes another engine's.
Speaker = Callable[..., np.ndarray]


def phrase(rng: np.random.Generator, speak: Speaker) -> np.ndarray:
    # EVAL_WORDS: vocabulary no training list holds, so no model has learnt to reject these words.
    words = rng.choice(EVAL_WORDS, size=int(rng.integers(3, 9)))
    audio = fx.trim_silence(speak(" ".join(words), speed=float(rng.uniform(0.85, 1.15)),
                                  pitch=float(rng.uniform(0.3, 0.7))))
    return (audio / (np.abs(audio).max() + 1e-9) * rng.uniform(0.2, 0.6)).astype(np.float32)


def word_only(clip: np.ndarray) -> np.ndarray:
    """The word of a recorded clip, without the clip's own background: its active span (as the
    truth rows measure it) plus 60 ms each side, faded in and out. A trim at the clip's noise floor
    cut weak consonants off (the f of 'five'), which cost 3 points of accuracy on its own."""
    start, end = active_span(clip, span_db=35.0)
    pad = SAMPLE_RATE * 60 // 1000
    word = clip[max(0, start - pad):end + pad].copy()
    fade = min(SAMPLE_RATE // 100, len(word) // 2)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    word[:fade] *= ramp
    word[len(word) - fade:] *= ramp[::-1]
    return word


TRAIN_CLIPS, HELD_OUT = 30, 6  # a word: what a user records, and what only the stream hears


def hold_out(data: Path, heldout: Path, rng: np.random.Generator) -> None:
    """Move HELD_OUT clips of each word from DATA to HELDOUT/<word>/, out of training's reach."""
    for word in sorted(p for p in data.iterdir() if p.is_dir()):
        clips = sorted(word.glob("*.wav"))
        (heldout / word.name).mkdir(parents=True, exist_ok=True)
        for i in rng.permutation(len(clips))[:HELD_OUT]:
            clips[i].rename(heldout / word.name / clips[i].name)


def background(rng: np.random.Generator) -> np.ndarray | None:
    files = sorted(NOISE.glob("*.wav")) if NOISE.is_dir() else []
    if not files:
        return None
    return np.concatenate([load_16k(f) for f in rng.permutation(files)])


def keyword_stream(rng: np.random.Generator, test: list[Path], data: Path, speak: Speaker, out: Path, *,
                   seed: int, pause_s: tuple[float, float] = (0.6, 1.5), noise_dbfs: float | None = -40.0,
                   noise: np.ndarray | None = None) -> np.ndarray | None:
    """Every test clip after a phrase of other speech, pauses around it, over background noise;
    writes OUT.wav/.csv and returns the noise (drawn here unless given)."""
    pieces: list[Piece] = [silence(1.0)]
    for path in rng.permutation(test):
        path = path if path.is_absolute() else data / path
        clip = word_only(load_16k(path))
        pieces += [Piece(phrase(rng, speak), "other"), silence(float(rng.uniform(*pause_s))),
                   Piece(clip, path.parent.name), silence(float(rng.uniform(*pause_s)))]
    if noise is None:
        noise = background(rng)
    audio, rows = build_stream(pieces, background=None if noise_dbfs is None else noise,
                               background_dbfs=noise_dbfs or -40.0, seed=seed)
    write_stream(audio, rows, out.with_suffix(".wav"), out.with_suffix(".csv"))
    return noise


def keyword_free(rng: np.random.Generator, speak: Speaker, minutes: float, noise: np.ndarray | None, *,
                 seed: int) -> tuple[np.ndarray, list[TruthRow]]:
    """`minutes` of phrases with 0.5-6 s pauses and no keyword, over `noise` at -40 dBFS."""
    pieces, total = [], 0.0
    while total < minutes * 60:
        speech = phrase(rng, speak)
        gap = float(rng.uniform(0.5, 6.0))
        pieces += [Piece(speech, "other"), silence(gap)]
        total += len(speech) / SAMPLE_RATE + gap
    return build_stream(pieces, background=noise, background_dbfs=-40.0, seed=seed)


def louder(audio: np.ndarray, noise: np.ndarray, dbfs: float, seed: int) -> np.ndarray:
    """`audio` with `noise` (the noise bank, or talk) added on top, looped from a random point,
    at `dbfs` RMS; clipped to [-1, 1]."""
    start = int(np.random.default_rng(seed).integers(0, len(noise)))
    mixed, _ = build_stream([Piece(audio, None)], background=np.roll(noise, -start), background_dbfs=dbfs)
    return mixed


LOUD_DBFS = -30.0  # the loud room of --conditions: what "noise at -30 dBFS" adds to the keyword-free hour
TALK_DBFS = -40.0  # background talk of --conditions (a TV, a room of people)
TALKERS = ("en-us+m3", "en+f2", "en-gb-scotland+m7", "en-us+f3", "en-029+m1", "en-gb-x-rp+f1")


def babble(talkers: int, seconds: float = 120.0, seed: int = 3) -> np.ndarray:
    """`talkers` espeak-ng voices (none held out) saying phrases of EVAL_WORDS at once, each at the
    same RMS, with pauses of 50-400 ms; peak-normalised."""
    rng = np.random.default_rng(seed)
    mix = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
    for name in TALKERS[:talkers]:
        parts, total = [], 0
        while total < len(mix):
            speech = phrase(rng, partial(synthesize, Voice("espeak", name)))
            speech = speech / (np.sqrt(np.mean(speech ** 2)) + 1e-9)
            pause = np.zeros(int(rng.uniform(0.05, 0.4) * SAMPLE_RATE), dtype=np.float32)
            parts += [speech, pause]
            total += len(speech) + len(pause)
        talk = np.concatenate(parts)[:len(mix)]
        mix += np.roll(talk, int(rng.integers(0, len(talk))))
    return mix / (np.abs(mix).max() * 1.05)

# Harder and easier keyword streams (--conditions): how recall moves with the room and the talker.
CONDITIONS = {
    "no background noise": {"noise_dbfs": None},
    "pauses 0.25-0.5 s": {"pause_s": (0.25, 0.5)},
    "noise at -30 dBFS": {"noise_dbfs": -30.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", default="flite:slt")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the keyword-free stream")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--threshold", type=float, default=None, help="override the model's thresholds")
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[],
                        help="extra kws-train flags, to compare recipes (put last)")
    parser.add_argument("--conditions", action="store_true",
                        help="also score keyword streams in other conditions: " + ", ".join(CONDITIONS)
                        + "; the keyword-free hour with the noise again on top at -30 dBFS; both streams"
                        " with background talk")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="kws-stream-acc-"))
    work.mkdir(parents=True, exist_ok=True)
    data, run, onnx = work / "voice", work / "finetune", work / "finetune.onnx"
    heldout = work / "heldout"
    if not (data / "manifest.json").is_file():
        cli("kws-synth", str(data), "--voices", args.voice, "--per-word", str(TRAIN_CLIPS + HELD_OUT),
            "--unknown", "0", "--seed", str(args.seed), "--overwrite")
        for name in ("validation_list.txt", "testing_list.txt"):
            (data / name).unlink(missing_ok=True)  # custom layout: the stratified 80/20 split
        hold_out(data, heldout, np.random.default_rng(args.seed + 7))
    if not (run / "model.pt").is_file():
        cli("kws-train", "--data", str(data), "--init", "base", "--out", str(run), "--seed", str(args.seed),
            *args.train_args)
    if not onnx.is_file():
        cli("kws-export", str(run / "model.pt"), "-o", str(onnx), "--quantize",
            "--calibration-data", str(data))

    rng = np.random.default_rng(args.seed)
    engine, name = args.voice.split(":", 1)
    speak = partial(synthesize, Voice(engine, name))
    test = sorted(p.resolve() for p in heldout.glob("*/*.wav"))
    if not test:
        raise SystemExit(f"{heldout}: no held-out clips")
    noise = keyword_stream(rng, test, data, speak, work / "keywords", seed=args.seed)
    audio, other_rows = keyword_free(rng, speak, args.minutes, noise, seed=args.seed + 1)
    write_stream(audio, other_rows, work / "other.wav", work / "other.csv")

    options = {} if args.threshold is None else {"threshold": args.threshold}
    kw = evaluate_stream_file(onnx, work / "keywords.wav", work / "keywords.csv", **options)
    other = evaluate_stream_file(onnx, work / "other.wav", work / "other.csv", **options)
    keys = ("recall", "wrong_word", "false_alarms", "false_alarms_per_hour", "latency_median_s",
            "latency_p90_s", "duration_s")
    print(f"model {onnx} (fine-tuned on {args.voice}); work files in {work}")
    rows = [("keyword stream", kw), ("keyword-free stream", other)]
    if args.conditions:
        for i, (label, condition) in enumerate(CONDITIONS.items()):
            out = work / f"keywords_condition{i + 1}"
            keyword_stream(np.random.default_rng(args.seed + 100 + i), test, data, speak, out,
                           seed=args.seed + 100 + i, noise=noise, **condition)
            rows.append((label, evaluate_stream_file(onnx, out.with_suffix(".wav"), out.with_suffix(".csv"),
                                                     **options)))
        for talkers in (6, 2):
            talk = babble(talkers)
            out = work / f"keywords_talk{talkers}"
            keyword_stream(np.random.default_rng(args.seed + 200), test, data, speak, out,
                           seed=args.seed + 200, noise=talk, noise_dbfs=TALK_DBFS)
            rows.append((f"{talkers} talking at -40 dBFS", evaluate_stream_file(
                onnx, out.with_suffix(".wav"), out.with_suffix(".csv"), **options)))
            quiet_talk = work / f"other_talk{talkers}"
            write_stream(louder(audio, talk, TALK_DBFS, 7), other_rows, quiet_talk.with_suffix(".wav"),
                         quiet_talk.with_suffix(".csv"))
            rows.append((f"keyword-free + {talkers} talking", evaluate_stream_file(
                onnx, quiet_talk.with_suffix(".wav"), quiet_talk.with_suffix(".csv"), **options)))
        if noise is not None:
            loud = work / "other_loud"
            write_stream(louder(audio, noise, LOUD_DBFS, args.seed + 2), other_rows, loud.with_suffix(".wav"),
                         loud.with_suffix(".csv"))
            rows.append(("keyword-free + noise at -30 dBFS", evaluate_stream_file(
                onnx, loud.with_suffix(".wav"), loud.with_suffix(".csv"), **options)))
    for name, res in rows:
        print(f"{name:>20}: " + ", ".join(f"{k} {res[k]}" for k in keys if k in res))


if __name__ == "__main__":
    main()

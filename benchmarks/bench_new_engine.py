"""A new user whose voice comes from a speech engine no model or test here has heard: festival.

`kws-synth` draws on espeak-ng and flite only, so festival's `ked_diphone` voice (a recorded
American male diphone set) is as new to the base models as a stranger is. The script does what
such a user does, with the files a phone app would give:

1. Records 36 takes of each of the 35 words: 1.2-2.2 s each (the word, silence around it, a little
   room tone), 44.1 kHz stereo, varied in speed, pitch and intonation; 30 a word go into
   WORK/recordings.zip (`my_words/<word>/takeNN.wav`), 6 a word stay out for the stream.
2. `kws-train --data WORK/recordings.zip --init base` (and `--init base-b`), `kws-export
   --quantize`, alone and as a pair: the README's commands with their defaults.
3. Streams as `bench_stream_accuracy.py` builds them, in the same voice: the 210 held-out takes
   between phrases of non-keyword speech, and `--minutes` of keyword-free speech, over the real
   background noises at -40 dBFS; scored with the streaming detector.

    apt-get install festival festvox-kdlpc16k
    .venv/bin/python benchmarks/bench_new_engine.py [--work DIR] [--minutes 60] [--seed 21]
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stream_accuracy import HELD_OUT, TRAIN_CLIPS, background, cli, keyword_free, keyword_stream  # noqa: E402

from kws_edge.audio import resample  # noqa: E402
from kws_edge.labelled_stream import write_stream  # noqa: E402
from kws_edge.labels import KEYWORDS, SAMPLE_RATE  # noqa: E402
from kws_edge.stream_eval import evaluate_stream_file  # noqa: E402
from kws_edge.training import synth_effects as fx  # noqa: E402

VOICE = "ked_diphone"
F0_RANGE = (60.0, 160.0)  # Hz across `pitch` 0..1: the phrases' 0.3-0.7 is 90-130 Hz
APP_RATE = 44_100


def say(text: str, speed: float, f0: float) -> np.ndarray:
    """festival's ked at `speed` x its rate and a mean F0 of `f0` Hz, as 16-kHz float32 (untrimmed)."""
    params = (f"(set! int_lr_params '((target_f0_mean {f0:.1f}) (target_f0_std {f0 * 0.15:.1f}) "
              "(model_f0_mean 170) (model_f0_std 34)))")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        # text2wave rewrites its WAV header at the end, so it needs a file, not a pipe.
        subprocess.run(["text2wave", "-o", str(out), "-eval", f"(voice_{VOICE})",
                        "-eval", f"(Parameter.set 'Duration_Stretch {1.0 / speed:.3f})", "-eval", params],
                       input=text.encode(), check=True, capture_output=True, timeout=60)
        audio, rate = sf.read(out, dtype="float32")
    return resample(audio, rate, SAMPLE_RATE)


def speak(text: str, speed: float = 1.0, pitch: float = 0.5) -> np.ndarray:
    """`bench_stream_accuracy.Speaker` for festival: pitch 0..1 across F0_RANGE."""
    lo, hi = F0_RANGE
    return say(text, speed, lo + (hi - lo) * pitch)


def take(rng: np.random.Generator, word: str) -> np.ndarray:
    """One recording of `word` as an app makes it: silence around the word, faint room tone."""
    audio = fx.trim_silence(say(word + str(rng.choice(["", ".", "!", "?"])), rng.uniform(0.8, 1.25),
                                rng.uniform(85, 140)))
    audio = audio / (np.abs(audio).max() + 1e-9) * rng.uniform(0.1, 0.7)
    before, after = (np.zeros(int(rng.uniform(lo, hi) * SAMPLE_RATE), np.float32) for lo, hi in
                     ((0.2, 0.6), (0.3, 1.0)))
    audio = np.concatenate([before, audio, after])
    return audio + rng.standard_normal(len(audio)).astype(np.float32) * 10 ** (-62 / 20)


def record(work: Path, rng: np.random.Generator) -> None:
    """WORK/recordings.zip (TRAIN_CLIPS takes a word, 44.1 kHz stereo) and WORK/heldout/<word>/."""
    tmp = work / ".recordings.zip.tmp"
    with zipfile.ZipFile(tmp, "w") as archive:
        for word in KEYWORDS:
            (work / "heldout" / word).mkdir(parents=True, exist_ok=True)
            for i in range(TRAIN_CLIPS + HELD_OUT):
                audio = take(rng, word)
                if i < HELD_OUT:
                    sf.write(work / "heldout" / word / f"take{i:02d}.wav", audio, SAMPLE_RATE,
                             subtype="PCM_16")
                    continue
                app = resample(audio, SAMPLE_RATE, APP_RATE)
                buf = io.BytesIO()
                sf.write(buf, np.stack([app, 0.9 * app], axis=1), APP_RATE, format="WAV", subtype="PCM_16")
                archive.writestr(f"my_words/{word}/take{i:02d}.wav", buf.getvalue())
    tmp.rename(work / "recordings.zip")


def streams(work: Path, rng: np.random.Generator, minutes: float, seed: int) -> None:
    noise = background(rng)
    test = sorted(p.resolve() for p in (work / "heldout").glob("*/*.wav"))
    keyword_stream(rng, test, work, speak, work / "keywords", seed=seed, noise=noise)
    audio, rows = keyword_free(rng, speak, minutes, noise, seed=seed + 1)
    write_stream(audio, rows, work / "other.wav", work / "other.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the keyword-free stream")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    if shutil.which("text2wave") is None or not list(Path("/usr/share/festival/voices").glob(f"*/{VOICE}")):
        raise SystemExit(f"bench_new_engine: needs festival and its {VOICE} voice: "
                         "apt-get install festival festvox-kdlpc16k")
    work = args.work or Path(tempfile.mkdtemp(prefix="kws-new-engine-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    if not (work / "recordings.zip").is_file():
        print("recording 36 takes of 35 words ...", flush=True)
        record(work, rng)
    if not (work / "other.csv").is_file():
        print(f"building the streams ({args.minutes:g} keyword-free minutes) ...", flush=True)
        streams(work, rng, args.minutes, args.seed)
    for base in ("base", "base-b"):
        run = work / f"finetune-{base}"
        if not (run / "model.pt").is_file():
            print(f"kws-train --init {base} ...", flush=True)
            cli("kws-train", "--data", str(work / "recordings.zip"), "--init", base, "--out", str(run),
                "--seed", str(args.seed))
    models = {"base fine-tune": (work / "finetune-base.onnx", [work / "finetune-base" / "model.pt"]),
              "pair (base + base-b)": (work / "pair.onnx", [work / f"finetune-{b}" / "model.pt"
                                                            for b in ("base", "base-b")])}
    for onnx, checkpoints in models.values():
        if not onnx.is_file():
            cli("kws-export", *map(str, checkpoints), "-o", str(onnx), "--quantize",
                "--calibration-data", str(work / "recordings.zip"))
    print(f"festival:{VOICE}, seed {args.seed}; work files in {work}")
    for name, (onnx, _) in models.items():
        kw = evaluate_stream_file(onnx, work / "keywords.wav", work / "keywords.csv")
        other = evaluate_stream_file(onnx, work / "other.wav", work / "other.csv")
        print(f"{name:>21}: recall {kw['recall']:.3f} ({kw['hits']}/{kw['keyword_segments']}), "
              f"wrong words {kw['wrong_word']}, latency median {kw['latency_median_s']} s; "
              f"keyword-free {other['duration_s'] / 60:.0f} min: {other['false_alarms']} false alarms "
              f"({other['false_alarms_per_hour']} per hour)")


if __name__ == "__main__":
    main()

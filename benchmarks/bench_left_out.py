"""Keywords a user leaves out: a fine-tune on some of the 35 words (and new ones) no longer knows
the others, and said alone they fire as the nearest word it knows ("off" as stop). kws-record's
talk take shows those left-out keywords first, as rows of single words (`record_texts.texts_for`).
This measures what that talk buys, against no talk and against the usual texts.

As a user would, with espeak-ng: 20 takes of each of 7 words (yes, no, stop, music, lights on,
lights off, stop music) by three voices with speed and pitch varied (the user), each centred in a
1-s clip; `_talk/` is 110 s of those voices reading the take's texts in order, as the take is now
(rows of the left-out keywords first, said one by one with pauses, then the sentences and rows of
other words) or as it was (those texts alone), or is absent. Each dataset is fine-tuned
(`kws-train --init base`), exported (`kws-export --quantize`) and run (`kws-listen --json`,
defaults) over one stream in a voice none of them heard (en-us+f4):
each left-out keyword said alone twice and each recorded word three times, 1.2-2 s apart, over a
running tap at -40 dBFS. Prints keyword recall, wrong words and the left-out keywords that fire.

    .venv/bin/python benchmarks/bench_left_out.py [--work work-data/left_out] [--seed 0]

A first run takes about 5-8 minutes on a 2-core machine (three fine-tunes); work files are kept.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_edge.audio import resample
from kws_edge.labels import KEYWORDS, SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.record_texts import texts_for

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOISE = REPO.parent / "shared" / "data" / "background_noise" / "running_tap.wav"
RECORDED = ["lights off", "lights on", "music", "no", "stop", "stop music", "yes"]
LEFT_OUT = [k for k in KEYWORDS if k not in RECORDED]
USER_VOICES = ("m1", "m3", "f2")
LISTENER = "f4"
TAKES = 20


def say(text: str, voice: str, speed: int = 160, pitch: int = 50) -> np.ndarray:
    """espeak-ng's rendering at 16 kHz, trimmed to the speech, peak at -6 dBFS."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", f"en-us+{voice}", "-s", str(speed), "-p", str(pitch), "-w", f.name,
                        text], check=True)
        audio, rate = sf.read(f.name, dtype="float32")
    audio = resample(audio, rate)
    loud = np.flatnonzero(np.abs(audio) > 0.01 * np.abs(audio).max())
    audio = audio[loud[0]:loud[-1] + 1]
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def centred(take: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A take centred in a 1-s clip over faint noise, as kws-record writes it."""
    clip = (rng.standard_normal(WINDOW_SAMPLES) * 3e-4).astype(np.float32)
    take = take[:WINDOW_SAMPLES]
    at = (WINDOW_SAMPLES - len(take)) // 2
    clip[at:at + len(take)] += take
    return clip


def user_dataset(root: Path, rng: np.random.Generator) -> None:
    for word in RECORDED:
        (root / word).mkdir(parents=True)
        for i in range(TAKES):
            take = say(word, USER_VOICES[i % 3], int(rng.integers(150, 190)), int(rng.integers(35, 65)))
            sf.write(root / word / f"{i + 1:03d}.wav", centred(take, rng), SAMPLE_RATE, subtype="PCM_16")


def read_aloud(texts: list[str], seconds: float, rng: np.random.Generator) -> np.ndarray:
    """The user's voices reading `texts` in turn: rows word by word with pauses, sentences whole."""
    parts, total, i = [silence(1.0)], 0, 0
    while total < seconds * SAMPLE_RATE:
        text, voice = texts[i % len(texts)], USER_VOICES[i % 3]
        i += 1
        pieces = text.split() if "   " in text else [text]
        for piece in pieces:
            parts += [say(piece, voice, int(rng.integers(140, 180)), int(rng.integers(35, 65))),
                      silence(0.7 if len(pieces) > 1 else 1.2)]
            total += len(parts[-2]) + len(parts[-1])
    return np.concatenate(parts)


def stream(path: Path, rng: np.random.Generator) -> list[dict]:
    items = [(w, "left out") for w in LEFT_OUT] * 2 + [(w, "keyword") for w in RECORDED] * 3
    rng.shuffle(items)
    parts, truth, pos = [silence(1.5)], [], int(1.5 * SAMPLE_RATE)
    for word, kind in items:
        take = say(word, LISTENER, int(rng.integers(140, 180)), int(rng.integers(35, 65)))
        gap = silence(float(rng.uniform(1.2, 2.0)))
        truth.append({"word": word, "kind": kind, "start": pos / SAMPLE_RATE,
                      "end": (pos + len(take)) / SAMPLE_RATE})
        parts += [take, gap]
        pos += len(take) + len(gap)
    audio = np.concatenate(parts)
    noise, rate = sf.read(NOISE, dtype="float32")
    noise = np.resize(resample(noise, rate), len(audio))
    noise *= 10 ** (-40 / 20) / np.sqrt(np.mean(noise ** 2))
    sf.write(path, audio + noise, SAMPLE_RATE, subtype="PCM_16")
    return truth


def run(cmd: list[str], log: Path) -> None:
    with open(log, "w") as out:
        if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
            sys.exit(f"bench_left_out: {' '.join(cmd[:2])} failed; see {log}")


def score(truth: list[dict], events: list[dict]) -> dict:
    hits = wrong = fired = 0
    names = []
    for item in truth:
        over = [e for e in events if e["start"] < item["end"] and e["end"] > item["start"]]
        if item["kind"] == "keyword":
            hits += any(e["label"] == item["word"] for e in over)
            wrong += bool(over) and not any(e["label"] == item["word"] for e in over)
        elif over:
            fired += 1
            names.append(f"{item['word']}->{over[0]['label']}")
    n_kw = sum(t["kind"] == "keyword" for t in truth)
    return {"recall": hits / n_kw, "keywords": n_kw, "wrong": wrong, "left_out_fired": fired,
            "left_out": len(truth) - n_kw, "fired": names}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "work-data" / "left_out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("bench_left_out: needs espeak-ng (bash scripts/setup.sh --dev)")
    work = args.work / f"s{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    base = work / "user"
    if not base.is_dir():
        print("bench_left_out: making the user's clips and the listener's stream", file=sys.stderr)
        user_dataset(base, rng)
        (work / "truth.json").write_text(json.dumps(stream(work / "stream.wav", rng)))
    truth = json.loads((work / "truth.json").read_text())
    # The take as it was (texts for a user of all 35 words), and as it is for this user: the same
    # texts after rows of the left-out keywords; each read in order for 110 s.
    talks = {"no talk": None, "take before": texts_for(KEYWORDS), "take now": texts_for(RECORDED)}
    rows = []
    for name, texts in talks.items():
        tag = name.replace(" ", "_")
        data, model = work / tag, work / f"{tag}.onnx"
        if not model.is_file():
            print(f"bench_left_out: fine-tuning with {name}", file=sys.stderr)
            shutil.rmtree(data, ignore_errors=True)
            shutil.copytree(base, data)
            if texts is not None:
                (data / "_talk").mkdir()
                talk = read_aloud(texts, 110.0, rng)
                sf.write(data / "_talk" / "001.wav", talk, SAMPLE_RATE, subtype="PCM_16")
            out_dir = work / f"run_{tag}"
            run([str(BIN / "kws-train"), "--data", str(data), "--init", "base", "--out", str(out_dir)],
                work / f"train_{tag}.log")
            run([str(BIN / "kws-export"), str(out_dir / "model.pt"), "-o", str(model), "--quantize"],
                work / f"export_{tag}.log")
        listen = [str(BIN / "kws-listen"), "--model", str(model), "--input", str(work / "stream.wav"),
                  "--json"]
        out = subprocess.run(listen, capture_output=True, text=True, check=True).stdout
        rows.append((name, score(truth, [json.loads(line) for line in out.splitlines()])))
    print(f"{len(RECORDED)} words fine-tuned; listener {LISTENER}; work files in {work}")
    print(f"{'talk in _talk/':<26} {'recall':>8} {'wrong':>6} {'left-out keywords fired':>24}")
    for name, r in rows:
        fired = f"{r['left_out_fired']}/{r['left_out']} ({100 * r['left_out_fired'] / r['left_out']:.0f}%)"
        print(f"{name:<26} {r['recall']:>8.3f} {r['wrong']:>6} {fired:>24}  {' '.join(r['fired'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Make the negatives shipped with the base model: talk that is no keyword, for fine-tuning.

A model fine-tuned only on a person's keyword clips (plus reject clips made from those) forgets
how much speech is *not* a keyword, and fires on their talk. `kws-train --init base` therefore
adds these windows to the reject class by default (`--negatives base`). They are kws-synth's
reject material (other words, connected phrases, near misses, cut words, some silence and noise)
from the base model's voices, coloured noise only (no recordings the benchmarks use), and never
the held-out voices or the benchmark vocabulary (`synth_words.EVAL_WORDS`). `--words N` of them
are isolated common words (kws-synth `--unknown-mix word=1`): the words a user says all day.

With `--real DIR` (scripts/make_real_sets.py's `other_train/`: real people's wake words and read
speech that the benchmarks hold out none of), as many windows of real speech are added: half the
loudest second of a wake-word recording, half a second of read speech, seeded.

Stored as one 8 kHz FLAC of 1-s windows back to back: the model resamples to 8 kHz first, so
nothing it hears is lost, and kws-train cuts the file back into its windows.

    .venv/bin/python scripts/make_negatives.py [--clips 200] [--words 200] [--seed 7]
        [--real work-data/base/other_train]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_edge.atomic import atomic_path
from kws_edge.audio import load_16k, resample
from kws_edge.labels import SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES
from kws_edge.models import BASE_NEGATIVES

STORED_RATE = 8000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=200, help="kws-synth reject clips, default mix")
    parser.add_argument("--words", type=int, default=200, help="isolated common words, many voices")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=BASE_NEGATIVES)
    parser.add_argument("--real", type=Path, help="other_train/ of scripts/make_real_sets.py")
    parser.add_argument("--real-clips", type=int, default=200)
    args = parser.parse_args()
    windows = synth_windows(args.clips, args.seed, [])
    windows += synth_windows(args.words, args.seed + 1, ["--unknown-mix", "word=1"])
    if args.real is not None:
        windows += real_windows(args.real, args.real_clips, args.seed)
    store(np.concatenate(windows), args.out)
    print(f"wrote {args.out}: {len(windows)} windows, {args.out.stat().st_size // 1024} KB")


def store(audio: np.ndarray, out: Path) -> None:
    """16-kHz audio as an 8-kHz 16-bit FLAC, written atomically (what kws-train reads back)."""
    with atomic_path(out) as tmp:
        sf.write(tmp, resample(audio, SAMPLE_RATE, STORED_RATE), STORED_RATE, subtype="PCM_16", format="FLAC")


def synth_windows(n: int, seed: int, extra: list[str]) -> list[np.ndarray]:
    """`n` kws-synth reject clips (coloured noise only), as 1-s windows."""
    if n <= 0:
        return []
    with tempfile.TemporaryDirectory(prefix="kws-negatives-") as tmp:
        synth = Path(tmp) / "synth"
        subprocess.run([str(Path(sys.executable).parent / "kws-synth"), str(synth), "--per-word", "0",
                        "--unknown", str(n), "--seed", str(seed), "--noise", "none", *extra], check=True)
        clips = [load_16k(f)[:WINDOW_SAMPLES] for f in sorted((synth / UNKNOWN_LABEL).glob("*.wav"))]
    return [np.pad(c, (0, WINDOW_SAMPLES - len(c))) for c in clips]


def real_windows(folder: Path, n: int, seed: int) -> list[np.ndarray]:
    from kws_edge.training.audio_io import fit_window

    rng = np.random.default_rng(seed)
    words = sorted((folder / UNKNOWN_LABEL).glob("*"))
    talk = sorted((folder / "_talk").glob("*"))
    out = [fit_window(load_16k(words[i])) for i in sorted(rng.choice(len(words), n // 2, replace=False))]
    pieces = []
    for path in talk:
        audio = load_16k(path)
        starts = range(0, len(audio) - WINDOW_SAMPLES + 1, WINDOW_SAMPLES)
        pieces += [audio[i:i + WINDOW_SAMPLES] for i in starts]
    out += [pieces[i] for i in sorted(rng.choice(len(pieces), n - n // 2, replace=False))]
    return [np.asarray(w, dtype=np.float32) for w in out]


if __name__ == "__main__":
    main()

"""Make the negatives shipped with the base model: talk that is no keyword, for fine-tuning.

A model fine-tuned only on a person's keyword clips (plus reject clips made from those) forgets
how much speech is *not* a keyword, and fires on their talk. `kws-train --init base` therefore
adds these windows to the reject class by default (`--negatives base`). They are kws-synth's
reject material (other words, connected phrases, near misses, cut words, some silence and noise)
from the base model's voices, coloured noise only (no recordings the benchmarks use), and never
the held-out voices or the benchmark vocabulary (`synth_words.EVAL_WORDS`).

Stored as one 8 kHz FLAC of 1-s windows back to back: the model resamples to 8 kHz first, so
nothing it hears is lost, and kws-train cuts the file back into its windows.

    .venv/bin/python scripts/make_negatives.py [--clips 200] [--seed 7] [--out FLAC]
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
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=BASE_NEGATIVES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kws-negatives-") as tmp:
        synth = Path(tmp) / "synth"
        subprocess.run([str(Path(sys.executable).parent / "kws-synth"), str(synth), "--per-word", "0",
                        "--unknown", str(args.clips), "--seed", str(args.seed), "--noise", "none"],
                       check=True)
        files = sorted((synth / UNKNOWN_LABEL).glob("*.wav"))
        windows = []
        for f in files:
            clip = load_16k(f)[:WINDOW_SAMPLES]
            windows.append(np.pad(clip, (0, WINDOW_SAMPLES - len(clip))))
    audio = resample(np.concatenate(windows), SAMPLE_RATE, STORED_RATE)
    with atomic_path(args.out) as tmp_out:
        sf.write(tmp_out, audio, STORED_RATE, subtype="PCM_16", format="FLAC")
    print(f"wrote {args.out}: {len(windows)} windows, {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()

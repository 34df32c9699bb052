"""Make the background talk shipped with the base model: two people reading at once.

A fine-tune heard only white and brown noise under its clips, and missed about one keyword in
seven said over a TV or other people talking. `kws-train --init` therefore mixes this talk under
its clips by default (`--noise base`), next to white and brown noise (docs/training.md).

The talk is the real read speech of scripts/make_real_sets.py's `other_train/_talk/` (LJSpeech,
VCTK and LibriSpeech samples; none of it held out for measuring): its utterances, each brought to
one level, in two random orders, summed with the second reader 0-6 dB quieter, cut to `--seconds`.
Stored as an 8 kHz FLAC, like the shipped negatives: the model resamples to 8 kHz first.

    .venv/bin/python scripts/make_babble.py --real work-data/base/other_train [--seconds 240] [--seed 7]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from make_negatives import store

from kws_edge.audio import load_16k
from kws_edge.errors import KwsError, run_cli
from kws_edge.labels import SAMPLE_RATE
from kws_edge.models import BASE_BABBLE

LEVEL_RMS = 0.05


def reader(utterances: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """One voice reading the utterances in a random order until `n` samples are filled."""
    out, total = [], 0
    while total < n:
        for i in rng.permutation(len(utterances)):
            out.append(utterances[i])
            total += len(utterances[i])
            if total >= n:
                break
    return np.concatenate(out)[:n]


def babble(folder: Path, seconds: float, seed: int) -> np.ndarray:
    files = sorted(p for p in (folder / "_talk").glob("*") if p.is_file())
    if not files:
        raise KwsError(f"{folder / '_talk'}: no recordings (run scripts/make_real_sets.py first)")
    utterances = []
    for path in files:
        audio = load_16k(path)
        rms = float(np.sqrt(np.mean(audio ** 2)))
        if rms > 1e-4:
            utterances.append(audio * (LEVEL_RMS / rms))
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    mix = reader(utterances, n, rng) + reader(utterances, n, rng) * 10 ** (-rng.uniform(0, 6) / 20)
    return (mix / max(float(np.abs(mix).max()), 1e-9) * 0.5).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, required=True, help="other_train/ of scripts/make_real_sets.py")
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=BASE_BABBLE)
    args = parser.parse_args()

    def make() -> None:
        store(babble(args.real, args.seconds, args.seed), args.out)
        print(f"wrote {args.out}: {args.seconds:.0f} s, {args.out.stat().st_size // 1024} KB")

    return run_cli("make_babble", make)


if __name__ == "__main__":
    raise SystemExit(main())

"""How a clip longer than a second is cropped for training and kws-eval: the second that holds the
most sound by 10-ms frame levels in dB (`training.audio_io.fit_window`), against the second of most
summed energy (the crop before it), on real speech the base never trained on.

Each `../shared/data/speech_real` clip (300, many speakers) is placed at a random point in 2.5 s of
real background noise (`../shared/data/background_noise`) at an SNR of 30 or 15 dB, with or
without a phone memo's record-button tap (50 ms near full scale) at the start; both crops go
through the shipped `base.onnx`. Prints accuracy per crop, and the clips only one crop gets right.

    .venv/bin/python benchmarks/bench_crop.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from kws_edge.audio import load_16k
from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.onnx_model import load_model
from kws_edge.training.audio_io import fit_window

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
LONG = int(2.5 * SAMPLE_RATE)
TAP = SAMPLE_RATE // 20


def energy_crop(audio: np.ndarray, length: int = WINDOW_SAMPLES) -> np.ndarray:
    """The crop before: the `length` samples of most summed energy."""
    energy = np.cumsum(np.concatenate([[0.0], audio.astype(np.float64) ** 2]))
    start = int(np.argmax(energy[length:] - energy[:-length]))
    return audio[start:start + length]


def long_clips(words: list[np.ndarray], noises: list[np.ndarray], snr_db: float, tap: bool,
               rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for word in words:
        noise = noises[rng.integers(len(noises))]
        start = rng.integers(0, len(noise) - LONG)
        background = noise[start:start + LONG].astype(np.float32)
        level = np.sqrt(np.mean(word ** 2)) * 10 ** (-snr_db / 20)
        clip = background / (np.sqrt(np.mean(background ** 2)) + 1e-9) * level
        at = rng.integers(SAMPLE_RATE // 4, LONG - len(word))
        clip[at:at + len(word)] += word
        if tap:
            clip[:TAP] += rng.uniform(-0.9, 0.9, TAP).astype(np.float32)
        out.append(clip)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="placements to draw (default 0)")
    args = parser.parse_args()
    paths = sorted((DATA / "speech_real").glob("*/*.wav"))
    noise_paths = sorted((DATA / "background_noise").glob("*.wav"))
    if not paths or not noise_paths:
        raise SystemExit(f"bench_crop: needs {DATA / 'speech_real'} and {DATA / 'background_noise'}")
    words = [load_16k(p)[:LONG - SAMPLE_RATE // 2] for p in paths]
    truth = [p.parent.name for p in paths]
    noises = [load_16k(p) for p in noise_paths]
    model = load_model(REPO / "kws_edge" / "models" / "base.onnx")
    print(f"{'seed':>4} {'SNR':>5} {'tap':>5} {'energy crop':>12} {'dB crop':>8} {'only energy':>12} "
          f"{'only dB':>8}")
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        for snr in (30, 15):
            for tap in (False, True):
                clips = long_clips(words, noises, snr, tap, rng)
                right = {}
                for name, crop in (("energy", energy_crop), ("db", fit_window)):
                    x = np.stack([crop(c) for c in clips]).astype(np.float32)
                    best = model.predict(x).argmax(axis=1)
                    right[name] = np.array([model.labels[i] == t for i, t in zip(best, truth, strict=True)])
                only_energy = int((right["energy"] & ~right["db"]).sum())
                only_db = int((right["db"] & ~right["energy"]).sum())
                print(f"{seed:>4} {snr:>4}dB {tap!s:>5} {right['energy'].mean():>12.3f} "
                      f"{right['db'].mean():>8.3f} {only_energy:>12} {only_db:>8}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compare the sound of word-clip datasets (e.g. kws-synth output vs real recordings) with simple
statistics: level, speech duration, noise floor, spectral balance. A recipe check, not a model.

    python -m kws_edge.training.synth_compare ../shared/data/speech_real /tmp/synth [more ...]

Each folder is a `<word>/*.wav` dataset (the `_unknown_` folder is skipped); a folder may also be
given as `DIR:GLOB` to pick some speakers, e.g. `/tmp/synth:*/81a86515_*` for one voice's clips.
Printed per dataset: medians [10th-90th percentile] and the distance of its long-term average
spectrum (1/3-octave bands, level-normalised) to the first dataset's, in dB.

`--asr` adds closed-set word accuracy by pocketsphinx's en-US acoustic model (trained on human
speech; `pip install pocketsphinx`): a rough "does this sound like people saying the word" score.
The grammar holds only the first dataset's words.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from kws_edge.audio import load_16k
from kws_edge.errors import KwsError, run_cli, setup_logging
from kws_edge.labels import SAMPLE_RATE, UNKNOWN_LABEL

FRAME = SAMPLE_RATE // 50            # 20-ms frames
BANDS_HZ = 125.0 * 2.0 ** (np.arange(0, 19) / 3.0)   # 1/3-octave centres 125 Hz .. 8 kHz
N_FFT = 512


def clip_stats(audio: np.ndarray) -> dict[str, float]:
    n = audio.shape[0] // FRAME
    frames = audio[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    energy = np.square(frames).mean(axis=1) + 1e-12
    loud = 10 * np.log10(energy.max())
    active = energy > energy.max() * 10 ** (-25 / 10)
    return {
        "peak_dbfs": 20 * np.log10(np.abs(audio).max() + 1e-9),
        "rms_dbfs": 10 * np.log10(np.square(audio, dtype=np.float64).mean() + 1e-12),
        "speech_s": float(active.sum() * FRAME / SAMPLE_RATE),
        "floor_db": 10 * np.log10(np.percentile(energy, 10)) - loud,   # quiet frames vs loudest
    }


def band_spectrum(audio: np.ndarray) -> np.ndarray:
    """Power in 1/3-octave bands of the loud frames (speech, not the noise between words)."""
    n = audio.shape[0] // N_FFT
    frames = audio[: n * N_FFT].reshape(n, N_FFT).astype(np.float64)
    energy = np.square(frames).mean(axis=1)
    frames = frames[energy > energy.max() * 0.1] * np.hanning(N_FFT)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    f = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    edges = np.stack([BANDS_HZ * 2 ** (-1 / 6), BANDS_HZ * 2 ** (1 / 6)], axis=1)
    return np.array([power[(f >= lo) & (f < hi)].sum() for lo, hi in edges]) + 1e-12


def dataset_files(spec: str) -> list[Path]:
    root, _, pattern = spec.partition(":")
    base = Path(root)
    if not base.is_dir():
        raise KwsError(f"{root}: not a folder")
    files = sorted(p for p in base.glob(pattern or "*/*.wav")
                   if p.suffix == ".wav" and p.parent.name != UNKNOWN_LABEL)
    if not files:
        raise KwsError(f"{spec}: no <word>/*.wav clips")
    return files


def _pick(files: list[Path], limit: int) -> list[Path]:
    if len(files) > limit:
        files = [files[i] for i in np.linspace(0, len(files) - 1, limit).astype(int)]
    return files


class ClosedSetAsr:
    """pocketsphinx restricted to a word list (JSGF grammar)."""

    def __init__(self, words: list[str], workdir: Path):
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError:
            raise KwsError("--asr needs pocketsphinx: pip install pocketsphinx") from None
        grammar = workdir / "words.gram"
        grammar.write_text("#JSGF V1.0;\ngrammar w;\npublic <w> = " + " | ".join(words) + " ;\n")
        model = Path(get_model_path()) / "en-us"
        self.decoder = Decoder(hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"),
                               jsgf=str(grammar), samprate=SAMPLE_RATE, logfn=os.devnull)
        self.words = set(words)

    def accuracy(self, files: list[Path]) -> float:
        hits = total = 0
        for p in files:
            if p.parent.name not in self.words:
                continue
            pcm = (np.clip(load_16k(p), -1.0, 1.0) * 32767).astype(np.int16)
            self.decoder.start_utt()
            self.decoder.process_raw(pcm.tobytes(), full_utt=True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
            hits += int(hyp is not None and hyp.hypstr == p.parent.name)
            total += 1
        return hits / total if total else float("nan")


def summarise(spec: str, limit: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    files = _pick(dataset_files(spec), limit)
    stats: dict[str, list[float]] = {}
    spectra = []
    for p in files:
        audio = load_16k(p)
        if np.abs(audio).max() < 1e-4:
            continue   # a silent clip says nothing about spectra (one exists in the real set)
        for k, v in clip_stats(audio).items():
            stats.setdefault(k, []).append(v)
        spec_db = 10 * np.log10(band_spectrum(audio))
        spectra.append(spec_db - spec_db.mean())
    return {k: np.array(v) for k, v in stats.items()}, np.mean(spectra, axis=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="synth_compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", metavar="DIR[:GLOB]",
                   help="first = the reference (real speech); the others are compared with it")
    p.add_argument("--limit", type=int, default=400, help="clips per dataset at most (default 400)")
    p.add_argument("--asr", action="store_true", help="also score closed-set recognition (pocketsphinx)")
    args = p.parse_args(argv)
    setup_logging()

    def body() -> int:
        ref_spec = None
        ltas_rows: list[tuple[str, np.ndarray]] = []
        asr = None
        if args.asr:
            ref_words = sorted({p.parent.name for p in dataset_files(args.datasets[0])})
            asr = ClosedSetAsr(ref_words, Path(tempfile.mkdtemp(prefix="synth_compare-")))
        print(f"{'dataset':44s} {'n':>4s}  {'peak dBFS':>17s}  {'rms dBFS':>17s}  {'speech s':>16s}  "
              f"{'floor dB':>17s}  LTAS dist dB" + ("  ASR acc" if asr else ""))
        for spec in args.datasets:
            stats, ltas = summarise(spec, args.limit)
            if ref_spec is None:
                ref_spec = ltas
            cells = []
            for key in ("peak_dbfs", "rms_dbfs", "speech_s", "floor_db"):
                q10, q50, q90 = np.percentile(stats[key], [10, 50, 90])
                fmt = "{:5.2f} [{:4.2f}-{:4.2f}]" if key == "speech_s" else "{:5.1f} [{:5.1f}-{:5.1f}]"
                cells.append(fmt.format(q50, q10, q90))
            dist = float(np.sqrt(np.mean((ltas - ref_spec) ** 2)))
            acc = f"  {asr.accuracy(_pick(dataset_files(spec), args.limit)):7.2f}" if asr else ""
            row = f"{spec[-44:]:44s} {len(stats['peak_dbfs']):4d}  " + "  ".join(cells)
            print(f"{row}  {dist:5.2f}{acc}")
            ltas_rows.append((spec, ltas - ref_spec))
        print("\nLTAS minus the reference's, dB per 1/3 octave (centres in Hz):")
        print(f"{'':30s}" + "".join(f"{f:>5.0f}" for f in BANDS_HZ))
        for spec, diff in ltas_rows[1:]:
            print(f"{spec[-30:]:30s}" + "".join(f"{x:+5.0f}" for x in diff))
        return 0

    return run_cli("synth_compare", body)


if __name__ == "__main__":
    sys.exit(main())

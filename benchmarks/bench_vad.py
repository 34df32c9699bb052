"""VAD benchmark on real audio: speech-frame recall/precision, gate coverage, inference saved.

Streams are built from real human keyword clips (../shared/data/speech_real) laid over each real
background noise (../shared/data/background_noise) at its recorded level and 10 dB louder. For
each VAD (energy; webrtc if `webrtcvad` is installed) it prints:
  - frame recall / precision against the clips' active spans (20-ms frames);
  - gate coverage: share of keyword segments for which the spotter scores at least one window
    holding the whole word (what keyword recall needs from the gate);
  - inference saved: share of 100-ms hops skipped, on the speech streams and on noise alone;
  - keyword recall with and without the gate when --model is given (same stream, same model);
  - cost: microseconds of VAD work per second of audio.

  .venv/bin/python benchmarks/bench_vad.py [--model MODEL.onnx] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from kws_edge.audio import load_16k
from kws_edge.labelled_stream import Piece, build_stream
from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.vad import VadOptions, make_vad

REPO = Path(__file__).resolve().parents[1]
HOP = SAMPLE_RATE // 10


def load_clips(data: Path, per_word: int) -> list[tuple[str, np.ndarray]]:
    clips = []
    for word_dir in sorted((data / "speech_real").iterdir()):
        for path in sorted(word_dir.glob("*.wav"))[:per_word]:
            clips.append((word_dir.name, load_16k(path)))
    return clips


def speech_stream(clips, noise: np.ndarray, noise_gain_db: float, seed: int):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(clips))
    pieces = [Piece(clips[i][1], clips[i][0]) for i in order]
    noise_dbfs = 10 * np.log10(np.mean(noise.astype(np.float64) ** 2)) + noise_gain_db
    return build_stream(pieces, background=noise, background_dbfs=noise_dbfs, gap_s=(1.0, 3.0), seed=seed)


def run_vad(kind: str, audio: np.ndarray, **settings) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-frame flags, per-hop 'window would be scored' flags, and seconds of VAD work."""
    vad = make_vad(VadOptions(kind=kind, **settings))
    flags, gate = [], []
    work = 0.0
    for end in range(HOP, len(audio) + 1, HOP):
        t = time.perf_counter()
        flags.append(vad.process(audio[end - HOP:end]))
        work += time.perf_counter() - t
        gate.append(vad.last_speech_end > max(0, end - WINDOW_SAMPLES))
    return np.concatenate(flags), np.array(gate), work


def frame_truth(rows, n_frames: int, frame: int) -> np.ndarray:
    truth = np.zeros(n_frames, dtype=bool)
    for r in rows:
        truth[int(r.start_s * SAMPLE_RATE) // frame:int(np.ceil(r.end_s * SAMPLE_RATE / frame))] = True
    return truth


def gate_coverage(rows, gate: np.ndarray) -> float:
    """Share of segments for which the gate keeps (within 50 ms) the best window any gate could score.

    The best window is the one overlapping the word most; a gate that skips it can cost recall.
    """
    ends = (np.arange(len(gate)) + 1) * HOP
    starts = ends - WINDOW_SAMPLES
    slack = SAMPLE_RATE // 20
    kept = 0
    for r in rows:
        s, e = int(r.start_s * SAMPLE_RATE), int(r.end_s * SAMPLE_RATE)
        overlap = np.clip(np.minimum(ends, e) - np.maximum(starts, s), 0, None)
        kept += bool(gate.any() and overlap[gate].max() >= overlap.max() - slack)
    return kept / len(rows)


def keyword_recall(model, audio: np.ndarray, rows, kind: str) -> tuple[float, int]:
    from kws_edge.spotter import KeywordSpotter, SpotterOptions
    from kws_edge.stream_eval import score_detections

    spotter = KeywordSpotter(model, SpotterOptions(vad=VadOptions(kind=kind), batch_windows=16))
    dets = spotter.process(audio) + spotter.flush()
    known = set(model.labels)
    rows = [r for r in rows if r.label in known]
    result = score_detections(dets, rows, len(audio) / SAMPLE_RATE)
    return result["recall"] or 0.0, result["false_alarms"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--model", help="ONNX model for keyword recall with/without the gate")
    p.add_argument("--per-word", type=int, default=4, help="real clips per word per stream (default 4)")
    args = p.parse_args()
    if not (args.data / "speech_real").is_dir():
        print(f"bench_vad: {args.data} has no speech_real/", file=sys.stderr)
        return 2
    kinds = ["energy"] + (["webrtc"] if importlib.util.find_spec("webrtcvad") else [])
    clips = load_clips(args.data, args.per_word)
    noises = {p.stem: load_16k(p) for p in sorted((args.data / "background_noise").glob("*.wav"))}
    model = None
    if args.model:
        from kws_edge.onnx_model import load_model

        model = load_model(args.model)
    print(f"{len(clips)} real keyword clips per stream; noises: {', '.join(noises)}; "
          f"VADs: {', '.join(kinds)}")
    print(f"{'noise':<18}{'gain':>5} {'vad':<7}{'recall':>7}{'prec':>6}{'cover':>7}{'saved':>7}"
          f"{'noise-only saved':>17}{'us/s':>7}" + (f"{'kw recall gate/off':>20}" if model else ""))
    totals: dict[str, list] = {k: [] for k in kinds}
    for seed, (name, noise) in enumerate(noises.items()):
        for gain in (0.0, 10.0):
            audio, rows = speech_stream(clips, noise, gain, seed)
            noise_only = noise * np.float32(10 ** (gain / 20))
            off_recall = None
            if model is not None:
                off_recall, _ = keyword_recall(model, audio, rows, "off")
            for kind in kinds:
                flags, gate, work = run_vad(kind, audio)
                frame = SAMPLE_RATE * VadOptions().frame_ms // 1000
                truth = frame_truth(rows, len(flags), frame)
                recall = (flags & truth).sum() / max(1, truth.sum())
                precision = (flags & truth).sum() / max(1, flags.sum())
                cover = gate_coverage(rows, gate)
                saved = 1 - gate.mean()
                _, noise_gate, _ = run_vad(kind, noise_only)
                noise_saved = 1 - noise_gate.mean()
                us_per_s = 1e6 * work / (len(audio) / SAMPLE_RATE)
                line = (f"{name:<18}{gain:>+4.0f}  {kind:<7}{recall:>7.3f}{precision:>6.2f}{cover:>7.3f}"
                        f"{saved:>7.2f}{noise_saved:>17.2f}{us_per_s:>7.0f}")
                row = [recall, precision, cover, saved, noise_saved, us_per_s]
                if model is not None:
                    kw, _ = keyword_recall(model, audio, rows, kind)
                    line += f"{kw:>13.3f} / {off_recall:.3f}"
                    row += [kw, off_recall]
                totals[kind].append(row)
                print(line, flush=True)
    print("\nmean over streams:")
    for kind, rows_ in totals.items():
        m = np.mean(np.array(rows_, dtype=float), axis=0)
        line = (f"  {kind:<7} frame recall {m[0]:.3f}  precision {m[1]:.2f}  gate coverage {m[2]:.3f}  "
                f"hops saved {m[3]:.2f} (noise only {m[4]:.2f})  {m[5]:.0f} us per audio second")
        if model is not None:
            line += f"  keyword recall {m[6]:.3f} (no gate {m[7]:.3f})"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

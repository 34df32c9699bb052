"""Streaming benchmark: file-mode speed, per-window cost, peak RSS and start-up, side by side.

Builds a long WAV (default one hour) of real background noise with real human keyword clips
dropped in every 5-15 s (../shared/data), then runs each configuration in a fresh process on one
core and prints one table:
  runtime, VAD energy, batched    what `kws-listen --input` does (the gate scores only the windows
                                  its decisions need)
    same, every speech window     scoring every window the VAD lets through, as a score hook gets
  runtime, VAD off, batched       every 100-ms hop scored
  runtime, VAD energy, batch 1    the live-microphone configuration
  naive loop                      fp32 model on every 100-ms hop, no VAD, list-and-concatenate buffer,
                                  one predict call per window (the baseline)
plus the start-up time from launching `python` to the first audio chunk in the spotter.

  .venv/bin/python benchmarks/bench_stream.py --model MODEL_int8.onnx --naive-model MODEL_fp32.onnx
  (defaults: the shipped kws_edge/models/base.onnx for both)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def make_stream_file(path: Path, minutes: float, data: Path, seed: int = 0) -> tuple[float, int]:
    """Write the benchmark WAV block by block (never the whole hour in memory)."""
    import soundfile as sf

    from kws_edge.audio import load_16k
    from kws_edge.labels import SAMPLE_RATE

    rng = np.random.default_rng(seed)
    noises = [load_16k(p) for p in sorted((data / "background_noise").glob("*.wav"))]
    clips = [load_16k(p) for p in sorted((data / "speech_real").glob("*/*.wav"))]
    total = int(minutes * 60 * SAMPLE_RATE)
    block = 60 * SAMPLE_RATE
    next_word = int(rng.uniform(5, 15) * SAMPLE_RATE)
    words = 0
    with sf.SoundFile(str(path), "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16") as f:
        for start in range(0, total, block):
            n = min(block, total - start)
            noise = noises[(start // block) % len(noises)]
            offset = int(rng.integers(0, len(noise)))
            out = np.resize(np.roll(noise, -offset), n).astype(np.float32)
            while next_word < start + n:
                clip = clips[int(rng.integers(len(clips)))]
                at = next_word - start
                seg = clip[:n - at]
                out[at:at + len(seg)] += seg
                words += 1
                next_word += len(clip) + int(rng.uniform(5, 15) * SAMPLE_RATE)
            f.write(np.clip(out, -1, 1))
    return total / SAMPLE_RATE, words


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_runtime(model_path: str, wav: str, vad: str, batch: int, every: bool = False) -> dict:
    from kws_edge.onnx_model import load_model
    from kws_edge.sources import FileSource
    from kws_edge.spotter import KeywordSpotter, SpotterOptions
    from kws_edge.vad import VadOptions

    t0 = time.perf_counter()
    model = load_model(model_path)
    predict_time = 0.0
    inner = model.predict

    def timed(windows):
        nonlocal predict_time
        t = time.perf_counter()
        out = inner(windows)
        predict_time += time.perf_counter() - t
        return out

    model.predict = timed
    # A score hook makes the spotter score every speech window as it comes (what it did before it
    # scored only the windows the gate's decisions need): the same events, the old cost.
    hook = (lambda end, probs: None) if every else None
    spotter = KeywordSpotter(model, SpotterOptions(vad=VadOptions(kind=vad), batch_windows=batch),
                             score_hook=hook)
    t1 = time.perf_counter()
    detections = 0
    with FileSource(wav, spotter.sample_rate) as source:
        for chunk in source:
            detections += len(spotter.process(chunk))
    detections += len(spotter.flush())
    wall = time.perf_counter() - t1
    s = spotter.stats
    return {"load_s": t1 - t0, "wall_s": wall, "audio_s": spotter.seconds, "hops": s.hops,
            "windows": s.windows_scored, "calls": s.model_calls, "predict_s": predict_time,
            "detections": detections, "peak_rss_mb": _peak_rss_mb()}


def child_naive(model_path: str, wav: str) -> dict:
    """The baseline: what a first streaming loop looks like."""
    import onnxruntime as ort
    import soundfile as sf

    t0 = time.perf_counter()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    window, rate = int(meta["window_samples"]), int(meta["sample_rate"])
    hop = rate // 10
    t1 = time.perf_counter()
    buffer: list[np.ndarray] = [np.zeros(window, np.float32)]
    windows = predict_time = 0
    with sf.SoundFile(wav) as f:
        while True:
            block = f.read(hop, dtype="float32")
            if len(block) < hop:
                break
            buffer.append(block)
            audio = np.concatenate(buffer)[-window:]
            buffer = [audio]
            t = time.perf_counter()
            session.run(["probs"], {"audio": audio[None, :]})
            predict_time += time.perf_counter() - t
            windows += 1
    wall = time.perf_counter() - t1
    return {"load_s": t1 - t0, "wall_s": wall, "audio_s": windows * hop / rate, "hops": windows,
            "windows": windows, "calls": windows, "predict_s": predict_time, "detections": None,
            "peak_rss_mb": _peak_rss_mb()}


STARTUP_CODE = """
import sys, time
from kws_edge.onnx_model import load_model
from kws_edge.sources import FileSource
from kws_edge.spotter import KeywordSpotter
spotter = KeywordSpotter(load_model(sys.argv[1]))
with FileSource(sys.argv[2], spotter.sample_rate, chunk_ms=100) as source:
    spotter.process(next(iter(source)))
    print(time.time())
"""


def measure_startup(model: str, wav: str, runs: int = 5) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.time()
        res = subprocess.run([sys.executable, "-c", STARTUP_CODE, model, wav], capture_output=True,
                             text=True, check=True, env={**os.environ, **ONE_CORE})
        out.append(float(res.stdout.strip()) - t0)
    return out


def labelled_clips(clips: Path | None, data: Path, labels: list[str]) -> list[tuple[str, Path]]:
    """(label, path) of the keyword clips for the hop sweep: a dataset's testing_list.txt, or
    the real clips in data/speech_real. `_unknown_` clips become `other` speech."""
    if clips is not None:
        listing = clips / "testing_list.txt"
        paths = ([clips / line.strip() for line in listing.read_text().splitlines() if line.strip()]
                 if listing.is_file() else sorted(clips.glob("*/*.wav")))
    else:
        paths = sorted((data / "speech_real").glob("*/*.wav"))
    out = []
    for path in paths:
        word = path.parent.name
        if word in labels and not word.startswith("_"):
            out.append((word, path))
        elif word.startswith("_"):
            out.append(("other", path))
    return out


def hop_sweep(model: str, clips: Path | None, data: Path, hops: list[int], threshold: float | None = None,
              seed: int = 0) -> None:
    """Keyword recall, false alarms and cost of each hop on one labelled stream."""
    from kws_edge.audio import load_16k
    from kws_edge.labelled_stream import Piece, build_stream, write_stream
    from kws_edge.onnx_model import load_model
    from kws_edge.stream_eval import evaluate_stream_file

    m = load_model(model)
    items = labelled_clips(clips, data, m.labels)
    pieces = [Piece(load_16k(path), label) for label, path in items]
    rng = np.random.default_rng(seed)
    pieces = [pieces[i] for i in rng.permutation(len(pieces))]
    noise = np.concatenate([load_16k(p) for p in sorted((data / "background_noise").glob("*.wav"))])
    noise_dbfs = 10 * np.log10(np.mean(noise.astype(np.float64) ** 2))
    audio, rows = build_stream(pieces, background=noise, background_dbfs=noise_dbfs, gap_s=(1.0, 3.0),
                               seed=seed)
    n_kw = sum(r.label != "other" for r in rows)
    source = clips if clips is not None else data / "speech_real"
    print(f"hop sweep: {len(audio) / 16000 / 60:.1f} min stream, {n_kw} keyword clips + "
          f"{len(rows) - n_kw} other-speech clips from {source}, over real noise; model {model}, "
          f"threshold {threshold if threshold is not None else 'default'}")
    print(f"{'hop ms':>6}{'vad':>8}{'recall':>8}{'FA/h':>8}{'wrong':>7}{'lat med':>9}{'lat p90':>9}"
          f"{'windows':>9}{'wall s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        wav, csv_path = write_stream(audio, rows, Path(tmp) / "s.wav", Path(tmp) / "s.csv")
        for hop in hops:
            for vad in ("energy", "off"):
                t = time.perf_counter()
                r = evaluate_stream_file(model, wav, csv_path, hop_ms=hop, vad=vad, threshold=threshold)
                wall = time.perf_counter() - t
                print(f"{hop:>6}{vad:>8}{r['recall']:>8.3f}{r['false_alarms_per_hour']:>8.0f}"
                      f"{r['wrong_word']:>7}{r['latency_median_s']!s:>9}{r['latency_p90_s']!s:>9}"
                      f"{r['windows_scored']:>9}{wall:>8.2f}", flush=True)


def run_child(args: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(args)]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", "0", *cmd]  # one core, as on a small board
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ONE_CORE})
    if res.returncode != 0:
        raise SystemExit(f"bench_stream: child {args} failed:\n{res.stderr}")
    return json.loads(res.stdout)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model for the runtime (default: the shipped base.onnx)")
    p.add_argument("--naive-model", help="fp32 model for the naive loop (default: --model)")
    p.add_argument("--minutes", type=float, default=60.0, help="stream length (default 60)")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--repeat", type=int, default=1, help="runs per configuration; the fastest counts")
    p.add_argument("--hop-sweep", action="store_true",
                   help="instead: keyword recall / false alarms / cost for several --hop-ms values")
    p.add_argument("--hops", default="50,100,200,250,500", help="hops for --hop-sweep (ms)")
    p.add_argument("--clips", type=Path,
                   help="for --hop-sweep: a <word>/*.wav dataset (its testing_list.txt if present); "
                        "default: the real clips in DATA/speech_real")
    p.add_argument("--threshold", type=float,
                   help="for --hop-sweep: detection threshold (default: the model's)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        spec = json.loads(args.child)
        result = child_naive(*spec[1:]) if spec[0] == "naive" else child_runtime(*spec[1:])
        print(json.dumps(result))
        return 0

    model = args.model
    if model is None:
        from kws_edge.models import base_model_path

        model = str(base_model_path())
    naive_model = args.naive_model or model
    if args.hop_sweep:
        hop_sweep(model, args.clips, args.data, [int(h) for h in args.hops.split(",")], args.threshold)
        return 0
    from kws_edge.onnx_model import load_model

    m = load_model(model)
    m_naive = load_model(naive_model)
    print(f"model: {model} ({m.name}, {m.quantization}, {len(m.labels)} labels)")
    print(f"naive: {naive_model} ({m_naive.name}, {m_naive.quantization})")
    with tempfile.TemporaryDirectory() as tmp:
        wav = str(Path(tmp) / "stream.wav")
        t = time.perf_counter()
        seconds, words = make_stream_file(Path(wav), args.minutes, args.data)
        print(f"stream: {seconds / 60:.0f} min of real background noise with {words} real keyword clips "
              f"(built in {time.perf_counter() - t:.1f} s)")
        configs = [
            ("runtime, VAD energy, batch 16", ["runtime", model, wav, "energy", 16]),
            ("  same, every speech window", ["runtime", model, wav, "energy", 16, True]),
            ("runtime, VAD off, batch 16", ["runtime", model, wav, "off", 16]),
            ("runtime, VAD energy, batch 1", ["runtime", model, wav, "energy", 1]),
            ("naive loop (fp32, every hop)", ["naive", naive_model, wav]),
        ]
        results = {}
        for name, spec in configs:
            runs = [run_child(spec) for _ in range(args.repeat)]
            results[name] = min(runs, key=lambda r: r["wall_s"])
            print(f"  ran {name}: {results[name]['wall_s']:.2f} s", file=sys.stderr, flush=True)
        startup = measure_startup(model, wav)

    naive_wall = results["naive loop (fp32, every hop)"]["wall_s"]
    print(f"\n{'configuration':<31}{'wall s':>8}{'RTF':>9}{'windows':>9}{'us/window':>10}"
          f"{'model us/w':>11}{'vs naive':>9}{'peak RSS MB':>12}")
    for name, r in results.items():
        per_window = 1e6 * r["wall_s"] / max(1, r["windows"])
        model_per_window = 1e6 * r["predict_s"] / max(1, r["windows"])
        print(f"{name:<31}{r['wall_s']:>8.2f}{r['wall_s'] / r['audio_s']:>9.5f}{r['windows']:>9d}"
              f"{per_window:>10.0f}{model_per_window:>11.0f}{naive_wall / r['wall_s']:>8.1f}x"
              f"{r['peak_rss_mb']:>12.1f}")
    print(f"\nstart-up to first audio (python launch -> first chunk in the spotter), {len(startup)} runs: "
          f"median {np.median(startup):.3f} s, max {max(startup):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

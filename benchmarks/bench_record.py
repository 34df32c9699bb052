"""How long recording a personal dataset takes with kws-record, and how long cutting it takes.

For each word, one recording of it said `--takes` times with `--pause` s between takes (espeak-ng,
three voices, speed and pitch varied per take, white noise at -65 dBFS under it all, a quiet room),
cut by the real `kws-record DIR --word W --input FILE` (file mode: the cutter a live session
uses). Prints the time a person spends speaking (the recordings' length: what a live session
takes too, plus reading each prompt), the cutting time, the clips kept per word, and how far the
cuts are from where each take really is.

    .venv/bin/python benchmarks/bench_record.py                     # 35 words x 30 takes, 1 s pauses
    .venv/bin/python benchmarks/bench_record.py --words 5 --takes 10 # quicker
    .venv/bin/python benchmarks/bench_record.py --voice-check        # real words vs noise bursts
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from audiogen import coloured_noise, write_wav  # noqa: E402
from recordgen import repeated  # noqa: E402

from kws_edge import record_cli  # noqa: E402
from kws_edge.labels import KEYWORDS, SAMPLE_RATE  # noqa: E402
from kws_edge.record_cutter import cut_audio  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--words", type=int, default=len(KEYWORDS), help="how many of the 35 words (default: all)")
    p.add_argument("--takes", type=int, default=30, help="takes per word (default: 30)")
    p.add_argument("--pause", type=float, default=1.0, help="seconds between takes (default: 1.0)")
    p.add_argument("--noise-dbfs", type=float, default=-65.0,
                   help="the noise's level, RMS (default: -65, a quiet room)")
    p.add_argument("--noise", default="white", metavar="KIND",
                   help="the noise under the recordings: white (default), pink, brown (rumble: traffic, "
                        "a fan) or a ../shared/data/background_noise recording's name, e.g. exercise_bike")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pairs", action="store_true",
                   help="instead: the longest pause inside one take, and what becomes of two takes "
                        "said 0-500 ms apart (how the 'two words' check's 150 ms was chosen)")
    p.add_argument("--voice-check", action="store_true",
                   help="instead: what the 'no voice' check makes of real people's words (speech_real) "
                        "and of noise bursts (knocks, claps, thumps, the background recordings cut short)")
    args = p.parse_args()
    words = KEYWORDS[:args.words]
    if args.pairs:
        return pairs(words, args.seed)
    if args.voice_check:
        return voice_check(args.seed)

    with tempfile.TemporaryDirectory(prefix="bench_record_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        streams = {w: repeated(w, args.takes, pause=args.pause, seed=args.seed + i,
                               noise_dbfs=args.noise_dbfs if args.noise == "white" else None)
                   for i, w in enumerate(words)}
        if args.noise != "white":
            for i, s in enumerate(streams.values()):
                s.audio = s.audio + noise_of(args.noise, len(s.audio), args.noise_dbfs, args.seed + i)
        made = time.perf_counter() - t0
        files = {w: write_wav(tmp / f"{w}.wav", s.audio) for w, s in streams.items()}
        spoken = sum(len(s.audio) for s in streams.values()) / SAMPLE_RATE

        # The cutter alone, in memory.
        t0 = time.perf_counter()
        cuts = {w: cut_audio(s.audio) for w, s in streams.items()}
        cut_s = time.perf_counter() - t0

        # The whole file mode: decode, cut, check, write every clip.
        dataset = tmp / "dataset"
        t0 = time.perf_counter()
        for w, f in files.items():
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                rc = record_cli.main([str(dataset), "--word", w, "--input", str(f)])
            if rc != 0:
                print(f"kws-record failed on {w}", file=sys.stderr)
                return 1
        cli_s = time.perf_counter() - t0
        written = {w: len(list((dataset / w).glob("*.wav"))) for w in words}

    kept = {w: sum(c.kept for c in cuts[w]) for w in words}
    errors = []
    for w in words:
        spans = np.array(streams[w].words)
        for cut in (c for c in cuts[w] if c.kept):  # each kept clip against the take it overlaps most
            overlap = np.minimum(spans[:, 1], cut.offset) - np.maximum(spans[:, 0], cut.onset)
            start, end = spans[np.argmax(overlap)]
            errors += [abs(cut.onset - start) / SAMPLE_RATE, abs(cut.offset - end) / SAMPLE_RATE]
    short = {w: (kept[w], [p for c in cuts[w] for p in c.problems]) for w in words if kept[w] != args.takes}
    total = args.takes * len(words)
    print(f"{len(words)} words x {args.takes} takes, {args.pause:g} s pauses, {args.noise} noise at "
          f"{args.noise_dbfs:g} dBFS (espeak-ng, made in {made:.0f} s)")
    print(f"time spent speaking: {spoken / 60:.1f} min ({spoken / len(words):.0f} s a word, "
          f"{spoken / total:.2f} s a clip)")
    print(f"cutting: {cut_s:.2f} s for {spoken / 60:.1f} min of audio ({spoken / cut_s:.0f}x real time); "
          f"kws-record --input end to end (decode, cut, write): {cli_s:.1f} s")
    print(f"clips kept: {sum(kept.values())} of {total}; written {sum(written.values())}")
    if errors:
        err = np.array(errors) * 1000
        print(f"cut extent vs. where each take is: median {np.median(err):.0f} ms, 95th percentile "
              f"{np.percentile(err, 95):.0f} ms, max {err.max():.0f} ms")
    for w, (n, problems) in short.items():
        print(f"  {w}: {n} kept; not kept: {', '.join(problems) or '-'}")
    return 0


def noise_of(kind: str, n: int, dbfs: float, seed: int) -> np.ndarray:
    """`n` samples of pink or brown noise (power falling 3 or 6 dB an octave from 10 Hz up), or of a
    background recording from a random place (looped), at `dbfs` RMS."""
    if kind in ("pink", "brown"):
        return coloured_noise(n, 10 ** (dbfs / 20), beta=1.0 if kind == "pink" else 2.0, seed=seed)
    import soundfile as sf

    path = REPO.parent / "shared" / "data" / "background_noise" / f"{kind}.wav"
    if not path.is_file():
        raise SystemExit(f"--noise {kind}: no {path}")
    audio, _ = sf.read(path, dtype="float32")
    x = np.tile(audio, n // len(audio) + 2)
    start = int(np.random.default_rng(seed).integers(0, len(audio)))
    x = x[start:start + n].astype(np.float64)
    return (x / np.sqrt(np.mean(x ** 2)) * 10 ** (dbfs / 20)).astype(np.float32)


def pairs(words: tuple[str, ...], seed: int) -> int:
    """Single takes, and per word 7 takes then two said X ms apart, as in a session."""
    from collections import Counter

    from recordgen import say, word_stream

    from kws_edge.record_cutter import CutterOptions, _pauses

    takes = {w: [say(w, i, seed) for i in range(10)] for w in words}
    longest = 0
    opts = CutterOptions(gap_ms=10_000, longer_takes=10_000)  # measure pauses, check nothing
    frame = SAMPLE_RATE * opts.frame_ms // 1000
    for take in (t for ts in takes.values() for t in ts):
        stream = word_stream([take], [1.0], seed=seed).audio
        (cut,) = cut_audio(stream, opts)
        # The cutter's own measure: 10-ms frame levels of the extent against its threshold.
        frames = stream[cut.onset:cut.offset].reshape(-1, frame).astype(np.float64)
        levels = 10 * np.log10(frames.var(axis=1) + 1e-12)
        gaps = _pauses(levels > cut.threshold_dbfs, opts.frame_ms)
        longest = max([longest] + [n * opts.frame_ms for _, n in gaps])
    print(f"{sum(map(len, takes.values()))} single takes ({len(words)} words): longest pause inside a "
          f"take {longest} ms")
    print("per word: 7 takes 1 s apart, then two said X ms apart, then one more; what the cutter makes "
          "of the pair")
    for gap in (0, 50, 100, 150, 200, 250, 300, 350, 400):
        outcome, singles = Counter(), 0
        for ts in takes.values():
            stream = word_stream(ts[:10], [1.0] * 7 + [gap / 1000, 1.0, 1.0], seed=seed)
            cuts = cut_audio(stream.audio)
            singles += sum(c.kept for c in cuts[:7])
            rest = cuts[7:]
            outcome["two clips" if len(rest) == 3 else "+".join(rest[0].problems) or "one clip, kept"] += 1
        print(f"  {gap:3d} ms: " + ", ".join(f"{k} {v}" for k, v in outcome.most_common())
              + f"   (single takes kept: {singles} of {7 * len(takes)})")
    return 0

def voice_check(seed: int) -> int:
    """Each real word of ../shared/data/speech_real, and each noise burst, alone in a quiet room
    (1 s of -65 dBFS noise either side), through the cutter: which are refused, and why."""
    from collections import Counter

    import soundfile as sf
    from recordgen import word_stream

    from kws_edge.record_cutter import NO_VOICE
    from kws_edge.training.audio_io import load_clip

    data = REPO.parent / "shared" / "data"
    rng = np.random.default_rng(seed)
    bursts: dict[str, list[np.ndarray]] = {}
    for path in sorted((data / "background_noise").glob("*.wav")):
        audio, _ = sf.read(path, dtype="float32")
        cuts = []
        for _ in range(40):  # 250-500 ms of it, at a level a word would have
            n = int(rng.uniform(0.25, 0.5) * SAMPLE_RATE)
            piece = audio[(s := int(rng.integers(0, len(audio) - n))):s + n]
            cuts.append(piece / (np.abs(piece).max() + 1e-9) * 0.3)
        bursts[path.stem] = cuts
    knocks = []
    for _ in range(40):  # knocks and claps: 50-400 ms of noise decaying in 10-80 ms
        n = int(rng.uniform(0.05, 0.4) * SAMPLE_RATE)
        decay = np.exp(-np.arange(n) / (rng.uniform(0.01, 0.08) * SAMPLE_RATE))
        knocks.append((rng.standard_normal(n) * decay * 0.1).astype(np.float32))
    bursts["knocks and claps"] = knocks
    thumps = []
    for _ in range(40):  # thumps, doors, bumps: 200-500 ms of noise under 80-300 Hz
        n = int(rng.uniform(0.2, 0.5) * SAMPLE_RATE)
        spec = np.fft.rfft(rng.standard_normal(n))
        spec[np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE) > rng.uniform(80, 300)] = 0
        thump = np.fft.irfft(spec, n) * np.exp(-np.arange(n) / (rng.uniform(0.05, 0.2) * SAMPLE_RATE))
        thumps.append((thump / np.abs(thump).max() * 0.5).astype(np.float32))
    bursts["thumps and doors"] = thumps

    fade = np.sin(np.linspace(0.0, np.pi / 2, SAMPLE_RATE // 200, dtype=np.float32)) ** 2

    def outcome(sound: np.ndarray) -> Counter:
        # Faded in and out over 5 ms: a 1-s clip's own room noise and DC offset, pasted into the
        # quiet, would otherwise start and stop with a step that no microphone makes.
        sound = sound.copy()
        sound[:len(fade)] *= fade
        sound[-len(fade):] *= fade[::-1]
        cuts = cut_audio(word_stream([sound], [1.0], seed=seed).audio)
        return Counter(["kept" if c.kept else "+".join(c.problems) for c in cuts] or ["nothing cut"])

    real = sorted((data / "speech_real").glob("*/*.wav"))
    seen = Counter()
    refused = []
    for path in real:
        result = outcome(load_clip(path))
        seen += result
        if NO_VOICE in "+".join(result):
            refused.append(f"{path.parent.name}/{path.name}")
    print(f"real words (speech_real, {len(real)} clips): "
          + ", ".join(f"{k} {v}" for k, v in seen.most_common()))
    if refused:
        print(f"  refused for no voice: {', '.join(refused)}")
    for name, sounds in bursts.items():
        seen = sum((outcome(x) for x in sounds), Counter())
        print(f"{name} ({len(sounds)} bursts): " + ", ".join(f"{k} {v}" for k, v in seen.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Keyword recall and false alarms from a quiet microphone, and with quiet sounds far off: the
runtime's quiet-input handling (the VAD hearing down to -70 dBFS, windows under the model's RMS
floor raised to it) against the levels before it (-60 dBFS, no gain).

Streams (written once under --out): every keyword clip between pauses of 0.5-3 s (bench_reject.py's
streams), then:
  `quiet-mic-A`  over a quiet room (pink, white and tap noise at -65 dBFS RMS), the whole stream
                 A dB quieter (a microphone far away or turned down), over the microphone's own
                 white noise at -90 dBFS RMS;
  `keys-A`       keys typed at -50 dBFS in that room (bench_rumble.py's `keys-50`), A dB quieter;
  `far-talk`     the words as they are, over real read speech (speech_other's read speech, never
                 a keyword list) at -60 dBFS RMS in a room at -75: a radio in another room;
  `far-sounds`   the words as they are, over the six background recordings (dishes, a cat, an
                 exercise bike, a tap, noise) stepping every 0.7-1.3 s around -60 dBFS.
Each stream goes through the streaming detector (what kws-listen --input runs) the old way
(`quiet_gain_db=0`, both VADs' `min_level_dbfs=-60`) and with the defaults.

    .venv/bin/python benchmarks/bench_quiet.py                 # speech_real's 300 clips, base.onnx
    .venv/bin/python benchmarks/bench_quiet.py --vad-dbfs -75         # another VAD floor than -70
    .venv/bin/python benchmarks/bench_quiet.py --work work-data/reject/espeak-en-us+f4-s11 \\
        --model work-data/reject/espeak-en-us+f4-s11/variants/NAME/model.onnx

About 15 s a stream and way on this 2-core machine once the streams are written.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

import bench_reject as br  # noqa: E402
import bench_rumble  # noqa: E402

from kws_edge.audio import load_16k  # noqa: E402
from kws_edge.labels import SAMPLE_RATE  # noqa: E402
from kws_edge.spotter import SpotterOptions  # noqa: E402
from kws_edge.vad import VadOptions  # noqa: E402

SELF_NOISE_DBFS = -90.0
ATTENUATIONS = {"quiet-mic": (0, 20, 30, 40), "keys": (0, 20)}
READ_SPEECH = ("speechbrain", "coqui", "pyroomacoustics")


def track(kind: str, seconds: float, seed: int, talk: np.ndarray | None) -> tuple[np.ndarray, float]:
    n = int(seconds * SAMPLE_RATE) + SAMPLE_RATE
    if kind == "room-65":
        return bench_rumble.ORIGINAL_TRACK("stationary", seconds, seed, talk)[0], -65.0
    if kind == "far-talk":
        files = sorted(f for d in READ_SPEECH for f in (br.SHARED / "speech_other" / d).rglob("*.ogg"))
        speech = br.unit(np.concatenate([load_16k(f) for f in files]))
        room = bench_rumble.ORIGINAL_TRACK("stationary", seconds, seed, talk)[0]
        return br.unit(np.resize(speech, n) + 10 ** (-15 / 20) * room[:n]), -60.0
    if kind == "far-sounds":
        return bench_rumble.ORIGINAL_TRACK("steps", seconds, seed, talk)[0], -60.0
    return bench_rumble.track(kind, seconds, seed, talk)


def quieter(src: Path, dst: Path, db: float, seed: int) -> None:
    """`src`'s stream `db` dB quieter, over the microphone's own noise."""
    if dst.with_suffix(".csv").is_file():
        return
    audio, rate = sf.read(str(src.with_suffix(".wav")), dtype="float32")
    rng = np.random.default_rng(seed)
    audio = audio * 10 ** (-db / 20) + 10 ** (SELF_NOISE_DBFS / 20) * rng.standard_normal(len(audio))
    sf.write(str(dst.with_suffix(".wav")), audio.astype(np.float32), rate, subtype="PCM_16")
    dst.with_suffix(".csv").write_text(src.with_suffix(".csv").read_text())


def main() -> int:
    p = bench_rumble.parser(__doc__, "quiet")
    p.add_argument("--vad-dbfs", type=float, help="the second way's VAD floor instead of the default's")
    args = p.parse_args()
    br.noise_track = track
    keywords, others, out = bench_rumble.material(args.work, args.out, args.model)
    old_vad = dataclasses.replace(SpotterOptions().segment_vad, min_level_dbfs=-60.0)
    ways = {"as before (-60 dBFS, no gain)": {"quiet_gain_db": 0.0, "vad": VadOptions(min_level_dbfs=-60.0),
                                              "segment_vad": old_vad},
            "defaults": {}}
    if args.vad_dbfs is not None:
        ways.pop("defaults")
        ways[f"VAD floor {args.vad_dbfs:g} dBFS"] = {
            "vad": VadOptions(min_level_dbfs=args.vad_dbfs),
            "segment_vad": dataclasses.replace(old_vad, min_level_dbfs=args.vad_dbfs)}
    streams: list[Path] = []
    for kind, base in (("quiet-mic", "room-65"), ("keys", "keys-50")):
        br.build(out / base, keywords, others, base, args.seed, None)
        for db in ATTENUATIONS[kind]:
            streams.append(out / f"{kind}-{db}")
            quieter(out / base, streams[-1], db, args.seed + db)
    for kind in ("far-talk", "far-sounds"):
        br.build(out / kind, keywords, others, kind, args.seed, None)
        streams.append(out / kind)
    bench_rumble.table(args.model, streams, ways, "stream", 14, 52)
    return 0


if __name__ == "__main__":
    sys.exit(main())

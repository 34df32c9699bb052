"""Keyword recall in loud rooms: what the VAD and the utterance gate cost against listening
without them, as the noise rises toward the words' level.

Streams (written once under --out): every keyword clip between pauses of 0.5-3 s (bench_reject.py's
streams), over bench_reject.py's stationary noise (pink, white and a running tap) and its
level-stepping background recordings, at the RMS level in each stream's name (`stationary-40` is
bench_reject.py's own; speech_real's clips are at their speakers' levels, the loud part of a word
at -22 dBFS RMS for the median clip, half of them between -26 and -15, so -30 is a room about 8 dB
under the median word). Each stream goes through the streaming detector
(what kws-listen --input runs) three ways: the defaults, the gate off (`--max-utterance-ms 0`), and
no VAD at all (`--vad off`, which turns the gate off too). The table gives recall, wrong words and
false alarms per hour. With `--work`, a bench_reject.py fine-tune's held-out keywords sit between
other voices' words, the false alarms show what the gate saves there, and the work folder's own
streams over TV talk (`own_tv`, `others_tv`) are scored too. `--vad-start-db DB` adds a fourth way:
both VADs (the inference VAD and the gate's segmenter) starting speech DB over the noise floor
instead of 8 dB.

    .venv/bin/python benchmarks/bench_loud.py                        # speech_real's 300 clips, base.onnx
    .venv/bin/python benchmarks/bench_loud.py --work work-data/reject/espeak-en-us+f4-s11 \\
        --model work-data/reject/espeak-en-us+f4-s11/variants/NAME/model.onnx [--vad-start-db 6]

About a minute a stream on this 2-core machine, most of it writing the streams the first time.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

import bench_reject as br  # noqa: E402
import bench_rumble  # noqa: E402

from kws_edge.spotter import SpotterOptions  # noqa: E402
from kws_edge.vad import VadOptions  # noqa: E402

NOISES = ("stationary-40", "stationary-30", "stationary-25", "stationary-20", "steps-30", "steps-25")


def track(kind: str, seconds: float, seed: int, talk: np.ndarray | None) -> tuple[np.ndarray, float]:
    """bench_reject's stationary noise or level steps, at the RMS level in `kind`'s name."""
    name, _, level = kind.rpartition("-")
    return bench_rumble.ORIGINAL_TRACK(name, seconds, seed, talk)[0], -float(level)


def main() -> int:
    p = bench_rumble.parser(__doc__, "loud")
    p.add_argument("--vad-start-db", type=float, metavar="DB",
                   help="a fourth way: both VADs start speech DB over the noise floor (default 8)")
    args = p.parse_args()
    br.noise_track = track
    keywords, others, out = bench_rumble.material(args.work, args.out, args.model)
    for noise in NOISES:
        br.build(out / noise, keywords, others, noise, args.seed, None)
    ways = {"defaults": {}, "gate off": {"max_utterance_ms": 0}, "VAD off": {"vad": VadOptions(kind="off")}}
    if args.vad_start_db is not None:
        start = args.vad_start_db
        segment = SpotterOptions().segment_vad
        ways[f"VADs start {start:g} dB"] = {
            "vad": VadOptions(start_db=start, keep_db=min(start, VadOptions().keep_db)),
            "segment_vad": dataclasses.replace(segment, start_db=start, keep_db=min(start, segment.keep_db))}
    streams = [out / noise for noise in NOISES]
    if args.work:
        streams += [args.work / "streams" / name for name in ("own_tv", "others_tv")]
    bench_rumble.table(args.model, streams, ways, "background", 14, 36)
    return 0


if __name__ == "__main__":
    sys.exit(main())

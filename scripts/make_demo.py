"""Make the bundled demo recording: keywords and other speech by held-out voices, over noise.

The voices are in kws-synth's default holdout, so the shipped base model never heard them.
Writes kws_edge/assets/demo.wav (16 kHz mono) and demo.csv (truth: start_s,end_s,label; `other` =
speech that is no keyword), the format `kws-eval --stream` scores.

    .venv/bin/python scripts/make_demo.py [--out-dir kws_edge/assets]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kws_edge.labelled_stream import Piece, build_stream, silence, write_stream
from kws_edge.training import synth_effects as fx
from kws_edge.training.synth_voices import Voice, synthesize

# (voice, text, label): label None = a keyword, the text itself; "other" = not a keyword.
SCRIPT: tuple[tuple[str, str, str | None], ...] = (
    ("espeak:en-gb+m5", "hello there, let me try this", "other"),
    ("espeak:en-us+f4", "yes", None),
    ("espeak:en-gb+m5", "marvin", None),
    ("espeak:en-us+f4", "the weather is nice today", "other"),
    ("espeak:en-gb+m5", "stop", None),
    ("espeak:en-us+f4", "seven", None),
    ("espeak:en-gb+m5", "the kettle is boiling", "other"),
    ("espeak:en-us+f4", "house", None),
    ("espeak:en-gb+m5", "left", None),
    ("espeak:en-us+f4", "sheila", None),
    ("espeak:en-gb+m5", "that was great", "other"),
)


def speak(spec: str, text: str) -> np.ndarray:
    engine, name = spec.split(":", 1)
    return fx.trim_silence(synthesize(Voice(engine, name), text, speed=0.95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    default_out = Path(__file__).resolve().parents[1] / "kws_edge" / "assets"
    parser.add_argument("--out-dir", type=Path, default=default_out)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    pieces = [silence(1.0)]
    for spec, text, label in SCRIPT:
        audio = speak(spec, text)
        audio = audio / (np.abs(audio).max() + 1e-9) * np.float32(rng.uniform(0.3, 0.6))
        pieces.append(Piece(audio.astype(np.float32), label or text))
        pieces.append(silence(float(rng.uniform(1.0, 1.8))))
    # Coloured noise (a fan, a room), not the shared recordings, which stay out of the repository.
    noise = fx.colour_noise(rng, 16000 * 20, "pink")
    audio, rows = build_stream(pieces, background=noise, background_dbfs=-42.0, seed=args.seed)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    wav, csv = write_stream(audio, rows, args.out_dir / "demo.wav", args.out_dir / "demo.csv")
    print(f"wrote {wav} ({len(audio) / 16000:.1f} s) and {csv} ({len(rows)} rows)")


if __name__ == "__main__":
    main()

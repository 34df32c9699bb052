"""`kws-synth`: a varied synthetic Speech Commands-layout dataset from espeak-ng and flite."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from kws_edge.cli_args import Once, Parser, word_list
from kws_edge.errors import KwsError, exit_cleanly_on_sigterm, run_cli, setup_logging
from kws_edge.labels import KEYWORDS

from .synth_voices import DEFAULT_ENGINES, DEFAULT_HOLDOUT, ENGINES

log = logging.getLogger(__name__)

EPILOG = f"""\
examples:
  kws-synth data/synth                          # 35 words x 300 clips + 900 _unknown_, all CPU cores
  kws-synth data/synth --per-word 400 --seed 1  # the base model's training set (see docs/synth.md)
  kws-synth --list-voices                       # every voice, with its speaker id and held-out mark
  kws-synth /tmp/holdout --voices flite:slt --per-word 30 --unknown 0
                                                # a one-voice set of a held-out voice, for fine-tuning
  kws-synth /tmp/small --words yes,no,up --per-word 20 --noise none   # coloured noise only

voices: 'espeak:<voice>[+<variant>]' or 'flite:<voice>'; specs are comma-separated globs,
e.g. 'flite:*', 'espeak:en-us+*', '*+f3'. Without --voices, the default holdout
({DEFAULT_HOLDOUT}) is left out so a base model never hears it; --holdout-voices none
keeps every voice. Output: OUT/<word>/<speaker>_nohash_<n>.wav (16 kHz mono, 1 s), OUT/_unknown_/,
validation_list.txt, testing_list.txt (split by speaker, ~10 %/10 %) and manifest.json.
Needs espeak-ng (sudo apt-get install espeak-ng); flite is optional (sudo apt-get install flite).
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="kws-synth",
        description="Generate a synthetic keyword-spotting dataset in the Speech Commands layout: "
                    "many espeak-ng and flite voices, varied speed/pitch/intonation, rooms, "
                    "microphones and background noise, plus a reject class (_unknown_).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", nargs="?", type=Path, metavar="OUT_DIR",
                   help="folder to create (must be empty or absent unless --overwrite)")
    p.add_argument("--per-word", type=int, default=300, metavar="N", help="clips per keyword (default 300)")
    p.add_argument("--unknown", type=int, default=None, metavar="N",
                   help="clips of the reject class _unknown_ (default 3 x --per-word)")
    p.add_argument("--unknown-mix", metavar="KIND=W,...",
                   help="shares of the reject-class kinds (filler, connected, near_miss, partial, silence, "
                        "noise, word: one of 3,000 common English words alone), e.g. word=1 "
                        "(default: filler=0.3,connected=0.3,near_miss=0.15,partial=0.08,"
                        "silence=0.05,noise=0.12)")
    p.add_argument("--seed", type=int, default=0, help="same seed = bit-identical dataset (default 0)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="parallel worker processes (default: all cores; output does not depend on it)")
    p.add_argument("--noise", action="append", metavar="DIR",
                   help="folder of background-noise recordings to mix in (repeatable; 'none' for "
                        "coloured noise only). Default: ../shared/data/background_noise next to the "
                        "source checkout, if present")
    p.add_argument("--voices", metavar="SPEC", help="only these voices (comma-separated globs)")
    p.add_argument("--holdout-voices", metavar="SPEC",
                   help=f"voices to leave out (default without --voices: {DEFAULT_HOLDOUT}; 'none': none)")
    p.add_argument("--words", metavar="W1,W2,...", action=Once,
                   help="keywords to generate (default: the 35 Speech Commands words)")
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES), metavar="E1,E2",
                   help=f"TTS engines to use, of {','.join(ENGINES)} (default {','.join(DEFAULT_ENGINES)}; "
                        "rhvoice and pico are Debian non-free packages, piper needs its own environment, "
                        "kokoro the kokoro extra: docs/synth.md)")
    p.add_argument("--flite-share", type=float, default=0.4, metavar="F",
                   help="fraction of speech clips spoken by flite voices (default 0.4; flite's voices "
                        "are few but come from recorded human speech)")
    p.add_argument("--no-effects", action="store_true",
                   help="the engines' dry sound (no room, microphone, noise or speed change): for "
                        "listening and comparisons, not for training")
    p.add_argument("--list-voices", action="store_true", help="list the usable voices and exit")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT_DIR")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(x.strip() for x in value.split(",") if x.strip())


def _parse_mix(value: str | None) -> dict[str, float] | None:
    from .synth import UNKNOWN_KINDS

    if value is None:
        return None
    mix: dict[str, float] = {}
    for part in value.split(","):
        kind, _, weight = part.strip().partition("=")
        if kind not in UNKNOWN_KINDS:
            raise KwsError(f"--unknown-mix: unknown kind {kind!r} (choose from {', '.join(UNKNOWN_KINDS)})")
        try:
            mix[kind] = float(weight)
        except ValueError:
            raise KwsError(f"--unknown-mix: {part.strip()!r} is not KIND=WEIGHT") from None
        if mix[kind] < 0:
            raise KwsError(f"--unknown-mix: {kind} has a negative weight")
    if sum(mix.values()) <= 0:
        raise KwsError("--unknown-mix: the weights add up to 0")
    return mix


def _list_voices(engines: tuple[str, ...], voices: str | None, holdout: str | None) -> None:
    from .synth_voices import discover_voices, match_voices, parse_spec, select_voices

    available = discover_voices(engines)
    chosen = set(select_voices(available, voices, holdout))
    for v in available:
        mark = "" if v in chosen else "  (held out)"
        if voices is not None and not match_voices([v], parse_spec(voices)):
            continue
        print(f"{v.speaker_id}  {v.spec}{mark}")
    print(f"{len(chosen)} of {len(available)} voices selected", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> int:
        engines = _split(args.engines) or ()
        holdout = args.holdout_voices
        if holdout is not None and holdout.strip().lower() == "none":
            holdout = ""
        if args.list_voices:
            _list_voices(engines, args.voices, holdout)
            return 0
        if args.out_dir is None:
            raise KwsError("OUT_DIR is required (or use --list-voices); see kws-synth --help")
        noise = None
        if args.noise is not None:
            noise = () if [n.lower() for n in args.noise] == ["none"] else tuple(
                Path(n).expanduser() for n in args.noise if n.lower() != "none")
        words = word_list(args.words) or KEYWORDS
        # Imported here so --help and argument errors stay instant.
        from .synth import SynthOptions, generate
        from .synth_effects import EffectRanges

        opts = SynthOptions(
            out_dir=args.out_dir, words=tuple(words), per_word=args.per_word,
            unknown=args.unknown, seed=args.seed, jobs=args.jobs, noise_dirs=noise, voices=args.voices,
            holdout_voices=holdout, engines=engines, flite_share=args.flite_share, overwrite=args.overwrite,
            effects=EffectRanges.dry() if args.no_effects else EffectRanges(),
            unknown_mix=_parse_mix(args.unknown_mix))
        # The staging folder is removed, as on Ctrl-C.
        exit_cleanly_on_sigterm(f"nothing was written to {args.out_dir}")
        generate(opts)
        return 0

    return run_cli("kws-synth", body)


if __name__ == "__main__":
    sys.exit(main())

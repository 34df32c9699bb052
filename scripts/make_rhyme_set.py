"""Make a reject set of made-up near misses from the base's own keyword clips, one voice at a time.

Fine-tuned on one voice, a model fires most on that voice's words that share a keyword's vowel and
ending ("fix" for six) or its first syllable (docs/rejecting.md): the base's features barely tell
them apart, as its reject class holds few such words. This makes `unknown.make_reject_clips`'
rhymes and swapped words from the keyword clips of each voice of the given kws-synth sets (a
clip's voice is its file name's speaker: `<speaker>_nohash_<n>.wav`), so each made-up word is in
one voice and room, as the fine-tune's are in the user's:

    WORK/rhymes/_unknown_/hNNNNN.wav     16 kHz mono PCM-16, one window each

    .venv/bin/python scripts/make_rhyme_set.py WORK --sets WORK/synth WORK/voices [--clips 6000]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_edge.atomic import staged_folder
from kws_edge.errors import KwsError, run_cli
from kws_edge.labels import KEYWORDS, SAMPLE_RATE

RHYME_SET_MIX = {"rhyme": 0.8, "swap": 0.2}


def voice_clips(sets: list[Path]) -> dict[str, list[tuple[int, Path]]]:
    """speaker -> [(keyword index, clip path)] over the keyword folders of `sets`."""
    from kws_edge.training.holdout import speaker_of

    by_voice: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for root in sets:
        for k, word in enumerate(KEYWORDS):
            for path in sorted((root / word).glob("*.wav")):
                by_voice[f"{root.name}/{speaker_of(path.name) or path.stem}"].append((k, path))
    return by_voice


def build(work: Path, sets: list[Path], clips: int, seed: int) -> None:
    from kws_edge.audio import load_16k
    from kws_edge.training.audio_io import fit_window
    from kws_edge.training.unknown import make_reject_clips

    for root in sets:
        if not root.is_dir():
            raise KwsError(f"{root}: no such folder (a kws-synth set)")
    by_voice = {v: c for v, c in voice_clips(sets).items() if len({k for k, _ in c}) >= 2}
    total = sum(len(c) for c in by_voice.values())
    if not total:
        raise KwsError(f"{' '.join(str(p) for p in sets)}: no voice with keyword clips of two or more words")
    rng = np.random.default_rng(seed)
    made: dict[str, int] = defaultdict(int)
    written = 0
    final = work / "rhymes"
    # Built beside its place and swapped in when whole, so an interrupted run leaves no set that
    # make_base_model.sh would take for a finished one.
    with staged_folder(final) as staging:
        out = staging / "_unknown_"
        out.mkdir()
        for i, voice in enumerate(sorted(by_voice)):
            group = by_voice[voice]
            share = clips * len(group) / total
            n = int(share) + int(rng.random() < share - int(share))  # stochastic rounding
            if n == 0:
                continue
            x = np.stack([fit_window(load_16k(p)) for _, p in group])
            classes = np.asarray([k for k, _ in group])
            made_clips, kinds = make_reject_clips(x, classes, n, seed=seed * 100003 + i,
                                                  mix=RHYME_SET_MIX, names=list(KEYWORDS))
            for kind, count in kinds.items():
                made[kind] += count
            for clip in made_clips:
                sf.write(str(out / f"h{written:05d}.wav"), clip, SAMPLE_RATE, subtype="PCM_16")
                written += 1
    print(f"make_rhyme_set: {written} clips from {len(by_voice)} voices ("
          + ", ".join(f"{k} {v}" for k, v in sorted(made.items())) + f") in {final / '_unknown_'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("--sets", type=Path, nargs="+", required=True)
    parser.add_argument("--clips", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    return run_cli("make_rhyme_set", lambda: build(args.work, args.sets, args.clips, args.seed))


if __name__ == "__main__":
    raise SystemExit(main())

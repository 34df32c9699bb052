"""Lay out the real speech of ../shared/data for training the base model, held-out part excluded.

    python scripts/make_real_sets.py WORK [--data ../shared/data]

Writes folders of symbolic links (no audio is copied):
    WORK/real_train/<word>/<speaker>_nohash_<n>.flac   speech_commands_train minus held-out speakers
    WORK/other_train/_unknown_/<file>                  speech_other/picovoice wake words minus held-out words
    WORK/other_train/_talk/<file>                      read speech of speech_other minus held-out sources
                                                       (cut into 1-s windows as negatives)
and prints how many files each side holds. With `--reject N`, also
    WORK/real_reject/_unknown_/rNNNNN.wav                N clips of real voices that are no keyword:
                                                       reversed real keyword clips, splices of two
                                                       different words, chains of word pieces
so that "a real voice" is not evidence of one of the 12 words with real clips. Which files are
held out is decided by kws_edge.training.holdout, the rule benchmarks/bench_base.py measures with.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kws_edge.errors import KwsError, run_cli
from kws_edge.training.holdout import is_heldout_other, is_heldout_speaker, speaker_of

AUDIO = {".wav", ".flac", ".ogg"}


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    dst.symlink_to(src.resolve())


def build(data: Path, work: Path) -> dict[str, int]:
    commands = data / "speech_commands_train"
    other = data / "speech_other"
    for need in (commands, other):
        if not need.is_dir():
            raise KwsError(f"{need}: missing (expected the real speech of ../shared/data)")
    counts = {"real_train": 0, "real_heldout": 0, "other_train": 0, "talk_train": 0, "other_heldout": 0}
    for out in ("real_train", "other_train"):
        target = work / out
        if target.exists():  # rebuilt from scratch so a changed rule leaves no stale links
            for link in sorted(target.rglob("*"), reverse=True):
                link.unlink() if not link.is_dir() or link.is_symlink() else link.rmdir()
    for path in sorted(commands.glob("*/*")):
        if path.suffix.lower() not in AUDIO:
            continue
        speaker = speaker_of(path.name)
        if speaker is not None and is_heldout_speaker(speaker):
            counts["real_heldout"] += 1
            continue
        _link(path, work / "real_train" / path.parent.name / path.name)
        counts["real_train"] += 1
    for path in sorted(other.rglob("*")):
        if path.suffix.lower() not in AUDIO:
            continue
        rel = path.relative_to(other).as_posix()
        if is_heldout_other(rel):
            counts["other_heldout"] += 1
            continue
        # Wake words are single utterances (a clip each); read speech is long (cut into windows).
        if rel.startswith("picovoice/"):
            _link(path, work / "other_train" / "_unknown_" / path.name)
            counts["other_train"] += 1
        else:
            _link(path, work / "other_train" / "_talk" / rel.replace("/", "__"))
            counts["talk_train"] += 1
    return counts


REAL_REJECT_MIX = {"reversed": 0.3, "splice": 0.35, "chain": 0.35}


def build_reject(work: Path, n: int, seed: int = 1) -> int:
    import numpy as np
    import soundfile as sf

    from kws_edge.labels import SAMPLE_RATE
    from kws_edge.training.data import load_windows, scan_dataset
    from kws_edge.training.unknown import make_reject_clips

    index = scan_dataset(work / "real_train")
    keys = [k for folder in index.folders for k in index.clips[folder]]
    classes = np.asarray([index.folders.index(k.split("/", 1)[0]) for k in keys])
    x, loaded, _ = load_windows(index, keys)
    readable = set(loaded)
    keep = np.asarray([k in readable for k in keys])
    clips, made = make_reject_clips(x, classes[keep], n, seed=seed, mix=REAL_REJECT_MIX)
    out = work / "real_reject" / "_unknown_"
    out.mkdir(parents=True, exist_ok=True)
    for i, clip in enumerate(clips):
        sf.write(str(out / f"r{i:05d}.wav"), clip, SAMPLE_RATE, subtype="PCM_16")
    print("make_real_sets: real_reject " + ", ".join(f"{k} {v}" for k, v in made.items()))
    return len(clips)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--reject", type=int, default=0, metavar="N",
                        help="also write N reject clips made from the real keyword clips")
    args = parser.parse_args()

    def run() -> None:
        counts = build(args.data, args.work)
        print("make_real_sets: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        last = args.work / "real_reject" / "_unknown_" / f"r{args.reject - 1:05d}.wav"
        if args.reject and not last.is_file():
            build_reject(args.work, args.reject)

    return run_cli("make_real_sets", run)


if __name__ == "__main__":
    sys.exit(main())

"""Link several kws-synth sets (different seeds) into one Speech Commands layout, for a bigger
training set without synthesising it again. Clips are symlinked, never copied; each set's clip
numbers are offset so names stay unique, and their validation/testing lists are joined (kws-synth
splits by voice hash, so a voice is in the same split in every set).

    python scripts/merge_synth.py OUT SET [SET ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

from kws_edge.errors import KwsError, run_cli

LISTS = ("validation_list.txt", "testing_list.txt")
NAME = re.compile(r"(.+)_nohash_(\d+)\.wav$")
OFFSET = 10_000  # more clips per voice and word than any kws-synth set holds


def renamed(rel: str, offset: int) -> str:
    folder, name = rel.split("/")
    match = NAME.match(name)
    if match is None:
        raise KwsError(f"{rel}: not a kws-synth clip name (<voice>_nohash_<n>.wav)")
    return f"{folder}/{match.group(1)}_nohash_{int(match.group(2)) + offset}.wav"


def merge(out: Path, sets: list[Path]) -> None:
    if out.exists():
        raise KwsError(f"{out}: already exists; remove it first")
    for src in sets:
        if not (src / "manifest.json").is_file():
            raise KwsError(f"{src}: not a kws-synth set (no manifest.json)")
    out.mkdir(parents=True)
    lists: dict[str, list[str]] = {name: [] for name in LISTS}
    manifests = []
    for i, src in enumerate(sets):
        offset = i * OFFSET
        for wav in sorted(src.glob("*/*.wav")):
            dst = out / renamed(f"{wav.parent.name}/{wav.name}", offset)
            dst.parent.mkdir(exist_ok=True)
            os.symlink(wav.resolve(), dst)
        for name in LISTS:
            lines = (src / name).read_text().split() if (src / name).is_file() else []
            lists[name] += [renamed(line, offset) for line in lines]
        manifests.append(json.loads((src / "manifest.json").read_text()))
    for name, rows in lists.items():
        (out / name).write_text("".join(f"{row}\n" for row in rows))
    (out / "manifest.json").write_text(json.dumps({"merged": [str(s) for s in sets], "sets": manifests}))
    print(f"{out}: {sum(1 for _ in out.glob('*/*.wav'))} clips from {len(sets)} sets")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("sets", type=Path, nargs="+")
    args = parser.parse_args()
    return run_cli("merge_synth", lambda: merge(args.out, args.sets))


if __name__ == "__main__":
    raise SystemExit(main())

"""Which real recordings of `../shared/data` are held out of the base model's training.

The rule is a pure function of the file name, so the recipe that trains the base
(scripts/make_real_sets.py) and the benchmark that measures it (benchmarks/bench_base.py) agree
without a list to keep in sync, and a new file added to the data falls on a fixed side.

- `speech_commands_train/`: a speaker is held out when a hash of their id falls in the lowest
  `HELDOUT_PERCENT` of 100 buckets: all their clips or none, so no held-out voice was ever heard.
- `speech_other/`: the crowd-sourced wake-word recordings carry no speaker id, so whole words are
  held out (the model never hears those words, said by anyone), and one whole source of read
  speech (other speakers than the rest).
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath

HELDOUT_PERCENT = 15
_SALT = "kws-edge-heldout-v1"
# speech_other/picovoice/<word>__<n>.ogg: these words are measurement only.
HELDOUT_OTHER_WORDS = ("computer", "view-glass")
# speech_other/<source>/...: these sources are measurement only.
HELDOUT_OTHER_SOURCES = ("pyroomacoustics",)


def speaker_of(name: str) -> str | None:
    """The speaker of a Speech Commands-style file name `<speaker>_nohash_<n>.<ext>`, else None."""
    stem = PurePath(name).name
    if "_nohash_" not in stem:
        return None
    return stem.split("_nohash_", 1)[0]


def is_heldout_speaker(speaker: str) -> bool:
    digest = hashlib.sha256(f"{_SALT}:{speaker}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % 100 < HELDOUT_PERCENT


def is_heldout_other(relpath: str) -> bool:
    """`relpath` is relative to `speech_other/`, e.g. `picovoice/computer__12.ogg`."""
    parts = PurePath(relpath).parts
    if not parts:
        return False
    if parts[0] in HELDOUT_OTHER_SOURCES:
        return True
    if parts[0] == "picovoice":
        word = parts[-1].split("__", 1)[0]
        return word in HELDOUT_OTHER_WORDS
    return False

"""Write training/common_words.txt: the most frequent English words, for kws-synth's isolated-word
reject clips (`--unknown-mix word=...`).

Needs the `wordfreq` package (not a kws-edge dependency; the list is committed):
    python -m venv /tmp/wf && /tmp/wf/bin/pip install wordfreq
    /tmp/wf/bin/python scripts/make_common_words.py [--count 3000]

Left out: keywords, their homophones and inflections ("cats", "going"), the measuring words of
benchmarks/bench_reject.py and of synth_words.EVAL_WORDS (so the reject benchmark stays a measure
of words no model trained on), tokens that are not plain letters, and a few obscenities.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import wordfreq

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "training" / "common_words.txt"
SUFFIXES = ("s", "es", "ed", "d", "ing", "er", "ers", "y", "ies", "ier", "iest", "ie")
RUDE = {"fuck", "fucking", "fucked", "shit", "porn", "sex", "sexy", "dick", "cock", "pussy", "bitch",
        "ass", "asshole", "cunt", "nigga", "nigger", "whore", "slut", "fag", "penis", "vagina", "rape",
        "boobs", "tits", "cum", "damn", "hell", "crap", "bastard", "piss", "nude", "naked", "xxx"}


def _literal(path: Path, name: str) -> object:
    """A module-level constant from a source file, read without importing it (the training
    package needs torch; this script runs in a bare venv)."""
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") in ("frozenset", "set"):
                value = value.args[0]  # frozenset({...}): the literal inside
            return ast.literal_eval(value)
    raise SystemExit(f"{path}: no {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    keywords = set(_literal(REPO / "kws_edge" / "labels.py", "KEYWORDS"))
    words_py = REPO / "training" / "synth_words.py"
    # synth_words.HOMOPHONES, and spellings an engine says like a keyword that no list would hold.
    homophones = set(_literal(words_py, "HOMOPHONES")) | {"tu", "noh", "ait", "sics", "wun", "tree's"}
    eval_words = set(_literal(words_py, "EVAL_WORDS"))
    neighbours = {w for ws in _literal(REPO / "benchmarks" / "bench_reject.py", "NEAR_NEIGHBOURS").values()
                  for w in ws}
    banned = keywords | homophones | eval_words | neighbours | RUDE
    inflected = {stem + s for k in keywords for stem in (k, k + k[-1]) for s in SUFFIXES}
    out: list[str] = []
    for word in wordfreq.iter_wordlist("en"):
        if not re.fullmatch(r"[a-z]{2,12}", word) or word in banned or word in inflected:
            continue
        out.append(word)
        if len(out) == args.count:
            break
    header = ("# The most frequent English words (wordfreq 'en' list, Robyn Speer et al.; data CC BY-SA\n"
              "# 4.0), less keywords, their homophones and inflections and the reject benchmark's\n"
              "# measuring words.\n"
              "# Made by scripts/make_common_words.py; one word a line, most frequent first.\n")
    OUT.write_text(header + "\n".join(out) + "\n")
    print(f"{OUT}: {len(out)} words")


if __name__ == "__main__":
    main()

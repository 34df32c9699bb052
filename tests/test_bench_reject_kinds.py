"""benchmarks/bench_reject.py: the share of non-keyword items that fire, by kind of item."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # bench_reject imports its sibling bench_stream_accuracy
spec = importlib.util.spec_from_file_location("bench_reject", BENCHMARKS / "bench_reject.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_reject"] = bench  # its dataclass looks its module up while being defined
spec.loader.exec_module(bench)


def test_items_are_near_neighbours_other_words_or_two_words():
    assert bench.item_kind("picks") == "near neighbour"  # a near neighbour of six
    assert bench.item_kind("coffee") == "other word"
    assert bench.item_kind("picks coffee") == "two words"
    assert set(bench.NEIGHBOUR_WORDS) <= set(bench.MEASURE_WORDS)


def test_the_share_that_fires_is_counted_within_each_kind():
    kinds = [bench.item_kind(t) for t in ("picks", "coffee", "fog", "pine", "mix lesson", "spoon")]
    shares = bench.fired_by_kind({0, 3, 5}, kinds)
    assert shares == {"near neighbour": 2 / 3, "other word": 0.5, "two words": 0.0}
    assert bench.fired_by_kind(set(), ["other word"]) == {"other word": 0.0}

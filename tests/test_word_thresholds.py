"""benchmarks/bench_word_thresholds.py: per-word thresholds chosen on decisions, and their rates."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_word_thresholds.py"
spec = importlib.util.spec_from_file_location("bench_word_thresholds", BENCH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_a_word_gets_the_lowest_threshold_that_keeps_its_keywords_and_drops_its_false_alarms():
    items = [("yes", [("yes", 0.9)]), ("other", [("yes", 0.6)]), ("no", [("no", 0.5)]),
             ("other", [("no", 0.2)]), ("other", [])]
    chosen = bench.per_word(items, ["no", "yes"], weight=0.5)
    assert chosen == {"no": 0.3, "yes": 0.65}
    assert bench.rates(items, chosen) == (1.0, 0.0)
    # One threshold for both: 0.5 lets "yes" fire on the other item; 0.7 loses "no".
    assert bench.rates(items, {"no": 0.5, "yes": 0.5}) == (1.0, 1 / 3)
    assert bench.rates(items, {"no": 0.7, "yes": 0.7}) == (0.5, 0.0)

"""Fault 2 and 16: the int8 refusal rule does not hinge on one clip, and the held-out clips are
described for what they are after a refit."""

from __future__ import annotations

import numpy as np
import pytest

from kws_edge.export.calibration import ClipSet, split_for_calibration
from kws_edge.export.report import int8_verdict, sign_test_p


def _report(lost: int, gained: int, n: int, right_both: int) -> dict:
    acc32 = (right_both + lost) / n
    acc8 = (right_both + gained) / n
    return {"clips": n, "clips_lost": lost, "clips_gained": gained,
            "accuracy_drop_points": 100 * (acc32 - acc8), "sign_test_p": sign_test_p(lost, gained)}


def test_sign_test_values():
    assert sign_test_p(0, 0) == 1.0 and sign_test_p(0, 5) == 1.0
    assert sign_test_p(1, 0) == 0.5
    assert sign_test_p(5, 0) == pytest.approx(1 / 32)
    assert sign_test_p(3, 1) == pytest.approx(5 / 16)


@pytest.mark.parametrize("lost,gained,n,accepted", [
    (1, 0, 20, True),      # the flaky case: one clip of twenty is 5 points, chance explains it
    (3, 0, 20, True),      # 15 points on 20 clips: p = 0.125, not evidence of a loss
    (6, 0, 20, False),     # 30 points, p = 0.016: refused
    (12, 1, 20, False),
    (5, 5, 20, True),      # as many won as lost: no drop at all
    (30, 10, 1000, False),  # 2 points on 1000 clips, p = 0.001: refused
    (14, 6, 1000, True),   # 0.8 points: within --max-accuracy-drop 1
])
def test_refusal_needs_a_drop_beyond_chance(lost, gained, n, accepted):
    report = _report(lost, gained, n, right_both=n // 2)
    ok, why = int8_verdict(report, 1.0)
    assert ok is accepted, why
    assert f"lost {lost} and won {gained} of {n}" in why
    assert "\n" not in why


def _clips(keys: list[str]) -> ClipSet:
    return ClipSet(np.zeros((len(keys), 16), dtype=np.float32),
                   np.array([0 if k.startswith("a/") else 1 for k in keys]), [f"/d/{k}" for k in keys])


@pytest.mark.parametrize("refit,label", [
    (None, "checkpoint test split"),
    ({"clips": 8, "epochs": 1}, "checkpoint test split (kept from calibration; the refit model trained "
                                "on these clips)"),
])
def test_held_out_clips_after_a_refit_are_named_so(tmp_path, refit, label):
    keys = [f"{c}/{i}.wav" for c in "ab" for i in range(4)]
    ckpt = {"split": {"test": ["a/0.wav", "b/0.wav"]}, "train_config": {"data": str(tmp_path)},
            "metrics": {"refit": refit}}
    cal, held, how = split_for_calibration(_clips(keys), ckpt, tmp_path / "model.pt", tmp_path)
    assert how == label
    assert sorted(held.paths) == ["/d/a/0.wav", "/d/b/0.wav"] and len(cal) == 6

"""Accuracy, per-class accuracy and confusion matrices (numpy only: kws-eval on ONNX needs no torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict:
    """`confusion[i][j]` counts clips of true class i predicted as j; classes without clips get None."""
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (np.asarray(y_true), np.asarray(y_pred)), 1)
    support = confusion.sum(axis=1)
    per_class = {label: (float(confusion[i, i] / support[i]) if support[i] else None)
                 for i, label in enumerate(labels)}
    n = int(support.sum())
    return {
        "accuracy": float(np.trace(confusion) / n) if n else None,
        "n": n,
        "per_class_accuracy": per_class,
        "support": {label: int(support[i]) for i, label in enumerate(labels)},
        "confusion": confusion.tolist(),
        "labels": list(labels),
    }


def format_report(report: dict) -> list[str]:
    """Human lines: overall accuracy, then per class, worst first."""
    lines = [f"accuracy {report['accuracy']:.4f} on {report['n']} clips"]
    rows = [(acc, label, report["support"][label]) for label, acc in report["per_class_accuracy"].items()
            if acc is not None]
    for acc, label, n in sorted(rows):
        lines.append(f"  {label:<12} {acc:6.3f}  ({n} clips)")
    return lines

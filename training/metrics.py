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


def format_per_word(report: dict, per_line: int = 6) -> list[str]:
    """Per-class accuracy in alphabetical order, several classes a line (a training log's summary:
    36 classes in 6 lines instead of 36)."""
    cells = [f"{label} {acc:.2f}" for label, acc in sorted(report["per_class_accuracy"].items())
             if acc is not None]
    width = max((len(c) for c in cells), default=0)
    return ["  " + "  ".join(f"{c:<{width}}" for c in cells[i:i + per_line]).rstrip()
            for i in range(0, len(cells), per_line)]


def _column_names(labels: Sequence[str], width: int) -> list[str]:
    """Label prefixes as column headers, as short as still tells every label apart (at least
    `width`, the widest count's, characters)."""
    longest = max(len(label) for label in labels)
    for n in range(width, longest + 1):
        names = [label[:n] for label in labels]
        if len(set(names)) == len(names):
            return names
    return list(labels)


def format_confusion(report: dict) -> list[str]:
    """The confusion matrix as text: a header row of (shortened) predicted labels, one row per true
    label. Rows and columns with no clips at all are left out, except the reject class, which is
    always shown: it says how many keywords were rejected (column) and how often the reject class
    itself was taken for a word (row)."""
    labels = list(report["labels"])
    m = np.asarray(report["confusion"], dtype=np.int64)
    unknown = [i for i, label in enumerate(labels) if label.startswith("_")]
    keep = [i for i in range(len(labels)) if m[i].any() or m[:, i].any() or i in unknown]
    cell = max(3, len(str(int(m.max()))) if m.size else 1)
    names = _column_names([labels[i] for i in keep], cell)
    cell = max(cell, max(len(n) for n in names))
    row_width = max(len(labels[i]) for i in keep)
    lines = ["confusion (rows: true label, columns: predicted; . = 0; labels with no clips left out)",
             " " * (row_width + 3) + " ".join(f"{n:>{cell}}" for n in names)]
    for i in keep:
        counts = " ".join(f"{int(m[i, j]) or '.':>{cell}}" for j in keep)
        lines.append(f"  {labels[i]:<{row_width}} {counts}")
    return lines

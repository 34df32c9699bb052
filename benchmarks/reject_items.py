"""Tried and left out (docs/tried.md): which of bench_reject's non-keyword items fire, each scored
alone, centred in one 1-s window, by a checkpoint at a threshold of 0.5, by kind of item
(near neighbour of a keyword, unrelated single word, two words).

    .venv/bin/python benchmarks/reject_items.py WORK_DIR CHECKPOINT own [others ...]
"""

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from bench_reject import NEAR_NEIGHBOURS, load_clips

from kws_edge.training.checkpoint import load_checkpoint, model_from_checkpoint


def centre(x: np.ndarray, n: int = 16000) -> np.ndarray:
    if len(x) >= n:
        s = (len(x) - n) // 2
        return x[s:s + n].astype(np.float32)
    out = np.zeros(n, np.float32)
    s = (n - len(x)) // 2
    out[s:s + len(x)] = x
    return out


def main() -> None:
    work, ck = Path(sys.argv[1]), load_checkpoint(Path(sys.argv[2]))
    model = model_from_checkpoint(ck).eval()
    labels = ck["labels"]
    unk = labels.index("_unknown_")
    neighbours = {w for ws in NEAR_NEIGHBOURS.values() for w in ws}
    for who in sys.argv[3:]:
        clips, names = load_clips(work / f"items_{who}.npz")
        with torch.no_grad():
            p = torch.softmax(model(torch.from_numpy(np.stack([centre(c) for c in clips]))), -1).numpy()
        fires = (p.argmax(1) != unk) & (p.max(1) >= 0.5)
        fired, total = Counter(), Counter()
        for name, f in zip(names, fires, strict=True):
            words = name.split()
            kind = "two words" if len(words) > 1 else ("neighbour" if words[0] in neighbours else "unrelated")
            total[kind] += 1
            fired[kind] += int(f)
        print(who, {k: f"{fired[k]}/{total[k]}" for k in total})


if __name__ == "__main__":
    main()

"""Fine-tuning from the shipped base vs training from scratch, on one voice the base never heard.

Makes a 35 x 30 dataset of a held-out kws-synth voice (default flite:slt), then, on the same
seeded 80/20 split: (a) `kws-train --init base`, (b) `kws-train` from scratch with the same
epoch budget. Prints test accuracy and wall time of each, side by side.

    .venv/bin/python benchmarks/bench_finetune.py [--voice flite:slt] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", default="flite:slt", help="a voice the base model never heard")
    parser.add_argument("--per-word", type=int, default=30)
    parser.add_argument("--init", default="base", help="checkpoint to fine-tune (default: the shipped base)")
    parser.add_argument("--scratch-epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="kws-finetune-"))
    data = work / "voice"
    if not (data / "manifest.json").is_file():
        run([str(BIN / "kws-synth"), str(data), "--voices", args.voice, "--per-word", str(args.per_word),
             "--unknown", "0", "--seed", str(args.seed), "--overwrite"])
    # A custom layout (no split lists) gets the stratified 80/20 split; both runs share it.
    for name in ("validation_list.txt", "testing_list.txt"):
        (data / name).unlink(missing_ok=True)
    rows = []
    fine_out = work / "finetune"
    secs = run([str(BIN / "kws-train"), "--data", str(data), "--init", args.init, "--out", str(fine_out),
                "--seed", str(args.seed)])
    rows.append(("fine-tune from " + args.init, fine_out, secs))
    scratch_out = work / "scratch"
    secs = run([str(BIN / "kws-train"), "--data", str(data), "--out", str(scratch_out),
                "--seed", str(args.seed), "--split-file", str(fine_out / "split.json"),
                "--epochs", str(args.scratch_epochs)])
    rows.append(("from scratch", scratch_out, secs))
    print(f"voice {args.voice}, {args.per_word} clips per word, data in {data}")
    print(f"{'run':<24} {'test acc':>9} {'test clips':>10} {'epochs':>7} {'wall s':>8}")
    for name, out, secs in rows:
        metrics = json.loads((out / "metrics.json").read_text())
        n_test = sum(metrics["test"]["support"].values()) if "support" in metrics.get("test", {}) else "?"
        print(f"{name:<24} {metrics['test_accuracy']:>9.4f} {n_test:>10} {metrics['epochs']:>7} {secs:>8.1f}")


if __name__ == "__main__":
    main()

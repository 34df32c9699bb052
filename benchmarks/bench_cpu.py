"""CPU an hour of audio through the streaming detector (what `kws-listen --input` runs), side by side.

    .venv/bin/python benchmarks/bench_cpu.py --against REV           # this checkout against git revision REV
    .venv/bin/python benchmarks/bench_cpu.py --set highpass_hz=0     # a SpotterOptions field changed

bench_stream.py's hour (real keywords dropped into real noise; written once under --out), decoded
into memory, through the spotter alone in a fresh process on one thread, each configuration in
turn, `--runs` times: CPU seconds (the fastest and the median; this machine is shared, so the
fastest is the figure), events and windows scored, and each configuration's fastest over the
first's. `--against` checks REV out into a temporary git worktree and runs its `kws_edge` on the
same model file (the checkout's `base.onnx` by default), removing the worktree afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

CHILD = """
import json, sys, time
from kws_edge.onnx_model import load_model
from kws_edge.sources import FileSource
from kws_edge.spotter import KeywordSpotter, SpotterOptions
options = SpotterOptions(batch_windows=16, **json.loads(sys.argv[3]))  # as kws-listen --input
spotter = KeywordSpotter(load_model(sys.argv[2]), options)
with FileSource(sys.argv[1], rate=16000) as source:
    chunks = list(source)
started = time.process_time()
events = sum(len(spotter.process(c)) for c in chunks) + len(spotter.flush())
print(json.dumps({"cpu": time.process_time() - started, "events": events,
                  "windows": spotter.stats.windows_scored}))
"""
ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def hour_file(out: Path) -> Path:
    from bench_stream import make_stream_file

    wav = out / "hour.wav"
    if not wav.is_file():
        out.mkdir(parents=True, exist_ok=True)
        make_stream_file(wav, 60.0, REPO.parent / "shared" / "data")
    return wav


def compare(configs: list[tuple[str, Path, dict]], model: Path, out: Path, runs: int = 3) -> None:
    """Print each configuration's CPU an hour: `configs` are (name, the folder its `kws_edge` is
    imported from, SpotterOptions fields besides batch_windows), run in turn `runs` times."""
    wav = hour_file(out)
    results: dict[str, list[dict]] = {name: [] for name, _, _ in configs}
    for _ in range(runs):
        for name, root, options in configs:
            env = dict(os.environ, **ONE_CORE, PYTHONPATH=str(root))
            # Run from outside the checkout, so that `kws_edge` comes from `root` alone.
            res = subprocess.run([sys.executable, "-c", CHILD, str(wav.resolve()), str(model.resolve()),
                                  json.dumps(options)], capture_output=True, text=True, env=env,
                                 cwd=tempfile.gettempdir())
            if res.returncode:
                sys.exit(f"bench_cpu: {name} failed:\n{res.stderr[-2000:]}")
            results[name].append(json.loads(res.stdout.splitlines()[-1]))
    first = min(r["cpu"] for r in results[configs[0][0]])
    width = max(len(name) for name in results) + 2
    print(f"{'':<{width}}{'fastest s':>10}{'median s':>10}{'ratio':>8}{'events':>8}{'windows':>9}")
    for name, rows in results.items():
        cpu = [r["cpu"] for r in rows]
        print(f"{name:<{width}}{min(cpu):>10.2f}{statistics.median(cpu):>10.2f}{min(cpu) / first:>8.2f}"
              f"{rows[-1]['events']:>8}{rows[-1]['windows']:>9}")
    print(f"(CPU seconds for an hour of audio, {runs} runs each, one thread)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", metavar="REV", help="a git revision to run side by side with this checkout")
    p.add_argument("--set", metavar="FIELD=VALUE", action="append", default=[],
                   help="a SpotterOptions field set to VALUE (a number), against the defaults; repeatable")
    p.add_argument("--model", type=Path, default=REPO / "kws_edge" / "models" / "base.onnx")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", type=Path, default=REPO / "work-data" / "rumble")
    args = p.parse_args()
    if not args.against and not args.set:
        p.error("give --against REV or --set FIELD=VALUE")
    configs: list[tuple[str, Path, dict]] = []
    for item in args.set:
        field, _, value = item.partition("=")
        configs.append((item, REPO, {field: json.loads(value)}))
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            tree = Path(tmp) / "rev"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree),
                            args.against], check=True)
            configs.append((args.against, tree, {}))
        try:
            compare(configs + [("this checkout", REPO, {})], args.model, args.out, args.runs)
        finally:
            if args.against:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                               check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

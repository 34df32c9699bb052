"""Training speed: kws-train from scratch, kws-train fine-tuning, and a tutorial-style loop, side by side.

    .venv/bin/python benchmarks/bench_train.py [--work DIR] [--tutorial-epochs N]

Builds (once, cached in --work) two custom datasets of the 35 words x 30 clips with espeak-ng:
"base" (10 voices, varied speed and pitch) and "personal" (one voice the base never heard, small
speed/pitch jitter: the seed's "30 recordings of each word in one person's voice"). Then, on the
same machine:
  1. `kws-train` from scratch on "base" (the seed's recipe: Adam 1e-3, StepLR 20, CrossEntropy),
  2. `kws-train --init <1's model.pt>` on "personal" (fine-tuning defaults; `--init base` when
     the shipped base checkpoint exists) -- the seed's task, timed as one whole command,
  3. a tutorial-style loop on "personal": a per-sample torch Dataset that loads and resamples
     each file on every access, a DataLoader (batch 256), the same M5, Adam, StepLR, no augmentation.
Prints wall time (whole command, data loading included) and training throughput (samples/s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# The same OpenMP setting kws-train uses, for every contender (set before torch is imported):
# the comparison is about the training pipeline, not about spin-waits on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from audiogen import espeak, write_wav  # noqa: E402

from kws_edge.labels import KEYWORDS  # noqa: E402

VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-us+f3", "en-gb-x-rp+m3", "en-029+f2", "en-us+m7",
          "en-gb+f4", "en-us+croak", "en+klatt2")
PERSONAL_VOICE = "en-gb-x-gbcwmd+f2"
PER_WORD = 30


def build_dataset(root: Path, per_word: int = PER_WORD, seed: int = 0, personal: bool = False) -> Path:
    """35 x per_word clips; cached: an existing complete dataset is reused."""
    done = root / ".complete"
    if done.is_file():
        return root
    rng = np.random.default_rng(seed)
    jobs = []
    for word in KEYWORDS:
        for i in range(per_word):
            if personal:
                jobs.append((word, i, PERSONAL_VOICE, int(rng.integers(140, 185)), int(rng.integers(40, 60)),
                             float(rng.uniform(0.002, 0.006))))
            else:
                jobs.append((word, i, VOICES[(i + len(word)) % len(VOICES)], int(rng.integers(110, 210)),
                             int(rng.integers(15, 85)), float(rng.uniform(0.002, 0.01))))

    def make(job) -> None:
        word, i, voice, speed, pitch, noise = job
        audio = espeak(word, voice, speed=speed, pitch=pitch)
        audio = audio + np.random.default_rng(i).normal(0, noise, audio.shape).astype(np.float32)
        write_wav(root / word / f"{voice.replace('+', '_')}_{i:03d}.wav", audio)

    print(f"building {len(jobs)} espeak-ng clips in {root} ...", flush=True)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(make, jobs))
    done.write_text("ok\n")
    return root


def run_train(args: list[str], out: Path) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "kws_edge.training.train_cli", *args, "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, json.loads((out / "metrics.json").read_text())


def tutorial_loop(data: Path, epochs: int, batch_size: int = 256, n_channel: int = 32) -> dict:
    """The torchaudio-tutorial shape: a Dataset that loads each file and resamples it to the
    model's 8 kHz on every access, a DataLoader, M5 at 8 kHz (our M5 with an identity resampler:
    the same layers), Adam 1e-3, StepLR(20, 0.1), CrossEntropy, no augmentation."""
    import soundfile as sf
    import torch
    import torch.nn.functional as F
    import torchaudio.functional as AF

    from kws_edge.training.model import M5, M5Config

    rate_8k = 8000

    files = sorted(data.glob("*/*.wav"))
    words = sorted({f.parent.name for f in files})

    class PerFile(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(files)

        def __getitem__(self, i: int):
            audio, rate = sf.read(str(files[i]), dtype="float32")
            wav = AF.resample(torch.from_numpy(audio), rate, rate_8k)
            wav = torch.nn.functional.pad(wav[:rate_8k], (0, max(0, rate_8k - wav.shape[0])))
            return wav, words.index(files[i].parent.name)

    torch.manual_seed(0)
    model = M5(M5Config(n_output=len(words), sample_rate=rate_8k, model_rate=rate_8k,
                        window_samples=rate_8k, n_channel=n_channel))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.1)
    loader = torch.utils.data.DataLoader(PerFile(), batch_size=batch_size, shuffle=True)
    seen = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
        sched.step()
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "samples_per_s": seen / wall, "epochs": epochs}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "kws-bench-train",
                   help="cache folder for the dataset and runs (default: $TMPDIR/kws-bench-train)")
    p.add_argument("--tutorial-epochs", type=int, default=4)
    p.add_argument("--scratch-epochs", type=int, default=None, help="override the scratch epoch count")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = build_dataset(args.work / "data35x30")
    personal = build_dataset(args.work / "personal35x30", seed=1, personal=True)
    print(f"dataset ready ({time.perf_counter() - t0:.1f} s)")
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"cuda={torch.cuda.is_available()}, load average {os.getloadavg()[0]:.1f}")

    extra = ["--epochs", str(args.scratch_epochs)] if args.scratch_epochs else []
    scratch_wall, scratch = run_train(["--data", str(data), *extra], args.work / "scratch")
    print(f"scratch:    wall {scratch_wall:6.1f} s  train {scratch['train_seconds']:6.1f} s  "
          f"{scratch['samples_per_s']:7.0f} samples/s  epochs {scratch['epochs']}  "
          f"test acc {scratch['test_accuracy']:.3f}", flush=True)

    from kws_edge.models import BASE_CHECKPOINT

    init = "base" if BASE_CHECKPOINT.is_file() else str(args.work / "scratch" / "model.pt")
    ft_wall, ft = run_train(["--data", str(personal), "--init", init], args.work / "finetune")
    print(f"fine-tune:  wall {ft_wall:6.1f} s  train {ft['train_seconds']:6.1f} s  "
          f"{ft['samples_per_s']:7.0f} samples/s  epochs {ft['epochs']}  test acc {ft['test_accuracy']:.3f}"
          f"  (init {init})", flush=True)

    # The tutorial loop at the width of each model it is compared with: scratch trains a
    # 32-channel M5, the fine-tune trains the base's width.
    from kws_edge.training.checkpoint import load_checkpoint

    width = int(load_checkpoint(args.work / "finetune" / "model.pt")["model_config"]["n_channel"])
    tuts = {w: tutorial_loop(personal, args.tutorial_epochs, n_channel=w) for w in sorted({32, width})}
    for w, tut in tuts.items():
        print(f"tutorial:   wall {tut['wall_s']:6.1f} s for {tut['epochs']} epochs  "
              f"{tut['samples_per_s']:7.0f} samples/s (M5 {w} channels; per-item load + resample to 8 kHz, "
              "DataLoader, batch 256)")
    print(f"ratios: scratch/tutorial {scratch['samples_per_s'] / tuts[32]['samples_per_s']:.1f}x, "
          f"fine-tune/tutorial {ft['samples_per_s'] / tuts[width]['samples_per_s']:.1f}x "
          f"(both at the trained model's width); fine-tune wall {ft_wall:.1f} s (target < 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`kws-train`: train M5 (or fine-tune a checkpoint) on a folder or ZIP of 1-s clips."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from kws_edge.cli_args import Once, Parser, word_list
from kws_edge.errors import KwsError, run_cli, setup_logging
from kws_edge.labels import UNKNOWN_LABEL

log = logging.getLogger("kws_edge.training.train_cli")

# The seed's recipe (from scratch) and the fine-tuning recipe chosen by measurement
# (docs/training.md); flags given on the command line always win over both.
SCRATCH_DEFAULTS = {"epochs": 60, "batch_size": 128, "lr": 1e-3, "lr_step": 20, "lr_gamma": 0.1,
                    "patience": 10, "freeze": "0", "select": "best", "speed": 0.0,
                    "room_prob": 0.0}
# Generated reject clips per median word class. Fine-tuning the shipped base on one held-out voice
# (35 x 30 clips, bench_finetune.py / bench_stream_accuracy.py, docs/training.md): ratio 4 instead
# of 2 cost clip accuracy (mean of 3 seeds 0.952 vs 0.970) for few fewer false alarms on connected
# speech (66 vs 79/h with the utterance gate); 2 keeps the accuracy.
SCRATCH_REJECT_RATIO = 1.5
FINETUNE_REJECT_RATIO = 4.0
# A fine-tune's words with fewer clips than this get a warning (the recipe records 30 a word).
FEW_CLIPS = 15
# Fine-tuning: 2-3 validation clips a word cannot rank epochs (early stopping picked epoch 6 of
# 26 on one voice), so a fixed 40-epoch schedule keeps the last weights; +-10% speed changes
# stand in for the ways one speaker says a word. Over 6 fine-tunes of held-out voices (3 seeds x
# f4/slt) that took stream recall from 0.827 to 0.846, and over 6 splits of the real-speech
# clips test accuracy from 0.603 to 0.631 (docs/training.md). Random rooms and microphones on 80%
# of the clips stand in for where and with what the user will be heard: real-speech test accuracy
# 0.647 -> 0.675 (6 splits), held-out synthetic voices 0.956 -> 0.971 (6 fine-tunes).
FINETUNE_DEFAULTS = {"epochs": 40, "batch_size": 128, "lr": 2e-3, "lr_step": 20, "lr_gamma": 0.1,
                     "patience": 20, "freeze": "1", "select": "last", "speed": 0.1,
                     "room_prob": 0.8}

EPILOG = """\
datasets (--data PATH, a folder or a .zip):
  custom:           PATH/<word>/*.wav            (wrapping folders are fine: dataset/<word>/*.wav)
  Speech Commands:  PATH/<word>/<speaker>_nohash_<n>.wav, with validation_list.txt / testing_list.txt
                    (honoured) and _background_noise_/ (cut into 1-s reject-class windows)
  PATH/_unknown_/*.wav holds clips of the reject class (noise, other speech) in either layout.
  Labels = the word folders in lower case, sorted, + _unknown_ last (--words picks a subset; the
  other folders then count as _unknown_); one word alone trains against the generated reject
  class. Audio may be WAV/FLAC/OGG/MP3, any rate, mono or stereo: it is converted to 16 kHz mono
  once, and clips are padded / cropped to the second that holds the most sound.
  Without split lists the split is stratified and seeded: 80% train (10% of it validation), 20%
  test, recorded in OUT/split.json. A dataset with no _unknown_ clips gets generated ones in
  train/val (silence, coloured and real noise, reversed words, splices of two words).

bad input:
  an unreadable file inside a class folder (corrupt, empty, not audio) is SKIPPED with a warning
  and the count is reported; a missing path, an unsafe ZIP, an empty class folder, a class with
  fewer than 2 clips, one class with no reject class to make, or a checkpoint that is not one /
  does not fit is an ERROR (one line, exit status 2, nothing written).

outputs (in --out):
  model.pt       the kept model: best validation epoch (--select best), last epoch (--select
                 last), or the refit on all clips (--refit); input for kws-export and kws-eval
  metrics.json   test accuracy (of the measured run), per-class accuracy, confusion matrix,
                 epochs, seconds, samples/s, refit
  confusion.png  test confusion matrix
  split.json     which file went to train / val / test
  resume.pt      written after every epoch while training; Ctrl-C keeps it, --resume continues
                 (with resume-split.json, the running split; split.json is replaced only with model.pt)

examples:
  kws-train --data dataset.zip --out runs/mine                  # train from scratch
  kws-train --data dataset/ --init base --out runs/mine         # fine-tune the shipped model
  kws-train --data dataset/ --init runs/a/model.pt --words yes,no,stop --freeze conv1,conv2
  kws-train --out runs/mine --data dataset/ --resume            # continue after Ctrl-C
  torchrun --nproc-per-node 2 -m kws_edge.training.train_cli --data ... --out ...   # DDP
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="kws-train", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Train the M5 keyword-spotting model on a dataset of 1-second clips, or fine-tune an "
                    "existing checkpoint (--init) on your own recordings. Uses the GPU when there is one.")
    p.add_argument("--data", required=True, metavar="PATH", nargs="+", action="extend",
                   help="dataset folder(s) or .zip(s) (layouts below); several are trained on together")
    p.add_argument("--out", default="runs/kws", metavar="DIR", action=Once,
                   help="output folder (default: runs/kws)")
    p.add_argument("--init", metavar="CKPT|base|base-b", action=Once,
                   help="start from this checkpoint ('base' = the shipped model, 'base-b' = the second "
                        "shipped one, for a pair) and fine-tune; switches to the fine-tuning defaults below")
    g = p.add_argument_group("training knobs (defaults: from scratch / with --init)")
    g.add_argument("--epochs", type=int, help="maximum epochs (60 / 40)")
    g.add_argument("--batch-size", type=int,
                   help="clips per step (128 / 128; x8 on a GPU; smaller for tiny datasets so that an epoch "
                        "has at least 4 steps)")
    g.add_argument("--lr", type=float, help="Adam learning rate (1e-3 / 2e-3)")
    g.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay (0)")
    g.add_argument("--lr-step", type=int, help="StepLR: lower the rate every N epochs (20)")
    g.add_argument("--lr-gamma", type=float, help="StepLR factor (0.1)")
    g.add_argument("--patience", type=int, help="stop after N epochs without a better val score (10 / 20)")
    g.add_argument("--select", choices=("best", "last"),
                   help="keep the best validation epoch (early stopping) or the last one (best / last)")
    g.add_argument("--freeze", metavar="N|BLOCKS",
                   help="freeze the first N conv blocks or named ones, e.g. 2 or conv1,conv2 (0 / 1)")
    g.add_argument("--seed", type=int, default=0, help="seed for split, init and augmentation (0)")
    g.add_argument("--no-augment", action="store_true", help="turn off shift/gain/noise augmentation")
    g.add_argument("--shift-ms", type=float, help="augmentation: random time shift up to +-MS (100)")
    g.add_argument("--gain-db", type=float, help="augmentation: random gain up to +-DB (6)")
    g.add_argument("--snr-db", metavar="LO,HI", help="augmentation: background noise SNR range in dB (3,30)")
    g.add_argument("--speed", type=float, help="augmentation: random speed change up to +-F (0 / 0.1)")
    g.add_argument("--noise-prob", type=float, help="augmentation: share of clips that get noise (0.8)")
    g.add_argument("--room-prob", type=float,
                   help="augmentation: share of clips played through a random room and microphone "
                        "(0 / 0.8)")
    p.add_argument("--channels", type=int, metavar="N",
                   help="M5 width from scratch: conv1/conv2 channels, conv3/conv4 twice that (32, the "
                        "tutorial's; --init keeps the checkpoint's)")
    p.add_argument("--front", choices=("linear", "log"),  # training.model.FRONTS, without importing torch
                   help="M5 front end from scratch: 'log' compresses conv1's output so quiet consonants "
                        "count (linear, the tutorial's; --init keeps the checkpoint's)")
    p.add_argument("--words", metavar="W1,W2,...", action=Once,
                   help="train only these word folders; others -> _unknown_")
    p.add_argument("--noise", metavar="DIR|FILE|base|none",
                   help="long noise recordings for augmentation and the generated reject class, "
                        "besides the dataset's own _background_noise_/. 'base' (default with --init) = the "
                        "background talk shipped with the base model (two people reading at once) plus "
                        "white and brown noise; 'none' (default from scratch) = no recordings (white and "
                        "brown noise when the dataset has none either)")
    p.add_argument("--negatives", metavar="DIR|FILE|base|none", nargs="+", action="extend",
                   help="recordings of speech that is no keyword (any length, cut into 1-s windows) "
                        "added to the reject class: what the detector must stay quiet on. 'base' = "
                        "the non-keyword talk shipped with the base model (default with --init), "
                        "'none' = no negatives (default from scratch). A dataset's _talk/ folder "
                        "(kws-record writes your own talk there) is always added")
    p.add_argument("--balance", action=argparse.BooleanOptionalAction, default=None,
                   help="weight the loss so every keyword class counts as much as the median one, "
                        "whatever its clip count (for datasets where a few words have many more "
                        "clips, e.g. real + synthetic); _unknown_ keeps weight 1 (default: off; "
                        "--resume keeps the run's)")
    p.add_argument("--no-reject-synthesis", action="store_true",
                   help="do not generate _unknown_ clips when the dataset has none")
    p.add_argument("--reject-ratio", type=float, metavar="F",
                   help="generate _unknown_ clips up to F x the median word class (1.5 / 4)")
    p.add_argument("--refit", action=argparse.BooleanOptionalAction, default=None,
                   help="after the measured run, train again on all clips (test and val too) and keep "
                        "that model; the reported test accuracy is the measured run's (default: on "
                        "with --init, off from scratch)")
    p.add_argument("--split-file", metavar="JSON", action=Once,
                   help="reuse a split.json instead of making a new split")
    p.add_argument("--device", default="auto", help="auto (GPU if present), cpu or cuda (default: auto)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: one per core)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/resume.pt")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


RESUME_SPLIT = "resume-split.json"  # the running split, beside resume.pt; split.json when done

# Augmentation settings that the recipe (scratch or fine-tuning) chooses, not the base checkpoint.
RECIPE_AUGMENT = ("speed", "room_prob")


def _augment_from_args(args: argparse.Namespace, saved: dict | None, recipe: dict):
    from .augment import AugmentConfig

    values = {**AugmentConfig().to_dict(), **((saved or {}).get("augment_config") or {}), **recipe}
    if args.shift_ms is not None:
        values["shift_ms"] = args.shift_ms
    if args.gain_db is not None:
        values["gain_db"] = args.gain_db
    if args.noise_prob is not None:
        values["noise_prob"] = args.noise_prob
    if args.snr_db is not None:
        try:
            lo, hi = (float(v) for v in args.snr_db.split(","))
        except ValueError:
            raise KwsError(f"--snr-db {args.snr_db}: expected two numbers LO,HI (e.g. 3,30)") from None
        values["snr_low_db"], values["snr_high_db"] = lo, hi
    bad = (values["shift_ms"] < 0 or values["gain_db"] < 0 or not 0 <= values["noise_prob"] <= 1
           or values["snr_low_db"] > values["snr_high_db"] or not 0 <= values["speed"] < 0.5
           or not 0 <= values["room_prob"] <= 1)
    if bad:
        raise KwsError("augmentation settings out of range (--shift-ms and --gain-db >= 0, "
                       "--noise-prob and --room-prob in 0..1, --snr-db LO <= HI, --speed in 0..0.5)")
    return AugmentConfig(**values)


def _negatives(args: argparse.Namespace) -> list[Path]:
    choices = args.negatives or (["base"] if args.init else ["none"])
    if isinstance(choices, str):  # a resume state written before --negatives took several
        choices = [choices]
    if "none" in choices and len(set(choices)) > 1:
        raise KwsError(f"--negatives {' '.join(choices)}: 'none' means no negatives; give it alone")
    out: list[Path] = []
    for choice in choices:
        if choice == "none":
            continue
        if choice == "base":
            from kws_edge.models import base_negatives_path

            out.append(base_negatives_path())
            continue
        path = Path(choice)
        if not path.exists():  # before minutes of loading, not after
            raise KwsError(f"{path}: --negatives must be a folder of recordings, one recording, "
                           "'base' or 'none'")
        out.append(path)
    # One given twice ("neg" and "neg/", or base and its file) counts once: its windows are not doubled.
    unique: dict[Path, Path] = {}
    for path in out:
        unique.setdefault(path.resolve(), path)
    out = list(unique.values())
    if args.init and args.negatives and "base" not in choices and "none" not in choices:
        # `--negatives talk.wav` reads as "add my talk"; it replaces the shipped negatives.
        log.warning("--negatives %s replaces the shipped negatives (talk of many voices, which keeps a "
                    "fine-tune quiet on other people): add 'base' to keep them (--negatives base %s)",
                    " ".join(choices), " ".join(choices))
    return out


def _noise_path(noise: str | None) -> Path | None:
    """--noise as a path: 'base' is the shipped background talk; a missing path fails now, not after
    minutes of loading."""
    if noise is None or noise == "none":
        return None
    if noise == "base":
        from kws_edge.models import base_babble_path

        return base_babble_path()
    path = Path(noise)
    if not path.exists():
        raise KwsError(f"{path}: --noise must be a folder of recordings, one recording, 'base' or 'none'")
    return path


def _check_numbers(args: argparse.Namespace) -> None:
    """Values torch or the recipe would take badly, refused before the data loads (a negative seed
    or weight decay had been a traceback from inside torch after it)."""
    if args.seed < 0:
        raise KwsError(f"--seed must be 0 or more (got {args.seed})")
    if not args.weight_decay >= 0:
        raise KwsError(f"--weight-decay must be 0 or more (got {args.weight_decay})")
    if args.threads < 0:
        raise KwsError(f"--threads must be 0 (one per core) or more (got {args.threads})")
    if args.lr_gamma is not None and not 0 < args.lr_gamma <= 1:
        raise KwsError(f"--lr-gamma is the factor the learning rate is multiplied by: in (0, 1] (got "
                       f"{args.lr_gamma})")
    if args.reject_ratio is not None and not args.reject_ratio >= 0:
        raise KwsError(f"--reject-ratio must be 0 or more (got {args.reject_ratio})")


def _config_from_args(args: argparse.Namespace, saved: dict | None):
    from .finetune import parse_freeze
    from .trainer import TrainConfig

    defaults = dict(FINETUNE_DEFAULTS if args.init else SCRATCH_DEFAULTS)
    if saved:  # resuming: the interrupted run's settings, unless overridden now
        defaults.update({k: saved[k] for k in defaults if k in saved and k != "freeze"})
        defaults.update({k: (saved.get("augment_config") or {}).get(k, 0.0) for k in RECIPE_AUGMENT})
        defaults["freeze"] = ",".join(saved.get("freeze", [])) or "0"
    pick = {k: getattr(args, k) if getattr(args, k) is not None else defaults[k] for k in defaults}
    for name in ("epochs", "batch_size", "lr_step", "patience"):
        if pick[name] < 1:
            raise KwsError(f"--{name.replace('_', '-')} must be at least 1 (got {pick[name]})")
    if not pick["lr"] > 0:
        raise KwsError(f"--lr must be positive (got {pick['lr']})")
    return TrainConfig(epochs=pick["epochs"], batch_size=pick["batch_size"], lr=pick["lr"],
                       weight_decay=args.weight_decay, lr_step=pick["lr_step"], lr_gamma=pick["lr_gamma"],
                       patience=pick["patience"], select=pick["select"], seed=args.seed, device=args.device,
                       freeze=parse_freeze(str(pick["freeze"])), threads=args.threads,
                       augment=not args.no_augment,
                       augment_config=_augment_from_args(args, saved, {k: pick[k] for k in RECIPE_AUGMENT}))


def wants_balance(args: argparse.Namespace, saved: dict | None) -> bool:
    """--balance / --no-balance as given; without either, a resumed run keeps its own choice."""
    if args.balance is not None:
        return bool(args.balance)
    return bool(saved and saved.get("class_weights"))


def wants_refit(args: argparse.Namespace, saved_meta: dict | None) -> bool:
    """--refit / --no-refit as given; without either, a resumed run keeps its own choice (runs saved
    before it was kept: the default), and a new one refits when it fine-tunes."""
    if args.refit is not None:
        return bool(args.refit)
    if saved_meta and saved_meta.get("refit") is not None:
        return bool(saved_meta["refit"])
    return bool(args.init)


def balance_weights(y, labels: list[str]) -> tuple[float, ...]:
    """Loss weights that make each keyword class weigh as much as the median one (weight = median
    count / count); `_unknown_`, whose size is a choice of the reject-class recipe, keeps 1."""
    import numpy as np

    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(labels)).astype(float)
    words = [i for i, label in enumerate(labels) if label != UNKNOWN_LABEL and counts[i] > 0]
    if not words:
        return tuple(1.0 for _ in labels)
    median = float(np.median(counts[words]))
    return tuple(float(median / counts[i]) if i in words else 1.0 for i in range(len(labels)))


def auto_batch_size(base: int, n_train: int, device: str) -> int:
    """GPUs want big batches (a step costs launch overhead, not arithmetic); a tiny dataset wants
    several steps per epoch, or early stopping judges after one update."""
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        base *= 8
    return int(max(16, min(base, n_train // 4)))


def _interrupted(out: Path, epoch: int, main: bool, what: str = "") -> KeyboardInterrupt:
    """Ctrl-C, with where the run can continue from: run_cli prints it on the one 'interrupted' line."""
    if main and (out / "resume.pt").exists():
        return KeyboardInterrupt(f"{what}state after epoch {epoch} is in {out / 'resume.pt'} "
                                 "(continue with --resume)")
    return KeyboardInterrupt()


def train(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from kws_edge.atomic import atomic_paths, check_output_folder, write_json_atomic

    from .checkpoint import make_checkpoint, save_to
    from .finetune import model_from_init
    from .metrics import classification_report, format_per_word
    from .model import M5, M5Config, build_m5
    from .plots import save_confusion_png
    from .prepare import prepare_dataset
    from .refit import refit, refit_epochs, rest_clips
    from .split import write_split
    from .trainer import Trainer, dist_from_env, load_resume, predict_logits

    t_start = time.perf_counter()
    if args.channels is not None and (args.init or args.resume):
        raise KwsError("--channels sets the width of a new model; --init and --resume keep the checkpoint's")
    if args.front is not None and (args.init or args.resume):
        raise KwsError("--front sets the front end of a new model; --init and --resume keep the checkpoint's")
    if args.channels is not None and not 4 <= args.channels <= 512:
        raise KwsError(f"--channels must be between 4 and 512 (got {args.channels})")
    _check_numbers(args)
    dist = dist_from_env()
    out = Path(args.out)
    check_output_folder(out, "--out")
    resume_state = load_resume(out / "resume.pt") if args.resume else None
    if not args.resume and (out / "model.pt").is_file():
        log.warning("%s holds an earlier run: its model.pt, metrics.json, split.json and confusion.png "
                    "are replaced when this one finishes (another --out keeps them)", out)
    if not args.resume and (out / "resume.pt").is_file():
        log.warning("%s holds an interrupted run (resume.pt): this one starts over and replaces it; "
                    "stop now (Ctrl-C) and add --resume to continue that one instead", out)
    saved_meta = resume_state["meta"] if resume_state else {}
    if resume_state and args.init is None:
        args.init = saved_meta.get("init_spec")
    config = _config_from_args(args, resume_state["train_config"] if resume_state else None)
    if args.resume and args.split_file is None:
        args.split_file = out / RESUME_SPLIT if (out / RESUME_SPLIT).is_file() else out / "split.json"
    words = word_list(args.words)
    if resume_state and words is None:
        words = saved_meta.get("words")
    if resume_state and args.negatives is None and saved_meta.get("negatives"):
        args.negatives = saved_meta["negatives"]
    if resume_state and args.noise is None and saved_meta.get("noise"):
        args.noise = saved_meta["noise"]

    negatives = _negatives(args)
    noise = args.noise if args.noise is not None else ("base" if args.init else None)
    noise_path = _noise_path(noise)
    if args.init and not resume_state:  # a misspelt --init fails now, not after the dataset loaded
        from .checkpoint import load_checkpoint

        load_checkpoint(args.init)
    from .trainer import resolve_device

    resolve_device(config.device, dist)  # a wrong --device too, before anything is written
    t_load = time.perf_counter()
    data = prepare_dataset(args.data, words=words, seed=args.seed, split_file=args.split_file,
                           noise_dir=noise_path, synth_reject=not args.no_reject_synthesis,
                           reject_ratio=args.reject_ratio if args.reject_ratio is not None
                           else (FINETUNE_REJECT_RATIO if args.init else SCRATCH_REJECT_RATIO),
                           negatives=negatives or None, progress=dist.main)
    if noise == "base":
        # Steady noise three times the recorded windows: with the talk as half of the bank, real
        # speakers' fine-tunes lost 3 points (docs/training.md); as a quarter, none.
        from .augment import with_steady_noise

        data.noise = with_steady_noise(data.noise, args.seed)
    load_seconds = time.perf_counter() - t_load
    counts = {s: int(len(data.y[s])) for s in data.y}
    log.info("data: %s layout, %d labels, train %d / val %d / test %d clips, %d skipped, loaded in %.1f s",
             data.layout, len(data.labels), counts["train"], counts["val"], counts["test"], data.skipped,
             load_seconds)
    few = {w: n for w, n in _clips_per_word(data).items() if n < FEW_CLIPS}
    if args.init and few and dist.main:
        log.warning("few clips: %s (the recipe is about 30 a word; with fewer, a fine-tune hears other "
                    "words as these more often, and its test accuracy rests on a handful of clips)",
                    ", ".join(f"{w} {n}" for w, n in sorted(few.items(), key=lambda x: x[1])[:8])
                    + (", ..." if len(few) > 8 else ""))
    if args.init and not data.talk_windows and dist.main:
        log.info("no usable _talk/ recording in the data: about 2 minutes of your own talk (kws-record "
                 "DATASET records it after the words; --talk --input FILE adds a recording) keeps a "
                 "fine-tune quiet on more of your own non-keyword words (docs/recording.md)")
    if resume_state and saved_meta.get("split_source"):
        data.split_source = saved_meta["split_source"]  # not the resume-split.json it was read from
    if resume_state and saved_meta.get("labels") != data.labels:
        raise KwsError(f"{out / 'resume.pt'}: was trained for labels {saved_meta.get('labels')}, "
                       f"the data now gives {data.labels}")

    if wants_balance(args, resume_state["train_config"] if resume_state else None):
        config.class_weights = balance_weights(data.y["train"], data.labels)
    torch.manual_seed(args.seed)
    # Absolute: kws-export finds the training data (its calibration default) from any folder.
    data_paths = [str(Path(d).resolve()) for d in args.data]
    data_desc = " ".join(data_paths)
    provenance: dict = {"data": data_desc}
    if resume_state:
        model = M5(M5Config.from_dict(saved_meta["model_config"]))
        provenance = dict(saved_meta.get("provenance", provenance))
    elif args.init:
        model, init_info = model_from_init(args.init, data.labels)
        provenance.update(init_info)
    else:
        shape = {"n_channel": args.channels} if args.channels else {}
        model = build_m5(data.labels, **shape, **({"front": args.front} if args.front else {}))

    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
    # The run's split goes beside resume.pt until the run ends; split.json is replaced only
    # together with model.pt, so a folder's split.json always is its model's (kws-eval --split).
    split_path = out / RESUME_SPLIT
    split_digest = None
    if dist.main:
        split_digest = write_split(split_path, data.split, seed=args.seed, data=data_desc,
                                   source=data.split_source)
    will_refit = wants_refit(args, saved_meta)
    meta = {"labels": data.labels, "words": words, "init_spec": str(args.init) if args.init else None,
            "negatives": args.negatives, "noise": noise, "refit": will_refit,
            "model_config": model.config.to_dict(), "provenance": provenance,
            # A resumed run reads only the clips its split lists, so the files the first start
            # skipped are counted from its state.
            "skipped": data.skipped + int(saved_meta.get("skipped") or 0), "split_source": data.split_source}
    if args.batch_size is None and not resume_state:
        config.batch_size = auto_batch_size(config.batch_size, len(data.y["train"]), config.device)
    # The refit trains on train + val + test: cache their conv1 outputs once, for both runs.
    trainer = Trainer(model, config, data.x, data.y, data.noise, out_dir=out, dist=dist, resume_meta=meta,
                      front_extra=rest_clips(data.x) if will_refit else None)
    if resume_state:
        trainer.load_state(resume_state)
        log.info("resuming after epoch %d", trainer.epoch)
    log.info("training on %s, %d thread(s)%s: %d epochs, batch %d, lr %g, keeping the %s epoch%s%s",
             trainer.device, trainer.threads, f", {dist.world} processes" if dist.world > 1 else "",
             config.epochs, config.batch_size, config.lr, config.select,
             f", {', '.join(config.freeze)} frozen" if config.freeze else "",
             "" if config.augment else ", no augmentation")
    # The full recipe at DEBUG (it is in model.pt too), without settings that do not apply here:
    # `threads` (resolved above) and `amp` (CUDA only).
    log.debug("config: %s", ", ".join(
        f"{k}={v}" for k, v in config.to_dict().items()
        if k not in ("augment_config", "threads") and not (k == "amp" and trainer.device.type != "cuda")))
    try:
        summary = trainer.fit()
    except KeyboardInterrupt:
        raise _interrupted(out, trainer.epoch, dist.main) from None

    # A dataset's own lists may leave no test clips (they name only validation clips): no report.
    predicted = (predict_logits(trainer.model, data.x["test"], trainer.device).argmax(1).numpy()
                 if len(data.y["test"]) else np.zeros(0, dtype=np.int64))
    report = classification_report(data.y["test"].astype(int), predicted, data.labels)
    # Every rank takes part in the refit: under torchrun it is one more DDP run.
    refit_info = None
    if will_refit:

        def fresh_model() -> M5:
            # The run's own architecture (a resumed run's width is in its config, not in the flags).
            torch.manual_seed(args.seed)
            if args.init:
                return model_from_init(args.init, data.labels, quiet=True)[0]
            return M5(M5Config.from_dict(meta["model_config"]))

        try:
            final, refit_info = refit(fresh_model, config, data.x, data.y, data.noise,
                                      refit_epochs(config, summary), dist, front=trainer.front)
        except KeyboardInterrupt:
            raise _interrupted(out, trainer.epoch, dist.main, "the refit on all clips stopped; ") from None
        trainer.model = final
    if dist.world > 1:
        torch.distributed.barrier()
    if not dist.main:
        torch.distributed.destroy_process_group()
        return 0
    total = time.perf_counter() - t_start
    metrics = {
        "test_accuracy": report["accuracy"],
        "per_class_accuracy": report["per_class_accuracy"],
        "test": report,
        "val_accuracy": summary["kept_val_acc"],
        "epochs": summary["epochs_run"], "best_epoch": summary["best_epoch"],
        "seconds": total, "train_seconds": summary["train_seconds"], "load_seconds": load_seconds,
        "samples_per_s": summary["samples_per_s"], "device": summary["device"],
        "threads": summary["threads"], "world_size": summary["world_size"],
        "counts": {s: data.counts(s) for s in data.y}, "skipped_files": meta["skipped"],
        "generated_reject": data.generated_reject, "split_source": data.split_source,
        "history": summary["history"], "refit": refit_info,
    }
    split_info = {"file": "split.json", "sha256": split_digest, "source": data.split_source,
                  "seed": args.seed, "counts": counts}
    train_config = {**config.to_dict(), "data": data_desc, "data_paths": data_paths, "words": words,
                    "init": provenance.get("init"),
                    "negatives": [str(Path(n).resolve()) for n in negatives] if negatives else None,
                    "noise": noise, "talk_windows": data.talk_windows}
    ckpt = make_checkpoint(trainer.model, data.labels, train_config=train_config,
                           metrics={k: v for k, v in metrics.items() if k not in ("history", "test")},
                           split=split_info, provenance=provenance)
    title = f"test accuracy {report['accuracy']:.3f}" if report["accuracy"] is not None else ""
    # All or none: a disk that fills halfway must not leave a new model beside old metrics or split.
    with atomic_paths([out / "model.pt", out / "metrics.json", out / "confusion.png",
                       out / "split.json"]) as tmps:
        save_to(ckpt, tmps[0])
        write_json_atomic(tmps[1], metrics)
        save_confusion_png(tmps[2], report["confusion"], data.labels, title=title)
        write_split(tmps[3], data.split, seed=args.seed, data=data_desc, source=data.split_source)
    (out / "resume.pt").unlink(missing_ok=True)
    (out / RESUME_SPLIT).unlink(missing_ok=True)
    if dist.world > 1:
        torch.distributed.destroy_process_group()
    if report["n"]:
        measured = ("the measured run, before the refit on all clips; model.pt is the refit and has "
                    "heard these clips" if refit_info else "model.pt")
        rough = "; so few that one clip moves it by more than 5 points" if report["n"] < 20 else ""
        log.info("test accuracy %.3f on %d held-out clips (%s%s); per word:\n%s", report["accuracy"],
                 report["n"], measured, rough, "\n".join(format_per_word(report)))
    else:
        log.info("no test clips: no test accuracy")
    kept = (f"refit on all {refit_info['clips']} clips" if refit_info
            else f"best {summary['best_epoch']}" if config.select == "best" else "last")
    log.info("done in %.1f s (%d epochs, %s): %s", total, summary["epochs_run"], kept, out / "model.pt")
    return 0


def _clips_per_word(data) -> dict[str, int]:
    """Each keyword's clips over the three splits (the reject class left out)."""
    totals = {label: 0 for label in data.labels if label != UNKNOWN_LABEL}
    for split in data.y:
        for label, n in data.counts(split).items():
            if label in totals:
                totals[label] += n
    return totals


def main(argv: list[str] | None = None) -> int:
    # Set before torch is imported. OpenMP's default spin-wait made a training step 15-40x slower on
    # a 2-core box whenever other processes were running (measured 19-48 vs 800-2,090 samples/s);
    # passive waits keep both cores useful. A user's own OMP_WAIT_POLICY wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # "generated new fontManager" on first use
    if int(os.environ.get("RANK", "0")) > 0:
        # Under torchrun every process runs this: rank 0 tells the run once, the others only fail.
        logging.getLogger("kws_edge").setLevel(logging.ERROR)
    return run_cli("kws-train", lambda: train(args))


if __name__ == "__main__":
    sys.exit(main())

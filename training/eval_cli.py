"""`kws-eval`: accuracy of a model (.pt or .onnx) on a dataset of clips, or on a labelled stream."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from kws_edge.cli_args import Once, Parser
from kws_edge.detection import format_clock
from kws_edge.errors import KwsError, not_a_file, run_cli, setup_logging
from kws_edge.labels import UNKNOWN_LABEL
from kws_edge.listen_cli import add_detection_arguments, detection_options

log = logging.getLogger("kws_edge.training.eval_cli")

EPILOG = """\
clip mode (--data): every clip of the dataset (same layouts as kws-train: folder or .zip of
  <word>/*.wav, Speech Commands layout) is scored as one 1-s window. Words the model does not know
  count as _unknown_ truth. --split train|val|test scores only that part of the split.json that
  kws-train wrote next to the model (or --split-file). Unreadable files are skipped with a
  warning and counted; a missing path or a model file that is not one is an error.
stream mode (--stream FILE.wav --truth FILE.csv): runs the streaming detector over a long
  recording and scores its detections against the truth CSV (header start_s,end_s,label).

examples:
  kws-eval --model runs/mine/model.pt --data dataset/ --split test
  kws-eval --model model.onnx --data dataset.zip --json
  kws-eval --model model.onnx --stream session.wav --truth session.csv
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="kws-eval", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Measure a keyword model: accuracy, per-class accuracy and a confusion matrix on a "
                    "dataset, or detection quality on a labelled recording. The same output for a "
                    "training checkpoint (.pt) and an exported model (.onnx).")
    p.add_argument("--model", required=True, metavar="FILE", action=Once,
                   help="model.pt (kws-train), model.onnx (kws-export), or base (the shipped model)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--data", metavar="PATH", action=Once,
                      help="dataset folder or .zip to score clip by clip")
    mode.add_argument("--stream", metavar="WAV", action=Once,
                      help="long recording to score as a stream (needs --truth)")
    p.add_argument("--truth", metavar="CSV", action=Once,
                   help="truth for --stream: a CSV file whose first line is the header start_s,end_s,label, "
                        "then one spoken item per line (seconds; label a keyword or 'other')")
    p.add_argument("--split", default="all", choices=("all", "train", "val", "test"),
                   help="which part of the dataset to score (default: all)")
    p.add_argument("--split-file", metavar="JSON", action=Once,
                   help="split.json to use (default: the one next to --model)")
    p.add_argument("--confusion", metavar="PNG", action=Once, help="also write the confusion matrix as a PNG")
    add_detection_arguments(p.add_argument_group("detection, with --stream (kws-listen's flags)"))
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


class _TorchModel:
    """A checkpoint behind the OnnxModel interface: `.labels`, `.predict(windows) -> probs`."""

    def __init__(self, path: Path) -> None:
        import torch

        from .checkpoint import load_checkpoint, model_from_checkpoint
        from .trainer import CPU_RESAMPLE_CHUNK, DistInfo, TrainConfig, set_threads

        ckpt = load_checkpoint(path)
        self.model = model_from_checkpoint(ckpt, path)
        self.labels = list(ckpt["labels"])
        self.split_info = ckpt.get("split")
        self.metrics = ckpt.get("metrics") if isinstance(ckpt.get("metrics"), dict) else {}
        train = ckpt.get("train_config") if isinstance(ckpt.get("train_config"), dict) else {}
        self.data_paths = [str(d) for d in train.get("data_paths") or []]
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        if self.device.type == "cpu":
            self.model.resample_chunk = CPU_RESAMPLE_CHUNK
        set_threads(TrainConfig(), DistInfo())

    def predict(self, windows: np.ndarray) -> np.ndarray:
        from .trainer import predict_logits

        return predict_logits(self.model, windows, self.device).softmax(dim=1).numpy()


def _load_model(path: Path):
    if not path.is_file():
        raise not_a_file(path, "model file")
    if path.suffix.lower() == ".onnx":
        from kws_edge.onnx_model import OnnxModel

        return OnnxModel(path), "soxr"
    return _TorchModel(path), "torchaudio"


def _recorded_split_hash(model) -> str | None:
    """The sha256 of the split the model was trained with: in a checkpoint's `split`, in an
    exported model's `split_sha256` metadata."""
    info = getattr(model, "split_info", None)
    if isinstance(info, dict) and isinstance(info.get("sha256"), str):
        return info["sha256"]
    meta = getattr(model, "metadata", None)
    return meta.get("split_sha256") if isinstance(meta, dict) else None


def _was_refit(model) -> bool:
    """Whether the model was trained again on all its clips after its run (kws-train's default when
    fine-tuning): its own test split is then no measure of unheard speech."""
    metrics = getattr(model, "metrics", None)
    if metrics is None:
        try:
            metrics = json.loads(getattr(model, "metadata", {}).get("metrics", "{}"))
        except ValueError:
            metrics = {}
    return isinstance(metrics, dict) and bool(metrics.get("refit"))


def _trained_on(model, data: Path) -> str | None:
    """'is' or 'looks like' when `data` is the dataset the model was trained on: a checkpoint keeps
    its data's paths, an exported model their folder names only."""
    here = data.resolve()
    if any(Path(d).resolve() == here for d in getattr(model, "data_paths", [])):
        return "is"
    try:
        names = json.loads(getattr(model, "metadata", {}).get("training", "{}")).get("data")
    except (ValueError, AttributeError):
        return None
    names = names if isinstance(names, list) else [names] if isinstance(names, str) else []
    return "looks like" if here.name in {Path(str(n)).name for n in names} else None


def _check_split_is_the_models(split_file: Path, model_path: Path, recorded: str | None) -> None:
    """A split.json from another run (an interrupted rerun into the same folder) would score
    training clips as test clips: refuse it rather than report a flattering accuracy."""
    from .split import read_split, split_hash

    if recorded is None:
        log.warning("%s records no split hash: cannot check that %s is its split", model_path, split_file)
        return
    if split_hash(read_split(split_file)) != recorded:
        raise KwsError(f"{split_file}: not the split {model_path} was trained with (its sha256 differs); "
                       "its test clips may be training clips of this model")


def _predict_batched(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    from tqdm import tqdm

    outs = []
    for i in tqdm(range(0, len(x), batch), desc="scoring", unit="batch", leave=False, disable=None):
        outs.append(np.asarray(model.predict(x[i:i + batch])))
    return np.concatenate(outs)


def _check_split_is_of(split_file: Path, data: Path, part: str) -> None:
    """A split names clips by their path within the dataset (`yes/001.wav`): in another dataset,
    clips of the same names (kws-record numbers every session's from 001) are other recordings."""
    try:
        trained = str(json.loads(split_file.read_text()).get("data") or "")
    except (OSError, ValueError, AttributeError):
        return
    here = str(data.resolve())
    if not trained or here == trained or f" {here} " in f" {trained} ":
        return
    if data.resolve().name in {Path(p).name for p in trained.split(" ")}:
        log.warning("%s: the model was trained on %s; scoring its %s split on %s, taken to be that "
                    "dataset moved", split_file, trained, part, data)
        return
    raise KwsError(f"{data}: --split {part} picks clips of the data the model was trained on ({trained}) by "
                   f"name; in another dataset the same names are other clips. Score it whole (--split all)")


def eval_clips(args: argparse.Namespace) -> dict:
    from .metrics import classification_report
    from .prepare import iter_eval_clips

    model_path = Path(args.model)
    model, resampler = _load_model(model_path)
    split_file = args.split_file
    if split_file is None and args.split != "all":
        # Beside the checkpoint, or, for an export named after its run folder as the README does
        # it (runs/me.onnx from runs/me/model.pt), in that folder.
        beside, run_folder = model_path.parent / "split.json", model_path.with_suffix("") / "split.json"
        split_file = beside if beside.is_file() or not run_folder.is_file() else run_folder
        if not split_file.is_file():
            raise KwsError(f"{beside}: --split {args.split} needs the split.json kws-train wrote next to "
                           "the model (or give --split-file)")
    if split_file is not None and args.split != "all":
        _check_split_is_the_models(Path(split_file), model_path, _recorded_split_hash(model))
        _check_split_is_of(Path(split_file), Path(args.data), args.split)
        if _was_refit(model):
            log.warning("%s was trained again on all its clips after its run (the refit), %s split "
                        "included: this accuracy is on clips it has heard. Measure on recordings it never "
                        "heard (--data OTHER)", model_path, args.split)
    same = _trained_on(model, Path(args.data)) if args.split == "all" else None
    if same:
        log.warning("%s %s the data %s was trained on: this accuracy is on clips it has heard. Measure "
                    "on recordings it never heard (--data OTHER), or --split test for a scratch model",
                    args.data, same, model_path)
    truth, predicted, skipped = [], [], 0
    for x, y, _, part_skipped in iter_eval_clips(args.data, model.labels, split_name=args.split,
                                                 split_file=split_file, resampler=resampler):
        skipped += part_skipped
        if not len(x):
            continue
        probs = _predict_batched(model, x)
        if probs.shape != (len(x), len(model.labels)):
            expected = (len(x), len(model.labels))
            raise KwsError(f"{model_path}: model returned shape {probs.shape}, expected {expected}")
        truth.append(y)
        predicted.append(probs.argmax(axis=1))
    truth_all = np.concatenate(truth)
    if UNKNOWN_LABEL in model.labels and np.all(truth_all == model.labels.index(UNKNOWN_LABEL)):
        log.warning("%s holds no clip of %s's words (%s): every clip counts as %s, so this accuracy says "
                    "only how often it stays quiet on other words", args.data, model_path,
                    ", ".join(w for w in model.labels if w != UNKNOWN_LABEL), UNKNOWN_LABEL)
    report = classification_report(truth_all, np.concatenate(predicted), model.labels)
    report.update({"model": str(model_path), "data": str(args.data), "split": args.split,
                   "skipped_files": skipped})
    if args.confusion:
        from .plots import save_confusion_png

        save_confusion_png(args.confusion, report["confusion"], model.labels,
                           title=f"{model_path.name}: accuracy {report['accuracy']:.3f}")
    return report


def eval_stream(args: argparse.Namespace) -> dict:
    if not args.truth:
        raise KwsError("--stream needs --truth FILE.csv (header start_s,end_s,label)")
    if Path(args.model).suffix.lower() != ".onnx":
        raise KwsError(f"{args.model}: --stream runs the streaming runtime, which needs an exported "
                       "model (kws-export model.pt -o model.onnx)")
    try:
        from kws_edge.stream_eval import evaluate_stream_file
    except ImportError:
        raise KwsError("stream evaluation is not available in this installation "
                       "(kws_edge.stream_eval is missing)") from None
    return evaluate_stream_file(args.model, args.stream, args.truth, **detection_options(args))


SHOWN_EVENTS = 10  # events listed by name in the text report; --json has them all


def _events(events: list[dict], truth: bool = False) -> str:
    shown = [f"{format_clock(e['time'])} {e['label']}" + (f" (said: {e['truth']})" if truth else "")
             for e in events[:SHOWN_EVENTS]]
    more = len(events) - len(shown)
    return ", ".join(shown) + (f", and {more} more (--json lists all)" if more > 0 else "")


def stream_report(result: dict) -> list[str]:
    """The stream metrics as a few lines a person reads; `--json` keeps every field."""
    keywords = result["keyword_segments"]
    lines = [f"model {result['model']} on {result['stream']} ({format_clock(result['duration_s'])}, "
             f"{keywords} keywords and {result['other_segments']} other segments in the truth)"]
    if keywords:
        lines.append(f"recall        {result['recall']:.3f} ({result['hits']} of {keywords} detected)")
    wrong = result["wrong_word_events"]
    lines.append(f"wrong words   {len(wrong)}" + (f": {_events(wrong, truth=True)}" if wrong else ""))
    fas = result["false_alarm_events"]
    per_hour = result["false_alarms_per_hour"]
    lines.append(f"false alarms  {len(fas)}" + (f", {per_hour:.2f} per hour" if per_hour is not None else "")
                 + (f": {_events(fas)}" if fas else ""))
    if result["latency_median_s"] is not None:
        # An event may fire before the end the truth gives a word (a window centred on its loud
        # part, or a truth end with trailing silence): said as "before", never a negative time.
        def after_end(s: float) -> str:
            return f"{s:.3f} s" if s >= 0 else f"{-s:.3f} s before the word's end"

        lines.append(f"latency       median {after_end(result['latency_median_s'])}, "
                     f"p90 {after_end(result['latency_p90_s'])} (from the word's end in the truth "
                     "to the event)")
    missed = [f"{label} {c['segments'] - c['hits']}/{c['segments']}"
              for label, c in sorted(result["per_label"].items()) if c["hits"] < c["segments"]]
    if missed:
        lines.append("missed        " + ", ".join(missed))
    if result["hops"]:
        lines.append(f"windows       {result['windows_scored']} scored of {result['hops']} hops "
                     f"({1 - result['windows_scored'] / result['hops']:.0%} never needed: quiet, or no "
                     f"decision of the gate looked at them)")
    return lines


def _print_human(result: dict, stream: bool) -> None:
    if stream:
        for line in stream_report(result):
            print(line)
        return
    from .metrics import format_confusion, format_report

    print(f"model {result['model']} on {result['data']} (split {result['split']}, "
          f"{result['skipped_files']} unusable file(s) skipped: unreadable, silent or too short)")
    for line in format_report(result) + format_confusion(result):
        print(line)


def _check_png_path(path: Path) -> None:
    """Before the scoring: a --confusion name that cannot be written fails now, not after it."""
    if path.is_dir():
        raise KwsError(f"{path}: --confusion names a folder; give a file name ending in .png")
    if path.suffix.lower() != ".png":
        raise KwsError(f"{path}: --confusion writes a PNG; give a file name ending in .png")
    if not path.parent.is_dir():
        raise KwsError(f"{path}: --confusion: the folder {path.parent} does not exist")


def run(args: argparse.Namespace) -> int:
    from kws_edge.models import model_path

    args.model = str(model_path(args.model))
    if args.confusion and args.stream:
        raise KwsError("--confusion goes with --data (clips): a stream has no confusion matrix")
    if args.stream and (args.split != "all" or args.split_file):
        flag = "--split" if args.split != "all" else "--split-file"
        raise KwsError(f"{flag} goes with --data (clips): a stream is scored whole")
    if args.data and args.truth:
        raise KwsError("--truth goes with --stream: clips are labelled by their folders")
    if args.data:
        parser = build_parser()
        changed = [name for name, value in vars(args).items()
                   if name in detection_options(args) and value != parser.get_default(name)]
        if changed:
            flag = "--" + changed[0].replace("_", "-")
            raise KwsError(f"{flag} goes with --stream: clips are scored one window each, with no detector")
    if args.confusion:
        _check_png_path(Path(args.confusion))
    result = eval_stream(args) if args.stream else eval_clips(args)
    if args.json:
        print(json.dumps(result))
    else:
        _print_human(result, bool(args.stream))
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_cli.main: spin-waits stall shared CPUs
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run_cli("kws-eval", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())

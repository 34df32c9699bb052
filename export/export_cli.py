"""`kws-export`: checkpoint -> self-describing ONNX (fp32, or static int8 with an accuracy check)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from kws_edge.atomic import sweep_stale
from kws_edge.errors import KwsError, StdoutError, exit_cleanly_on_sigterm, run_cli, setup_logging
from kws_edge.labels import SAMPLE_RATE, UNKNOWN_LABEL, label_key

from .calibration import ClipSet, load_clip_set, resolve_calibration_data, split_for_calibration
from .onnx_export import (
    build_metadata,
    check_graph,
    export_torch,
    file_sha256,
    save_onnx,
    set_metadata,
    training_summary,
    verify_parity,
)
from .parser import PROG, build_parser
from .quantize import QuantOptions, quantize_int8
from .report import compare, format_report, int8_verdict, write_report
from .thresholds import calibrate, check_recordings, describe

log = logging.getLogger("kws_edge.export.cli")

SCRATCH_PREFIX = ".kws-export-"  # + pid: a later run removes the ones whose export died
MAX_PARITY_CLIPS = 128


def check_boost(boost: dict[str, float], labels: list[str], what: str) -> dict[str, float]:
    """`boost` itself, or a one-line error (naming `what`) for a non-keyword or a factor <= 0."""
    for word, factor in boost.items():
        if not math.isfinite(factor) or factor <= 0:
            raise KwsError(f"{what}: expected WORD[,WORD...]=F with F a number > 0")
        if word not in labels or word == UNKNOWN_LABEL:
            raise KwsError(f"{what}: {word!r} is not a keyword of the model "
                           f"({', '.join(w for w in labels if w != UNKNOWN_LABEL)})")
    return boost


def parse_boost(specs: list[str], labels: list[str]) -> dict[str, float]:
    """`--boost` values -> {word: factor}; a one-line error for an unknown word or a bad factor."""
    boost: dict[str, float] = {}
    if specs == ["none"]:
        return boost
    for spec in specs:
        words, sep, value = spec.rpartition("=")
        try:
            factor = float(value)
        except ValueError:
            factor = float("nan")
        if not sep or not words:
            factor = float("nan")
        # A word as the model spells it, whatever its case or Unicode form ("Yes", a Mac's "lumière").
        by_key = {label_key(label): label for label in labels}
        one = {by_key.get(label_key(w), w.strip()): factor for w in (words or "?").split(",")}
        boost.update(check_boost(one, labels, f"--boost {spec}"))
    return boost


def checkpoint_boost(ckpts: list[dict], paths: list[Path], labels: list[str]) -> dict[str, float]:
    """The boost the checkpoints carry (`boost`, written by the base recipe); members must agree."""
    boosts = [{str(w): float(f) for w, f in (c.get("boost") or {}).items()} for c in ckpts]
    for boost, path in zip(boosts[1:], paths[1:], strict=True):
        if boost != boosts[0]:
            raise KwsError(f"{path}: its boost differs from {paths[0]}'s; "
                           f"give --boost WORDS=F or --boost none")
    return check_boost(boosts[0], labels, f"{paths[0]}: its boost")


def apply_boost(members: list, labels: list[str], boost: dict[str, float]) -> None:
    """Add log(F) to each boosted word's output bias in every member: its odds against every
    other class times F before the softmax, so parity, the int8 check and the runtime all see it."""
    import torch

    for model in members:
        with torch.no_grad():
            for word, factor in boost.items():
                model.fc1.bias[labels.index(word)] += math.log(factor)


def _with_thresholds(model, recordings: list[Path], out: Path) -> None:
    """Calibrate per-word thresholds of the finished ONNX model on the keyword-free recordings
    and store them in its metadata (the runtime reads them from there)."""
    import tempfile

    from kws_edge.onnx_model import OnnxModel

    log.info("thresholds: running the detector over %d keyword-free recording(s)", len(recordings))
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=out.parent) as tmp:
        probe = Path(tmp) / "model.onnx"
        save_onnx(model, probe)
        cal = calibrate(OnnxModel(probe), recordings)
    print(describe(cal))
    set_metadata(model, {"thresholds": json.dumps(cal.thresholds, sort_keys=True),
                         "thresholds_calibration": json.dumps(
                             {**cal.summary(), "recordings": [p.name for p in recordings]})})


def _check_members(ckpts: list[dict], members: list, paths: list[Path]) -> None:
    """Models averaged into one must answer the same question: same labels, same audio window."""
    first = [str(x) for x in ckpts[0]["labels"]]
    rate, window = members[0].config.sample_rate, members[0].config.window_samples
    for ckpt, model, path in zip(ckpts[1:], members[1:], paths[1:], strict=True):
        labels = [str(x) for x in ckpt["labels"]]
        if labels != first:
            raise KwsError(f"{path}: its labels differ from {paths[0]}'s ({len(labels)} vs {len(first)}); "
                           f"only models fine-tuned on the same words can be averaged")
        if (model.config.sample_rate, model.config.window_samples) != (rate, window):
            raise KwsError(f"{path}: its audio window differs from {paths[0]}'s")


def _pair_metadata(meta: dict[str, str], ckpts: list[dict], paths: list[Path]) -> dict[str, str]:
    """Averaged models: the members' sources and metrics. The top-level accuracy and checkpoint
    thresholds were the first member's alone, so they are dropped (the int8 check and
    --keyword-free measure the averaged model itself)."""
    # The run folder too: a pair's members are both model.pt in the layout the docs use.
    members = [{"checkpoint": f"{p.parent.name}/{p.name}" if p.parent.name else p.name,
                "sha256": file_sha256(p), "test_accuracy": (c.get("metrics") or {}).get("test_accuracy")}
               for c, p in zip(ckpts, paths, strict=True)]
    dropped = ["test_accuracy", "val_accuracy", "thresholds"]
    if len({str((c.get("split") or {}).get("sha256")) for c in ckpts}) > 1:
        dropped.append("split_sha256")  # trained on different splits: no one split is the model's
    training = json.loads(meta["training"]) if meta.get("training") else {}
    inits = list(dict.fromkeys(str(i) for i in (training_summary(c).get("init") for c in ckpts) if i))
    if len(inits) > 1:  # a pair of fine-tunes: each member started from its own checkpoint
        meta = {**meta, "training": json.dumps({**training, "init": inits}, sort_keys=True)}
    return {**{k: v for k, v in meta.items() if k not in dropped},
            "ensemble": json.dumps({"combine": "mean of probabilities", "members": members}),
            "model": f"{len(members)} x {ckpts[0].get('model', 'M5')}"}


def _check_output(path: Path, what: str) -> None:
    if path.is_dir():
        raise KwsError(f"{path}: is a folder; {what} must be a file path")
    if not path.parent.is_dir():
        blocking = next((p for p in path.parents if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise KwsError(f"{path}: {blocking} is a file, not a folder")
        raise KwsError(f"{path}: output folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise KwsError(f"{path}: output folder {path.parent} is not writable (read-only or not yours)")
    # Scratch left by an export that was killed (kill -9, power loss): its process is gone.
    sweep_stale(path.parent, SCRATCH_PREFIX)
    sweep_stale(path.parent, f".{path.name}.")


def _check_report_path(report: Path, out: Path) -> None:
    """--report replaces only an earlier report: not the model being written, not kws-train's
    metrics.json or any other file that happens to sit there."""
    if report.resolve() == out.resolve():
        raise KwsError(f"{report}: --report names the model file (-o); give the report its own name")
    if not report.exists():
        return
    try:
        earlier = json.loads(report.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        earlier = None
    if not (isinstance(earlier, dict) and "verdict" in earlier and "top1_agreement" in earlier):
        raise KwsError(f"{report}: exists and is no kws-export report; --report replaces only an earlier "
                       "report: give another name")


def _say_replaced(out: Path, kind: str) -> None:
    """Warn before a model at OUT is replaced, naming what it was: an int8 model overwritten by an
    fp32 export of the same name (a forgotten --quantize) was otherwise noticed only by its size."""
    if not out.is_file():
        return
    try:
        import onnx

        meta = {p.key: p.value for p in onnx.load(str(out), load_external_data=False).metadata_props}
        was = "int8" if meta.get("quantization", "none") not in ("none", "") else "fp32"
        if meta.get("thresholds"):
            was += ", with per-word thresholds (--keyword-free gives them again)"
    except Exception:  # not a model we can read: say so, but replacing it is still what was asked
        was = "not a model kws-export wrote"
    log.warning("%s exists (%s); this export replaces it with an %s model when it succeeds", out, was, kind)


def fp32_fallback_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.fp32{out.suffix or '.onnx'}")


def synthetic_windows(window: int, seed: int = 0) -> np.ndarray:
    """Deterministic test signals for the parity check when no clips are available: silence,
    noise at several levels, tones and a chirp, so both the RMS floor and normal levels are hit."""
    rng = np.random.default_rng(seed)
    t = np.arange(window, dtype=np.float64) / SAMPLE_RATE
    sigs = [np.zeros(window), 1e-4 * rng.standard_normal(window)]
    sigs += [amp * rng.standard_normal(window) for amp in (0.01, 0.1, 0.5)]
    sigs += [0.3 * np.sin(2 * np.pi * f * t) for f in (200.0, 700.0, 2500.0)]
    sigs.append(0.3 * np.sin(2 * np.pi * (100 * t + 1900 * t ** 2)))
    return np.clip(np.stack(sigs), -1, 1).astype(np.float32)


def _parity_windows(clips: ClipSet | None, window: int) -> tuple[np.ndarray, str]:
    if clips is None:
        return synthetic_windows(window), "synthetic signals (no clips given)"
    idx = np.linspace(0, len(clips) - 1, min(len(clips), MAX_PARITY_CLIPS)).astype(int)
    return clips.x[np.unique(idx)], "clips"


def _optional_clips(args, ckpt: dict, labels: list[str]) -> tuple[ClipSet | None, Path | None]:
    try:
        path = resolve_calibration_data(args.calibration_data, ckpt)
    except KwsError:
        if args.quantize or args.calibration_data is not None:
            raise
        return None, None
    log.info("loading clips from %s", path)
    if args.quantize or args.calibration_data is not None:
        return load_clip_set(path, labels), path
    try:  # only wanted for the parity check: a dataset that went bad since training is no reason to stop
        return load_clip_set(path, labels), path
    except KwsError as exc:
        log.warning("not using the checkpoint's training data for the parity check: %s", exc)
        return None, None


def run(args: argparse.Namespace) -> int:
    from kws_edge.training.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint_path

    out = Path(args.output)
    _check_output(out, "-o/--output")
    report_path = Path(args.report) if args.report else None
    if report_path is not None:
        if not args.quantize:
            raise KwsError("--report needs --quantize (it compares fp32 with int8)")
        _check_output(report_path, "--report")
    if not args.parity_tolerance >= 0:
        raise KwsError(f"--parity-tolerance must be 0 or more (got {args.parity_tolerance})")
    if not 0 <= args.max_accuracy_drop <= 100:
        raise KwsError(f"--max-accuracy-drop must be within [0, 100] points, got {args.max_accuracy_drop}")
    keyword_free = check_recordings(args.keyword_free)

    started = time.perf_counter()
    paths = [resolve_checkpoint_path(spec) for spec in args.checkpoint]
    for path in paths:
        if out.resolve() == path.resolve():
            raise KwsError(f"{out}: -o/--output would overwrite the checkpoint")
        if report_path is not None and report_path.resolve() == path.resolve():
            raise KwsError(f"{report_path}: --report would overwrite the checkpoint")
    if report_path is not None:
        _check_report_path(report_path, out)
    if len({p.resolve() for p in paths}) < len(paths):
        log.warning("the same checkpoint is given twice: averaging a network with itself changes nothing "
                    "and doubles the work per window; give two different checkpoints, or one")
    if out.suffix.lower() != ".onnx":
        # kws-eval tells an exported model from a checkpoint by this suffix.
        raise KwsError(f"{out}: -o/--output must end in .onnx (e.g. {out.with_suffix('.onnx').name})")
    _say_replaced(out, "int8" if args.quantize else "fp32")
    ckpts = [load_checkpoint(spec) for spec in args.checkpoint]
    members = [model_from_checkpoint(c, p) for c, p in zip(ckpts, paths, strict=True)]
    ckpt, ckpt_path = ckpts[0], paths[0]
    labels = [str(x) for x in ckpt["labels"]]
    window = members[0].config.window_samples
    _check_members(ckpts, members, paths)
    boost = parse_boost(args.boost, labels) if args.boost else checkpoint_boost(ckpts, paths, labels)
    apply_boost(members, labels, boost)

    clips, data_path = _optional_clips(args, ckpt, labels)

    log.info("[1/%d] exporting %s (%d labels) to ONNX", 3 if args.quantize else 2, ckpt_path, len(labels))
    fp32, front_end = export_torch(members, fold=not args.no_fold)
    meta = build_metadata(ckpt, source=str(ckpt_path), source_sha256=file_sha256(ckpt_path),
                          front_end=front_end)
    if len(members) > 1:
        meta = _pair_metadata(meta, ckpts, paths)
    if boost:
        meta["boost"] = json.dumps(boost, sort_keys=True)
    set_metadata(fp32, meta)
    check_graph(fp32, len(labels), window, "fp32 export")
    log.info("[2/%d] checking parity with PyTorch", 3 if args.quantize else 2)
    windows, kind = _parity_windows(clips, window)
    diff = verify_parity(members, fp32, windows, args.parity_tolerance)

    if not args.quantize:
        if keyword_free:
            _with_thresholds(fp32, keyword_free, out)
        save_onnx(fp32, out)
        print(f"wrote {out} (fp32, {out.stat().st_size / 1024:.1f} KB, {len(labels)} labels, parity "
              f"max |dp| {diff:.1e} on {len(windows)} {kind}) in {time.perf_counter() - started:.0f} s")
        return 0

    if clips is None:  # resolve_calibration_data raised already; kept for type checkers
        raise KwsError("--quantize needs --calibration-data PATH")
    cal, held, how = split_for_calibration(clips, ckpt, ckpt_path, data_path)
    options = QuantOptions(per_channel=not args.per_tensor, calibrate_method=args.calibrate_method)
    log.info("[3/3] int8: calibrating on %d clips, checking on %d held-out clips (%s)",
             len(cal), len(held), how)
    int8 = quantize_int8(fp32, cal.x, len(labels), window, options)
    report = compare(fp32, int8, held.x, held.y, labels)
    report.update({
        "checkpoint": str(ckpt_path), "calibration_data": str(data_path), "held_out": how,
        "calibration_clips": len(cal), "quantization": options.label(), "per_channel": options.per_channel,
        "calibrate_method": options.calibrate_method, "front_end": front_end,
        "fp32_parity_max_abs_diff": diff, "max_accuracy_drop": args.max_accuracy_drop,
    })
    accepted, verdict = int8_verdict(report, args.max_accuracy_drop)
    report["accepted"], report["verdict"] = accepted, verdict
    print(format_report(report))
    set_metadata(int8, {"quantization_check": json.dumps({
        "held_out_clips": report["clips"], "held_out": how, "fp32_accuracy": report["accuracy"]["fp32"],
        "int8_accuracy": report["accuracy"]["int8"], "top1_agreement": report["top1_agreement"]})})

    if not accepted:
        fallback = fp32_fallback_path(out)
        save_onnx(fp32, fallback)
        if report_path is not None:
            write_report(report, report_path)
        earlier = f"; the model already at {out} is an earlier one, left as it was" if out.exists() else ""
        raise KwsError(f"{verdict}; wrote no int8 model, kept fp32 at {fallback}{earlier}")
    log.info("int8 accepted: %s", verdict)
    if keyword_free:
        _with_thresholds(int8, keyword_free, out)
    if report_path is not None:  # first: a report that cannot be written leaves no model behind
        write_report(report, report_path)
    save_onnx(int8, out)
    print(f"wrote {out} (int8, {out.stat().st_size / 1024:.1f} KB) in {time.perf_counter() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if not args.verbose:
        # The exporter and quantizer narrate every pass at INFO (and torch warns about torchvision
        # ops this model never uses); our own progress lines are what a user needs.
        for name in ("onnx_ir", "onnxscript", "onnxruntime", "torch.onnx"):
            logging.getLogger(name).setLevel(logging.ERROR)
    # onnxruntime's calibration folder in /tmp is removed, as on Ctrl-C.
    exit_cleanly_on_sigterm(f"nothing was written to {args.output}")
    return run_cli(PROG, lambda: _run_guarded(args))


def _make_folder(folder: Path) -> list[Path]:
    """Make `folder` and any missing parents (as kws-train makes --out); the ones made, outermost
    first, so that a failed export can take them away again."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.insert(0, folder)
        folder = folder.parent
    if missing and not folder.is_dir():
        raise KwsError(f"{missing[-1]}: cannot make the output folder: {folder} is a file, not a folder")
    for m in missing:
        try:
            m.mkdir()
        except OSError as exc:
            raise KwsError(f"{m}: cannot make the output folder ({exc.strerror or exc})") from None
    return missing


def _run_guarded(args: argparse.Namespace) -> int:
    """`run`, with a failed write of the exporter's and quantizer's temporary files (a full or
    read-only temp folder) said in one line that also says what became of OUT. A missing output
    folder is made, and taken away again if the export fails."""
    made = _make_folder(Path(args.output).parent)
    try:
        return _run_reporting_temp_failures(args)
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise


def _run_reporting_temp_failures(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except OSError as exc:
        if exc.filename or isinstance(exc, (BrokenPipeError, StdoutError)):
            raise
        import tempfile

        out = Path(args.output)
        kept = "the existing file is unchanged" if out.exists() else "nothing was written"
        raise KwsError(f"writing temporary files in {tempfile.gettempdir()} failed "
                       f"({exc.strerror or exc}); {out}: {kept}") from None


if __name__ == "__main__":
    sys.exit(main())

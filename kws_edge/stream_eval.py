"""Scoring a long stream against a truth CSV: recall, false alarms per hour, wrong words, latency.

Matching rule: a detection belongs to a truth segment when the detection's window
[time - window, time] overlaps the segment [start_s, end_s], i.e. it fired after the word began
and less than one window after it ended. Detections are taken in time order, each against the
earliest overlapping keyword segment not yet matched:
- same label -> a hit (latency = time - end_s, from the end of the word to the event);
- another keyword -> a wrong-word detection;
- no free keyword segment overlaps (silence, noise, `other` speech, or a second event for an
  already matched word) -> a false alarm. False alarms per hour use the stream's duration.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .detection import Detection
from .errors import KwsError, not_a_file
from .labelled_stream import OTHER_LABEL, TruthRow
from .labels import KEYWORDS, label_key

log = logging.getLogger(__name__)

TRUTH_HEADER = ("start_s", "end_s", "label")


def read_truth_csv(path: str | Path) -> list[TruthRow]:
    """Rows of a `start_s,end_s,label` CSV, sorted by start; one-line KwsError on any bad row."""
    path = Path(path)
    if not path.is_file():
        raise not_a_file(path, "truth CSV")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" BOM
            reader = csv.reader(f)
            header = next(reader, None)
            # The three columns first; more after them (a note, a speaker) are the user's own.
            if header is None or tuple(h.strip().lower() for h in header[:3]) != TRUTH_HEADER:
                raise KwsError(f"{path}: header must start '{','.join(TRUTH_HEADER)}', got {header}")
            width = len(header)
            rows = []
            for lineno, fields in enumerate(reader, start=2):
                if not fields or all(not x.strip() for x in fields):
                    continue
                if len(fields) != width:
                    raise KwsError(f"{path}:{lineno}: expected {width} fields, got {len(fields)}")
                try:
                    start, end = float(fields[0]), float(fields[1])
                except ValueError:
                    raise KwsError(f"{path}:{lineno}: start_s/end_s must be numbers") from None
                label = fields[2].strip()
                if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
                    raise KwsError(f"{path}:{lineno}: need 0 <= start_s < end_s, got {start}, {end}")
                if not label:
                    raise KwsError(f"{path}:{lineno}: empty label")
                rows.append(TruthRow(start, end, label))
    except UnicodeDecodeError:
        raise KwsError(f"{path}: not a text CSV file") from None
    rows.sort(key=lambda r: (r.start_s, r.end_s))
    keywords = [r for r in rows if r.label != OTHER_LABEL]
    for a, b in zip(keywords, keywords[1:], strict=False):
        if b.start_s < a.end_s:
            # One spoken keyword counted twice (or as two words) would halve recall or add wrong words.
            raise KwsError(f"{path}: keyword rows overlap ({a.start_s:g}-{a.end_s:g} s {a.label}, "
                           f"{b.start_s:g}-{b.end_s:g} s {b.label}); each keyword is one row")
    return rows


def score_detections(detections: Sequence[Detection], truth: Sequence[TruthRow], duration_s: float,
                     window_s: float = 1.0) -> dict:
    """Stream metrics for `detections` against `truth` (see the module doc for the rule)."""
    keywords = [r for r in truth if r.label != OTHER_LABEL]
    matched = [False] * len(keywords)
    latencies: list[float] = []
    wrong: list[dict] = []
    false_alarms: list[dict] = []
    per_label: dict[str, dict[str, int]] = {}
    for row in keywords:
        per_label.setdefault(row.label, {"segments": 0, "hits": 0})["segments"] += 1
    for det in sorted(detections, key=lambda d: d.time):
        lo = det.time - window_s
        free = [i for i, r in enumerate(keywords)
                if not matched[i] and r.start_s < det.time and r.end_s > lo]
        if not free:
            false_alarms.append({"time": det.time, "label": det.label})
            continue
        same = [i for i in free if keywords[i].label == det.label]
        if same:
            i = same[0]
            matched[i] = True
            per_label[keywords[i].label]["hits"] += 1
            latencies.append(det.time - keywords[i].end_s)
        else:
            wrong.append({"time": det.time, "label": det.label, "truth": keywords[free[0]].label})
    hits = sum(matched)
    hours = duration_s / 3600.0
    lat = np.array(latencies)
    return {
        "duration_s": round(duration_s, 3),
        "keyword_segments": len(keywords),
        "other_segments": len(truth) - len(keywords),
        "detections": len(detections),
        "hits": hits,
        "recall": round(hits / len(keywords), 4) if keywords else None,
        "wrong_word": len(wrong),
        "false_alarms": len(false_alarms),
        "false_alarms_per_hour": round(len(false_alarms) / hours, 2) if hours > 0 else None,
        "latency_median_s": round(float(np.median(lat)), 3) if len(lat) else None,
        "latency_p90_s": round(float(np.percentile(lat, 90)), 3) if len(lat) else None,
        "per_label": per_label,
        "wrong_word_events": wrong,
        "false_alarm_events": false_alarms,
    }


def _spotter_options(options: dict):
    from .spotter import SpotterOptions
    from .vad import VadOptions

    known = {f.name for f in dataclasses.fields(SpotterOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise KwsError(f"unknown stream option(s) {unknown}; known: {sorted(known)}")
    options = dict(options)
    if isinstance(options.get("vad"), str):
        options["vad"] = VadOptions(kind=options["vad"])
    options.setdefault("batch_windows", 16)
    return SpotterOptions(**options)


def _check_within(truth: Sequence[TruthRow], duration: float, truth_csv_path: str | Path,
                  wav_path: str | Path, slack: float = 1e-3) -> None:
    late = [r for r in truth if r.end_s > duration + slack]
    if late:
        in_ms = max(r.end_s for r in truth) / 1000 <= duration + 1e-3  # every row fits if read as ms
        hint = " (are its times milliseconds? they must be seconds)" if in_ms else ""
        raise KwsError(f"{truth_csv_path}: segment {late[0].start_s}-{late[0].end_s} s lies past the end "
                       f"of {wav_path} ({duration:.2f} s){hint}")


def evaluate_stream_file(model_path: str | Path | None, wav_path: str | Path, truth_csv_path: str | Path,
                         **options) -> dict:
    """Run the streaming detector over a WAV and score it against its truth CSV.

    `options` are `SpotterOptions` fields (hop_ms, threshold, smooth_ms, refractory_ms, vad as a
    kind name or VadOptions, batch_windows). Returns the metrics of `score_detections` plus the
    model, the options used and the detector's window statistics.
    """
    from .input_level import InputLevels
    from .onnx_model import load_model
    from .sources import FileSource
    from .spotter import KeywordSpotter

    spot_options = _spotter_options(options)
    model = load_model(model_path)
    truth = read_truth_csv(truth_csv_path)
    allowed = set(model.labels) - {model.unknown_label} | {OTHER_LABEL}
    # "Yes" or "OTHER" in a hand-written CSV means the word: labels match whatever their case (and
    # Unicode form: a CSV made from a Mac's file names has them decomposed).
    by_key = {label_key(label): label for label in allowed}
    truth = [dataclasses.replace(r, label=by_key.get(label_key(r.label), r.label)) for r in truth]
    # Words of the 35 that this model was not trained on are speech it must not report, as clip
    # mode counts them as _unknown_; any other label is more likely a typo ("yse").
    not_its = sorted({r.label for r in truth if r.label not in allowed and r.label.lower() in KEYWORDS})
    if not_its:
        log.info("%s: %s not among the model's words: scored as '%s'", truth_csv_path, ", ".join(not_its),
                 OTHER_LABEL)
        truth = [dataclasses.replace(r, label=OTHER_LABEL) if r.label in not_its else r for r in truth]
    bad = sorted({r.label for r in truth} - allowed)
    if bad:
        raise KwsError(f"{truth_csv_path}: labels {bad} are neither '{OTHER_LABEL}' nor keywords of "
                       f"the model (label non-keyword speech '{OTHER_LABEL}')")
    spotter = KeywordSpotter(model, spot_options)
    levels = InputLevels()
    with FileSource(wav_path, spotter.sample_rate) as source:
        # Before a long scan, from the header (which a compressed file's decoded length may pass
        # by a frame or two: the exact check follows the scan).
        if source.duration is not None:
            _check_within(truth, source.duration, truth_csv_path, wav_path, slack=0.5)
        detections = list(spotter.run(levels.watch(source)))
    for warning in levels.warnings(str(wav_path), source.past_full_scale):
        log.warning("%s", warning)
    duration = spotter.seconds
    _check_within(truth, duration, truth_csv_path, wav_path)
    result = score_detections(detections, truth, duration, window_s=spotter.window / spotter.sample_rate)
    n_kw, hits, alarms = result["keyword_segments"], result["hits"], result["false_alarms"]
    if n_kw and len(detections) >= 3 and hits < 0.25 * n_kw and alarms >= len(detections) / 2:
        # A truth CSV labelled by ear a second off, or for another recording, reads as a deaf model.
        log.warning("%s: %d of %d detections fell outside every keyword's span (its start to 1 s after "
                    "its end) and %d of %d keywords were heard: are the CSV's times this recording's?",
                    truth_csv_path, alarms, len(detections), hits, n_kw)
    stats = spotter.stats
    result.update({
        "model": str(model.path),
        "stream": str(wav_path),
        "truth": str(truth_csv_path),
        "options": {**dataclasses.asdict(spot_options)},
        "windows_scored": stats.windows_scored,
        "hops": stats.hops,
        "detection_events": [d.to_dict() for d in detections],
    })
    return result

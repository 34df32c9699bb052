"""Per-word thresholds calibrated on recordings that hold no keyword.

A fine-tuned model's false alarms cluster on a few words (on the stream benchmark: 'seven',
'visual', 'backward' fire on other talk in the same voice), so one global threshold either lets
those fire or costs every other word recall. Given recordings of the user's room, talk or TV with
no keyword in them, each word that fires there gets its threshold raised just above its highest
score; words that stay quiet keep the default. The streaming detector itself does the scoring
(the same gate and decisions as kws-listen), so the thresholds fit the detector's own scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from kws_edge.errors import KwsError, not_a_file
from kws_edge.onnx_model import OnnxModel
from kws_edge.spotter import DEFAULT_THRESHOLD, KeywordSpotter, SpotterOptions

log = logging.getLogger(__name__)

# Above this a word would hardly ever fire on its own keyword: a recording that pushes a word
# there is more likely to hold the keyword itself, so the word is capped and reported.
MAX_THRESHOLD = 0.95
# Raised thresholds sit this far above the highest false-alarm score seen.
MARGIN = 0.02
# A raised word can let another word win the same segment; repeat until quiet (or give up).
MAX_ROUNDS = 6


@dataclass
class Calibration:
    thresholds: dict[str, float]
    base: float
    seconds: float
    alarms_before: int
    alarms_after: int

    @property
    def raised(self) -> dict[str, float]:
        return {w: t for w, t in sorted(self.thresholds.items()) if t > self.base}

    @property
    def capped(self) -> list[str]:
        return sorted(w for w, t in self.thresholds.items() if t >= MAX_THRESHOLD)

    def summary(self) -> dict:
        return {"seconds": round(self.seconds, 1), "alarms_before": self.alarms_before,
                "alarms_after": self.alarms_after, "raised": self.raised, "capped": self.capped}


# Less keyword-free audio than this (s) is warned about.
SHORTEST_KEYWORD_FREE_S = 60.0


def check_recordings(paths: list[str]) -> list[Path]:
    """Every recording must exist and be readable audio: checked before any export work."""
    import soundfile as sf

    out, seconds = [], 0.0
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise KwsError(f"{not_a_file(path, 'recording')} (--keyword-free)")
        try:
            info = sf.info(str(path))
        except Exception as exc:  # libsndfile's errors are one class with a message
            raise KwsError(f"{path}: not a readable audio file ({str(exc).strip()[:120]})") from None
        if info.frames == 0:
            raise KwsError(f"{path}: empty recording (--keyword-free)")
        out.append(path)
        seconds += info.frames / info.samplerate
    if out and seconds < SHORTEST_KEYWORD_FREE_S:
        log.warning("--keyword-free: %.1f s of audio in all; a word that fires once in a few minutes of your "
                    "room will not show in so little, and nothing is raised for it: record a few minutes",
                    seconds)
    return out


def _scores(model: OnnxModel, recordings: list[Path], thresholds: dict[str, float]) -> tuple[list, float]:
    """Detections (label, score) over all recordings with these thresholds, and their length."""
    from kws_edge.sources import FileSource

    options = SpotterOptions(batch_windows=16)
    found, seconds = [], 0.0
    saved = model.thresholds
    model.thresholds = thresholds
    try:
        for path in recordings:
            spotter = KeywordSpotter(model, options)
            with FileSource(path, spotter.sample_rate) as source:
                found += [(d.label, d.score) for d in spotter.run(iter(source))]
            seconds += spotter.seconds
    finally:
        model.thresholds = saved
    return found, seconds


def calibrate(model: OnnxModel, recordings: list[Path], base: float = DEFAULT_THRESHOLD) -> Calibration:
    """Raise the thresholds of words that fire on `recordings` until none fires (or all are capped)."""
    words = [w for w in model.labels if w != model.unknown_label]
    thresholds = {w: float(base) for w in words}
    first, seconds = _scores(model, recordings, thresholds)
    alarms = first
    for round_ in range(MAX_ROUNDS):
        open_alarms = [(w, s) for w, s in alarms if thresholds[w] < MAX_THRESHOLD]
        if not open_alarms:
            break
        for word, score in open_alarms:
            thresholds[word] = round(min(MAX_THRESHOLD, max(thresholds[word], score + MARGIN)), 3)
        log.info("thresholds round %d: %d alarm(s) on %s", round_ + 1, len(open_alarms),
                 ", ".join(sorted({w for w, _ in open_alarms})))
        alarms, _ = _scores(model, recordings, thresholds)
    cal = Calibration(thresholds=thresholds, base=float(base), seconds=seconds, alarms_before=len(first),
                      alarms_after=len(alarms))
    if len(cal.capped) > max(3, len(words) // 4):
        # Keyword-free talk leaves a few words at the cap; a recording that holds the keywords leaves
        # many (a helper's: 22 of 35), and would store thresholds that miss them.
        raise KwsError(f"{len(cal.capped)} of {len(words)} words still fire at the {MAX_THRESHOLD:.2f} cap "
                       f"on {', '.join(p.name for p in recordings)}: it holds keywords (--keyword-free takes "
                       "a recording of your room or talk with no keyword said); nothing written")
    if cal.capped:
        log.warning("%s still fire(s) at the %.2f cap on the keyword-free recordings: is a keyword "
                    "in them?", ", ".join(cal.capped), MAX_THRESHOLD)
    return cal


def describe(cal: Calibration) -> str:
    hours = max(cal.seconds, 1e-9) / 3600.0
    raised = ", ".join(f"{w} {t:.2f}" for w, t in cal.raised.items()) or "none"
    return (f"thresholds: {cal.seconds / 60:.1f} min keyword-free audio, false alarms "
            f"{cal.alarms_before} -> {cal.alarms_after} ({cal.alarms_before / hours:.1f} -> "
            f"{cal.alarms_after / hours:.1f} per hour); raised: {raised}")

"""Detection events: what fired, when (on the stream's sample clock), and how they are printed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Detection:
    """A keyword event. Times are seconds from the start of the stream, on its sample clock.

    `time` is the moment the detector fired; `start`/`end` is a 1-s span holding the word: with the
    utterance gate, the second centred on the utterance (the windows that decided lie within
    `centre_ms` of it), without it, the window whose smoothed score crossed the threshold.
    """

    time: float
    label: str
    score: float
    start: float
    end: float

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps({"time": round(self.time, 4), "label": self.label, "score": round(self.score, 4),
                           "start": round(self.start, 4), "end": round(self.end, 4)})

    def to_line(self) -> str:
        return f"{format_clock(self.time)}  {self.label}  {self.score:.2f}"


def format_clock(seconds: float) -> str:
    """`MM:SS.mmm`, or `H:MM:SS.mmm` past an hour."""
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}.{ms:03d}"
    return f"{minutes:02d}:{secs:02d}.{ms:03d}"

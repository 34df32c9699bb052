"""Labelled test streams: clips of keywords, other speech, noise and silence laid end to end.

`build_stream` returns the audio and its truth rows (`start_s,end_s,label`; label `other` =
speech that is no keyword); `write_stream` writes them as WAV + CSV for `kws-eval --stream`.
The truth span of each clip is its active part (energy above the clip's peak minus `span_db`),
so latency is measured from the end of the spoken word, not from the end of the clip's padding.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .labels import SAMPLE_RATE

OTHER_LABEL = "other"


@dataclass(frozen=True)
class TruthRow:
    start_s: float
    end_s: float
    label: str


@dataclass(frozen=True)
class Piece:
    """One clip in a stream. `label`: a keyword, `other` (non-keyword speech) or None (no row)."""

    audio: np.ndarray
    label: str | None


def active_span(audio: np.ndarray, rate: int = SAMPLE_RATE, span_db: float = 30.0,
                frame_ms: int = 10) -> tuple[int, int]:
    """Sample range [start, end) of the frames within `span_db` of the loudest frame."""
    frame = max(1, rate * frame_ms // 1000)
    n = len(audio) // frame
    if n == 0:
        return 0, len(audio)
    power = (audio[:n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1)
    level = 10 * np.log10(power + 1e-12)
    active = np.flatnonzero(level > level.max() - span_db)
    return int(active[0] * frame), int(min(len(audio), (active[-1] + 1) * frame))


def silence(seconds: float, rate: int = SAMPLE_RATE) -> Piece:
    return Piece(np.zeros(int(round(seconds * rate)), dtype=np.float32), None)


def build_stream(pieces: Sequence[Piece], rate: int = SAMPLE_RATE, background: np.ndarray | None = None,
                 background_dbfs: float = -45.0, gap_s: tuple[float, float] = (0.0, 0.0),
                 seed: int = 0) -> tuple[np.ndarray, list[TruthRow]]:
    """Concatenate pieces (with random gaps of silence), optionally over looped background noise.

    `background` is scaled to an RMS of `background_dbfs` and added under the whole stream.
    """
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    rows: list[TruthRow] = []
    pos = 0
    for piece in pieces:
        gap = int(round(rng.uniform(*gap_s) * rate)) if gap_s[1] > 0 else 0
        if gap:
            parts.append(np.zeros(gap, dtype=np.float32))
            pos += gap
        audio = np.asarray(piece.audio, dtype=np.float32)
        if piece.label is not None:
            start, end = active_span(audio, rate)
            rows.append(TruthRow(round((pos + start) / rate, 4), round((pos + end) / rate, 4), piece.label))
        parts.append(audio)
        pos += len(audio)
    stream = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    if background is not None and len(background) and len(stream):
        bg = np.asarray(background, dtype=np.float32)
        reps = -(-len(stream) // len(bg))
        bg = np.tile(bg, reps)[:len(stream)]
        rms = float(np.sqrt(np.mean(bg.astype(np.float64) ** 2))) or 1.0
        stream = stream + bg * np.float32(10 ** (background_dbfs / 20) / rms)
    return np.clip(stream, -1.0, 1.0).astype(np.float32), rows


def write_truth_csv(rows: Sequence[TruthRow], path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["start_s", "end_s", "label"])
        for row in rows:
            writer.writerow([f"{row.start_s:.4f}", f"{row.end_s:.4f}", row.label])
    return path


def write_stream(audio: np.ndarray, rows: Sequence[TruthRow], wav_path: str | Path, csv_path: str | Path,
                 rate: int = SAMPLE_RATE) -> tuple[Path, Path]:
    """Write the stream as 16-bit WAV and its truth CSV (each via a temp file + rename)."""
    import soundfile as sf

    wav_path = Path(wav_path)
    with atomic_path(wav_path) as tmp:
        sf.write(str(tmp), audio, rate, subtype="PCM_16")
    return wav_path, write_truth_csv(rows, csv_path)

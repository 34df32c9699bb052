"""Decoding audio files to mono float32 at 16 kHz, at the edge of the system."""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import KwsError
from .labels import SAMPLE_RATE

_FD2 = threading.Lock()
# soundfile's frame count for a file whose header does not give its length (a FLAC written to a
# pipe): libsndfile's largest count, 2**63 - 1.
UNKNOWN_FRAMES = 2**62


@contextmanager
def quiet_stderr(quiet: bool) -> Iterator[None]:
    """Process-level stderr (file descriptor 2) silenced while `quiet`: libmpg123 (inside
    libsndfile) prints "part2_3_length too large" or "Illegal Audio-MPEG-Header" lines straight to
    it while an MP3 decodes, though the audio decodes right or the read fails with its own error.
    One thread at a time (a lock), so that two readers cannot leave descriptor 2 pointing at
    /dev/null; output other threads write meanwhile is lost, so callers log after the read."""
    if not quiet:
        yield
        return
    with _FD2:
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(null)


def downmix(data: np.ndarray) -> np.ndarray:
    """Frames x channels -> mono float32: the channels' mean, or, where the first two are in
    antiphase (some laptops' microphone pairs deliver one inverted), their half-difference: their
    mean would cancel the voice."""
    if data.shape[1] == 1:
        return np.ascontiguousarray(data[:, 0], dtype=np.float32)
    left, right = data[:, 0].astype(np.float64), data[:, 1].astype(np.float64)
    # einsum, not np.dot: BLAS spreads a long dot over threads, and on a busy machine waiting for
    # them cost ~8 ms a call (a stereo file took 13 times as long as its mono copy).
    energy = float(np.einsum("i,i->", left, left) * np.einsum("i,i->", right, right))
    if energy > 0 and float(np.einsum("i,i->", left, right)) < -0.5 * np.sqrt(energy):
        return ((left - right) / 2).astype(np.float32)
    return data.mean(axis=1, dtype=np.float32)


def wav_header_frames(path: str | Path) -> int:
    """The frames a RIFF WAV's header says its data holds (0 for another format, or a header that
    does not say). libsndfile reports what the file holds, so a recording cut off after its header
    reads as a shorter file without a word; this is what it should have held."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return 0
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    at, align = 12, 0
    while at + 8 <= len(head):
        kind, size = head[at:at + 4], int.from_bytes(head[at + 4:at + 8], "little")
        if kind == b"fmt " and at + 22 <= len(head):
            align = int.from_bytes(head[at + 20:at + 22], "little")
        elif kind == b"data":
            # 0 and 0xFFFFFFFF: a recorder or a pipe that never went back to write the size.
            return size // align if align and 0 < size < 0xFFFFFFFF else 0
        at += 8 + size + (size & 1)
    return 0


def decode(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode any format soundfile reads to (mono float32 in [-1, 1], sample rate)."""
    path = Path(path)
    if not path.is_file():
        raise KwsError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise empty_file(path)
    return _decode(str(path), str(path))


def decode_bytes(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """Like `decode`, for a file held in memory (e.g. a ZIP member); `name` is for errors."""
    import io

    if not data:
        raise empty_file(name)
    return _decode(io.BytesIO(data), name)


# Containers libsndfile cannot open (phones' voice memos are often .m4a): say how to convert.
_NOT_READ = {".m4a", ".aac", ".mp4", ".3gp", ".amr", ".wma", ".webm"}


def empty_file(name: str | Path) -> KwsError:
    """The one-line error for a 0-byte file, which soundfile calls "Format not recognised"."""
    return KwsError(f"{name}: empty file (0 bytes)")


def unreadable(name: str | Path, reason: object) -> KwsError:
    """The one-line error for a file soundfile cannot decode, with a way out where there is one."""
    suffix = Path(str(name)).suffix.lower()
    stem = Path(str(name))
    hint = (f"; {suffix} is not read here: convert it first, e.g. ffmpeg -i {shlex.quote(stem.name)} "
            f"{shlex.quote(stem.stem + '.wav')}") if suffix in _NOT_READ else ""
    return KwsError(f"{name}: not a readable audio file ({reason}){hint}")


def _decode(source, name: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        with quiet_stderr(name.lower().endswith(".mp3")), sf.SoundFile(source) as f:
            rate = f.samplerate
            data = _read_unknown_length(f) if unsized(f) else f.read(dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        # libsndfile's own text ("Error opening <_io.BytesIO object at 0x...>: ...") names the
        # Python object, not the file: keep only its reason; `name` says which file. Given a path
        # whose format it cannot tell, it says the file does not exist, which misleads.
        reason = exc.error_string
        if "does not exist" in reason:
            reason = "damaged, or not a format soundfile reads"
        raise unreadable(name, reason) from None
    except (RuntimeError, TypeError, ValueError) as exc:
        raise unreadable(name, exc) from None
    if data.shape[0] == 0:
        raise KwsError(f"{name}: empty audio (no samples)")
    mono = downmix(data)
    if not np.all(np.isfinite(mono)):
        raise KwsError(f"{name}: audio contains NaN or infinite samples")
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def unsized(f) -> bool:
    """Whether the soundfile `f` does not know its length (a FLAC written to a pipe, anything read
    from one); if so, it is made to read on to its end: soundfile would size one array by that
    unknown length, and seek past the end after each read."""
    if f.frames < UNKNOWN_FRAMES and f.seekable():
        return False
    f.seekable = lambda: False
    return True


def _read_unknown_length(f) -> np.ndarray:
    """All of an `unsized` file, block by block."""
    blocks = []
    while True:
        block = f.read(1 << 16, dtype="float32", always_2d=True)
        blocks.append(block)
        if len(block) < 1 << 16:
            return np.concatenate(blocks)


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """High-quality resampling with soxr (a maintained library, not a hand-written filter)."""
    if rate == target:
        return audio.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(audio, rate, target, quality="HQ").astype(np.float32, copy=False)


def load_16k(path: str | Path) -> np.ndarray:
    """Decode and convert a file to mono float32 at 16 kHz."""
    audio, rate = decode(path)
    return resample(audio, rate)

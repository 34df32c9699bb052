"""The dataset folder kws-record writes: `DIR/<word>/NNN.wav` clips and `DIR/_talk/NNN.wav` talk.

Files are 16-bit 16 kHz mono WAV, written to a temp file and renamed (kws_edge/atomic.py), so an
interrupted run never leaves half a clip. Numbers continue after the highest one present: a rerun
adds clips and never overwrites one that was kept.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import KwsError
from .labels import KEYWORDS, SAMPLE_RATE

# The user's own non-keyword talk. kws-train reads this folder as the user's negatives (the
# reject class), never as a word: keep the name in step with training/.
TALK_FOLDER = "_talk"

_NUMBERED = re.compile(r"^(\d+)\.wav$", re.IGNORECASE)
_CANONICAL = {w.casefold(): w for w in KEYWORDS}


# Longer folder names are refused by most file systems (255 bytes), when the first clip is written.
MAX_NAME_BYTES = 200


def word_folder(word: str) -> str:
    """The folder of a word, named as kws-train will read it: a Speech Commands word in its
    canonical spelling ("Yes" -> "yes"), any other word in lower case, one Unicode form
    ("Lights" -> "lights"), so the folder and the model's label agree. Names that cannot be a
    class folder are a one-line error."""
    name = word.strip()
    if not name:
        raise KwsError("empty word: words are separated by commas, e.g. --words yes,no")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise KwsError(f"{word[:40]!r}...: a word's folder name may be at most {MAX_NAME_BYTES} bytes")
    if name.startswith(("_", ".")) or any(c in name for c in '/\\:*?"<>|\0'):
        raise KwsError(f"{word!r}: a word may not start with '_' or '.' or contain / \\ : * ? \" < > |")
    return _folder_key(name)


def _folder_key(name: str) -> str:
    name = unicodedata.normalize("NFC", name.strip()).casefold()
    return _CANONICAL.get(name, name)


def parse_words(text: str | None) -> list[str]:
    """`--words yes,no,Hey Mycroft` -> folders (`hey mycroft`), in the order given, duplicates dropped."""
    if text is None:
        return list(KEYWORDS)
    out: list[str] = []
    for part in text.split(","):
        name = word_folder(part)
        if name not in out:
            out.append(name)
    return out


def numbers(folder: Path) -> list[int]:
    """The clip numbers in a folder (files named NNN.wav), sorted."""
    if not folder.is_dir():
        return []
    found = (_NUMBERED.match(p.name) for p in folder.iterdir() if p.is_file())
    return sorted(int(m.group(1)) for m in found if m)


class DatasetDir:
    """Where clips go; counts what is already there."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise KwsError(f"{self.root}: exists and is not a folder")
        self.written: list[Path] = []  # this run's clips, so a failed run can take them back
        # word -> {digest of a clip's samples as written: its path}, read once per word (same_clip)
        self._clips_of: dict[str, dict[bytes, Path]] = {}

    def discard_written(self) -> int:
        """Remove the clips this run wrote; returns how many."""
        for path in self.written:
            self.remove(path)
        count, self.written = len(self.written), []
        return count

    def remove(self, path: Path) -> None:
        """Delete a clip, and its word's folder if that leaves it empty: kws-train refuses a class
        folder with no clips, so a word whose only clips were deleted must not leave one behind."""
        path.unlink(missing_ok=True)
        known = self._clips_of.get(path.parent.name, {})
        for digest in [d for d, p in known.items() if p == path]:
            del known[digest]
        folder = path.parent
        if folder.parent == self.root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    def folder(self, word: str) -> Path:
        """The word's folder; one already there under another case or Unicode form (`Lights/`,
        made before names were lower-cased) is the same class to kws-train, so it is continued."""
        plain = self.root / word
        if plain.is_dir() or not self.root.is_dir():
            return plain
        same = sorted(d for d in self.root.iterdir() if d.is_dir() and _folder_key(d.name) == word)
        return same[0] if same else plain

    def words(self) -> list[str]:
        """The word folders that hold clips, sorted (not `_talk/`, not hidden folders)."""
        if not self.root.is_dir():
            return []
        return sorted(d.name for d in self.root.iterdir()
                      if d.is_dir() and d.name != TALK_FOLDER and not d.name.startswith(".") and numbers(d))

    def count(self, word: str) -> int:
        return len(numbers(self.folder(word)))

    def _next_path(self, folder: Path) -> Path:
        taken = numbers(folder)
        return folder / f"{(taken[-1] + 1) if taken else 1:03d}.wav"

    def same_clip(self, word: str, audio: np.ndarray) -> Path | None:
        """The clip of `word` already holding exactly this audio as it would be written, if any:
        cutting the same file twice (`--input` run again) must not count its takes twice."""
        import soundfile as sf

        if word not in self._clips_of:
            known: dict[bytes, Path] = {}
            folder = self.folder(word)
            for n in numbers(folder):
                path = folder / f"{n:03d}.wav"
                try:
                    known[_digest(sf.read(str(path), dtype="int16")[0])] = path
                except (sf.LibsndfileError, RuntimeError, OSError):
                    continue
            self._clips_of[word] = known
        return self._clips_of[word].get(_digest(_as_written(audio)))

    def add(self, word: str, audio: np.ndarray) -> Path:
        """Write a clip as the word's next number; returns its path."""
        path = self._write(self.folder(word), audio)
        if word in self._clips_of:
            self._clips_of[word][_digest(_as_written(audio))] = path
        return path

    def add_talk(self, audio: np.ndarray) -> Path:
        path = self._write(self.root / TALK_FOLDER, audio)
        if TALK_FOLDER in self._clips_of:
            self._clips_of[TALK_FOLDER][_digest(_as_written(audio))] = path
        return path

    def _write(self, folder: Path, audio: np.ndarray) -> Path:
        import soundfile as sf

        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = self._next_path(folder)
            with atomic_path(path) as tmp:
                sf.write(str(tmp), np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
        except OSError as exc:
            raise KwsError(f"{folder}: cannot write a clip ({exc.strerror or exc})") from None
        self.written.append(path)
        return path

    def talk_seconds(self) -> float:
        """Seconds of talk already in `_talk/` (every audio file there, numbered or not)."""
        import soundfile as sf

        folder = self.root / TALK_FOLDER
        if not folder.is_dir():
            return 0.0
        total = 0.0
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                try:
                    info = sf.info(str(path))
                except (sf.LibsndfileError, RuntimeError):
                    continue  # not audio (a note, a README): kws-train skips it too
                total += info.frames / info.samplerate
        return total

    def talk_pieces(self) -> int:
        return len(numbers(self.root / TALK_FOLDER))


def _as_written(audio: np.ndarray) -> np.ndarray:
    """`audio`'s samples as a clip file holds them: clipped, then 16-bit as libsndfile rounds."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    buf.seek(0)
    return sf.read(buf, dtype="int16")[0]


def _digest(samples: np.ndarray) -> bytes:
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(samples).tobytes()).digest()

"""Dataset discovery (Speech Commands layout, custom folder or ZIP) and fast clip loading.

Policy for bad input (also in `kws-train --help`): a file inside a class folder that cannot be
decoded (corrupt, empty, not audio, unsupported format) is skipped with a warning and counted;
structural problems (missing path, unsafe ZIP, empty class folder, a class with fewer than 2
clips, one class and no reject class to make, no audio at all) are errors.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import threading
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from kws_edge.audio import decode, decode_bytes
from kws_edge.errors import KwsError
from kws_edge.labels import KEYWORDS, SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES, label_key
from kws_edge.spotter import SpotterOptions

from .audio_io import fit_window, fit_window_and_left_out, loud_part_seconds, to_16k
from .zip_safe import ZipMember, list_members, read_member

log = logging.getLogger(__name__)

NOISE_FOLDER = "_background_noise_"
# The user's own speech that is no keyword (kws-record writes it here): negatives, never a class.
TALK_FOLDER = "_talk"
# Shortest clip worth a label (a short word is ~250 ms), and the peak below which a clip is
# digital silence (under one step of 16-bit audio).
MIN_CLIP_SAMPLES = SAMPLE_RATE // 10
SILENT_PEAK = 1.0 / 32768
QUIET_WORD_PEAK = 10 ** (-60 / 20)
# Loud sound outside the second a long clip is cropped to, this long, is likely another word.
SECOND_WORD_MS = 150
# kws-listen's gate never reports a word whose loud part lasts longer than this (`max_core_ms`).
_GATE = SpotterOptions()
LONGEST_WORD_MS = _GATE.max_core_ms
SPLIT_LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
# Files that sit in class folders of real datasets and are not clips.
_IGNORED_NAMES = {"readme", "readme.md", "readme.txt", "license", "license.txt", ".ds_store", "thumbs.db",
                  "desktop.ini"}


@dataclass
class DatasetIndex:
    """What is in a dataset, before any audio is decoded. Keys are `<folder>/<file>` (POSIX)."""

    source: Path
    is_zip: bool
    prefix: str  # wrapping folder ("" or "dataset/") inside the folder or ZIP
    layout: str  # "speech_commands" | "custom"
    clips: dict[str, list[str]] = field(default_factory=dict)  # class folder -> keys
    noise: list[str] = field(default_factory=list)  # _background_noise_ keys
    talk: list[str] = field(default_factory=list)  # _talk keys: the user's non-keyword speech
    split_lists: dict[str, set[str]] = field(default_factory=dict)
    zip_members: dict[str, ZipMember] = field(default_factory=dict)

    @property
    def folders(self) -> list[str]:
        return sorted(self.clips)


def _is_hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def _list_files(path: Path) -> tuple[list[str], dict[str, ZipMember]]:
    """All regular files under a folder or in a ZIP, as POSIX paths relative to it."""
    if path.is_dir():
        files = []
        # Linked folders are followed (a class folder may live elsewhere), but each real folder is
        # read once and never one that holds the dataset: a link to `..` or a loop of links would
        # otherwise be walked forever.
        root = path.resolve()
        seen: set[tuple[int, int]] = set()
        looped = 0
        for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
            st = os.stat(dirpath)
            real = Path(dirpath).resolve()
            if (st.st_dev, st.st_ino) in seen or (real != root and root.is_relative_to(real)):
                dirnames[:] = []
                looped += 1
                continue
            seen.add((st.st_dev, st.st_ino))
            dirnames[:] = [d for d in dirnames if not _is_hidden(d)]
            rel = Path(dirpath).relative_to(path)
            files += [(rel / f).as_posix() for f in filenames if not _is_hidden(f)]
        for name in files:
            # Names become labels, split.json keys and model metadata, all UTF-8 text; a name in
            # another encoding arrives here with surrogate escapes that cannot be written anywhere.
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise KwsError(f"{path}: {os.fsencode(name)!r} is not a valid UTF-8 name; rename it "
                               "(folder and file names become labels and split.json keys)") from None
        if looped:
            log.warning("%s: skipped %d linked folder(s) already read or holding the dataset (a link "
                        "loop)", path, looped)
        return files, {}
    if zipfile.is_zipfile(path):
        members = list_members(path)
        kept = {m.name: m for m in members if not any(_is_hidden(p) for p in PurePosixPath(m.name).parts)}
        return list(kept), kept
    if path.suffix.lower() == ".zip" or _starts_with(path, b"PK\x03\x04"):
        # The ZIP's directory sits at its end: a download or copy cut short loses it.
        raise KwsError(f"{path}: a damaged or incomplete ZIP archive (its table of contents is missing: "
                       "a download or copy cut short?); make or copy it again")
    raise KwsError(f"{path}: not a dataset folder or a ZIP archive")


# A dataset's own files beside its class folders (kws-synth writes these): inside a wrapping
# folder they sit at `wrap/<file>`, where they must not read as a class `wrap` holding a file.
_DATASET_FILES = {*SPLIT_LISTS.values(), "manifest.json"}


# What a stray clip beside the word folders looks like (anything else there is ignored anyway).
_AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".au",
                   ".caf", ".w64", ".rf64", ".webm"}


def _find_prefix(files: list[str]) -> str:
    """"" if files sit at `<class>/<file>`; "wrap/" (or "wrap/inner/", ...) if they sit under
    wrapping folders: the only folder holding deeper files, that is no word itself, and holds no
    audio directly, or holds a word's folder, or several folders with more files than beside them
    (a desktop.ini or a stray clip beside the word folders). `zero/` beside `zero/old/` is a word."""
    prefix = ""
    for _ in range(16):
        paths = [PurePosixPath(f[len(prefix):]).parts for f in files if f.startswith(prefix)]
        shallow = [p for p in paths if len(p) == 2 and p[1].lower() not in _DATASET_FILES | _IGNORED_NAMES]
        deep = [p for p in paths if len(p) >= 3]
        tops = {p[0] for p in deep}
        if len(tops) != 1 or {p[0] for p in shallow} - tops:
            break
        top = tops.pop()
        subs = {class_name(p[1]) for p in deep}
        audio = [p for p in shallow if PurePosixPath(p[1]).suffix.lower() in _AUDIO_SUFFIXES]
        wrapper = class_name(top) not in _RESERVED_OR_KEYWORD and (
            not audio or subs & _RESERVED_OR_KEYWORD or (len(subs) >= 2 and len(audio) < len(deep)))
        if not wrapper:
            break
        prefix += top + "/"
    return prefix


_CANONICAL = {name.casefold(): name for name in (*KEYWORDS, UNKNOWN_LABEL, NOISE_FOLDER, TALK_FOLDER)}
_CANONICAL["_unknown"] = UNKNOWN_LABEL
# Folder names that look meant as the reject class or the user's talk but are read as new words.
# (Compared with spaces and hyphens as underscores, and without the underscores around it: "_silence_",
# TensorFlow's folder of silence, and "Background Noise" too.)
_LOOKS_RESERVED = {"talk": TALK_FOLDER, "unknown": UNKNOWN_LABEL, "negatives": UNKNOWN_LABEL,
                   "negative": UNKNOWN_LABEL, "other": UNKNOWN_LABEL, "others": UNKNOWN_LABEL,
                   "none": UNKNOWN_LABEL, "background_noise": NOISE_FOLDER, "noise": NOISE_FOLDER,
                   "silence": NOISE_FOLDER, "background": NOISE_FOLDER}
# A folder copied by a file manager: "yes copy", "yes - Copy (2)", "Yes - Copy - Copy", "yes (copy)",
# "no (another copy)", "no (1)"; and "yes 2", a copy only beside a yes/ (`seven 11` is a word).
_COPY_SUFFIX = re.compile(r"^(?P<stem>.+?)(?:(?P<copy>(?:[ _-]*(?:\((?:another )?copy(?: \d+)?\)|copy"
                          r"(?:[ _-]*\(?\d+\)?)?|\(\d+\)))+)|(?P<number>[ _-]+\d+))$")


_RESERVED_OR_KEYWORD = set(_CANONICAL.values())


def class_name(folder: str) -> str:
    """The class a folder holds, whatever its case and surrounding spaces: a Speech Commands word
    or a reserved folder ("Yes", "NO ", "_Talk" -> "yes", "no", "_talk"), so a user's folders meet
    the base model's labels; any other name in lower case ("Lights " -> "lights"), so that two
    folders of one new word differing in case are one class."""
    name = label_key(folder)
    return _CANONICAL.get(name, name)


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


def scan_dataset(path: str | Path) -> DatasetIndex:
    """Find class folders, noise recordings and split lists; no audio is decoded here."""
    path = Path(path)
    if not path.exists():
        raise KwsError(f"{path}: no such dataset folder or ZIP")
    files, members = _list_files(path)
    prefix = _find_prefix(files)
    index = DatasetIndex(source=path, is_zip=bool(members), prefix=prefix, layout="custom",
                         zip_members={m.name[len(prefix):]: m for m in members.values()
                                      if m.name.startswith(prefix)})
    folders_seen: set[str] = set()
    nested: list[str] = []
    loose: list[str] = []
    for f in files:
        if not f.startswith(prefix):
            continue
        parts = PurePosixPath(f[len(prefix):]).parts
        if len(parts) == 1 and parts[0] in SPLIT_LISTS.values():
            index.split_lists[parts[0]] = set()
            continue
        if len(parts) < 2:
            loose.append(f)
            continue
        folders_seen.add(parts[0])
        if len(parts) > 2:
            nested.append(f)
            continue
        if parts[1].lower() in _IGNORED_NAMES:
            continue
        key = "/".join(parts)
        if class_name(parts[0]) == NOISE_FOLDER:
            index.noise.append(key)
        elif class_name(parts[0]) == TALK_FOLDER:
            index.talk.append(key)
        else:
            index.clips.setdefault(class_name(parts[0]), []).append(key)
    for name in list(index.split_lists):
        which = "val" if name == SPLIT_LISTS["val"] else "test"
        index.split_lists[which] = set(_read_text(index, name).split())
        del index.split_lists[name]
    if not members:  # a folder: empty class folders hold no files, so look for them directly
        base = path / prefix
        folders_seen |= {d.name for d in base.iterdir() if d.is_dir() and not _is_hidden(d.name)}
    else:
        folders_seen |= {PurePosixPath(m.name[len(prefix):]).parts[0] for m in members.values()
                         if m.name.startswith(prefix) and len(PurePosixPath(m.name[len(prefix):]).parts) >= 2}
    loose = [f for f in loose if PurePosixPath(f).name.lower() not in _IGNORED_NAMES | _DATASET_FILES]
    if loose and index.clips:
        log.warning("%s: %d file(s) beside the class folders are not used (e.g. %s): a class's clips sit "
                    "in <word>/", path, len(loose), loose[0])
    if nested:
        log.warning("%s: %d file(s) in folders inside the class folders are not used (e.g. %s): a "
                    "class's clips sit directly in <word>/", path, len(nested), nested[0])
    empty = sorted(f for f in folders_seen if class_name(f) not in index.clips
                   and class_name(f) not in (NOISE_FOLDER, TALK_FOLDER))
    renamed = sorted(f for f in folders_seen if class_name(f) != f)
    if renamed:
        log.info("%s: %d folder name(s) read in lower case, without spaces around them (%r -> %s%s)",
                 path, len(renamed), renamed[0], class_name(renamed[0]), ", ..." if len(renamed) > 1 else "")
    if empty:
        holds = [f for f in nested if PurePosixPath(f[len(prefix):]).parts[0] == empty[0]]
        if holds:
            sets = sorted({PurePosixPath(f[len(prefix):]).parts[0] for f in nested
                           if PurePosixPath(f).suffix.lower() in _AUDIO_SUFFIXES} & set(empty))
            if len(sets) >= 2:  # two recording sessions, or two people's words, side by side
                names = ", ".join(f"{prefix}{s}/" for s in sets[:3]) + (", ..." if len(sets) > 3 else "")
                hint = (f"it holds {len(sets)} datasets ({names}): point --data at one of them"
                        + (" (unzip it first)" if members else "")
                        + "; kws-train trains on several: --data A --data B")
            elif members:
                hint = "a ZIP's word folders sit at its top, or inside one folder"
            else:
                hint = "point --data at the folder whose subfolders are the words"
            raise KwsError(f"{path}: class folder {prefix}{empty[0]}/ holds folders, not clips (e.g. "
                           f"{holds[0]}): {hint}")
        raise KwsError(f"{path}: class folder {prefix}{empty[0]}/ has no clips (record some, or remove "
                       "the empty folder)")
    if not index.clips:
        raise KwsError(f"{path}: no class folders with audio (expected <word>/*.wav, optionally inside "
                       f"wrapping folders){_why_no_classes(index, loose)}")
    names_sc = any("_nohash_" in k for keys in index.clips.values() for k in keys)
    if index.split_lists or names_sc:
        index.layout = "speech_commands"
    for folder in index.clips:
        index.clips[folder].sort()
    index.noise.sort()
    index.talk.sort()
    return index


def warn_odd_names(index: DatasetIndex, words: Sequence[str]) -> None:
    """Word folders a user likely meant otherwise (`talk/` for `_talk/`, `sheela/` for `sheila/`):
    trained as they are, but said. For training only: kws-eval trains nothing."""
    for name in sorted(set(words) & set(index.clips) - _RESERVED_OR_KEYWORD):
        folder = PurePosixPath(index.clips[name][0]).parts[0]
        reserved = re.sub(r"[\s-]+", "_", name).strip("_")
        stem = _copied_from(name, set(index.clips))
        if reserved in _LOOKS_RESERVED:
            meant = _LOOKS_RESERVED[reserved]
            holds = {TALK_FOLDER: "your non-keyword talk", NOISE_FOLDER: "background noise"}.get(
                meant, "speech that is no keyword")
            log.warning("%s: folder %s/ is trained as a new word %r; name it %s/ if it holds %s",
                        index.source, folder, name, meant, holds)
        elif stem is not None:
            log.warning("%s: folder %s/ looks like a copy of %s/, but is trained as a word of its own, %r: "
                        "move its clips into %s/ if it is one", index.source, folder, stem, name, stem)
        else:
            close = difflib.get_close_matches(name, KEYWORDS, n=1, cutoff=0.8)
            if close:
                log.warning("%s: folder %s/ is a new word, not the base model's %r; rename it %s/ if "
                            "it holds %r", index.source, folder, close[0], close[0], close[0])


def _copied_from(name: str, classes: set[str]) -> str | None:
    """The class a folder named `name` looks copied from by a file manager, or None. "yes 2" is a
    copy only beside a yes/ ("seven 11" is a word); "yes copy" of any word or special folder
    ("_unknown_ (1)": the suffix took the name's last "_")."""
    copied = _COPY_SUFFIX.match(name)
    if copied is None:
        return None
    known = classes if copied["number"] else classes | _RESERVED_OR_KEYWORD
    stems = (class_name(copied["stem"]), class_name(copied["stem"] + "_"))
    return next((stem for stem in stems if stem in known), None)


def _why_no_classes(index: DatasetIndex, loose: list[str]) -> str:
    """What a dataset without word folders holds instead, as the end of its error."""
    if any(PurePosixPath(f).suffix.lower() == ".zip" for f in loose):
        return ": it holds a ZIP, which is not read inside a ZIP or folder; unzip it first"
    if any(PurePosixPath(f).suffix.lower() in _AUDIO_SUFFIXES for f in loose):
        return (f": it holds clips directly, as a word folder does; point --data at the folder above "
                f"it ({index.source.parent}), whose subfolders are the words")
    if index.talk or index.noise:
        return f": only {TALK_FOLDER}/ or {NOISE_FOLDER}/, which are never a word; add a folder per word"
    return ""


def _read_text(index: DatasetIndex, name: str) -> str:
    if index.is_zip:
        with zipfile.ZipFile(index.source) as zf:
            data = read_member(zf, index.zip_members[name])
    else:
        data = (index.source / index.prefix / name).read_bytes()
    return data.decode("utf-8", errors="replace")


def choose_words(index: DatasetIndex, words: Sequence[str] | None = None) -> list[str]:
    """Keyword classes: `words` if given, else every word folder, in either layout (kws-synth writes
    Speech Commands names for any word it is asked for, and a new word is a new class)."""
    folders = [f for f in index.folders if f != UNKNOWN_LABEL]
    if words:
        words = [class_name(w) for w in words]
        missing = [w for w in words if w not in folders]
        if missing:
            raise KwsError(f"{index.source}: no folder for word(s) {', '.join(missing)}")
        return sorted(set(words))
    return folders


def labels_for(words: Iterable[str]) -> list[str]:
    """The label set: words sorted, `_unknown_` last."""
    return sorted(set(words) - {UNKNOWN_LABEL}) + [UNKNOWN_LABEL]


def class_of(folder: str, labels: Sequence[str]) -> str | None:
    """The label a clip from `folder` trains: itself, `_unknown_` for other speech, None to skip."""
    if folder in labels:
        return folder
    # A model trained before new words' folder names were read in lower case may say "Lights".
    same = [label for label in labels if class_name(label) == folder]
    if same:
        return same[0]
    return UNKNOWN_LABEL if UNKNOWN_LABEL in labels else None


class _Reader:
    """Decodes keys of one dataset; one ZipFile handle per thread (ZipFile is not thread-safe)."""

    def __init__(self, index: DatasetIndex, resampler: str = "torchaudio") -> None:
        self.index = index
        self.resampler = resampler
        self._local = threading.local()
        # Clips used, but doubtful as a word's: a second word's worth of sound left out by the crop,
        # or nearly silent (list.append is atomic: the pool's threads share these).
        self.crowded: list[str] = []
        self.quiet: list[str] = []
        # (key, seconds) of the clips said too slowly for the gate.
        self.too_long: list[tuple[str, float]] = []

    def full(self, key: str) -> np.ndarray:
        """The whole file as float32 at 16 kHz; KwsError if it is not usable audio."""
        idx = self.index
        if idx.is_zip:
            zf = getattr(self._local, "zf", None)
            if zf is None:
                zf = self._local.zf = zipfile.ZipFile(idx.source)
            audio, rate = decode_bytes(read_member(zf, idx.zip_members[key]), self.name(key))
        else:
            audio, rate = decode(idx.source / idx.prefix / key)
        return to_16k(audio, rate, self.resampler)

    def name(self, key: str) -> str:
        """How errors name a clip: its path, or ZIP:member inside a ZIP."""
        idx = self.index
        return f"{idx.source}:{idx.prefix}{key}" if idx.is_zip else str(idx.source / idx.prefix / key)

    def window(self, key: str) -> np.ndarray:
        audio = self.full(key)
        # A 5-ms file or one of digital silence is a failed recording, not a spoken word: padded to
        # a second it would teach (or score) silence as that word. Skipped and counted instead.
        name = self.name(key)
        if audio.shape[0] < MIN_CLIP_SAMPLES:
            raise KwsError(f"{name}: {1000 * audio.shape[0] / SAMPLE_RATE:.1f} ms long; a clip needs at "
                           f"least {1000 * MIN_CLIP_SAMPLES // SAMPLE_RATE} ms")
        if not np.abs(audio).max() >= SILENT_PEAK:
            raise KwsError(f"{name}: silent (no sample reaches one 16-bit step)")
        window, left_out_ms = fit_window_and_left_out(audio)
        if left_out_ms >= SECOND_WORD_MS:
            self.crowded.append(key)
        if audio.shape[0] > SAMPLE_RATE * LONGEST_WORD_MS // 1000:
            spoken = loud_part_seconds(audio, _GATE.core_db, _GATE.core_gap_ms)
            if spoken * 1000 > LONGEST_WORD_MS:
                self.too_long.append((key, spoken))
        if np.abs(window).max() < QUIET_WORD_PEAK:
            self.quiet.append(key)
        return window


def _workers() -> int:
    # soundfile and torchaudio release the GIL; more threads than cores only queue up on a 2-core box.
    return max(1, min(8, os.cpu_count() or 1))


# Clips decoded at a time when a dataset is scored (64 KB each: 256 MB), not all of it at once: the
# full Speech Commands set would need 7 GB.
EVAL_PART = 4096


def load_windows(index: DatasetIndex, keys: Sequence[str], *, progress: bool = False,
                 resampler: str = "torchaudio") -> tuple[np.ndarray, list[str], list[str]]:
    """Decode `keys` in a thread pool. Returns (float32 [N, WINDOW_SAMPLES], loaded keys, skipped keys).

    Unusable files are skipped with one warning each; the caller reports the count.
    """
    # Run to its end: the doubtful-clip warnings come after the last part.
    parts = list(iter_windows(index, keys, part=max(1, len(keys)), progress=progress, resampler=resampler))
    return parts[0] if parts else (np.zeros((0, WINDOW_SAMPLES), dtype=np.float32), [], [])


def iter_windows(index: DatasetIndex, keys: Sequence[str], *, part: int | None = None, progress: bool = True,
                 resampler: str = "torchaudio") -> Iterator[tuple[np.ndarray, list[str], list[str]]]:
    """`load_windows` `part` (EVAL_PART) keys at a time, so that scoring a large dataset holds one
    part in memory, with one progress bar and the doubtful-clip warnings once at the end."""
    from tqdm import tqdm

    part = part or EVAL_PART
    reader = _Reader(index, resampler)
    quiet = None if progress else True  # None: a bar on a terminal only
    with tqdm(total=len(keys), desc="loading clips", unit="clip", leave=False, disable=quiet) as bar:
        for start in range(0, len(keys), part):
            yield _load_part(reader, keys[start:start + part], bar)
    _warn_doubtful_words(index, reader, Counter(PurePosixPath(k).parts[0] for k in keys))


def _load_part(reader: _Reader, keys: Sequence[str], bar) -> tuple[np.ndarray, list[str], list[str]]:
    problems: list[str] = []

    def one(key: str) -> np.ndarray | None:
        try:
            return reader.window(key)
        except KwsError as exc:
            # Logged once the pool is done: while an MP3 decodes, stderr is silenced for the whole
            # process (kws_edge.audio.quiet_stderr), and a warning from this thread would be lost.
            problems.append(str(exc))
            return None

    out = np.zeros((len(keys), WINDOW_SAMPLES), dtype=np.float32)
    ok = np.zeros(len(keys), dtype=bool)
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        for i, clip in enumerate(pool.map(one, keys, chunksize=16)):
            if clip is not None:
                out[i] = clip
                ok[i] = True
            bar.update(1)
    for problem in sorted(problems):
        log.warning("skipped %s", problem)
    loaded = [k for k, good in zip(keys, ok, strict=True) if good]
    skipped = [k for k, good in zip(keys, ok, strict=True) if not good]
    return (out if ok.all() else out[ok]), loaded, skipped  # out[ok] copies: only when needed


def _warn_doubtful_words(index: DatasetIndex, reader: _Reader, clips_of: Counter[str]) -> None:
    """Clips of word folders (not the reject class's) that are used but likely hold no word, or two:
    nearly silent (a dithered silence, a microphone left muted), or a long clip with a second
    word's worth of loud sound outside the second kept."""
    def of_words(keys: list[str]) -> list[str]:
        return sorted(k for k in keys if class_name(PurePosixPath(k).parts[0]) != UNKNOWN_LABEL)

    crowded, quiet = of_words(reader.crowded), of_words(reader.quiet)
    slow: dict[str, list[float]] = {}
    for key, seconds in reader.too_long:
        slow.setdefault(PurePosixPath(key).parts[0], []).append(seconds)
    for folder, spans in sorted(slow.items()):
        word, total = class_name(folder), clips_of[folder]
        # A quarter or more: the measure is the gate's, but not on the same frames, and a real
        # room's noise can stretch one clip past 1 s that kws-listen still hears.
        if word == UNKNOWN_LABEL or len(spans) < max(3, total // 4):
            continue
        log.warning("%s: %r is said over %.1f s in %d of its %d clips (its loud part; the longest %.2f s): "
                    "kws-listen does not report a word said longer, so said like those it may be missed. "
                    "Say it faster, or choose a shorter phrase (kws-listen --max-utterance-ms 0 hears it, "
                    "with more false alarms)", index.source, word, LONGEST_WORD_MS / 1000, len(spans), total,
                    max(spans))
    if crowded:
        log.warning("%s: %d clip(s) in word folders are longer than a second and hold loud sound for %d ms "
                    "or more outside the second kept (e.g. %s%s): a second word? A clip should hold one "
                    "word; a recording of many takes is cut into clips by kws-record --word WORD --input "
                    "FILE", index.source, len(crowded), SECOND_WORD_MS, index.prefix, crowded[0])
    if quiet:
        log.warning("%s: %d clip(s) in word folders are nearly silent (peak under %d dBFS) and are used as "
                    "they are (e.g. %s%s): listen to them, and delete those without the word", index.source,
                    len(quiet), round(20 * np.log10(QUIET_WORD_PEAK)), index.prefix, quiet[0])


def _recordings(index: DatasetIndex, keys: Iterable[str], resampler: str = "torchaudio",
                skipped: list[str] | None = None) -> Iterable[tuple[str, np.ndarray]]:
    """(key, whole file at 16 kHz) for each readable key; unreadable ones skipped with a warning,
    and their keys added to `skipped` when given."""
    reader = _Reader(index, resampler)
    for key in keys:
        try:
            yield key, reader.full(key)
        except KwsError as exc:
            log.warning("skipped %s", exc)
            if skipped is not None:
                skipped.append(key)


def load_noise_windows(index: DatasetIndex, keys: Sequence[str] | None = None, resampler: str = "torchaudio",
                       skipped: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Cut long noise recordings into non-overlapping 1-s windows; keys `<file>@<window>`."""
    windows: list[np.ndarray] = []
    names: list[str] = []
    for key, audio in _recordings(index, index.noise if keys is None else keys, resampler, skipped):
        n = audio.shape[0] // WINDOW_SAMPLES
        if n == 0:
            windows.append(fit_window(audio))
            names.append(f"{key}@0")
            continue
        windows.extend(audio[: n * WINDOW_SAMPLES].reshape(n, WINDOW_SAMPLES))
        names += [f"{key}@{i}" for i in range(n)]
    if not windows:
        return np.zeros((0, WINDOW_SAMPLES), dtype=np.float32), []
    return np.stack(windows).astype(np.float32), names


def load_talk_windows(index: DatasetIndex, keys: Sequence[str],
                      skipped: list[str] | None = None) -> np.ndarray:
    """Recordings of non-keyword talk (a dataset's `_talk/`) as 1-s windows, one centred on each
    utterance (`unknown.utterance_windows`), so a short word sits in its window as a keyword sits
    in a clip; unreadable files are skipped with a warning (and added to `skipped`)."""
    from .unknown import utterance_windows

    recordings = _recordings(index, keys, skipped=skipped)
    parts = [w for _, audio in recordings if len(w := utterance_windows(audio))]
    if not parts:
        return np.zeros((0, WINDOW_SAMPLES), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32)


def load_noise_dir(path: str | Path, what: str = "--noise") -> np.ndarray:
    """`--noise` / `--negatives`: every audio file in a folder (not recursive), or one file, cut
    into 1-s windows."""
    path = Path(path)
    if path.is_file():
        index = DatasetIndex(source=path.parent, is_zip=False, prefix="", layout="custom", noise=[path.name])
    elif path.is_dir():
        files = sorted(p.name for p in path.iterdir() if p.is_file() and not _is_hidden(p.name))
        index = DatasetIndex(source=path, is_zip=False, prefix="", layout="custom", noise=files)
    else:
        raise KwsError(f"{path}: {what} must be a folder of recordings or one recording")
    windows, _ = load_noise_windows(index)
    if windows.shape[0] == 0:
        inside = " directly in it (subfolders are not read)" if path.is_dir() else ""
        raise KwsError(f"{path}: no readable recordings{inside} for {what}")
    return windows


def load_labelled_clips(path: str | Path, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every clip of a dataset (any accepted layout, folder or ZIP) with its label index.

    Returns float32 `[N, 16000]`, int64 `[N]` indices into `labels` and the clip paths. Folders not
    in `labels` count as `_unknown_` when `labels` has it, else they are skipped; in Speech Commands
    layout the `_background_noise_` windows count as `_unknown_` too.
    """
    labels = list(labels)
    index = scan_dataset(path)
    keys: list[str] = []
    targets: list[int] = []
    for folder in index.folders:
        cls = class_of(folder, labels)
        if cls is None:
            continue
        keys += index.clips[folder]
        targets += [labels.index(cls)] * len(index.clips[folder])
    x, loaded, skipped = load_windows(index, keys)
    keep = set(loaded)
    y = [t for k, t in zip(keys, targets, strict=True) if k in keep]
    names = [str(index.source / index.prefix / k) for k in loaded]
    if skipped:
        log.warning("%s: skipped %d file(s): unreadable, silent or too short", path, len(skipped))
    if index.layout == "speech_commands" and UNKNOWN_LABEL in labels and index.noise:
        noise, noise_keys = load_noise_windows(index)
        x = np.concatenate([x, noise])
        y += [labels.index(UNKNOWN_LABEL)] * len(noise_keys)
        names += [str(index.source / index.prefix / k) for k in noise_keys]
    if x.shape[0] == 0:
        raise KwsError(f"{path}: no usable audio for labels {', '.join(labels)}")
    return x, np.asarray(y, dtype=np.int64), names


def class_counts(keys_by_class: dict[str, list[str]]) -> Counter:
    return Counter({c: len(k) for c, k in keys_by_class.items()})

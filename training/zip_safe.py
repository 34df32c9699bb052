"""Reading a dataset ZIP without trusting it: no path escapes, no zip bombs, no symlinks.

Members are read into memory (never extracted to disk), so nothing can be written outside a
target folder; a member whose name would escape one is still refused, because an archive that
tries it is hostile or broken and the user should know.
"""

from __future__ import annotations

import contextlib
import logging
import lzma
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kws_edge.errors import KwsError

log = logging.getLogger(__name__)

# A 35-word x 30-clip dataset of 1-s 16-bit WAVs is ~35 MB; Speech Commands v2 is ~2.3 GB.
MAX_TOTAL_BYTES = 4 * 1024**3
MAX_MEMBER_BYTES = 256 * 1024**2
# WAV/PCM compresses ~1.1-3x with deflate; silence can reach ~100x. Bombs are 1000x and more.
MAX_RATIO = 200.0


@dataclass(frozen=True)
class ZipMember:
    name: str  # POSIX path inside the archive, as the dataset reads it
    size: int
    stored: str = ""  # the name zipfile knows it by, when `name` differs from it

    @property
    def zip_name(self) -> str:
        return self.stored or self.name


def _display_name(info: zipfile.ZipInfo) -> str:
    """The member's path with `/` separators, its non-ASCII letters read as UTF-8.

    Windows PowerShell's Compress-Archive writes `\\` separators; Info-ZIP and macOS's Archive
    Utility write UTF-8 names without the flag that says so, which zipfile then reads as cp437
    ("lumière" as "lumi├¿re"), and the name becomes a label.
    """
    name = info.filename
    if not info.flag_bits & 0x800:
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("cp437").decode("utf-8")
    return name.replace("\\", "/")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix mode lives in the high 16 bits of external_attr when the archive was made on Unix.
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _check_name(zip_path: Path, name: str) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise KwsError(f"{zip_path}: unsafe member path {name!r} (would write outside the dataset folder)")


def list_members(zip_path: str | Path, *, max_total: int = MAX_TOTAL_BYTES,
                 max_ratio: float = MAX_RATIO) -> list[ZipMember]:
    """Regular-file members of a ZIP, after the path, size and ratio checks (KwsError otherwise)."""
    zip_path = Path(zip_path)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise KwsError(f"{zip_path}: not a readable ZIP archive ({exc})") from None
    members: list[ZipMember] = []
    total = 0
    skipped_links = 0
    for info in infos:
        _check_name(zip_path, info.filename)
        if info.is_dir():
            continue
        if _is_symlink(info):
            skipped_links += 1
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            raise KwsError(f"{zip_path}: member {info.filename!r} is {info.file_size} bytes uncompressed "
                           f"(limit {MAX_MEMBER_BYTES})")
        if info.file_size > 1024 * 1024 and info.file_size > max_ratio * max(info.compress_size, 1):
            raise KwsError(f"{zip_path}: member {info.filename!r} compresses {info.file_size}:"
                           f"{info.compress_size} (ratio limit {max_ratio:g}); refusing a possible zip bomb")
        total += info.file_size
        if total > max_total:
            raise KwsError(f"{zip_path}: more than {max_total} bytes uncompressed; refusing to read it")
        name = _display_name(info)
        members.append(ZipMember(name, info.file_size, "" if name == info.filename else info.filename))
    if skipped_links:
        log.warning("%s: ignored %d symbolic link(s)", zip_path, skipped_links)
    return members


# What zipfile and its decompressors raise for a damaged member: a bad CRC (also what a header
# that understates the size ends in), corrupt deflate/bzip2/lzma data, a truncated archive, an
# encrypted or unsupported member.
CORRUPT_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, RuntimeError,
                         NotImplementedError, ValueError)


def read_member(zf: zipfile.ZipFile, member: ZipMember) -> bytes:
    """Read one member, refusing to inflate beyond the size its header declared; a damaged member
    is a KwsError naming it (callers skip such a clip like any unreadable file)."""
    try:
        with zf.open(member.zip_name) as fh:
            data = fh.read(member.size + 1)
    except CORRUPT_MEMBER_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise KwsError(f"{zf.filename}: member {member.name!r} is damaged ({reason})") from None
    if len(data) > member.size:
        raise KwsError(f"{zf.filename}: member {member.name!r} inflates beyond its declared size")
    return data

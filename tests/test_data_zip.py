"""Dataset ZIPs are read without trusting them: path escapes, bombs and symlinks."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from audiogen import noise, tone, write_wav

from kws_edge.errors import KwsError
from kws_edge.labels import UNKNOWN_LABEL
from kws_edge.training.data import load_labelled_clips
from kws_edge.training.prepare import prepare_dataset
from kws_edge.training.zip_safe import list_members


def wav_bytes(tmp_path: Path, freq: float) -> bytes:
    return write_wav(tmp_path / f"t{freq}.wav", tone(freq, 0.5)).read_bytes()


@pytest.mark.parametrize("name", ["../evil.wav", "/etc/evil.wav", "a/../../evil.wav", "C:/evil.wav",
                                  "a\\..\\..\\evil.wav"])
def test_escaping_member_names_are_refused(tmp_path, name):
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("yes/ok.wav", wav_bytes(tmp_path, 300))
        zf.writestr(name, b"x")
    with pytest.raises(KwsError, match="unsafe member path"):
        load_labelled_clips(z, ["yes", UNKNOWN_LABEL])


def test_zip_bomb_ratio_and_total_are_refused(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("yes/big.wav", b"\0" * (50 * 1024 * 1024))  # ~1000:1
    with pytest.raises(KwsError, match="zip bomb"):
        list_members(z)
    z2 = tmp_path / "many.zip"
    with zipfile.ZipFile(z2, "w", zipfile.ZIP_STORED) as zf:
        for i in range(3):
            zf.writestr(f"yes/{i}.wav", b"\1" * 1000)
    with pytest.raises(KwsError, match="more than 2500 bytes"):
        list_members(z2, max_total=2500)
    assert len(list_members(z2)) == 3


def test_symlinks_in_zip_are_ignored(tmp_path):
    z = tmp_path / "links.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(3):
            zf.writestr(f"a/{i}.wav", wav_bytes(tmp_path, 300 + i))
            zf.writestr(f"b/{i}.wav", wav_bytes(tmp_path, 900 + i))
        link = zipfile.ZipInfo("a/passwd.wav")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    assert "a/passwd.wav" not in {m.name for m in list_members(z)}
    x, y, names = load_labelled_clips(z, ["a", "b"])
    assert len(names) == 6 and not any("passwd" in n for n in names)


def test_not_a_zip(tmp_path):
    f = tmp_path / "data.zip"
    f.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(KwsError, match="damaged or incomplete ZIP"):
        load_labelled_clips(f, ["a"])
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as zf:
        zf.writestr("yes/ok.wav", wav_bytes(tmp_path, 300))
    cut = tmp_path / "download"  # no .zip suffix: known by its first bytes
    cut.write_bytes(whole.read_bytes()[:-30])
    with pytest.raises(KwsError, match="download: a damaged or incomplete ZIP"):
        load_labelled_clips(cut, ["a"])
    text = tmp_path / "notes.txt"
    text.write_text("yes no")
    with pytest.raises(KwsError, match="not a dataset folder or a ZIP archive"):
        load_labelled_clips(text, ["a"])


def test_noise_dir_feeds_augmentation_and_reject_class(tmp_path):
    root = tmp_path / "ds"
    for w, f in (("a", 300.0), ("b", 900.0)):
        # Enough clips that ~100 reject clips are generated: real noise is ~8% of them, so a
        # handful could draw none.
        for i in range(80):
            write_wav(root / w / f"{i}.wav", tone(f + i, 0.6))
    write_wav(tmp_path / "noise" / "fan.wav", noise(4.2, amp=0.1, seed=3))
    data = prepare_dataset(root, seed=0, noise_dir=tmp_path / "noise")
    assert data.noise.shape[0] == 4
    assert data.generated_reject["train"].get("real_noise", 0) > 0
    assert np.all(np.isfinite(data.x["train"]))
    with pytest.raises(KwsError, match="--noise"):
        prepare_dataset(root, noise_dir=tmp_path / "missing")


def _raw_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A ZIP whose member names are written byte for byte, without the UTF-8 flag, as other tools
    write them: zipfile itself turns `\\` into `/` and flags non-ASCII names. Each name is
    written as an ASCII placeholder of its length, then the bytes are swapped in."""
    names = {f"{k:04d}".ljust(len(n.encode("utf-8")), "x").encode(): n.encode("utf-8")
             for k, n in enumerate(members)}
    with zipfile.ZipFile(path, "w") as zf:
        for placeholder, data in zip(names, members.values(), strict=True):
            zf.writestr(placeholder.decode(), data)
    raw = path.read_bytes()
    for placeholder, name in names.items():
        assert raw.count(placeholder) == 2  # the local header and the central directory
        raw = raw.replace(placeholder, name)
    path.write_bytes(raw)
    return path


def test_windows_separators_and_unflagged_utf8_names(tmp_path):
    """PowerShell's Compress-Archive writes `my_words\\down\\1.wav`; Info-ZIP and macOS write UTF-8
    names without the flag, which zipfile reads as cp437 ("lumière" as "lumi├¿re"). Both train as
    the folders they were: the first crashed every tool with a KeyError, the second made a word
    of mojibake."""
    members = {f"my_words\\{w}\\{i}.wav": wav_bytes(tmp_path, f + 5 * i)
               for w, f in (("down", 300.0), ("lumière", 900.0)) for i in range(3)}
    z = _raw_zip(tmp_path / "win.zip", members)
    with zipfile.ZipFile(z) as zf:
        assert any("\\" in n and "├" in n for n in zf.namelist())  # what zipfile sees
    x, y, names = load_labelled_clips(z, ["down", "lumière", UNKNOWN_LABEL])
    assert np.bincount(y).tolist() == [3, 3] and len(x) == 6
    assert all("my_words/" in n for n in names)

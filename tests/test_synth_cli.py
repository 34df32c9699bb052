"""kws-synth end to end with the real espeak-ng (and flite when installed): layout, determinism,
independence from --jobs, held-out voices, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import requires_espeak

from kws_edge.labels import SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES
from kws_edge.training.synth import which_set
from kws_edge.training.synth_cli import main
from kws_edge.training.synth_voices import DEFAULT_HOLDOUT, Voice, discover_voices, match_voices, parse_spec

WORDS = ("yes", "sheila", "visual")
PER_WORD = 4
UNKNOWN = 8


def _run(out: Path, *extra: str) -> int:
    return main([str(out), "--words", ",".join(WORDS), "--per-word", str(PER_WORD),
                 "--unknown", str(UNKNOWN), "--seed", "7", "--noise", "none", *extra])


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory):
    """Generated espeak variants are cached under XDG_CACHE_HOME: keep the tests' copy private."""
    from kws_edge.training import synth_variants

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        synth_variants.data_path.cache_clear()
        yield
    synth_variants.data_path.cache_clear()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    assert _run(out, "--jobs", "1") == 0
    return out


@requires_espeak
def test_layout_splits_and_manifest(dataset: Path) -> None:
    wavs = sorted(dataset.rglob("*.wav"))
    assert {p.parent.name for p in wavs} == {*WORDS, UNKNOWN_LABEL}
    for word in WORDS:
        assert len(list((dataset / word).glob("*_nohash_*.wav"))) == PER_WORD
    assert len(list((dataset / UNKNOWN_LABEL).glob("*.wav"))) == UNKNOWN
    assert not [p for p in dataset.rglob(".*")], "temp files left behind"

    listed = {}
    for name, split in (("validation_list.txt", "validation"), ("testing_list.txt", "testing")):
        for line in (dataset / name).read_text().splitlines():
            assert (dataset / line).is_file(), line
            listed[line] = split
    speaker_split: dict[str, str] = {}
    for p in wavs:
        rel = str(p.relative_to(dataset))
        split = listed.get(rel, "training")
        assert split == which_set(rel)
        speaker = p.name.split("_nohash_")[0]
        assert speaker_split.setdefault(speaker, split) == split, f"speaker {speaker} in two splits"

    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["generator"] == "kws-synth"
    assert manifest["counts"] == {**{w: PER_WORD for w in WORDS}, UNKNOWN_LABEL: UNKNOWN}
    assert sum(manifest["splits"].values()) == len(wavs)
    used = {v["id"] for v in manifest["voices"] if v["clips"]}
    speech_speakers = {p.name.split("_nohash_")[0] for p in wavs if p.parent.name != UNKNOWN_LABEL}
    assert speech_speakers <= used
    assert manifest["held_out"], "the default holdout should be recorded"


@requires_espeak
def test_clips_are_one_second_16k_speech(dataset: Path) -> None:
    for p in sorted(dataset.rglob("*.wav")):
        info = sf.info(str(p))
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            SAMPLE_RATE, 1, WINDOW_SAMPLES, "PCM_16"), p
        pcm, _ = sf.read(str(p), dtype="int16")
        assert np.count_nonzero(np.abs(pcm.astype(np.int32)) >= 32767) == 0, f"{p}: clipped"
        if p.parent.name == UNKNOWN_LABEL:
            continue
        audio = pcm.astype(np.float64) / 32768.0
        frames = np.square(audio.reshape(20, -1)).mean(axis=1) + 1e-12   # 50-ms frames
        assert 10 * np.log10(frames.max() / frames.min()) > 10, f"{p}: no speech above the noise"
        assert np.abs(audio).max() > 10 ** (-30 / 20), f"{p}: too quiet"


@requires_espeak
def test_deterministic_and_independent_of_jobs(dataset: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert _run(again, "--jobs", "2") == 0
    assert _tree(again) == _tree(dataset)
    other = tmp_path / "other"
    assert main([str(other), "--words", "yes", "--per-word", str(PER_WORD), "--unknown", "0",
                 "--seed", "8", "--noise", "none", "--jobs", "1"]) == 0
    a = {p.name: p.read_bytes() for p in (dataset / "yes").glob("*.wav")}
    b = {p.name: p.read_bytes() for p in (other / "yes").glob("*.wav")}
    assert set(a.values()).isdisjoint(b.values()), "another seed should give other clips"


@requires_espeak
def test_holdout_voices_never_appear(tmp_path: Path) -> None:
    available = discover_voices()
    held = match_voices(available, parse_spec(DEFAULT_HOLDOUT))
    assert held, "the default holdout should match installed voices"
    out = tmp_path / "ds"
    # A small voice pool with held-out members in it, so a leak would show in a short run.
    spec = "espeak:en-us+f4,espeak:en-us+m5,espeak:en-us+m3,espeak:en-029+f2"
    if shutil.which("flite"):
        spec += ",flite:*"
    assert main([str(out), "--words", "no", "--per-word", "12", "--unknown", "6", "--noise", "none",
                 "--voices", spec, "--holdout-voices", DEFAULT_HOLDOUT, "--jobs", "2"]) == 0
    held_ids = {v.speaker_id for v in held}
    speakers = {p.name.split("_nohash_")[0] for p in out.rglob("*.wav")}
    assert not speakers & held_ids
    manifest = json.loads((out / "manifest.json").read_text())
    assert not {v["spec"] for v in manifest["voices"]} & {v.spec for v in held}

    # The default run leaves the default holdout out of its voice list.
    listing = tmp_path / "voices.txt"
    with listing.open("w") as fh:
        subprocess.run([sys.executable, "-m", "kws_edge.training.synth_cli", "--list-voices"],
                       stdout=fh, check=True, capture_output=False, stderr=subprocess.DEVNULL)
    lines = listing.read_text().splitlines()
    assert len(lines) == len(available)
    held_lines = {ln.split()[1] for ln in lines if ln.endswith("(held out)")}
    assert held_lines == {v.spec for v in held}


@requires_espeak
def test_one_voice_set_for_fine_tuning(tmp_path: Path) -> None:
    """The fine-tuning experiment's set: one held-out voice, chosen explicitly."""
    out = tmp_path / "holdout"
    voice = "espeak:en-us+f4"
    assert main([str(out), "--voices", voice, "--words", "yes,no", "--per-word", "3", "--unknown", "0",
                 "--noise", "none", "--jobs", "1"]) == 0
    speakers = {p.name.split("_nohash_")[0] for p in out.rglob("*.wav")}
    assert speakers == {Voice("espeak", "en-us+f4").speaker_id}
    assert sorted(p.name for p in (out / "yes").glob("*.wav")) == [
        f"{Voice('espeak', 'en-us+f4').speaker_id}_nohash_{i}.wav" for i in range(3)]


@requires_espeak
def test_unknown_mix_word_makes_isolated_common_words(tmp_path: Path) -> None:
    """--unknown-mix word=1: every reject clip is one common word alone, none a keyword or a
    measuring word of the reject benchmark."""
    out = tmp_path / "words"
    assert main([str(out), "--per-word", "0", "--unknown", "12", "--unknown-mix", "word=1",
                 "--noise", "none", "--jobs", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["unknown_kinds"] == {"word": 12}
    assert manifest["unknown_mix"] == {"word": 1.0}
    assert len(list((out / "_unknown_").glob("*.wav"))) == 12
    assert not [p for p in out.iterdir() if p.is_dir() and p.name != "_unknown_"]


def _cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kws_edge.training.synth_cli", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_espeak_missing_is_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    res = _cli([str(tmp_path / "out"), "--words", "yes", "--per-word", "1", "--noise", "none"], env)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "espeak-ng" in lines[0] and "sudo apt-get install espeak-ng" in lines[0]
    assert not (tmp_path / "out").exists()


@requires_espeak
def test_flite_missing_warns_and_uses_espeak_only(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "espeak-ng").symlink_to(shutil.which("espeak-ng"))
    env = {**os.environ, "PATH": str(bin_dir)}
    out = tmp_path / "out"
    res = _cli([str(out), "--words", "yes", "--per-word", "3", "--unknown", "0", "--noise", "none",
                "--jobs", "1"], env)
    assert res.returncode == 0, res.stderr
    assert "flite not found" in res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(v["spec"].startswith("espeak:") for v in manifest["voices"])


@pytest.mark.parametrize("args, message", [
    (["--noise", "{tmp}/no-such-dir"], "--noise must be a folder"),
    (["--noise", "{tmp}/empty"], "no .wav/.flac/.ogg noise recordings"),
    (["--per-word", "-1"], "must be >= 0"),
    (["--words", "Yes!"], "not a plain lowercase word"),
    (["--words", "yes,no,yes"], "listed twice"),
    (["--words", ",,"], "no word given"),
    (["--engines", "festival"], "--engines"),
    (["--jobs", "0"], "--jobs"),
    (["--unknown-mix", "words=1"], "unknown kind 'words'"),
    (["--unknown-mix", "word=lots"], "is not KIND=WEIGHT"),
    (["--unknown-mix", "word=0"], "add up to 0"),
])
def test_bad_input_is_one_line_error(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main([str(tmp_path / "out"), "--per-word", "1", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    errors = [ln for ln in err if ln.startswith("kws-synth: error:")]
    assert len(errors) == 1 and message in errors[0], err
    assert not (tmp_path / "out").exists()


def test_refuses_non_empty_out_dir(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main([str(out), "--per-word", "1", "--noise", "none"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    # --overwrite replaces only what kws-synth wrote: a slip of the path keeps a user's recordings.
    (out / "yes").mkdir()
    (out / "yes" / "001.wav").write_bytes(b"a recording")
    assert main([str(out), "--per-word", "1", "--noise", "none", "--overwrite"]) == 2
    assert "replaces only a folder kws-synth wrote" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine" and (out / "yes" / "001.wav").is_file()
    (out / "manifest.json").write_text("{}")  # another tool's manifest
    assert main([str(out), "--per-word", "1", "--noise", "none", "--overwrite"]) == 2
    assert (out / "keep.txt").read_text() == "mine"


def test_help_explains_usage() -> None:
    res = _cli(["--help"])
    assert res.returncode == 0
    for flag in ("--per-word", "--unknown", "--seed", "--jobs", "--noise", "--voices", "--holdout-voices",
                 "--words", "--engines", "--list-voices", "examples:"):
        assert flag in res.stdout


@requires_espeak
def test_generated_variants_are_distinct_stable_voices(tmp_path: Path, monkeypatch) -> None:
    from kws_edge.training import synth_variants
    from kws_edge.training.synth_voices import synthesize

    names = synth_variants.generated_names()
    assert len(set(map(synth_variants.variant_text, names))) == len(names)
    assert synth_variants.variant_text("kws007") == synth_variants.variant_text("kws007")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    synth_variants.data_path.cache_clear()
    try:
        path = Path(synth_variants.data_path())
        assert path.is_relative_to(tmp_path / "cache")
        assert (path / "espeak-ng-data" / "voices" / "!v" / "kws007").read_text() == \
            synth_variants.variant_text("kws007")
        plain = synthesize(Voice("espeak", "en-us"), "seven")
        a = synthesize(Voice("espeak", "en-us+kws007"), "seven")
        b = synthesize(Voice("espeak", "en-us+kws008"), "seven")
        assert a.size and b.size
        assert not np.array_equal(a, b) and (a.shape != plain.shape or not np.array_equal(a, plain))
        assert synth_variants.data_path() == str(path)   # built once, reused
    finally:
        synth_variants.data_path.cache_clear()


@requires_espeak
def test_ctrl_c_with_workers_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    # A terminal's Ctrl-C reaches the whole process group, pool workers included: each used to
    # print its own KeyboardInterrupt traceback.
    import signal
    import time

    out = tmp_path / "ds"
    proc = subprocess.Popen([sys.executable, "-m", "kws_edge.training.synth_cli", str(out), "--words",
                             "yes,no,up,down", "--per-word", "200", "--jobs", "2", "--noise", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(tmp_path.glob(".ds.partial-*/*/*.wav"))) < 40:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "kws-synth: interrupted", err
    assert "Traceback" not in err and "ForkPoolWorker" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@requires_espeak
def test_sigterm_leaves_no_partial_folder(tmp_path: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "kws_edge.training.synth_cli", str(tmp_path / "out"),
                             "--words", "yes,no", "--per-word", "400", "--noise", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.partial-*/yes/*.wav")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated; nothing was written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@requires_espeak
def test_a_set_of_one_voice_has_empty_lists(tmp_path: Path) -> None:
    """Its one voice would go wholly to one list: en+Alex hashes to "testing", which named every
    clip, and kws-train then trained on none of them."""
    (alex,) = [v for v in discover_voices(["espeak"]) if v.spec == "espeak:en+Alex"]
    assert which_set(alex.speaker_id) == "testing"
    out = tmp_path / "one"
    assert _run(out, "--voices", "espeak:en+Alex", "--holdout-voices", "none", "--jobs", "1") == 0
    assert (out / "testing_list.txt").read_text() == "" and (out / "validation_list.txt").read_text() == ""
    assert len(list((out / "yes").glob("*.wav"))) == PER_WORD

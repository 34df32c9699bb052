"""kws-record live, on a real sounddevice stream from the PulseAudio virtual microphone.

scripts/virtual_mic.sh sets up a null sink `kws_null` whose monitor is what PortAudio's ALSA
device "pulse" records; espeak-ng takes played into the sink with paplay are what kws-record hears
(tests/test_microphone.py has the details). Nothing is mocked: the same file is then cut with
`--input`, and both runs must give the same clips.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audiogen import espeak, write_wav
from conftest import requires_espeak
from recordgen import problem_stream, repeated, trimmed, word_stream
from test_microphone import DEVICE, PAPLAY, REPO, SINK, _virtual_mic_problem

from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES

_problem = _virtual_mic_problem()
pytestmark = [
    pytest.mark.audio, requires_espeak,
    pytest.mark.skipif(_problem is not None,
                       reason=f"virtual microphone unavailable ({_problem}); run scripts/virtual_mic.sh"),
]

KEPT = re.compile(r"^(\S+)/(\d+)\.wav\s+kept\s+\((?:\S+ )?([\d.]+)-([\d.]+) s")
NOT_KEPT = re.compile(r"^(?:\S+ )?([\d.]+)-([\d.]+) s: not kept: (.*)$")


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kws_edge.record_cli", *args]


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def record_live(dataset: Path, played: Path, *args: str, settle: float = 2.5) -> tuple[list[str], str, int]:
    """Run kws-record on the virtual microphone, play `played` into it once audio flows, then
    press q (on stdin). Returns its stdout lines, stderr and exit code."""
    subprocess.run(["pactl", "suspend-sink", SINK, "0"], check=False)
    proc = subprocess.Popen(_cmd(str(dataset), "--device", DEVICE, "--duration", "90", *args),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    pump = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    pump.start()
    out: list[str] = []
    try:
        # The prompt appears with the first audio block: anything played before would be lost.
        deadline = time.monotonic() + 30
        while not (out and out[-1].startswith(("say '", "read aloud"))):
            out.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        subprocess.run([*PAPLAY, str(played)], check=True, timeout=120)
        time.sleep(settle)  # the last cut waits for the rest of its second
        try:
            proc.stdin.write("q\n")  # the quit key, as a line: stdin is no terminal
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # it finished by itself
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    pump.join(timeout=10)
    while not lines.empty():
        out.append(lines.get())
    return out, proc.stderr.read(), proc.returncode


def record_file(dataset: Path, *args: str) -> tuple[list[str], str, int]:
    res = subprocess.run(_cmd(str(dataset), *args), capture_output=True, text=True, timeout=120)
    return res.stdout.splitlines(), res.stderr, res.returncode


def kept(lines: list[str]) -> list[tuple[str, float, float]]:
    return [(f"{m[1]}/{m[2]}.wav", float(m[3]), float(m[4])) for m in map(KEPT.match, lines) if m]


def not_kept(lines: list[str]) -> list[tuple[float, str]]:
    return [(float(m[1]), m[3]) for m in map(NOT_KEPT.match, lines) if m]


def _lag(a: np.ndarray, b: np.ndarray) -> int:
    """Samples by which b is late against a (cross-correlation peak)."""
    spec = np.fft.rfft(a, 2 * len(a)) * np.conj(np.fft.rfft(b, 2 * len(b)))
    xc = np.fft.irfft(spec)
    k = int(np.argmax(xc))
    return -(k if k < len(a) else k - 2 * len(a))


def test_twelve_takes_played_into_the_microphone_give_twelve_clips_and_the_file_the_same(tmp_path):
    stream = repeated("yes", 12, pause=0.8, seed=5)
    played = write_wav(tmp_path / "yes12.wav", stream.audio)
    live_dir, file_dir = tmp_path / "live", tmp_path / "file"
    out, err, rc = record_live(live_dir, played, "--words", "yes", "--count", "30", "--no-talk")
    assert rc == 0, err
    assert "Traceback" not in err and "0 overflows" in err, err
    live = kept(out)
    assert len(live) == 12, out
    assert sorted(p.name for p in (live_dir / "yes").iterdir()) == [f"{i:03d}.wav" for i in range(1, 13)]

    lines, err, rc = record_file(file_dir, "--word", "yes", "--input", str(played))
    assert rc == 0, err
    cut = kept(lines)
    assert len(cut) == 12 and not not_kept(lines)
    # Same cut points: the live stream runs late by the time before playing, the same for all.
    shifts = np.array([lv[1] - fl[1] for lv, fl in zip(live, cut, strict=True)])
    ends = np.array([lv[2] - fl[2] for lv, fl in zip(live, cut, strict=True)])
    delay = float(np.median(shifts))
    assert np.abs(shifts - delay).max() <= 0.020 and np.abs(ends - delay).max() <= 0.020, (shifts, ends)
    # ... and the same clips: same audio, aligned within 20 ms.
    for name, _, _ in cut:
        a, rate_a = sf.read(file_dir / name, dtype="float32")
        b, rate_b = sf.read(live_dir / name, dtype="float32")
        assert rate_a == rate_b == SAMPLE_RATE and a.shape == b.shape == (WINDOW_SAMPLES,)
        lag = _lag(a, b)
        assert abs(lag) <= 0.020 * SAMPLE_RATE
        if lag >= 0:
            a, b = a[:len(a) - lag], b[lag:]
        else:
            a, b = a[-lag:], b[:len(b) + lag]
        assert np.corrcoef(a, b)[0, 1] > 0.9


def test_problems_in_a_live_stream_are_reported_and_the_good_clips_kept(tmp_path):
    stream, truth = problem_stream("no", seed=2)
    played = write_wav(tmp_path / "twenty.wav", stream.audio)
    for mode in ("live", "file"):
        dataset = tmp_path / mode
        if mode == "live":
            out, err, rc = record_live(dataset, played, "--words", "no", "--no-talk")
        else:
            out, err, rc = record_file(dataset, "--word", "no", "--input", str(played))
        assert rc == 0, err
        good, bad = kept(out), not_kept(out)
        assert len(good) == len(truth["ok"]) == 15, out
        assert len(list((dataset / "no").iterdir())) == 15
        reasons = [why.split(" (")[0] for _, why in bad]
        assert sorted(reasons) == ["clipped", "two words in one clip", "two words in one clip"], out
        # Each report names where it happened (seconds of its stream).
        starts = [t for t, _ in bad]
        order = [truth["two words"][0], truth["two words"][1], truth["clipped"][0]]
        gaps = np.diff([stream.words[i][0] / SAMPLE_RATE for i in order])
        np.testing.assert_allclose(np.diff(starts), gaps, atol=0.03)


def test_talk_section_keeps_the_persons_talk_and_a_rerun_has_nothing_left(tmp_path):
    dataset = tmp_path / "me"
    # The word is done already (cut from a file), so the session goes straight to the talk.
    take = write_wav(tmp_path / "up.wav", repeated("up", 2, seed=1).audio)
    assert record_file(dataset, "--word", "up", "--input", str(take))[2] == 0
    silence = np.zeros(2 * SAMPLE_RATE, np.float32)
    sentences = [trimmed(espeak(t, "en-gb")) for t in ("The weather was mild and the sky stayed clear.",
                                                        "We walked along the river and watched the boats.")]
    played = write_wav(tmp_path / "talk.wav", np.concatenate([silence, sentences[0], silence, sentences[1],
                                                              silence]))
    args = ("--words", "up", "--count", "2", "--talk-seconds", "4")
    out, err, rc = record_live(dataset, played, *args, settle=0.5)
    assert rc == 0, err
    assert any(line.startswith("read aloud: ") for line in out), out
    pieces = sorted((dataset / "_talk").glob("*.wav"))
    assert [p.name for p in pieces] == ["001.wav", "002.wav"], out
    seconds = sum(sf.info(str(p)).duration for p in pieces)
    assert seconds >= 4 and all(sf.info(str(p)).samplerate == SAMPLE_RATE for p in pieces)
    for piece, said in zip(pieces, sentences, strict=True):
        # Each file is one text read aloud: its speech, with a little room around it.
        assert 0 < sf.info(str(piece)).duration - len(said) / SAMPLE_RATE < 1.0
    res = subprocess.run(_cmd(str(dataset), *args), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "nothing left to record" in res.stdout


def test_an_unknown_device_is_a_one_line_error(tmp_path):
    res = subprocess.run(_cmd(str(tmp_path / "d"), "--device", "no-such-mic", "--no-talk"),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "no-such-mic" in res.stderr
    assert not (tmp_path / "d").exists()


def test_a_device_lost_mid_session_keeps_the_last_take_and_says_where_things_stand(tmp_path):
    """PulseAudio killed right after a take (its clip still waiting for the rest of its second):
    the take is kept, the summary is printed, and the device's error ends the run."""
    takes = [trimmed(espeak("yes", "en-us", speed=150 + 10 * i)) for i in range(3)]
    played = write_wav(tmp_path / "yes3.wav", word_stream(takes, [1.0, 1.0, 0.0], tail=0.0).audio)
    dataset = tmp_path / "ds"
    subprocess.run(["pactl", "suspend-sink", SINK, "0"], check=False)
    proc = subprocess.Popen(_cmd(str(dataset), "--device", DEVICE, "--words", "yes", "--count", "10",
                                 "--no-talk", "--plain"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    out: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while not (out and out[-1].startswith("say '")):
            out.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        subprocess.run([*PAPLAY, str(played)], check=True, timeout=60)
        subprocess.run(["pulseaudio", "--kill"], check=False, timeout=10)
        proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["bash", str(REPO / "scripts" / "virtual_mic.sh")], check=True, timeout=60,
                       capture_output=True)
    assert proc.returncode == 2, err
    assert "the input device was lost: 0 of 1 words have 10 clips" in err
    assert "stopped delivering audio" in err.splitlines()[-1]
    assert "INFO kws_edge.sources" not in err  # the session's first line already names the device
    assert len(list((dataset / "yes").glob("*.wav"))) == 3, (out, err)

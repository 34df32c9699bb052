"""Live audio: kws-listen on a real sounddevice stream from a PulseAudio virtual microphone.

scripts/virtual_mic.sh (run by scripts/test.sh and CI) starts PulseAudio with a null sink
`kws_null` whose monitor is the default source; PortAudio reaches it as the ALSA device "pulse".
A tone played into the sink with paplay is what the listener hears; the tiny tone model turns a
1 kHz tone into the keyword "yes". Nothing here is mocked.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from audiogen import tone, write_wav
from onnx_tiny import tone_model

from kws_edge.errors import KwsError
from kws_edge.labels import SAMPLE_RATE
from kws_edge.spotter import DEFAULT_THRESHOLD

REPO = Path(__file__).resolve().parents[1]
SINK = "kws_null"
# At paplay's default latency the null sink's monitor loses the first ~300 ms of each file.
PAPLAY = ["paplay", f"--device={SINK}", "--latency-msec=30"]
DEVICE = "pulse"


def _virtual_mic_problem() -> str | None:
    if not (shutil.which("pactl") and shutil.which("paplay")):
        return "pulseaudio-utils not installed"
    try:
        info = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pactl failed: {exc}"
    if info.returncode != 0:
        return "PulseAudio is not running"
    if SINK not in info.stdout.split():
        return f"no null sink {SINK}"
    try:
        import sounddevice as sd

        names = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
    except (OSError, ImportError) as exc:
        return f"PortAudio/sounddevice unavailable: {exc}"
    if DEVICE not in names:
        return f"PortAudio has no '{DEVICE}' input (apt-get install libasound2-plugins)"
    return None


_problem = _virtual_mic_problem()
pytestmark = [
    pytest.mark.audio,
    pytest.mark.skipif(_problem is not None,
                       reason=f"virtual microphone unavailable ({_problem}); run scripts/virtual_mic.sh"),
]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("mic")
    # Make sure the sink is awake: a suspended null sink's monitor delivers no samples.
    subprocess.run(["pactl", "suspend-sink", SINK, "0"], check=False)
    silence = np.zeros(SAMPLE_RATE // 2, np.float32)
    played = np.concatenate([silence, tone(1000, 0.6, amp=0.5), silence])
    return {"model": tone_model(d / "tone.onnx"),
            "yes_wav": write_wav(d / "yes.wav", played, rate=SAMPLE_RATE),
            "yes44_wav": write_wav(d / "yes44.wav", _to_44k(played), rate=44100)}


def _to_44k(audio: np.ndarray) -> np.ndarray:
    import soxr

    return soxr.resample(audio, SAMPLE_RATE, 44100)


def _play(path: Path) -> None:
    subprocess.run(["paplay", f"--device={SINK}", "--latency-msec=30", str(path)], check=True, timeout=30)


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)


def test_kws_listen_detects_a_played_keyword(assets):
    proc = subprocess.Popen(
        [sys.executable, "-m", "kws_edge.listen_cli", "--model", str(assets["model"]), "--device", DEVICE,
         "--json", "--duration", "30", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out_lines: queue.Queue[str] = queue.Queue()
    err_lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, out_lines), daemon=True).start()
    threading.Thread(target=_reader, args=(proc.stderr, err_lines), daemon=True).start()
    try:
        # Play only once audio flows: PulseAudio may take ~2 s to deliver the first block, and a
        # tone played before that is never recorded. (Other stderr lines, e.g. ALSA notes, pass.)
        deadline = time.monotonic() + 30
        while True:
            line = err_lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if "first audio block from 'pulse'" in line:
                break
        _play(assets["yes_wav"])
        event = json.loads(out_lines.get(timeout=15))
        assert event["label"] == "yes" and event["score"] >= DEFAULT_THRESHOLD
        assert set(event) == {"time", "label", "score", "start", "end"}
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0
    rest = []
    while not err_lines.empty():
        rest.append(err_lines.get())
    rest = [line for line in rest if not line.startswith("DEBUG")]
    summary = rest[-1] if rest else ""
    assert summary.startswith("kws-listen: terminated: 1 detection,"), rest
    assert "Traceback" not in "".join(rest)


def test_spot_microphone_stops_after_its_duration_in_a_quiet_room(assets):
    """The generator yields only on events: without `duration`, a quiet room would hold it forever."""
    from kws_edge.spotter import spot_microphone

    started = time.monotonic()
    assert list(spot_microphone(assets["model"], device=DEVICE, duration=1.0)) == []
    assert time.monotonic() - started < 15


def test_python_api_on_a_device_at_44k_resamples(assets):
    """Force the device-rate path (44.1 kHz + soxr stream), as with a USB microphone on a Pi."""
    from kws_edge.sources import MicrophoneSource
    from kws_edge.spotter import KeywordSpotter

    spotter = KeywordSpotter(assets["model"])
    events = []
    with MicrophoneSource(DEVICE, spotter.sample_rate, device_rate=44100) as mic:
        assert mic.device_rate == 44100 and mic._resample.active
        player = None
        for chunk in mic:
            events += spotter.process(chunk)
            if player is None and spotter.seconds >= 0.5:
                player = threading.Thread(target=_play, args=(assets["yes44_wav"],))
                player.start()
            if events or spotter.seconds > 20:
                break
        player.join()
    assert [e.label for e in events] == ["yes"]


def test_slow_consumer_counts_overflows_and_goes_on(assets):
    from kws_edge.sources import MicrophoneSource

    mic = MicrophoneSource(DEVICE, SAMPLE_RATE, chunk_ms=20, queue_seconds=0.1)
    with mic:
        it = iter(mic)
        next(it)  # audio flows
        time.sleep(1.0)  # the consumer stalls: the bounded queue fills, the callback drops blocks
        got = sum(len(next(it)) for _ in range(30))
    assert mic.dropped > 0 and mic.lost_blocks >= mic.dropped
    assert got == 30 * SAMPLE_RATE * 20 // 1000


def test_unknown_device_is_a_one_line_error():
    from kws_edge.sources import MicrophoneSource

    with pytest.raises(KwsError, match="--device no-such-mic") as err:
        MicrophoneSource("no-such-mic", SAMPLE_RATE)
    assert "\n" not in str(err.value)
    res = subprocess.run([sys.executable, "-m", "kws_edge.listen_cli", "--device", "no-such-mic",
                          "--model", str(tone_model(Path(os.environ.get("TMPDIR", "/tmp")) / "kws_t.onnx"))],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "no-such-mic" in res.stderr


def test_lost_sound_server_ends_with_an_error_not_a_hang(assets):
    """Kill PulseAudio mid-stream (the device vanishes): a clear KwsError, no hang; then restore it."""
    from kws_edge.sources import MicrophoneSource

    mic = MicrophoneSource(DEVICE, SAMPLE_RATE, stall_seconds=1.5)
    started = None
    try:
        with pytest.raises(KwsError, match="stopped delivering audio"), mic:
            for _ in mic:
                if started is None:
                    started = time.monotonic()
                    subprocess.run(["pulseaudio", "--kill"], check=False, timeout=10)
        assert started is not None and time.monotonic() - started < 15
    finally:
        subprocess.run(["bash", str(REPO / "scripts" / "virtual_mic.sh")], check=True, timeout=60,
                       capture_output=True)


def test_list_devices_shows_the_virtual_microphone():
    res = subprocess.run([sys.executable, "-m", "kws_edge.listen_cli", "--list-devices"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert any(line.split()[1:2] == [DEVICE] or f" {DEVICE} " in line for line in res.stdout.splitlines())

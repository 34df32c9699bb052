"""kws-listen end to end on files: output formats, errors as one line, --realtime pacing, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from audiogen import noise, tone, write_wav
from onnx_tiny import tone_model

from kws_edge.listen_cli import main
from kws_edge.spotter import DEFAULT_THRESHOLD

LISTEN = [sys.executable, "-m", "kws_edge.listen_cli"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("listen")
    gap = lambda s, seed: noise(s, amp=0.005, seed=seed)  # noqa: E731
    audio = np.concatenate([gap(1.5, 1), tone(1000, 0.6), gap(1.5, 2), tone(2000, 0.6), gap(1.5, 3)])
    return {
        "model": tone_model(d / "tone.onnx"),
        "wav": write_wav(d / "two.wav", audio),
        "flac": write_wav(d / "two.flac", np.stack([audio, audio], axis=1), subtype="PCM_24"),
        "dir": d,
    }


def test_human_lines(files, capsys):
    assert main(["--model", str(files["model"]), "--input", str(files["wav"])]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["yes", "no"]
    for line in lines:
        assert re.fullmatch(r"\d\d:\d\d\.\d{3}  (yes|no)  [01]\.\d\d", line), line
    assert "2 detections" in err and "5.7 s listened" in err and "0 overflows" in err


def test_json_lines(files, capsys):
    argv = ["--model", str(files["model"]), "--input", str(files["flac"]), "--json", "--vad", "off"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    events = [json.loads(line) for line in out.strip().splitlines()]
    assert [e["label"] for e in events] == ["yes", "no"]
    for e in events:
        assert set(e) == {"time", "label", "score", "start", "end"}
        assert e["end"] == e["time"] and e["start"] == pytest.approx(e["time"] - 1.0)
        assert DEFAULT_THRESHOLD <= e["score"] <= 1.0
    assert 1.5 < events[0]["time"] < 3.2 and 3.6 < events[1]["time"] < 5.3


def test_threshold_flag_changes_events(files, capsys):
    assert main(["--model", str(files["model"]), "--input", str(files["wav"]), "--threshold", "0.999"]) == 0
    assert capsys.readouterr().out == ""


def _one_line_error(err: str, pattern: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kws-listen: error: ") and re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize("case", ["bad_model", "missing_model", "bad_input", "empty_input", "missing_input",
                                  "bad_threshold", "realtime_without_input", "bad_hop"])
def test_user_mistakes_are_one_line_errors(files, capsys, case):
    d = files["dir"]
    junk = d / "junk.bin"
    junk.write_bytes(b"\x00garbage" * 100)
    (d / "empty.wav").write_bytes(b"")
    model, wav = str(files["model"]), str(files["wav"])
    argv, pattern = {
        "bad_model": (["--model", str(junk), "--input", wav], r"junk\.bin: not a loadable ONNX model"),
        "missing_model": (["--model", str(d / "nope.onnx"), "--input", wav], r"nope\.onnx: no such"),
        "bad_input": (["--model", model, "--input", str(junk)], r"junk\.bin: not a readable audio file"),
        "empty_input": (["--model", model, "--input", str(d / "empty.wav")], r"empty\.wav: empty file \(0 b"),
        "missing_input": (["--model", model, "--input", str(d / "nope.wav")], r"nope\.wav: no such"),
        "bad_threshold": (["--model", model, "--input", wav, "--threshold", "2"], r"--threshold"),
        "realtime_without_input": (["--model", model, "--realtime"], r"--realtime"),
        "bad_hop": (["--model", model, "--input", wav, "--hop-ms", "5000"], r"--hop-ms"),
    }[case]
    assert main(argv) == 2
    _one_line_error(capsys.readouterr().err, pattern)


def test_help_explains_itself():
    res = subprocess.run([*LISTEN, "--help"], capture_output=True, text=True, check=True)
    for flag in ("--model", "--input", "--device", "--list-devices", "--threshold", "--hop-ms", "--vad",
                 "--json", "--realtime", "examples:"):
        assert flag in res.stdout


def test_list_devices_never_tracebacks():
    res = subprocess.run([*LISTEN, "--list-devices"], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in res.stderr
    if res.returncode == 0:
        assert "default input" in res.stdout
    else:
        assert res.returncode in (1, 2) and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("sig,word", [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")])
def test_realtime_is_paced_and_signals_stop_cleanly(files, sig, word):
    long = files["dir"] / "long.wav"
    write_wav(long, np.concatenate([noise(1.0, 0.005, 1), tone(1000, 0.6), noise(8.0, 0.005, 2)]))
    proc = subprocess.Popen([*LISTEN, "--model", str(files["model"]), "--input", str(long), "--realtime"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    first = proc.stdout.readline()  # the tone fires ~2 s into the stream: real time, not instantly
    t_first = time.monotonic()
    assert " yes " in first
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith(f"kws-listen: {word}: 1 detection,")
    listened = float(re.search(r"([\d.]+) s listened", summary).group(1))
    assert 1.5 <= listened < 6.0
    assert time.monotonic() - t_first < 10


def test_sigterm_before_listening_began_stops_cleanly(files, tmp_path):
    """systemd stopping the service while the model loads or the source opens (a FIFO no one has
    opened to write yet blocks there): one line and exit 0, as once listening, not a silent -15."""
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    # 3 s: imported, the model loaded, waiting for a writer; 0.4 s: still importing numpy or
    # onnxruntime (a signal raised there had broken onnxruntime's import, or been taken for a
    # model that does not load).
    for delay in (3.0, 0.4):
        proc = subprocess.Popen([*LISTEN, "--model", str(files["model"]), "--input", str(fifo)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, (delay, err)
        assert err.strip().splitlines() == ["kws-listen: terminated before listening began: 0 detections"]


def test_signal_handlers_are_put_back_however_main_returns(files, capsys):
    """main() in a process of its own making (a test, a script): a refused flag, before the model
    loads, leaves Ctrl-C and SIGTERM as they were, not noted and ignored."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    assert main(["--model", str(files["model"]), "--duration", "-1"]) == 2
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert main(["--model", str(files["model"]), "--input", str(files["wav"])]) == 0
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_duration_stops_early(files, capsys):
    assert main(["--model", str(files["model"]), "--input", str(files["wav"]), "--duration", "2.5"]) == 0
    out, err = capsys.readouterr()
    assert "2.5 s listened" in err and "--duration" in err
    assert [line.split()[1] for line in out.strip().splitlines()] == ["yes"]


def test_default_model_is_the_shipped_base(files, capsys):
    from kws_edge.models import BASE_ONNX

    rc = main(["--input", str(files["wav"])])
    out, err = capsys.readouterr()
    if BASE_ONNX.is_file():
        assert rc == 0 and "listened" in err
    else:
        assert rc == 2
        _one_line_error(err, r"base\.onnx: the shipped base model is missing")


def test_model_base_names_the_shipped_model_as_kws_export_and_kws_info_take_it(files, capsys, tmp_path,
                                                                               monkeypatch):
    from kws_edge.models import BASE_ONNX, model_path

    if not BASE_ONNX.is_file():
        pytest.skip("no shipped base model")
    assert main(["--model", "base", "--input", str(files["wav"]), "--json"]) == 0
    by_name = capsys.readouterr().out
    assert main(["--model", str(BASE_ONNX), "--input", str(files["wav"]), "--json"]) == 0
    assert capsys.readouterr().out == by_name
    # base-b and the shipped checkpoints are training files: the error names the model to run.
    for spec in ("base-b", str(BASE_ONNX.with_suffix(".pt"))):
        assert main(["--model", spec, "--input", str(files["wav"])]) == 2
        _one_line_error(capsys.readouterr().err, r"'base' is the shipped model|its ONNX model is 'base'")
    # A file called `base` in the current folder is still that file.
    (tmp_path / "base").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert str(model_path("base")) == "base"


def test_a_file_damaged_after_its_header_is_a_one_line_error(files, capsys):
    # The first half of a FLAC: libsndfile reads on until the cut, then fails inside read().
    long = np.concatenate([noise(20.0, amp=0.05, seed=9), tone(1000, 0.6)])
    whole = write_wav(files["dir"] / "long.flac", long)
    cut = files["dir"] / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert main(["--model", str(files["model"]), "--input", str(cut)]) == 2
    out, err = capsys.readouterr()
    _one_line_error(err, r"cut\.flac: cannot be read after \d+\.\d s of audio .*the file is damaged")


def test_a_flac_that_does_not_say_its_length_is_heard_to_its_end(files, capsys):
    """FLAC written to a pipe (flac -, ffmpeg ... pipe:) leaves the header's sample count at 0,
    which soundfile reports as 2**63 - 1 frames: it had failed at the last block."""
    data = bytearray(files["flac"].read_bytes())
    data[21] &= 0xF0  # STREAMINFO's 36-bit total-samples field, from the low nibble of byte 21
    data[22:26] = bytes(4)
    path = files["dir"] / "piped.flac"
    path.write_bytes(bytes(data))
    assert main(["--model", str(files["model"]), "--input", str(path)]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[1] for line in out.strip().splitlines()] == ["yes", "no"], err
    assert "listened" in err and "error" not in err
    from kws_edge.audio import decode

    assert np.array_equal(decode(path)[0], decode(files["flac"])[0])


def test_a_wav_cut_off_after_its_header_is_heard_and_said(files, capsys, caplog):
    whole = files["wav"].read_bytes()
    path = files["dir"] / "cut.wav"
    path.write_bytes(whole[: len(whole) * 3 // 5])  # the header still says 5.7 s
    assert main(["--model", str(files["model"]), "--input", str(path)]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.strip().splitlines()] == ["yes"]
    said = [r.getMessage() for r in caplog.records if "cut off" in r.getMessage()]
    assert len(said) == 1 and re.search(r"cut\.wav: ends at 3\.\d s, though its header says 5\.7 s", said[0])


def test_a_file_recorded_under_8_khz_is_warned_about(files, caplog):
    import soundfile as sf

    audio, _ = sf.read(str(files["wav"]), dtype="float32")
    low = write_wav(files["dir"] / "low.wav", audio[::4], rate=4000)
    assert main(["--model", str(files["model"]), "--input", str(low)]) == 0
    assert any("low.wav: recorded at 4000 Hz" in r.getMessage() for r in caplog.records)
    caplog.clear()
    assert main(["--model", str(files["model"]), "--input", str(files["wav"])]) == 0
    assert not any("recorded at" in r.getMessage() for r in caplog.records)


def test_standard_input_is_read_as_a_file(files):
    listen = f"{' '.join(LISTEN)} --model {files['model']}"
    for source in ("-", "/dev/stdin"):
        with open(files["wav"], "rb") as wav:
            proc = subprocess.run(f"cat | {listen} --input {source} --json", shell=True, stdin=wav,
                                  capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert [json.loads(line)["label"] for line in proc.stdout.splitlines()] == ["yes", "no"]
    with open(files["flac"], "rb") as flac:
        proc = subprocess.run(f"cat | {listen} --input -", shell=True, stdin=flac, capture_output=True,
                              text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.search(r"standard input: not a readable audio file .*sox IN -t wav -", proc.stderr), proc.stderr
    header = files["wav"].read_bytes()[:44]  # a recorder stopped before its first sample
    proc = subprocess.run(f"cat | {listen} --input -", shell=True, input=header, capture_output=True,
                          timeout=120)
    assert proc.returncode == 2 and b"standard input: no audio in it" in proc.stderr, proc.stderr


def test_nan_in_a_file_is_heard_as_silence_and_the_scan_goes_on(files, capsys, caplog):
    """A float WAV with NaN and inf samples part-way (a broken converter): the words after them are
    still heard, and one warning says where they start."""
    import soundfile as sf

    audio, _ = sf.read(str(files["wav"]), dtype="float32")
    bad = np.concatenate([audio, np.zeros(16000, np.float32), audio])
    bad[len(audio) + 8000] = np.nan
    bad[len(audio) + 9000] = np.inf
    path = write_wav(files["dir"] / "nan.wav", bad, subtype="FLOAT")
    assert main(["--model", str(files["model"]), "--input", str(path)]) == 0
    assert [line.split()[1] for line in capsys.readouterr().out.strip().splitlines()] == ["yes", "no"] * 2
    said = [r.getMessage() for r in caplog.records if "NaN or infinite" in r.getMessage()]
    assert len(said) == 1 and "nan.wav: NaN or infinite samples from 6.2 s on" in said[0], said


def test_a_wav_whose_header_says_no_samples_says_how_to_repair_it(files, capsys):
    """A recorder stopped before it wrote the sizes: the header says no samples, the file is full."""
    data = bytearray(files["wav"].read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = bytes(4)
    path = files["dir"] / "unfinished.wav"
    path.write_bytes(bytes(data))
    assert main(["--model", str(files["model"]), "--input", str(path)]) == 2
    _one_line_error(capsys.readouterr().err, r"unfinished\.wav: empty audio .*sox --ignore-length IN OUT")


def test_a_file_too_quiet_to_hear_words_says_so(files):
    import soundfile as sf

    audio, _ = sf.read(str(files["wav"]), dtype="float32")
    quiet = write_wav(files["dir"] / "quiet.wav", 0.001 * audio / np.abs(audio).max())  # -60 dBFS
    heard = write_wav(files["dir"] / "heard.wav", 0.004 * audio / np.abs(audio).max())  # -48 dBFS
    zeros = write_wav(files["dir"] / "zeros.wav", np.zeros(16000, np.float32))
    # A microphone's DC offset, or one click, is louder than the words: still too quiet to hear.
    offset = write_wav(files["dir"] / "offset.wav", 0.001 * audio / np.abs(audio).max() + 0.02)
    click = 0.001 * audio / np.abs(audio).max()
    click[8000:8010] = 0.5
    click = write_wav(files["dir"] / "click.wav", click)
    proc = subprocess.run([sys.executable, "-m", "kws_edge.listen_cli", "--model", str(files["model"]),
                           "--input", str(zeros)], capture_output=True, text=True, timeout=120)
    assert "zeros.wav: every sample is zero (digital silence)" in proc.stderr, proc.stderr
    assert "normalise" not in proc.stderr
    dc = write_wav(files["dir"] / "dc.wav", np.full(16000, 0.5, np.float32))
    proc = subprocess.run([sys.executable, "-m", "kws_edge.listen_cli", "--model", str(files["model"]),
                           "--input", str(dc)], capture_output=True, text=True, timeout=120)
    assert "dc.wav: holds nothing but a constant offset (DC)" in proc.stderr, proc.stderr
    assert "dBFS" not in proc.stderr
    for path, warned in ((quiet, True), (offset, True), (click, True), (heard, False), (files["wav"], False)):
        proc = subprocess.run([sys.executable, "-m", "kws_edge.listen_cli", "--model", str(files["model"]),
                               "--input", str(path)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        err = proc.stderr.strip().splitlines()
        assert err[-1].startswith("kws-listen: end of input:")  # the summary stays the last line
        assert ("too quiet to hear words" in proc.stderr) == warned, proc.stderr
        if warned:
            assert f"{path.name}: its loudest sounds peak at -60 dBFS" in err[-2]


def test_a_clipped_file_says_so_in_kws_listen_and_kws_eval(files, tmp_path):
    """A recording squared off at full scale (recall drops) gets a warning from both tools; the
    same recording unclipped gets none. kws-eval also warns about a file too quiet to hear."""
    import soundfile as sf

    audio, _ = sf.read(str(files["wav"]), dtype="float32")
    clipped = write_wav(tmp_path / "clipped.wav", np.clip(audio / np.abs(audio).max() * 8, -1, 1))
    quiet = write_wav(tmp_path / "quiet.wav", 0.001 * audio / np.abs(audio).max())
    # A float file past 1.0 is loud, but whole: no clipping to warn about.
    loud = write_wav(tmp_path / "loud.wav", audio / np.abs(audio).max() * 8, subtype="FLOAT")
    truth = tmp_path / "truth.csv"
    truth.write_text("start_s,end_s,label\n")
    for path, warning in ((clipped, "at full scale: it is clipped"), (files["wav"], None),
                          (quiet, "too quiet to hear words"), (loud, None)):
        for cmd in (["kws_edge.listen_cli", "--input", str(path)],
                    ["kws_edge.training.eval_cli", "--stream", str(path), "--truth", str(truth)]):
            proc = subprocess.run([sys.executable, "-m", *cmd, "--model", str(files["model"])],
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
            if warning:
                assert warning in proc.stderr, (cmd, proc.stderr)
            else:
                assert "WARNING" not in proc.stderr, (cmd, proc.stderr)


def test_vad_off_warns_that_the_gate_is_off_too(files, caplog):
    assert main(["--model", str(files["model"]), "--input", str(files["wav"]), "--vad", "off"]) == 0
    assert "--vad off turns the utterance gate off too" in caplog.text
    caplog.clear()
    assert main(["--model", str(files["model"]), "--input", str(files["wav"]), "--vad", "off",
                 "--max-utterance-ms", "0"]) == 0
    assert "utterance gate" not in caplog.text


def test_an_mp3_is_heard_without_decoder_chatter(files, tmp_path):
    """libmpg123 prints 'part2_3_length too large' to stderr for a 16-kHz MP3 read block by block:
    hundreds of lines on a long file. Only kws-listen's own lines reach the user."""
    import soundfile as sf

    audio, rate = sf.read(str(files["wav"]), dtype="float32")
    mp3 = tmp_path / "talk.mp3"
    sf.write(str(mp3), np.concatenate([audio] * 8), rate, format="MP3")
    proc = subprocess.run([sys.executable, "-m", "kws_edge.listen_cli", "--model", str(files["model"]),
                           "--input", str(mp3)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "libmpg123" not in proc.stderr and proc.stdout.count("yes") >= 6, (proc.stdout, proc.stderr)


def test_a_clipping_microphone_is_said_while_listening():
    """Live input has no end to warn at: clipping is said per 10-s block, at most once a minute."""
    from kws_edge.input_level import LiveLevels

    watch = LiveLevels(16000)
    quiet, hot = np.zeros(1600, np.float32), np.ones(1600, np.float32)
    said = [watch.add(hot if i < 100 else quiet) for i in range(1200)]  # 10 s hot, then 110 s quiet
    assert [i for i, w in enumerate(said) if w] == [99]
    assert "clipping (160000 samples at full scale in the last 10 s)" in said[99]
    said = [watch.add(hot) for _ in range(1200)]  # 120 s hot: once a minute
    assert len([w for w in said if w]) == 2


def test_a_microphone_too_quiet_for_words_is_said_while_listening():
    """A voice peaking at -56 dBFS (a microphone far away or turned down) is said once per 5 minutes;
    the same voice at -30 dBFS, keys typed at -56 dBFS, and a quiet room alone are not."""
    from kws_edge.input_level import LiveLevels

    rate = 16000
    t = np.arange(int(0.4 * rate)) / rate
    voice = sum(np.sin(2 * np.pi * 140 * h * t) / h for h in range(1, 21)) * np.hanning(len(t))
    voice = (voice / np.abs(voice).max()).astype(np.float32)
    click = (np.random.default_rng(1).standard_normal(240) * np.exp(-np.arange(240) / 48)).astype(np.float32)
    click /= np.abs(click).max()

    def said(sound: np.ndarray | None, peak_dbfs: float, seconds: int = 20, dc: float = 0.0) -> list[str]:
        room = np.random.default_rng(0).standard_normal(seconds * rate).astype(np.float32) * 10 ** (-75 / 20)
        room += np.float32(dc)  # a cheap microphone's offset is no sound
        if sound is not None:
            for at in range(rate, len(room) - rate, 3 * rate):  # a sound every 3 s
                room[at:at + len(sound)] += sound * 10 ** (peak_dbfs / 20)
        watch = LiveLevels(rate)
        return [w for i in range(0, len(room), 1600) if (w := watch.add(room[i:i + 1600]))]

    quiet = said(voice, -56.0, seconds=320)
    assert len(quiet) == 2 and re.search(r"the input is quiet: .* peak at -5[4-6] dBFS", quiet[0]), quiet
    assert len(said(voice, -56.0, dc=0.02)) == 1
    assert said(voice, -30.0) == [] and said(click, -56.0) == [] and said(None, 0.0) == []


def test_an_empty_device_name_is_a_one_line_error(files, capsys):
    # sounddevice's own answer to '' ran over three lines ("Multiple input devices found for ''").
    assert main(["--model", str(files["model"]), "--device", " "]) == 2
    _one_line_error(capsys.readouterr().err, r"--device is empty: give a device index or part of its name")


def test_progress_on_a_long_file_is_said_every_tenth(caplog):
    import logging

    from kws_edge.listen_cli import _Progress

    caplog.set_level(logging.INFO)
    progress = _Progress(90.0)
    for seconds in np.arange(0.0, 91.0, 7.0):  # chunks that never land on a tenth
        progress.update(min(float(seconds), 90.0))
    progress.update(90.0)
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"{10 * k:3d} % of 90 s" for k in range(1, 11)], said
    caplog.clear()
    _Progress(30.0).update(30.0)  # under a minute: nothing
    assert not caplog.records

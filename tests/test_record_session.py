"""kws-record's session (prompts, keys, resume, silence, talk) and its file mode, on real files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from audiogen import write_wav
from conftest import requires_espeak
from recordgen import repeated, say, word_stream

from kws_edge.errors import KwsError
from kws_edge.labels import KEYWORDS, SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.record_session import RecordSession, TalkRecorder, WordRecorder
from kws_edge.record_store import DatasetDir, parse_words, word_folder
from kws_edge.record_texts import DERIVED, HOMOPHONES, texts_for, tokens
from kws_edge.record_ui import PlainUI, render

CHUNK = SAMPLE_RATE // 20  # a microphone's 50-ms blocks


def feed(session, audio: np.ndarray) -> list:
    events = []
    for i in range(0, len(audio), CHUNK):
        events += session.feed(audio[i:i + CHUNK])
    return events


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def test_words_and_folders():
    assert parse_words(None) == list(KEYWORDS)
    assert parse_words("Yes, no ,yes,Hey Robot") == ["yes", "no", "hey robot"]
    assert word_folder(" STOP ") == "stop"
    # named as kws-train reads it, so the folder and the model's label agree
    assert word_folder("Lights") == "lights"
    assert word_folder("lumie\u0300re") == "lumi\u00e8re"
    for bad in ("_talk", ".hidden", "a/b", ""):
        with pytest.raises(KwsError):
            word_folder(bad)


def test_a_folder_made_in_another_case_is_continued(tmp_path):
    write_wav(tmp_path / "ds" / "Lights" / "001.wav", np.zeros(WINDOW_SAMPLES, np.float32))
    store = DatasetDir(tmp_path / "ds")
    assert store.folder("lights") == tmp_path / "ds" / "Lights" and store.count("lights") == 1
    path = store.add("lights", np.full(WINDOW_SAMPLES, 0.1, np.float32))
    assert path == tmp_path / "ds" / "Lights" / "002.wav"
    assert store.folder("lamp") == tmp_path / "ds" / "lamp"


def test_texts_hold_no_keyword_and_skip_the_recorded_words():
    texts = texts_for(KEYWORDS)
    assert len(texts) >= 40 and any(len(tokens(t)) > 6 for t in texts)
    banned = set(KEYWORDS) | HOMOPHONES | DERIVED
    for text in texts:
        assert not banned & set(tokens(text)), text
    assert not any("apple" in tokens(t) for t in texts_for([*KEYWORDS, "Apple"]))
    assert len(texts_for([*KEYWORDS, "apple"])) < len(texts)


def test_the_keywords_left_out_are_read_first_as_single_words():
    """Recording some of the 35 words, or new ones: the rest are no keyword to that model, and said
    alone in the person's voice they had fired as the nearest recorded word ("off" as stop)."""
    texts = texts_for(["yes", "no", "stop", "lights on"])
    rows = [t for t in texts if set(tokens(t)) <= set(KEYWORDS)]
    assert texts[:len(rows)] == rows  # first, before any sentence
    said = [w for row in rows for w in tokens(row)]
    assert sorted(said) == sorted(set(KEYWORDS) - {"yes", "no", "stop"})
    assert all(6 <= len(tokens(row)) <= 11 for row in rows)
    assert not any(set(tokens(t)) & set(KEYWORDS) for t in texts[len(rows):])
    # One or two left out: a row of them alone would be taken for the last keyword said again.
    (row,) = [t for t in texts_for(KEYWORDS[:-2]) if set(tokens(t)) & set(KEYWORDS)]
    assert tokens(row)[:2] == list(KEYWORDS[-2:]) and len(tokens(row)) == 6
    # ... by words that are not recorded either.
    (row,) = [t for t in texts_for([*KEYWORDS[:-2], "apple", "garden"]) if set(tokens(t)) & set(KEYWORDS)]
    assert not {"apple", "garden"} & set(tokens(row)) and len(tokens(row)) == 6


@requires_espeak
def test_prompts_keep_count_then_move_on_and_a_rerun_resumes(tmp_path):
    store = DatasetDir(tmp_path / "ds")
    rec = WordRecorder(store, ["yes", "no"], count=3)
    events = rec.start()
    assert kinds(events) == ["prompt"] and "'yes' 3 more times" in events[0].message
    events = feed(rec, repeated("yes", 3, seed=1).audio) + rec.flush()
    assert kinds(events) == ["kept", "kept", "kept", "word-done", "prompt"]
    assert rec.word == "no" and [p.name for p in sorted((tmp_path / "ds" / "yes").iterdir())] == \
        ["001.wav", "002.wav", "003.wav"]
    clip, rate = sf.read(tmp_path / "ds" / "yes" / "001.wav", dtype="float32")
    assert rate == SAMPLE_RATE and clip.shape == (WINDOW_SAMPLES,)
    assert sf.info(str(tmp_path / "ds" / "yes" / "001.wav")).subtype == "PCM_16"
    # A rerun skips the finished word, and never overwrites: new clips get new numbers.
    before = {p: p.read_bytes() for p in (tmp_path / "ds" / "yes").iterdir()}
    rec2 = WordRecorder(store, ["yes", "no"], count=5)
    assert "'yes' 2 more times (3/5)" in rec2.start()[0].message
    events = feed(rec2, repeated("yes", 3, seed=2).audio) + rec2.flush()
    names = [e.path.name for e in events if e.kind == "kept"]
    assert names == ["004.wav", "005.wav"]
    assert all(p.read_bytes() == data for p, data in before.items())
    # The third take came as the prompt had moved on to 'no': counted for neither word.
    assert "extra" in kinds(events) and store.count("no") == 0


@requires_espeak
def test_keys_replay_delete_next_back(tmp_path):
    store = DatasetDir(tmp_path / "ds")
    rec = WordRecorder(store, ["yes", "no", "up"], count=2)
    rec.start()
    assert kinds(rec.command("d")) == ["info"]  # nothing of this session yet
    feed(rec, repeated("yes", 2, seed=3).audio)
    rec.flush()
    assert rec.word == "no"
    replay = rec.command("r")[0]
    assert replay.kind == "replay" and replay.path.name == "002.wav" and len(replay.audio) == WINDOW_SAMPLES
    # d deletes the last clip kept, even of the previous word, and goes back to that word.
    events = rec.command("d")
    assert kinds(events) == ["deleted", "prompt"] and rec.word == "yes"
    assert not (tmp_path / "ds" / "yes" / "002.wav").exists() and rec.counts["yes"] == 1
    assert kinds(rec.command("n")) == ["prompt"] and rec.word == "no"
    assert kinds(rec.command("n")) == ["prompt"] and rec.word == "up"
    assert kinds(rec.command("b")) == ["prompt"] and rec.word == "no"
    # Deleting a word's only clip removes its folder too: kws-train refuses an empty class folder.
    # (after 2 s of quiet: the replay above is still playing for 1.5 s, and is not cut)
    quiet = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
    got = feed(rec, np.concatenate([quiet, repeated("yes", 1, seed=4).audio])) + rec.flush()
    assert store.count("no") == 1, [e.message for e in got]
    assert kinds(rec.command("d"))[0] == "deleted"
    assert not (tmp_path / "ds" / "no").exists() and (tmp_path / "ds" / "yes").is_dir()
    # n past the last word ends the words, and says how many are short: not "all words have 2".
    rec.command("n")
    done = rec.command("n")
    assert kinds(done) == ["done"] and "past the last word: 0 of 3 words have 2 clips" in done[0].message
    # q ends the run as quit (kws-record's summary says "quit", not "done").
    session = RecordSession(WordRecorder(store, ["yes", "no"], count=2), None)
    session.start()
    assert not session.quit and kinds(session.command("q")) == ["info"] and session.done and session.quit


def test_deleted_clips_do_not_set_how_long_the_word_is(tmp_path):
    """Six short beeps kept and each deleted with d: the word's takes are then judged against the
    person's own takes only, not called "two words?" for being longer than the beeps."""
    from audiogen import tone

    rec = WordRecorder(DatasetDir(tmp_path / "ds"), ["seven"], count=20)
    rec.start()
    beep = word_stream([tone(440, 0.12)], [1.0]).audio
    for _ in range(6):
        assert "kept" in kinds(feed(rec, beep))
        assert kinds(rec.command("d"))[0] == "deleted"
    events = feed(rec, repeated("seven", 3, seed=2).audio) + rec.flush()
    assert kinds(events).count("kept") == 3, [e.message for e in events]


def test_no_talk_says_no_talk_is_recorded(tmp_path):
    events = TalkRecorder(DatasetDir(tmp_path / "ds"), 0.0, avoid=[]).start()
    assert kinds(events) == ["done"] and events[0].message == "no talk recorded (_talk/ holds 0 s)"


@requires_espeak
def test_a_replay_the_microphone_hears_is_not_kept(tmp_path):
    rec = WordRecorder(DatasetDir(tmp_path / "ds"), ["yes"], count=9)
    rec.start()
    feed(rec, repeated("yes", 1, seed=4).audio)
    rec.flush()
    replay = rec.command("r")[0]
    # The speakers play the clip back into the microphone right away.
    heard = np.concatenate([replay.audio, np.zeros(SAMPLE_RATE, np.float32)])
    events = feed(rec, heard) + rec.flush()
    assert "kept" not in kinds(events) and rec.counts["yes"] == 1


def test_silence_is_reported(tmp_path):
    rec = WordRecorder(DatasetDir(tmp_path / "ds"), ["yes"], count=3, silence_seconds=5)
    rec.start()
    events = feed(rec, np.zeros(11 * SAMPLE_RATE, np.float32))
    silent = [e for e in events if e.kind == "silence"]
    assert len(silent) == 2 and "digital silence" in silent[0].message
    rec = WordRecorder(DatasetDir(tmp_path / "ds"), ["yes"], count=3, silence_seconds=5)
    rec.start()
    rng = np.random.default_rng(0)
    events = feed(rec, (0.003 * rng.standard_normal(6 * SAMPLE_RATE)).astype(np.float32))
    assert [e.kind for e in events] == ["silence"] and "no word heard" in events[0].message
    # Sound too quiet to be a word, then digital zeros: not called "digital silence", and the
    # message gives the loudest sound heard.
    rec = WordRecorder(DatasetDir(tmp_path / "ds"), ["yes"], count=3, silence_seconds=5)
    rec.start()
    murmur = (0.003 * np.sin(np.arange(2 * SAMPLE_RATE) * 2 * np.pi * 200 / SAMPLE_RATE)).astype(np.float32)
    events = feed(rec, np.concatenate([murmur, np.zeros(4 * SAMPLE_RATE, np.float32)]))
    assert [e.kind for e in events] == ["silence"] and "digital silence" not in events[0].message
    assert "loudest -50 dBFS" in events[0].message


@requires_espeak
def test_talk_is_kept_one_file_per_text_until_the_target(tmp_path):
    store = DatasetDir(tmp_path / "ds")
    takes = [np.concatenate([say("apple", i), np.zeros(2000, np.float32), say("garden", i),
                             np.zeros(2000, np.float32), say("window", i)]) for i in range(4)]
    stream = word_stream(takes, [2.0] * 4)
    talk = TalkRecorder(store, target_seconds=4.0, avoid=KEYWORDS)  # all 35 recorded: sentences first
    session = RecordSession(None, talk)
    first = session.start()
    assert kinds(first) == ["info", "text"]
    events = feed(session, stream.audio)
    assert kinds(events)[:4] == ["talk", "text", "talk", "done"] and session.done
    files = sorted((tmp_path / "ds" / "_talk").iterdir())
    assert [f.name for f in files] == ["001.wav", "002.wav"]
    for f, (start, end) in zip(files, stream.words[:2], strict=True):
        assert abs(sf.info(str(f)).duration - ((end - start) / SAMPLE_RATE + 0.6)) < 0.15
    assert store.talk_seconds() >= 4.0
    # A rerun shows the next texts and has nothing left to do.
    again = TalkRecorder(store, target_seconds=4.0, avoid=KEYWORDS)
    assert again.done and again.text_index == 2


@requires_espeak
@pytest.mark.parametrize("pause", [0.3, 1.0, 2.5, 4.0])
def test_a_row_of_single_words_is_kept_however_long_the_pauses(tmp_path, pause):
    """The take's rows are words to say alone. Said so with 2.5 s after each, every word had been
    dropped as "a word or two alone" and the row never moved on (0 s of talk); with 1 s it was kept.
    Read through in one go (0.3 s apart), it is one text too."""
    store = DatasetDir(tmp_path / "ds")
    talk = TalkRecorder(store, target_seconds=60.0, avoid=["yes"])
    session = RecordSession(None, talk)
    session.start()
    row = tokens(talk.text)
    assert len(row) >= 6  # the keywords the person left out, first
    stream = word_stream([say(w, i) for i, w in enumerate(row)], [pause] * len(row), tail=2.0)
    events = feed(session, stream.audio)
    assert kinds(events) == ["talk", "text"], [e.message for e in events]
    assert talk.text_index == 1
    (piece,) = sorted((tmp_path / "ds" / "_talk").iterdir())
    first, last = stream.words[0][0], stream.words[-1][1]
    assert abs(sf.info(str(piece)).duration - ((last - first) / SAMPLE_RATE + 0.6)) < 0.2
    # A row longer than a file holds (30 s: 11 words, 3 s after each) moves on all the same.
    long_talk = TalkRecorder(DatasetDir(tmp_path / "long"), target_seconds=60.0, avoid=["yes"])
    long_talk.texts[0] = "   ".join(["apple", "garden", "window", "purple", "table", "river", "monkey",
                                     "pencil", "rocket", "yellow", "basket"])
    long_session = RecordSession(None, long_talk)
    long_session.start()
    words = tokens(long_talk.text)
    feed(long_session, word_stream([say(w, i) for i, w in enumerate(words)], [3.0] * len(words)).audio)
    assert long_talk.text_index == 1 and long_talk.seconds > 25
    # One word, then silence (a keyword said once more as a row is shown): not kept as talk.
    events = feed(session, word_stream([say("stop", 0)], [6.0]).audio)
    assert kinds(events) == ["extra"] and len(list((tmp_path / "ds" / "_talk").iterdir())) == 1


@requires_espeak
def test_a_keyword_said_once_too_often_is_kept_neither_as_the_next_word_nor_as_talk(tmp_path):
    """In the rhythm of repeating, with pauses of 1.5 s, the word is said once more after the
    prompt moved on: it is neither the next word's first clip nor talk (taught as no keyword)."""
    store = DatasetDir(tmp_path / "ds")
    talk = [np.concatenate([say("apple", i), np.zeros(2000, np.float32), say("garden", i),
                            np.zeros(2000, np.float32), say("window", i)]) for i in range(2)]
    words = RecordSession(WordRecorder(store, ["yes", "no"], count=3), None)
    words.start()
    feed(words, word_stream([say("yes", i) for i in range(4)], [1.5] * 4).audio)
    assert store.count("yes") == 3 and store.count("no") == 0
    # (The talk as a person recording all 35 words sees it: a sentence first.)
    session = RecordSession(WordRecorder(store, ["bed"], count=2), TalkRecorder(store, 2.0, avoid=KEYWORDS))
    session.start()
    stream = word_stream([say("bed", i) for i in range(3)] + talk, [1.5, 1.5, 1.5, 2.0, 2.0])
    events = feed(session, stream.audio)
    assert store.count("bed") == 2 and "extra" in kinds(events)
    pieces = sorted((tmp_path / "ds" / "_talk").iterdir())
    start, end = stream.words[3]  # the first text; the third 'bed' before it is not in its file
    assert len(pieces) == 1
    assert abs(sf.info(str(pieces[0])).duration - ((end - start) / SAMPLE_RATE + 0.6)) < 0.15


def test_plain_ui_and_panel_render(tmp_path, capsys):
    from rich.console import Console

    session = RecordSession(WordRecorder(DatasetDir(tmp_path), ["yes"], count=2), None)
    with PlainUI() as ui:
        for event in session.start():
            ui.event(event)
    assert capsys.readouterr().out.startswith("say 'yes' 2 more times")
    console = Console(width=100, record=True, force_terminal=True)
    status = session.status()
    status.level_dbfs, status.peak_dbfs = -20.0, -3.0
    console.print(render(status, overflows=2))
    text = console.export_text()
    assert "YES" in text and "0 / 2" in text and "2 audio blocks lost" in text and "█" in text


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kws_edge.record_cli", *args], capture_output=True,
                          text=True, timeout=120)


@requires_espeak
def test_file_mode_any_format_and_rate_resumes_without_overwriting(tmp_path):
    stream = repeated("six", 5, seed=6)
    import soxr

    stereo44 = soxr.resample(stream.audio, SAMPLE_RATE, 44100)
    src = tmp_path / "six.flac"
    sf.write(str(src), np.stack([stereo44, 0.5 * stereo44], axis=1), 44100, format="FLAC")
    res = _cli(str(tmp_path / "ds"), "--word", "Six", "--input", str(src))
    assert res.returncode == 0, res.stderr
    assert res.stdout.count(" kept ") == 5 and "5 clips of 'six' kept" in res.stderr
    first = (tmp_path / "ds" / "six" / "001.wav").read_bytes()
    # Run again with the same file and a new one: the same file's takes are not counted twice.
    other = write_wav(tmp_path / "six2.wav", repeated("six", 5, seed=7).audio)
    res = _cli(str(tmp_path / "ds"), "--word", "six", "--input", str(src), str(other))
    assert res.returncode == 0 and "(10 there now" in res.stderr, res.stderr
    assert res.stdout.count("not kept: the same clip as six/") == 5, res.stdout
    assert (tmp_path / "ds" / "six" / "001.wav").read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "ds" / "six").iterdir())[-1] == "010.wav"


@requires_espeak
@pytest.mark.parametrize("noise_dbfs", [None, -50.0])
def test_file_mode_a_file_that_starts_on_its_first_word_keeps_it(tmp_path, noise_dbfs):
    """A recording trimmed to its first word gives the cutter no noise floor before it: the word
    was taken for the floor ("no word found", or the first take lost without a line)."""
    takes = [say("up", i, seed=6) for i in range(3)]  # a vowel first: loud from its first frame
    audio = word_stream(takes, [0.8] * 3, lead=0.0, tail=0.5, noise_dbfs=noise_dbfs).audio
    res = _cli(str(tmp_path / "ds"), "--word", "up", "--input", str(write_wav(tmp_path / "up.wav", audio)))
    assert res.returncode == 0, res.stderr
    assert "3 clips of 'up' kept, 0 not kept" in res.stderr and "up.wav 0.00-" in res.stdout, res.stdout


@requires_espeak
def test_file_mode_a_file_with_no_word_takes_back_the_clips_of_the_files_before_it(tmp_path):
    src = write_wav(tmp_path / "six.wav", repeated("six", 3, seed=6).audio)
    silent = write_wav(tmp_path / "silent.wav", np.zeros(2 * SAMPLE_RATE, np.float32))
    assert _cli(str(tmp_path / "ds"), "--word", "six", "--input", str(src)).returncode == 0
    before = sorted(p.name for p in (tmp_path / "ds" / "six").iterdir())
    src = write_wav(tmp_path / "six2.wav", repeated("six", 3, seed=8).audio)
    res = _cli(str(tmp_path / "ds"), "--word", "six", "--input", str(src), str(silent))
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "silent.wav: no word found" in res.stderr
    assert "the 3 clip(s) cut before it were removed" in res.stderr
    after = sorted(p.name for p in (tmp_path / "ds" / "six").iterdir())
    assert after == before == ["001.wav", "002.wav", "003.wav"]
    # A word whose only clips were taken back leaves no empty folder (kws-train refuses one).
    res = _cli(str(tmp_path / "ds"), "--word", "go", "--input", str(src), str(silent))
    assert res.returncode == 2 and not (tmp_path / "ds" / "go").exists()


def test_file_mode_errors_are_one_line(tmp_path):
    silent = write_wav(tmp_path / "silent.wav", np.zeros(2 * SAMPLE_RATE, np.float32))
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    memo = tmp_path / "memo.m4a"
    memo.write_bytes(b"\x00\x00\x00\x20ftypM4A not decodable here")
    cases = [
        ((str(tmp_path / "ds"), "--word", "yes", "--input", str(tmp_path / "missing.wav")), "missing.wav"),
        ((str(tmp_path / "ds"), "--word", "yes", "--input", str(junk)), "not a readable audio file"),
        ((str(tmp_path / "ds"), "--word", "yes", "--input", str(silent)), "no word found"),
        ((str(tmp_path / "ds"), "--input", str(silent)), "--word"),
        ((str(tmp_path / "ds"), "--word", "_talk", "--input", str(silent)), "may not start with '_'"),
        ((str(tmp_path / "ds"), "--word", "yes"), "--input"),
        ((str(tmp_path / "ds"), "--count", "0"), "--count"),
        ((str(tmp_path / "ds"), "--device-rate", "-8000"), "--device-rate must be a positive rate"),
        ((str(tmp_path / "ds"), "--device-rate", "0"), "--device-rate must be a positive rate"),
        ((str(tmp_path / "ds"), "--device-rate", "8000"), "give 16000 or more"),
        ((str(tmp_path / "ds"), "--words", "a" * 300), "at most 200 bytes"),
        ((str(tmp_path / "ds"), "--word", "yes", "--input", str(tmp_path)), "is a folder"),
        ((str(tmp_path / "ds"), "--word", "yes", "--input", str(memo)),
         "convert it first, e.g. ffmpeg -i memo.m4a"),
    ]
    for args, needle in cases:
        res = _cli(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert res.stderr.count("\n") == 1 and needle in res.stderr, res.stderr
    # The first file was fine, the second is not: nothing is written.
    good = write_wav(tmp_path / "good.wav", np.zeros(SAMPLE_RATE, np.float32))
    assert _cli(str(tmp_path / "ds"), "--word", "yes", "--input", str(good), str(junk)).returncode == 2
    assert not (tmp_path / "ds").exists()


def test_keys_from_a_terminal_and_from_a_pipe():
    import io
    import os
    import pty
    import termios
    import time

    from kws_edge.record_ui import KeyReader

    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    with os.fdopen(slave, "r") as tty_in:
        keys = KeyReader(tty_in)
        assert keys.tty and termios.tcgetattr(slave)[3] & termios.ICANON == 0  # single key presses
        os.write(master, b"dR")
        got: list[str] = []
        for _ in range(50):
            got += keys.pressed()
            if len(got) == 2:
                break
            time.sleep(0.05)
        assert got == ["d", "r"]
        keys.close()
        assert termios.tcgetattr(slave) == before  # the terminal is as it was
    os.close(master)
    r, w = os.pipe()
    os.write(w, b"n\n\nquit\n")
    os.close(w)
    with os.fdopen(r, "r") as pipe_in:
        piped = KeyReader(pipe_in)
        assert not piped.tty
        got = []
        for _ in range(50):
            got += piped.pressed()
            if len(got) == 2:
                break
            time.sleep(0.05)
        assert got == ["n", "q"]  # one command per line, blank lines ignored
    assert KeyReader(io.StringIO("n\n")).pressed() == []  # no file descriptor: no keys, no error


def test_no_input_device_is_a_one_line_error(tmp_path):
    import os

    # No sound server to reach: PortAudio finds no input (unless the machine has sound cards).
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent/pulse"}
    listed = subprocess.run([sys.executable, "-m", "kws_edge.record_cli", "--list-devices"], env=env,
                            capture_output=True, text=True, timeout=60)
    if listed.returncode == 0:
        pytest.skip("this machine has input devices of its own")
    res = subprocess.run([sys.executable, "-m", "kws_edge.record_cli", str(tmp_path / "ds")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "no input device found" in res.stderr and "--input" in res.stderr


def test_a_rerun_without_words_says_which_words_the_dataset_holds(tmp_path):
    """kws-record DIR after kws-record DIR --words yes,no asks for all 35 words: it says so."""
    from kws_edge.record_cli import _other_words_hint

    store = DatasetDir(tmp_path / "ds")
    assert _other_words_hint(store, list(KEYWORDS), None) is None  # nothing recorded yet
    for word in ("yes", "no"):
        store.add(word, np.zeros(WINDOW_SAMPLES, np.float32))
    store.add_talk(np.zeros(WINDOW_SAMPLES, np.float32))
    hint = _other_words_hint(store, list(KEYWORDS), None)
    assert "holds clips of 2 word(s)" in hint and "--words no,yes" in hint
    assert _other_words_hint(store, ["yes", "no"], "yes,no") is None

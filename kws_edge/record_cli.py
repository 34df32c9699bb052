"""`kws-record`: record a personal dataset, word by word, from a microphone or from recordings."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import signal
import sys
import time
from pathlib import Path

from .cli_args import Once, Parser
from .errors import KwsError, run_cli, setup_logging
from .labels import SAMPLE_RATE

log = logging.getLogger("kws_edge.record")

RECORD_QUEUE_SECONDS = 60.0

PROG = "kws-record"

EPILOG = """\
examples:
  kws-record my_words                      all 35 words, 30 clips each, then 2 minutes of talk
  kws-record my_words --words yes,no,stop  a subset (or new words: --words "hey kws,lights")
  kws-record my_words --list-devices       show input devices, then pick one with --device
  kws-record my_words --word yes --input yes.mp3   cut a recording of "yes yes yes ..." into clips
  kws-record my_words --talk --input talk.wav      add a recording of yourself talking to _talk/

Say the word, pause (half a second or more), say it again: each utterance becomes its own clip,
DATASET_DIR/<word>/NNN.wav (1 s, 16 kHz mono, the word centred). A clip that is clipped, too
quiet, too long or too short for one word, holds two words or no voice is not kept, with the
reason shown. Keys while
recording (or one per line on stdin when it is not a terminal): r replay the last clip, d delete
it, n next word, b previous word, q quit. Stop any time and run the same command again: it goes
on where it stopped and never overwrites a kept clip. Then: kws-train --data DATASET_DIR --init base
(the talk in DATASET_DIR/_talk/ becomes your own non-keyword examples).
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG, description="Record a keyword dataset in your own voice: each word said again and "
                               "again becomes 1-s clips, plus some minutes of talk that is no keyword.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", metavar="DATASET_DIR", nargs="?", help="where clips go (created if needed)")
    rec = p.add_argument_group("recording from a microphone")
    rec.add_argument("--words", metavar="W1,W2,...", action=Once,
                     help="words to record, in this order (default: the 35 Speech Commands words)")
    rec.add_argument("--count", type=int, default=30, metavar="N",
                     help="clips per word (default: %(default)s)")
    rec.add_argument("--talk-seconds", type=float, default=120.0, metavar="S",
                     help="seconds of non-keyword talk to keep in DATASET_DIR/_talk/ (default: %(default)g)")
    rec.add_argument("--no-talk", action="store_true", help="record the words only")
    rec.add_argument("--device", metavar="ID|NAME", help="input device index or part of its name")
    rec.add_argument("--device-rate", type=int, metavar="HZ",
                     help="record at this rate and resample (default: 16 kHz if the device can, "
                          "else its own rate)")
    rec.add_argument("--list-devices", action="store_true", help="list input devices and exit")
    rec.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of audio")
    rec.add_argument("--plain", action="store_true", help="plain lines instead of the live panel")
    files = p.add_argument_group("cutting recordings made elsewhere")
    files.add_argument("--input", nargs="+", action="extend", metavar="FILE",
                       help="audio files (any format soundfile reads, any rate) to cut instead of "
                            "recording from a microphone")
    files.add_argument("--word", metavar="W", action=Once, help="with --input: the word said in the files")
    files.add_argument("--talk", action="store_true",
                       help="with --input: the files are talk for _talk/, taught as no keyword: "
                            "they must hold none of your keywords")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    return p


class _Stop(Exception):
    """SIGTERM, turned into an orderly stop."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Stop()


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if not args.verbose:
        # The session's first line names the device and its rate: the source's own line would repeat it.
        logging.getLogger("kws_edge.sources").setLevel(logging.WARNING)
    if args.list_devices:
        from .sources import print_input_devices

        return print_input_devices(PROG)
    if args.dataset is None:
        raise KwsError("give the dataset folder: kws-record DATASET_DIR (see --help)")
    if args.count < 1:
        raise KwsError(f"--count must be at least 1, got {args.count}")
    if args.talk_seconds < 0 or not math.isfinite(args.talk_seconds):
        raise KwsError(f"--talk-seconds must be 0 or more, got {args.talk_seconds:g}")
    if args.duration is not None and args.duration <= 0:
        raise KwsError(f"--duration must be positive, got {args.duration:g}")
    if args.device_rate is not None and args.device_rate <= 0:
        raise KwsError(f"--device-rate must be a positive rate in Hz, got {args.device_rate}")
    if args.device_rate is not None and args.device_rate < SAMPLE_RATE:
        raise KwsError(f"--device-rate {args.device_rate}: clips are {SAMPLE_RATE} Hz, and a lower rate "
                       f"records less than they hold; give {SAMPLE_RATE} or more")
    if args.input:
        if args.words or args.device is not None:
            raise KwsError("--input cuts files: give --word W (or --talk), not --words or --device")
        return _files(args)
    if args.word or args.talk:
        raise KwsError("--word and --talk go with --input FILE; to record from a microphone use --words")
    return _live(args)


def _files(args: argparse.Namespace) -> int:
    """File mode: the same cutter over recordings made elsewhere."""
    from .record_store import TALK_FOLDER, DatasetDir, word_folder
    from .sources import FileSource

    if args.talk == bool(args.word):
        raise KwsError("with --input give either --word W (the word said in the files) or --talk")
    store = DatasetDir(args.dataset)
    word = word_folder(args.word) if args.word else TALK_FOLDER
    # Open every file first: a bad one is reported before any clip is written.
    sources = [FileSource(path, SAMPLE_RATE, chunk_ms=1000) for path in args.input]
    started = time.monotonic()
    try:
        kept, rejected = _cut_files(args, store, word, sources)
    except KwsError as exc:
        # A file with no word in it fails the run, so the clips of the files before it go too:
        # running the corrected command again must not add them twice.
        removed = store.discard_written()
        if removed:
            raise KwsError(f"{exc}; the {removed} clip(s) cut before it were removed") from None
        raise
    wall = time.monotonic() - started
    if args.talk:
        pieces = "1 piece" if kept == 1 else f"{kept} pieces"
        what = f"{pieces} of talk kept in {store.folder(word)} ({store.talk_seconds():.0f} s there now"
    else:
        clips = "1 clip" if kept == 1 else f"{kept} clips"
        what = (f"{clips} of '{word}' kept, {rejected} not kept, in {store.folder(word)} "
                f"({store.count(word)} there now")
    print(f"{PROG}: {what}; {wall:.1f} s)", file=sys.stderr)
    return 0 if kept else 1


def _cut_files(args: argparse.Namespace, store, word: str, sources: list) -> tuple[int, int]:
    """Cut every file into `store`; (clips kept, cuts not kept). KwsError for a file with no word."""
    import numpy as np

    from .record_cutter import UtteranceCutter, is_phrase
    from .record_session import TalkRecorder

    kept = rejected = 0
    for source in sources:
        with source:
            if args.talk:
                talk = TalkRecorder(store, math.inf, avoid=[])
                events = [e for chunk in source for e in talk.feed(chunk)] + talk.flush()
                pieces = [e for e in events if e.kind in ("talk", "same")]
                for event in pieces:
                    print(f"{source.path.name}: {event.message}", flush=True)
                if not pieces:
                    raise KwsError(f"{source.path}: no talk found (silence, or too quiet to tell "
                                   "from the noise)")
                again = sum(e.kind == "same" for e in pieces)
                kept, rejected = kept + len(pieces) - again, rejected + again
                continue
            cutter = UtteranceCutter()
            cutter.new_word(phrase=is_phrase(word))
            found = 0
            chunks = iter(source)
            first = next(chunks, np.zeros(0, np.float32))
            lead = _lead_in(first)
            for chunk in (lead, first, *chunks, None):
                for cut in cutter.process(chunk) if chunk is not None else cutter.flush():
                    found += 1
                    cut = dataclasses.replace(cut, start=cut.start - len(lead), onset=cut.onset - len(lead),
                                              offset=cut.offset - len(lead))
                    kept, rejected = _file_cut(store, word, source.path, cut, kept, rejected)
            if not found:
                raise KwsError(f"{source.path}: no word found (silence, or too quiet to tell from the noise)")
    return kept, rejected


def _lead_in(first, seconds: float = 0.5):
    """Quiet to feed the cutter before a file that starts on a sound (its first 50 ms 10 dB over its
    quietest 10 ms of the first second): the cutter has heard no noise floor yet, and the word
    itself would be taken for the floor (no word found). Noise at that quietest level, so a noisy
    file's floor is its own. A file that starts quiet gets none, and is cut as a live take is."""
    import numpy as np

    frame = SAMPLE_RATE // 100
    frames = first[:len(first) // frame * frame].reshape(-1, frame).astype(np.float64)
    if len(frames) < 5:
        return np.zeros(0, np.float32)
    power = frames.var(axis=1)
    if power[:5].mean() < 10 * power.min():
        return np.zeros(0, np.float32)
    noise = np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE)) * np.sqrt(power.min())
    return noise.astype(np.float32)


def _file_cut(store, word: str, path: Path, cut, kept: int, rejected: int) -> tuple[int, int]:
    if cut.kept:
        same = store.same_clip(word, cut.audio)
        if same is not None:
            print(f"{path.name} {cut.span()}: not kept: the same clip as {same.parent.name}/{same.name} "
                  "(this file was cut before)", flush=True)
            return kept, rejected + 1
        out = store.add(word, cut.audio)
        where = f"{out.parent.name}/{out.name}"  # the folder as it is: an older `Lights/` is continued
        print(f"{where}  kept  ({path.name} {cut.span()}, loudest {cut.peak_dbfs:.0f} dBFS)", flush=True)
        return kept + 1, rejected
    print(f"{path.name} {cut.span()}: not kept: {cut.describe()}", flush=True)
    return kept, rejected + 1


def _live(args: argparse.Namespace) -> int:
    from .record_session import Event, RecordSession, TalkRecorder, WordRecorder
    from .record_store import DatasetDir, parse_words
    from .record_ui import KeyReader, PlainUI, RichUI
    from .sources import DeviceLost, MicrophoneSource, list_input_devices

    store = DatasetDir(args.dataset)
    words = parse_words(args.words)
    talk_seconds = 0.0 if args.no_talk else args.talk_seconds
    session = RecordSession(WordRecorder(store, words, args.count),
                            TalkRecorder(store, talk_seconds, avoid=words))
    first = session.start()
    if session.done:
        for event in first:
            print(event.message)
        print(f"{PROG}: nothing left to record in {store.root}")
        return 0
    if args.device is None and not list_input_devices():
        raise KwsError("no input device found: connect a microphone (kws-record --list-devices), or cut "
                       "recordings made elsewhere with --word W --input FILE")
    # A deep queue: a take is worth more than promptness, and a terminal that stops reading the panel
    # (Ctrl-S, a slow ssh link) stalls this loop; with 2 s, a 12-s stall had lost 5 of 6 takes.
    source = MicrophoneSource(args.device, SAMPLE_RATE, chunk_ms=50, device_rate=args.device_rate,
                              queue_seconds=RECORD_QUEUE_SECONDS)
    plain = args.plain or not sys.stdout.isatty()
    ui = PlainUI() if plain else RichUI()
    if not plain:
        _log_through(ui.console)
    keys = KeyReader()
    limit = None if args.duration is None else int(args.duration * SAMPLE_RATE)
    heard = 0
    stopped = "done"
    lost: DeviceLost | None = None
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with source, ui:
            ui.event(Event("info", f"listening on {source.device_name!r} at {source.device_rate} Hz; "
                                   f"clips go to {store.root}/<word>/"))
            hint = _other_words_hint(store, words, args.words)
            if hint:
                ui.event(Event("info", hint))
            drawn = 0.0
            for chunk in source:
                events = first + session.feed(chunk)
                first = []
                heard += len(chunk)
                for key in keys.pressed():
                    events += session.command(key)
                for event in events:
                    ui.event(event)
                    if event.kind == "replay" and event.audio is not None:
                        _play(event.audio, ui)
                now = time.monotonic()
                if now - drawn >= 0.1:
                    ui.update(session.status(), source.lost_blocks)
                    drawn = now
                if session.done:
                    stopped = "quit" if session.quit else "done"
                    break
                if limit is not None and heard >= limit:
                    stopped = f"--duration {args.duration:g} s reached"
                    break
            for event in session.flush():
                ui.event(event)
    except (KeyboardInterrupt, _Stop, DeviceLost) as exc:
        # The take being cut is kept; a lost device then ends the run with its error.
        lost = exc if isinstance(exc, DeviceLost) else None
        stopped = ("interrupted" if isinstance(exc, KeyboardInterrupt) else
                   "the input device was lost" if lost else "terminated")
        for event in session.flush():
            print(event.message, flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        keys.close()
    _summary(stopped, session, store, source.lost_blocks)
    if lost is not None:
        raise lost
    return 0


def _log_through(console) -> None:
    """Warnings (overflows, a silent device) print above the live panel instead of through it."""
    from rich.logging import RichHandler

    root = logging.getLogger()
    level = root.level
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(RichHandler(console=console, show_time=False, show_path=False))
    root.setLevel(level)


def _summary(stopped: str, session, store, overflows: int) -> None:
    rec = session.words
    done = sum(1 for w in rec.words if rec.counts[w] >= rec.target)
    talk = session.talk.seconds if session.talk is not None else 0.0
    print(f"{PROG}: {stopped}: {done} of {len(rec.words)} words have {rec.target} clips, "
          f"{talk:.0f} s of talk, {overflows} overflows; in {store.root}", file=sys.stderr)


def _other_words_hint(store, words: list[str], given: str | None) -> str | None:
    """Run again without --words, the session asks for all 35 words: say so when the dataset holds
    fewer (the dataset does not remember the --words of the run that made it)."""
    have = store.words() if given is None else []
    if not have or set(have) >= set(words):
        return None
    shown = ",".join(have) if len(have) <= 8 else ",".join(have[:8]) + ",..."
    return (f"{store.root} holds clips of {len(have)} word(s); this run asks for all {len(words)}: to go on "
            f"with only those, stop (q) and run again with --words {shown}")


def _play(audio, ui) -> None:
    """Replay a clip on the default output device (no wait: recording goes on)."""
    import threading

    import numpy as np

    from .record_session import Event
    from .sources import _sounddevice

    try:
        sd = _sounddevice()
    except KwsError as exc:
        ui.event(Event("info", f"cannot replay: {exc}"))
        return
    try:
        out = sd.OutputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32")
        out.start()
    except (sd.PortAudioError, ValueError) as exc:
        ui.event(Event("info", f"cannot replay on the default output device: {exc}"))
        return
    # The stream is closed once the clip has played: sd.play() left its stream open, and ALSA went
    # on reporting "underrun occurred" on stderr, over the recorder's panel, until the next replay.
    tail = np.zeros(SAMPLE_RATE // 5, dtype=np.float32)
    clip = np.concatenate([np.asarray(audio, dtype=np.float32).reshape(-1), tail])[:, None]

    def play() -> None:
        try:
            out.write(clip)
            out.stop()
        except sd.PortAudioError:
            pass  # the device went away mid-replay: nothing to tell the user that recording does not
        finally:
            out.close()

    threading.Thread(target=play, name="kws-record-replay", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    return run_cli(PROG, lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

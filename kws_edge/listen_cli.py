"""`kws-listen`: spot keywords live from a microphone, or in an audio file."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time

# Only the standard library at module level: numpy, onnxruntime and the rest load inside
# run_cli, so a Ctrl-C while they load is the usual one-line "interrupted", not a traceback.
from .cli_args import Once, Parser
from .errors import KwsError, run_cli, setup_logging

log = logging.getLogger("kws_edge.listen")

PROG = "kws-listen"

EPILOG = """\
examples:
  kws-listen                              listen on the default microphone with the shipped model
  kws-listen --list-devices               show input devices, then pick one with --device
  kws-listen --device 2 --json            one JSON object per detection on stdout
  kws-listen --input talk.wav             scan a file (any format/rate/channels) as fast as possible
  kws-listen --input talk.wav --realtime  ... or paced like a microphone

Each detection prints as `MM:SS.mmm  label  score` (stream time, score after smoothing), or with
--json as {"time", "label", "score", "start", "end"} in seconds from the stream start: `time` is
when it fired, start/end a 1-s span holding the word. Stop with Ctrl-C; a one-line summary follows.
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG, description="Spot keywords in live audio or a file with an ONNX keyword model.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", metavar="MODEL.onnx", action=Once,
                   help="exported model (kws-export); default: base, the shipped model")
    src = p.add_argument_group("audio source (default: the default microphone)")
    src.add_argument("--input", metavar="FILE", action=Once,
                     help="read an audio file instead of a microphone (-: standard input, e.g. WAV "
                          "from sox or arecord)")
    src.add_argument("--realtime", action="store_true", help="with --input: pace the file like a microphone")
    src.add_argument("--device", metavar="ID|NAME", help="input device index or part of its name")
    src.add_argument("--list-devices", action="store_true", help="list input devices and exit")
    src.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of audio")
    add_detection_arguments(p.add_argument_group("detection"))
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="one JSON object per detection")
    out.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    return p


def add_detection_arguments(det: argparse._ArgumentGroup) -> None:
    """The detector's flags; kws-eval --stream takes the same, so that what is tuned can be scored."""
    from .vad import VAD_KINDS

    det.add_argument("--threshold", type=float, metavar="F",
                     help="score needed to report a keyword, 0..1 (default: the model's calibrated "
                          "per-word thresholds if it has them, else 0.5)")
    det.add_argument("--hop-ms", type=int, default=100, metavar="N",
                     help="score the last second every N ms (default: %(default)s; at most 300 with "
                          "the utterance gate)")
    det.add_argument("--smooth-ms", type=int, default=300, metavar="N",
                     help="average scores over N ms of consecutive windows (with the utterance gate, "
                          "of those centred on an utterance's loud part) (default: %(default)s)")
    det.add_argument("--refractory-ms", type=int, default=1000, metavar="N",
                     help="after a detection, stay quiet for N ms (default: %(default)s)")
    det.add_argument("--max-utterance-ms", type=int, default=3000, metavar="N",
                     help="report a keyword only when it is spoken as a short utterance: its speech "
                          "segment (VAD) lasts at most N ms, its loud part at most 1 s, and it is "
                          "judged once, after a pause, on the windows centred on its loud part; "
                          "connected speech never fires. 0 = off: any "
                          "window may fire, for keywords inside sentences (default: %(default)s)")
    det.add_argument("--vad", choices=VAD_KINDS, default="energy",
                     help="voice activity gate: energy (default, numpy only), webrtc "
                          "(pip install webrtcvad-wheels), off (score every window; the utterance "
                          "gate needs a VAD, so it is off too, as with --max-utterance-ms 0)")


def detection_options(args: argparse.Namespace) -> dict:
    """The `SpotterOptions` fields those flags give (`vad` as a kind name)."""
    return {"threshold": args.threshold, "hop_ms": args.hop_ms, "smooth_ms": args.smooth_ms,
            "refractory_ms": args.refractory_ms, "max_utterance_ms": args.max_utterance_ms, "vad": args.vad}


class _Stop(Exception):
    """SIGTERM or SIGHUP (the terminal went away), turned into an orderly stop."""


# Signals that stop listening with the usual summary, and how the summary names them.
STOP_SIGNALS = {getattr(signal, name): word
                for name, word in (("SIGTERM", "terminated"), ("SIGHUP", "hung up")) if hasattr(signal, name)}


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Stop(STOP_SIGNALS.get(signum, "terminated"))


def _main(argv: list[str] | None) -> int:
    """A stop signal (Ctrl-C too) while kws-listen starts up (imports, the model loading) is noted,
    not raised: an exception raised there can break a C extension's import, or be swallowed as a
    model that does not load. `_listen` acts on it once the model is loaded. The handlers found are
    put back on the way out, whichever way that is."""
    early: list[int] = []
    signals = (*STOP_SIGNALS, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        signal.signal(sig, lambda signum, frame: early.append(signum))
    try:
        return _listen(build_parser().parse_args(argv), early)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _listen(args: argparse.Namespace, early: list[int]) -> int:
    setup_logging(args.verbose)
    if args.list_devices:
        from .sources import print_input_devices

        return print_input_devices()
    if args.realtime and not args.input:
        raise KwsError("--realtime only applies to --input FILE")
    if args.input and args.device is not None:
        raise KwsError("choose one source: --input FILE or --device")
    if args.duration is not None and not 0 < args.duration < float("inf"):  # also refuses nan
        raise KwsError(f"--duration must be a positive number of seconds, got {args.duration}")

    from .input_level import InputLevels, LiveLevels
    from .onnx_model import load_model
    from .spotter import KeywordSpotter, SpotterOptions
    from .vad import VadOptions

    fields = detection_options(args)
    options = SpotterOptions(**fields | {"vad": VadOptions(kind=args.vad)},
                             batch_windows=16 if args.input and not args.realtime else 1)
    if args.vad == "off" and args.max_utterance_ms:
        log.warning("--vad off turns the utterance gate off too: any window may fire, in talk as well "
                    "(far more false alarms; docs/listening.md)")
    # SIGTERM (systemd stopping the service) ends as cleanly as Ctrl-C, also while kws-listen
    # starts (a second on a Pi), where it had killed the process: noted until the model is loaded,
    # then raised, so that a source that blocks as it opens (a FIFO with no writer yet) is left.
    model = load_model(args.model)
    spotter = KeywordSpotter(model, options)
    log.debug("model %r", model)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.SIGINT in early:
        raise KeyboardInterrupt  # "interrupted", exit 130, as Ctrl-C while loading always was
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_sigterm)
    try:
        if early:
            raise _Stop(STOP_SIGNALS.get(early[0], "terminated"))
        if args.input:
            from .sources import FileSource

            # Paced files arrive in microphone-sized blocks; fast ones in 1-s blocks.
            source = FileSource(args.input, spotter.sample_rate, realtime=args.realtime,
                                chunk_ms=100 if args.realtime else 1000)
        else:
            from .sources import MicrophoneSource

            source = MicrophoneSource(args.device, spotter.sample_rate)
    except _Stop as exc:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        print(f"{PROG}: {exc} before listening began: 0 detections", file=sys.stderr)
        return 0

    limit = None if args.duration is None else int(args.duration * spotter.sample_rate)
    started = time.monotonic()
    stopped = "end of input"
    progress = _Progress(getattr(source, "duration", None)) if args.input else None

    def emit(events) -> None:
        for event in events:
            print(event.to_json() if args.json else event.to_line(), flush=True)

    levels = InputLevels()
    live_levels = None if args.input else LiveLevels(spotter.sample_rate)
    try:
        with source:
            for chunk in levels.watch(source) if args.input else source:
                if limit is not None and spotter.stats.samples + len(chunk) >= limit:
                    emit(spotter.process(chunk[:limit - spotter.stats.samples]))
                    stopped = f"--duration {args.duration:g} s reached"
                    break
                emit(spotter.process(chunk))
                warning = live_levels.add(chunk) if live_levels is not None else None
                if warning:
                    log.warning("%s", warning)
                if progress is not None:
                    progress.update(spotter.seconds)
            emit(spotter.flush())
    except (KeyboardInterrupt, _Stop) as exc:
        stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        emit(spotter.flush())
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
    if args.input and stopped == "end of input":
        for warning in levels.warnings(str(source.path), source.past_full_scale):
            log.warning("%s", warning)
    overflows = getattr(source, "lost_blocks", 0)
    stats = spotter.stats
    summary = {"stopped": stopped, "detections": stats.detections, "seconds": round(spotter.seconds, 3),
               "overflows": overflows, "windows_scored": stats.windows_scored, "hops": stats.hops,
               "wall_seconds": round(time.monotonic() - started, 3)}
    found = f"{stats.detections} detection" + ("" if stats.detections == 1 else "s")
    print(f"{PROG}: {stopped}: {found}, {spotter.seconds:.1f} s listened, "
          f"{overflows} overflows, {stats.windows_scored}/{stats.hops} windows scored", file=sys.stderr)
    log.debug("summary %s", json.dumps(summary))
    return 0


class _Progress:
    """Progress on long files: a line on stderr every 10 %."""

    def __init__(self, duration: float | None) -> None:
        self.duration = duration
        self.tenths = 0  # the last tenth of the file said
        self.enabled = duration is not None and duration >= 60.0

    def update(self, seconds: float) -> None:
        if not self.enabled:
            return
        tenths = min(10, int(10 * seconds / self.duration))
        if tenths > self.tenths:
            self.tenths = tenths
            log.info("%3d %% of %.0f s", 10 * tenths, self.duration)


def main(argv: list[str] | None = None) -> int:
    return run_cli(PROG, lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())

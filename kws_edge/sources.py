"""Chunk sources: an audio file or a live input device, both as mono float32 at the model's rate.

Both go through the same spotter; a file can be paced like a microphone (`realtime=True`).
Rate conversion uses soxr's streaming resampler, so chunk edges never click.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .audio import downmix, empty_file, quiet_stderr, unreadable, unsized, wav_header_frames
from .errors import KwsError, not_a_file

log = logging.getLogger(__name__)

# A file that ends this much (s) before its header said it would is called cut off; an MP3's
# header length is an estimate to a frame or two.
CUT_OFF_S = 0.5
# Files recorded at a lower rate (Hz) lack part of the band the model hears (warned).
LOWEST_RATE = 8000


class _Resampler:
    """Streaming mono resampler (soxr.ResampleStream); a pass-through when the rates match."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.active = in_rate != out_rate
        if self.active:
            import soxr

            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if not self.active:
            return block
        return self._stream.resample_chunk(block, last=last)


class FileSource:
    """Streams any file soundfile reads (any rate, any channel count) as mono chunks; "-" is
    standard input (a pipe: WAV, AU or raw-headed formats libsndfile reads without seeking)."""

    def __init__(self, path: str | Path, rate: int, chunk_ms: int = 1000, realtime: bool = False) -> None:
        import soundfile as sf

        stdin = str(path) == "-"
        self.path = Path("standard input" if stdin else path)
        self.rate = rate
        self.realtime = realtime
        piped = stdin or (self.path.exists() and not self.path.is_file() and not self.path.is_dir())
        if not piped:
            if not self.path.is_file():
                raise not_a_file(self.path, "audio file")
            if self.path.stat().st_size == 0:
                raise empty_file(self.path)
        try:
            if piped:
                # A pipe, a FIFO or /dev/stdin: read through its descriptor, which libsndfile reads
                # front to back; given as a path it would try to seek.
                fd = sys.stdin.buffer.fileno() if stdin else os.open(self.path, os.O_RDONLY)
                try:
                    self._file = sf.SoundFile(fd, closefd=not stdin)
                except BaseException:
                    if not stdin:
                        os.close(fd)
                    raise
            else:
                with quiet_stderr(self.path.suffix.lower() == ".mp3"):  # libmpg123's notes on a cut file
                    self._file = sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            reason = getattr(exc, "error_string", None) or exc
            if piped:
                reason = f"{reason}; from a pipe, send WAV (e.g. sox IN -t wav -)"
            raise unreadable(self.path, reason) from None
        if self._file.frames == 0:
            self._file.close()
            hint = ""
            if self._file.format == "WAV" and not piped and self.path.stat().st_size > 4096:
                # A recorder stopped before it wrote the sizes into the header.
                hint = (f"; its header says so, but the file holds {self.path.stat().st_size} bytes: an "
                        "unfinished recording? sox --ignore-length IN OUT repairs it")
            raise KwsError(f"{self.path}: empty audio (no samples){hint}")
        self.file_rate = int(self._file.samplerate)
        if self.file_rate < LOWEST_RATE:
            log.warning("%s: recorded at %d Hz, so it holds no sound over %d Hz; the model hears up to "
                        "4000 Hz, and words are heard less reliably (a telephone's 8000 Hz is enough)",
                        self.path, self.file_rate, self.file_rate // 2)
        known = not unsized(self._file)
        # From the header, or None when it does not say: an MP3's is an estimate, and a file cut
        # off after its header holds less (said at the end, `short_by`).
        self.duration: float | None = self._file.frames / self.file_rate if known else None
        self._header_frames = max(self._file.frames, wav_header_frames(self.path)) if known else None
        self._block = max(1, self.file_rate * chunk_ms // 1000)
        self._resample = _Resampler(self.file_rate, rate)
        self.samples_out = 0
        self._frames_read = 0
        self.nonfinite = 0
        # A floating-point file whose samples go past 1.0: loud, but nothing was cut off.
        self.past_full_scale = False

    @property
    def short_by(self) -> float:
        """Seconds the header promised that were not there, once the file is read to its end (a
        recording cut off, an MP3 damaged midway); 0 for a file whole, or one whose header does not
        give its length."""
        if self._header_frames is None:
            return 0.0
        return max(0.0, (self._header_frames - self._frames_read) / self.file_rate)

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        import soundfile as sf

        started = time.monotonic()
        while True:
            try:
                with quiet_stderr(self._file.format == "MP3"):
                    data = self._file.read(self._block, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                # A file damaged after its header (a cut-off FLAC, a corrupt MP3 frame).
                reason = getattr(exc, "error_string", None) or str(exc)
                raise KwsError(f"{self.path}: cannot be read after {self.samples_out / self.rate:.1f} s "
                               f"of audio ({reason.strip()}); the file is damaged") from None
            last = len(data) < self._block
            if not self.past_full_scale and self._file.subtype in ("FLOAT", "DOUBLE"):
                self.past_full_scale = bool(np.abs(data).max(initial=0.0) > 1.0)
            mono = downmix(data)
            if not np.all(np.isfinite(mono)):
                # Heard as silence (they would poison the resampler and the filters), as the API does.
                bad = ~np.isfinite(mono)
                if not self.nonfinite:
                    at = (self._frames_read + int(np.argmax(bad))) / self.file_rate
                    log.warning("%s: NaN or infinite samples from %.1f s on: heard as silence", self.path, at)
                self.nonfinite += int(bad.sum())
                mono[bad] = 0.0
            self._frames_read += len(data)
            out = self._resample(np.ascontiguousarray(mono), last=last)
            if len(out):
                if self.realtime:
                    # Paced like a microphone: a chunk is handed over once it would have been recorded.
                    due = started + (self.samples_out + len(out)) / self.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                self.samples_out += len(out)
                yield out
            if last:
                if not self._frames_read:  # a pipe that ended after its header
                    raise KwsError(f"{self.path}: no audio in it (it ended before its first sample)")
                if self.short_by > CUT_OFF_S:
                    log.warning("%s: ends at %.1f s, though its header says %.1f s: the file is cut off or "
                                "damaged, and the rest was not heard", self.path,
                                self._frames_read / self.file_rate, self._header_frames / self.file_rate)
                return


def _sounddevice():
    try:
        import sounddevice as sd
    except ImportError:
        raise KwsError("microphone input needs the sounddevice package: pip install sounddevice") from None
    except OSError as exc:
        raise KwsError(f"PortAudio is not available ({exc}); on Debian/Raspberry Pi OS: "
                       "apt-get install libportaudio2") from None
    return sd


def parse_device(device: int | str | None) -> int | str | None:
    """`--device` value: an index, a (sub)string of a device name, or None for the default."""
    if isinstance(device, str) and device.strip().isdigit():
        return int(device)
    if isinstance(device, str) and not device.strip():
        raise KwsError("--device is empty: give a device index or part of its name (see --list-devices)")
    return device


def list_input_devices() -> list[dict]:
    """Input devices as dicts: index, name, hostapi, channels, default_samplerate, default."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
        apis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise KwsError(f"cannot list audio devices: {exc}") from None
    out = []
    for dev in devices:
        if dev["max_input_channels"] > 0:
            out.append({"index": dev["index"], "name": dev["name"],
                        "hostapi": apis[dev["hostapi"]]["name"],
                        "channels": dev["max_input_channels"],
                        "default_samplerate": dev["default_samplerate"],
                        "default": dev["index"] == default_in})
    return out


# Exact-zero input this long at the start is reported (see MicrophoneSource._check_silence), and
# this long once sound had been heard (a microphone muted while listening).
SILENCE_WARN_SECONDS = 3.0
MUTED_WARN_SECONDS = 30.0


class DeviceLost(KwsError):
    """The input device stopped delivering audio mid-stream (unplugged, or its sound server died)."""


class MicrophoneSource:
    """A sounddevice InputStream whose callback only copies blocks into a bounded queue.

    All work happens in the consumer (the iterator). Overflows (PortAudio's input_overflow, or the
    queue full because the consumer fell behind) are counted and warned about now and then;
    listening goes on. A device that delivers nothing for `stall_seconds` (unplugged, lost) ends
    the stream with a KwsError.
    """

    def __init__(self, device: int | str | None, rate: int, chunk_ms: int = 100,
                 queue_seconds: float = 2.0, stall_seconds: float = 5.0,
                 warn_every_seconds: float = 10.0, device_rate: int | None = None) -> None:
        self._sd = sd = _sounddevice()
        self.device = parse_device(device)
        self.rate = rate
        self.stall_seconds = stall_seconds
        self.close_timeout = 2.0
        self.start_seconds = 10.0
        self._blocks = 0
        self.warn_every = warn_every_seconds
        try:
            info = sd.query_devices(self.device, "input")
        except (ValueError, sd.PortAudioError) as exc:
            if self.device is None:  # no --device given: PortAudio found no default input (index -1)
                raise KwsError("no microphone found (no default input device); plug one in, pick one "
                               "with --device (see --list-devices), or read a file with --input") from None
            # PortAudio says "Error querying device 7" for an index it does not have.
            # sounddevice's own message can run over lines ("Multiple input devices found ...").
            what = (f"no input device {self.device}" if isinstance(self.device, int)
                    else " ".join(str(exc).split()))
            what = what[:1].lower() + what[1:]
            raise KwsError(f"--device {device}: {what} (see --list-devices)") from None
        self.device_name = info["name"]
        # device_rate: record at this rate instead of trying the model's rate first.
        self.device_rate = int(device_rate) if device_rate else self._pick_rate(info)
        self._resample = _Resampler(self.device_rate, rate)
        self.blocksize = max(1, self.device_rate * chunk_ms // 1000)
        depth = max(4, int(queue_seconds * 1000 / chunk_ms))
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=depth)
        self.overflows = 0
        self.dropped = 0
        self.samples_out = 0
        self._warned_at = -float("inf")
        self._warned_lost = 0
        self._silent_seconds: float | None = 0.0  # None once the warning was given, until sound again
        self._heard_sound = False
        self._stream = None

    def _pick_rate(self, info: dict) -> int:
        sd = self._sd
        try:
            sd.check_input_settings(device=self.device, channels=1, dtype="float32", samplerate=self.rate)
            return self.rate
        except (ValueError, sd.PortAudioError):
            # Many USB microphones only do 44.1/48 kHz: open natively, resample in the consumer.
            native = int(info["default_samplerate"])
            log.info("%s refuses %d Hz; recording at %d Hz and resampling", info["name"], self.rate, native)
            return native

    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        if status.input_overflow:
            self.overflows += 1
        try:
            self._queue.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self.dropped += 1

    def __enter__(self) -> MicrophoneSource:
        sd = self._sd
        try:
            self._stream = sd.InputStream(device=self.device, samplerate=self.device_rate, channels=1,
                                          dtype="float32", blocksize=self.blocksize, callback=self._callback)
            self._stream.start()
        except sd.PortAudioError as exc:
            raise KwsError(f"cannot open input device {self.device_name!r}: {exc}") from None
        log.info("listening on %r at %d Hz", self.device_name, self.device_rate)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        # A lost device (or a dead sound server) can block PortAudio's stop forever: stop in a
        # helper thread and give up after a while rather than hang the program on exit.
        stopper = threading.Thread(target=self._stop, args=(stream,), daemon=True)
        stopper.start()
        stopper.join(self.close_timeout)
        if stopper.is_alive():
            log.warning("input device %r did not stop within %.0f s; abandoning it",
                        self.device_name, self.close_timeout)

    def _stop(self, stream) -> None:
        try:
            stream.abort()
            stream.close()
        except self._sd.PortAudioError as exc:
            log.debug("closing the input stream: %s", exc)

    @property
    def lost_blocks(self) -> int:
        return self.overflows + self.dropped

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._stream is None:
            raise RuntimeError("use MicrophoneSource as a context manager")
        waited = 0.0
        poll = 0.5
        while True:
            try:
                block = self._queue.get(timeout=poll)
            except queue.Empty:
                waited += poll
                # Some servers (PulseAudio) take a second or two to deliver the first block.
                limit = self.stall_seconds if self._blocks else max(self.stall_seconds, self.start_seconds)
                if not self._stream.active or waited >= limit:
                    heard = self.samples_out / self.rate
                    raise DeviceLost(f"input device {self.device_name!r} stopped delivering audio "
                                   f"(unplugged or lost?) after {heard:.1f} s") from None
                continue
            waited = 0.0
            self._blocks += 1
            if self._blocks == 1:
                log.debug("first audio block from %r", self.device_name)
            self._maybe_warn()
            self._check_silence(block)
            out = self._resample(block)
            if len(out):
                self.samples_out += len(out)
                yield out

    def _check_silence(self, block: np.ndarray) -> None:
        """Warn when the input is all exact zeros: a real microphone always hears some noise, so
        this is a muted input or a virtual device (a PulseAudio null sink's monitor, left as the
        default source by a test set-up), and the user should not trust the silence. Said after
        SILENCE_WARN_SECONDS at the start, after MUTED_WARN_SECONDS once sound had been heard (a
        microphone muted while listening), and again only after sound came back."""
        if np.any(block):
            self._silent_seconds, self._heard_sound = 0.0, True
            return
        if self._silent_seconds is None:
            return
        self._silent_seconds += len(block) / self.device_rate
        if self._silent_seconds >= (MUTED_WARN_SECONDS if self._heard_sound else SILENCE_WARN_SECONDS):
            what = "a muted input or not a microphone? (see --list-devices)"
            if self._heard_sound:
                what = "was the microphone muted or unplugged?"
            log.warning("input device %r has delivered only digital silence (exact zeros) for %.0f s: %s",
                        self.device_name, self._silent_seconds, what)
            self._silent_seconds = None

    def _maybe_warn(self) -> None:
        lost = self.lost_blocks
        if lost > self._warned_lost and self.samples_out - self._warned_at >= self.warn_every * self.rate:
            self._warned_at = self.samples_out
            self._warned_lost = lost
            log.warning("audio input overflow: %d blocks lost so far (%d by the device, %d because "
                        "processing fell behind); listening goes on", lost, self.overflows, self.dropped)


def print_input_devices(prog: str = "kws-listen") -> int:
    """`--list-devices`: one line per input device on stdout; exit status 1 when there is none."""
    devices = list_input_devices()
    if not devices:
        print(f"{prog}: no input devices found (plug a microphone in, or check that PortAudio sees it: "
              "docs/listening.md, \"Microphones\")", file=sys.stderr)
        return 1
    for dev in devices:
        mark = "*" if dev["default"] else " "
        print(f"{mark} {dev['index']:3d}  {dev['name']}  ({dev['hostapi']}, {dev['channels']} ch, "
              f"{dev['default_samplerate']:.0f} Hz)")
    print("(* = default input; pass the index or part of the name to --device)")
    return 0

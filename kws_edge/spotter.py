"""Streaming keyword spotting: ring buffer -> VAD gate -> model -> utterance gate (or smoothing) -> events.

With the utterance gate (the default) a window is scored only when a segment's decision needs it;
without it, every speech window is scored as its hop comes.

The clock is the number of samples consumed, never wall time: replaying the same audio gives the
same events whatever the chunk sizes fed in, with or without batching.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dc_offset import DcRemover
from .detection import Detection
from .errors import KwsError
from .highpass import RUMBLE_HZ, HighPass
from .onnx_model import OnnxModel, load_model
from .ring_buffer import RingBuffer
from .vad import EnergyVad, VadOptions, make_vad
from .voicing import VOICE_MS, voiced_ms

log = logging.getLogger(__name__)

# Under this (ms), --max-utterance-ms drops keywords said alone (warned).
SHORTEST_GATE_MS = 1000

DEFAULT_THRESHOLD = 0.5
# The voice check looks at a decision's core and this much either side of it.
VOICE_MARGIN_MS = 100
# The utterance gate's core is never thinner than this (dB under the loudest frame): a steady sound
# is all core, not the few frames that round to its loudest level.
CORE_MIN_DB = 3.0


@dataclass(frozen=True)
class SpotterOptions:
    """Settings of the streaming detector (times in milliseconds of stream time)."""

    # Score the last window every `hop_ms` (default chosen by measurement: docs/tried.md, "The detector").
    hop_ms: int = 100
    # Threshold for every keyword; None -> the model's calibrated per-class `thresholds`, if any,
    # else DEFAULT_THRESHOLD.
    threshold: float | None = None
    # Posterior smoothing: mean of the probabilities of the windows scored in the last `smooth_ms`.
    smooth_ms: int = 300
    # One utterance fires once: no new event until `refractory_ms` after the previous one.
    refractory_ms: int = 1000
    vad: VadOptions = field(default_factory=VadOptions)
    # The stream's DC offset (a microphone's) is removed before the VAD and the model: the mean
    # of the previous block this long (kws_edge/dc_offset.py). 0 = off.
    dc_block_ms: int = 500
    # Rumble and mains hum are removed too: the stream is high-passed at this many Hz before the
    # VAD and the model (kws_edge/highpass.py; docs/listening.md has the measurement). 0 = off.
    highpass_hz: float = RUMBLE_HZ
    # Windows scored per model call. 1 for live audio (lowest latency); file mode batches, which
    # changes speed only: events are the same.
    batch_windows: int = 1
    # Utterance gate: keywords are spoken as short commands, so only a VAD speech segment that
    # lasts at most this long (hangover included) can fire, and it fires once, when it is over:
    # the label is decided on the windows centred on the segment's loud part (its core, below),
    # which see the word as the model saw its training clips. Connected speech, where a 1-s window
    # often looks like a multi-syllable keyword, never fires, and a short phrase gets one decision,
    # not one per hop. Noise around a word can keep a segment open, so the limit is well over a
    # word's length and the core does the finer judging. 0 turns the gate off (needs a VAD): every
    # smoothed window over the threshold may fire. docs/rejecting.md has the figures.
    max_utterance_ms: int = 3000
    # A segment's decision: the best mean of `smooth_ms` of consecutive windows among those centred
    # within this long of its core's centre (the core is often the word's loudest syllable, not its
    # middle; more slack gives a phrase more chances to look like a keyword, and adds latency).
    centre_ms: int = 150
    # A segment's core: the frames within `core_db` of its loudest frame, or within half the
    # segment's level range (loudest minus its 10th percentile, at least CORE_MIN_DB) when that is
    # less. A keyword is said in under a second, so a segment whose core is longer than
    # `max_core_ms` is talk and never fires. 0 turns either off (the whole segment).
    core_db: float = 15.0
    max_core_ms: int = 1000
    # A pause this long under the core's level splits it, and the part with the loudest frame is
    # the core: no word pauses that long inside, but a burst of noise before or after a word
    # does. 0 = never split.
    core_gap_ms: int = 400
    # A decision fires only if its core, with `VOICE_MARGIN_MS` either side, holds this much voice
    # (sound repeating at a voice's pitch, kws_edge/voicing.py): a keyword has a vowel; a key
    # typed, a click or a knock has none, and a short one in a quiet room passes every other test
    # of the gate. 0 = off.
    min_voice_ms: int = VOICE_MS
    # A window quieter than the model's RMS floor (a far or quiet microphone: words peaking under
    # about -45 dBFS) is raised to it before scoring, by at most this many dB: the model scales a
    # window by its RMS only down to that floor, and hears quieter words quieter than it was trained
    # on. With the VAD hearing down to -70 dBFS (VadOptions.min_level_dbfs), words peaking at -55
    # dBFS are heard about as well as at -12 (docs/listening.md, "Quiet microphones"). 0 = off.
    quiet_gain_db: float = 30.0
    # The gate's own segmentation: it starts where the inference VAD does (8 dB over the floor;
    # the inference VAD must never miss speech), but a segment ends sooner, so that pauses in noisy
    # rooms split a keyword from the talk around it: it is kept while 7 dB over the floor, and a
    # pause also ends it 15 dB under the segment's loudest frame. Its floor is the quietest frame
    # of the last second (the inference VAD's: of 3 s), so that a room whose level steps up is
    # noise again within a second instead of one long segment, and at least the 20th percentile
    # of the last 5 s, less 1.5 dB, so that background talk 10-15 dB under a keyword does not hold
    # it in a segment over the limit (docs/rejecting.md).
    segment_vad: VadOptions = field(default_factory=lambda: VadOptions(start_db=8.0, keep_db=7.0,
                                                                       hangover_ms=300, pause_db=15.0,
                                                                       floor_seconds=1.0,
                                                                       floor_percentile=20.0))

    def __post_init__(self) -> None:
        if self.hop_ms <= 0:
            raise KwsError(f"--hop-ms must be positive, got {self.hop_ms}")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise KwsError(f"--threshold must be in (0, 1], got {self.threshold}")
        if self.smooth_ms < 0:
            raise KwsError(f"--smooth-ms must not be negative, got {self.smooth_ms}")
        if self.refractory_ms < 0:
            raise KwsError(f"--refractory-ms must not be negative, got {self.refractory_ms}")
        if self.batch_windows < 1:
            raise KwsError(f"batch_windows must be at least 1, got {self.batch_windows}")
        if self.max_utterance_ms < 0:
            raise KwsError(f"--max-utterance-ms must not be negative, got {self.max_utterance_ms}")
        if 0 < self.max_utterance_ms < SHORTEST_GATE_MS:
            # The segment is the word and the VAD's hang-over after it: the bundled recording gives
            # 5 of its 7 words at 800 ms, 1 at 600, none at 500.
            log.warning("--max-utterance-ms %d: a keyword's speech segment (the word and the pause "
                        "detector's hang-over) often lasts longer, and is then never reported; use %d or "
                        "more, or 0 to turn the gate off", self.max_utterance_ms, SHORTEST_GATE_MS)
        if self.core_db < 0 or self.max_core_ms < 0 or self.core_gap_ms < 0:
            raise KwsError("core_db, max_core_ms and core_gap_ms must not be negative")
        if self.dc_block_ms < 0:
            raise KwsError(f"dc_block_ms must not be negative, got {self.dc_block_ms}")
        if not 0 <= self.highpass_hz < 1000:
            raise KwsError(f"highpass_hz must be 0 (off) or under 1000, got {self.highpass_hz}")
        if self.centre_ms < 0:
            raise KwsError(f"centre_ms must not be negative, got {self.centre_ms}")
        if self.min_voice_ms < 0:
            raise KwsError(f"min_voice_ms must not be negative, got {self.min_voice_ms}")
        if not 0 <= self.quiet_gain_db <= 60:
            raise KwsError(f"quiet_gain_db must be within [0, 60], got {self.quiet_gain_db}")


@dataclass
class SpotterStats:
    samples: int = 0
    hops: int = 0
    windows_scored: int = 0
    windows_skipped: int = 0
    model_calls: int = 0
    detections: int = 0


ScoreHook = Callable[[int, np.ndarray], None]



def core_frames(levels: np.ndarray, core_db: float, gap_frames: int) -> tuple[int, int]:
    """A sound's core, from its frame levels (dB): the first frame and the one past the last of
    those within `core_db` of the loudest, or within half the levels' range when that is less
    (never under CORE_MIN_DB): noise the segmenter let in (a room whose level just rose) sits at
    the bottom of the range and stays out. A pause of more than `gap_frames` (0: none) splits it,
    and the part holding the loudest frame is kept. kws-train measures its clips' words the same
    way (training/audio_io.py, loud_part_seconds)."""
    peak = levels.max()
    depth = min(core_db, max(CORE_MIN_DB, (peak - np.percentile(levels, 10)) / 2))
    core = np.flatnonzero(levels >= peak - depth)
    if gap_frames and len(core) > 1:
        parts = np.split(core, np.flatnonzero(np.diff(core) > gap_frames) + 1)
        loudest = int(np.argmax(levels))
        core = next(part for part in parts if part[0] <= loudest <= part[-1])
    return int(core[0]), int(core[-1]) + 1

class KeywordSpotter:
    """`process(chunk) -> list[Detection]` over a stream of mono float32 at the model's rate."""

    def __init__(self, model: OnnxModel | str | Path | None = None,
                 options: SpotterOptions | None = None, score_hook: ScoreHook | None = None) -> None:
        self.model = model if isinstance(model, OnnxModel) else load_model(model)
        self.options = options or SpotterOptions()
        self.score_hook = score_hook
        rate = self.model.sample_rate
        self.sample_rate = rate
        self.window = self.model.window_samples
        self.hop = rate * self.options.hop_ms // 1000
        if not 0 < self.hop <= self.window:
            raise KwsError(f"--hop-ms {self.options.hop_ms} must be between 1 ms and the window "
                           f"({1000 * self.window // rate} ms)")
        self.labels = list(self.model.labels)
        self._unknown = self.labels.index(self.model.unknown_label)
        self.thresholds = self._class_thresholds()
        self.smooth_n = max(1, round(self.options.smooth_ms / self.options.hop_ms))
        self.refractory = rate * self.options.refractory_ms // 1000
        self.vad = make_vad(self.options.vad, rate)
        gate = self.options.max_utterance_ms
        self.max_utterance = rate * gate // 1000 if gate and self.vad is not None else None
        if self.max_utterance and self.options.hop_ms > 2 * self.options.centre_ms:
            # A decision looks only at windows centred within centre_ms of a word's core: a longer
            # hop leaves some words no window at all, and they are never reported.
            raise KwsError(f"--hop-ms {self.options.hop_ms}: with the utterance gate at most "
                           f"{2 * self.options.centre_ms} (a decision looks at windows within "
                           f"±{self.options.centre_ms} ms of the word); --max-utterance-ms 0 turns "
                           "the gate off")
        self.segmenter = make_vad(self.options.segment_vad, rate) if self.max_utterance else None
        self._quiet_floor = self.model.rms_floor if self.options.quiet_gain_db > 0 else None
        self._max_gain = 10 ** (self.options.quiet_gain_db / 20)
        if isinstance(self.vad, EnergyVad) and isinstance(self.segmenter, EnergyVad) \
                and self.segmenter.measures_like(self.vad):
            self.segmenter.follow(self.vad)  # the same levels and floors: measured once
        # The core needs the segmenter's frame levels; a WebRTC segmenter has none.
        self._core_fs = self.segmenter.frame_samples \
            if isinstance(self.segmenter, EnergyVad) and self.options.core_db > 0 else 0
        self.max_core = rate * self.options.max_core_ms // 1000 or None
        self._core_gap = rate * self.options.core_gap_ms // 1000 // self._core_fs if self._core_fs else 0
        self.centre = rate * self.options.centre_ms // 1000
        self.hangover = rate * self.options.segment_vad.hangover_ms // 1000
        # Windows of the last few seconds, [end sample, probabilities, audio]: enough to look back
        # from a segment's end to windows centred on its start. With the gate, a window is scored
        # only when a decision needs it (its audio is kept until then, its probabilities after):
        # most speech windows are in talk or around noise that never gets a decision, and the
        # events are the same. A score hook sees every window, so it gets them all scored.
        span = (self.max_utterance or 0) + self.window + 2 * self.centre
        self._recent: deque[list] = deque(maxlen=span // self.hop + 3)
        self._lazy = self.max_utterance is not None and score_hook is None
        # The stream as heard (after the DC and rumble filters): the window before each chunk, and
        # for the voice check enough to reach back from a decision to the start of a core that
        # began up to max_utterance_ms before it. process() takes at most a window at a time.
        self._ring = RingBuffer((self.max_utterance or 0) + 3 * self.window)
        self._voice_check = self.max_utterance is not None and self.options.min_voice_ms > 0
        dc_block = rate * self.options.dc_block_ms // 1000
        self.dc = DcRemover(dc_block) if dc_block else None
        self.highpass: HighPass | None = None
        self._warned_nonfinite = False
        n_classes = len(self.labels)
        self._history = np.zeros((self.smooth_n, n_classes), dtype=np.float64)
        self._batch = np.zeros((self.options.batch_windows, self.window), dtype=np.float32)
        # Pending hops in order: (end_sample, batch row or -1 for a window the VAD skipped,
        # VAD speech at the hop's end, start sample of that speech segment).
        self._queue: list[tuple[int, int, bool, int]] = []
        self._scratch = np.empty(0, dtype=np.float32)
        self.reset()

    def _class_thresholds(self) -> np.ndarray:
        default = self.options.threshold
        calibrated = self.model.thresholds if default is None else None
        stored = {w: t for w, t in (self.model.thresholds or {}).items() if t != default}
        if default is not None and stored:
            shown = ", ".join(f"{w} {t:g}" for w, t in sorted(stored.items(), key=lambda x: -x[1])[:5])
            log.warning("a threshold of %g (--threshold) replaces this model's per-word thresholds (%s%s): "
                        "every word fires at %g", default, shown, ", ..." if len(stored) > 5 else "", default)
        fallback = DEFAULT_THRESHOLD if default is None else default
        out = np.array([(calibrated or {}).get(label, fallback) for label in self.labels])
        out[self._unknown] = np.inf  # the reject class is never reported
        return out

    def reset(self) -> None:
        """Forget the stream: the clock restarts at zero."""
        self._ring.reset()
        if self.dc is not None:
            self.dc.reset()
        hz = self.options.highpass_hz
        self.highpass = HighPass(self.sample_rate, hz) if hz else None
        for vad in (self.vad, self.segmenter):
            if vad is not None:
                vad.reset()
        self._since_hop = 0
        self._queue.clear()
        self._n_batched = 0
        self._clear_history()
        self._next_allowed = 0
        self._flag_state = False      # VAD decision of the last frame seen
        self._run_start_state = -1    # start sample of the speech segment in progress
        self._in_segment = False
        self._segment_start = 0
        self._segment_long = False
        self._decided_core: tuple[int, int] | None = None  # decided before the segment closed
        self._early_next = 0  # no early decision can be made before this sample
        self._recent.clear()
        # Segmenter levels (dB) of the frames from `_levels_first` on: enough to find a segment's core.
        self._levels = np.zeros(0)
        self._levels_first = 0
        # Short segments waiting for their centred windows: (centre sample, decide at or after,
        # the core's start and end).
        self._decisions: list[tuple[int, int, int, int]] = []
        self.stats = SpotterStats()

    @property
    def seconds(self) -> float:
        return self.stats.samples / self.sample_rate

    def process(self, chunk: np.ndarray) -> list[Detection]:
        """Consume samples (any length; mono, at the model's rate); return the events that fired
        inside them. NaN and infinite samples (a glitching driver) are heard as silence: left in,
        they would reach the filters' state and silence the detector for good. Integer samples
        (int16 from a sound card or a WAV read raw) are scaled to [-1, 1], where every level is
        measured (the VAD's dBFS, the quiet and clipping checks)."""
        chunk = np.asarray(chunk)
        if chunk.dtype.kind in "iu":
            info = np.iinfo(chunk.dtype)
            half = (int(info.max) - int(info.min) + 1) / 2
            chunk = (chunk.astype(np.float32) - (int(info.min) + half)) / half
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim > 1:
            if chunk.ndim > 2 or min(chunk.shape) != 1:
                raise ValueError(f"process() takes mono audio, a 1-D array; got shape {chunk.shape} "
                                 "(mix it down first: kws_edge.audio.downmix(frames x channels))")
            chunk = chunk.reshape(-1)
        if not np.isfinite(chunk).all():
            if not self._warned_nonfinite:
                log.warning("audio holds NaN or infinite samples: heard as silence")
                self._warned_nonfinite = True
            chunk = np.nan_to_num(chunk, nan=0.0, posinf=0.0, neginf=0.0)
        events: list[Detection] = []
        n = len(chunk)
        if n == 0:
            return events
        if n > self.window:  # the ring holds a few seconds: a longer chunk goes in a window at a time
            for i in range(0, n, self.window):
                events += self.process(chunk[i:i + self.window])
            return events
        if self.dc is not None:
            chunk = self.dc.process(chunk)
        if self.highpass is not None:
            chunk = self.highpass.process(chunk)
        self._ring.write(chunk)
        start = self.stats.samples
        ends = range(start + self.hop - self._since_hop, start + n + 1, self.hop)
        speech_at, open_at, run_at = self._speech_before(chunk, start, ends)
        if len(ends):
            # The stream so far, as one contiguous view: the window before the chunk, then the chunk.
            if len(self._scratch) < self.window + n:
                self._scratch = np.empty(self.window + n, dtype=np.float32)
            ext = self._ring.latest(self.window + n, out=self._scratch[:self.window + n])
            for i, end in enumerate(ends):
                self._on_hop(end, ext, end - start, bool(speech_at[i]), bool(open_at[i]), int(run_at[i]),
                             events)
        self.stats.samples = start + n
        self._since_hop = (self._since_hop + n) % self.hop
        return events

    def _speech_before(self, chunk: np.ndarray, start: int,
                       ends: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each hop end: did the VAD judge any frame inside the window ending there speech; is
        the gate's segmenter inside a speech segment at that moment; where did that segment start?

        The VADs see the whole chunk at once (fast); their per-frame decisions are causal, so the
        answers at each hop are exactly what hop-by-hop feeding would give.
        """
        count = len(ends)
        hop_ends = np.fromiter(ends, dtype=np.int64, count=count)
        if self.vad is None:
            return np.ones(count, dtype=bool), *self._segments(chunk, hop_ends)
        vad = self.vad
        before = vad.frames_done
        last_before = vad.last_speech_end
        flags = vad.process(chunk)
        open_at, run_at = self._segments(chunk, hop_ends)  # after the VAD: the segmenter may follow it
        fs = vad.frame_samples
        last = np.full(count, last_before, dtype=np.int64)
        if len(flags) and flags.any():
            frame_ends = (before + 1 + np.arange(len(flags), dtype=np.int64)) * fs
            running = np.maximum.accumulate(np.where(flags, frame_ends, -1))
            done = np.clip(hop_ends // fs - before, 0, len(flags))
            has = done > 0
            last[has] = np.maximum(last_before, running[done[has] - 1])
        return last > np.maximum(0, hop_ends - self.window), open_at, run_at

    def _segments(self, chunk: np.ndarray, hop_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per hop end: in a segment (by the gate's segmenter), and the sample it started at."""
        count = len(hop_ends)
        open_at = np.full(count, self._flag_state, dtype=bool)
        run_at = np.full(count, self._run_start_state, dtype=np.int64)
        if self.segmenter is None:
            return open_at, run_at
        before = self.segmenter.frames_done
        flags = self.segmenter.process(chunk)
        if len(flags):
            fs = self.segmenter.frame_samples
            frame_index = before + np.arange(len(flags), dtype=np.int64)
            done = np.clip(hop_ends // fs - before, 0, len(flags))
            has = done > 0
            previous = np.concatenate([[self._flag_state], flags[:-1]])
            starts = np.maximum.accumulate(np.where(flags & ~previous, frame_index * fs, -1))
            run_start = np.where(starts < 0, self._run_start_state, starts)
            open_at[has] = flags[done[has] - 1]
            run_at[has] = run_start[done[has] - 1]
            self._flag_state = bool(flags[-1])
            self._run_start_state = int(run_start[-1]) if flags[-1] else -1
            if self._core_fs:
                levels = self.segmenter.last_levels
                # Hops waiting in a batch are gated late: keep what their segments may need.
                oldest = self._queue[0][0] if self._queue else self.stats.samples
                drop = min(len(self._levels), max(0, (oldest - self.max_utterance - self.window) // fs
                                                  - self._levels_first))
                self._levels = np.concatenate([self._levels[drop:], levels])
                self._levels_first += drop
        return open_at, run_at

    def flush(self) -> list[Detection]:
        """End of the stream (a file's end; `reset()` before another): a word at its very end is
        judged as if silence followed it. The gate decides on windows centred on a word, which
        reach half a window past it, so a word that ended less than about 0.2 s before the end had
        none and was lost; the stream is run on through that much digital silence (events keep
        times within the stream), then windows still waiting for a full batch are scored and
        waiting segments decided. (Without the gate, the windows up to the end hold the word.)"""
        real_end, hops, skipped = self.stats.samples, self.stats.hops, self.stats.windows_skipped
        events: list[Detection] = []
        if self.max_utterance is not None and (self._in_segment or self._decisions):
            events += self.process(np.zeros(self.window // 2 + self.centre + self.hangover, np.float32))
            self.stats.hops, self.stats.windows_skipped = hops, skipped  # the stream's, not the silence's
        self._run_queue(events)
        end = self.stats.samples
        if self._in_segment:
            self._close_segment(end + self.hangover, end)  # its speech runs to the end
        for centre, _, start, stop in self._decisions:
            self._decide(end, centre, (start, stop), events, final=True)
        self._decisions.clear()
        self.stats.samples = real_end
        last = real_end / self.sample_rate
        return [dataclasses.replace(e, time=last) if e.time > last else e for e in events]

    def _on_hop(self, end: int, ext: np.ndarray, rel: int, speech: bool, open_: bool, run_start: int,
                events: list[Detection]) -> None:
        self.stats.hops += 1
        if not speech:
            self.stats.windows_skipped += 1
            if self._queue:
                self._queue.append((end, -1, open_, run_start))
            elif self.max_utterance is not None:
                self._gate(end, open_, run_start, None, events)
            else:
                self._clear_history()
            return
        if self._lazy:
            self._gate(end, open_, run_start, ext[rel:rel + self.window].copy(), events)
            return
        row = self._n_batched
        self._batch[row] = ext[rel:rel + self.window]
        self._n_batched += 1
        self._queue.append((end, row, open_, run_start))
        if self._n_batched == len(self._batch):
            self._run_queue(events)

    def _run_queue(self, events: list[Detection]) -> None:
        if not self._queue:
            return
        probs = self._predict(self._batch[:self._n_batched]) if self._n_batched else None
        if self._n_batched:
            self.stats.model_calls += 1
            self.stats.windows_scored += self._n_batched
        for end, row, open_, run_start in self._queue:
            if row < 0:
                self._clear_history()
                if self.max_utterance is not None:
                    self._gate(end, open_, run_start, None, events)
                continue
            if self.score_hook is not None:
                self.score_hook(end, probs[row])
            if self.max_utterance is None:
                candidate = self._candidate(end, probs[row])
                if candidate is not None:
                    self._emit(candidate, events)
            else:
                self._gate(end, open_, run_start, probs[row], events)
        self._queue.clear()
        self._n_batched = 0

    def _gate(self, end: int, open_: bool, run_start: int, scored: np.ndarray | None,
              events: list[Detection]) -> None:
        """The utterance gate (SpotterOptions.max_utterance_ms), hop by hop in stream order.
        `scored`: the window's probabilities, or (scored lazily) its audio; None: VAD-skipped."""
        if scored is not None:
            self._recent.append([end, None, scored] if self._lazy else [end, scored, None])
        if open_:
            if self._in_segment and run_start != self._segment_start:
                # The segmenter ended a segment and began the next between two hops (a pause in
                # a noisy room, then noise starting a segment just before the word): two segments.
                self._close_segment(run_start, end)
            if not self._in_segment:
                self._in_segment, self._segment_start, self._segment_long = True, run_start, False
                self._decided_core, self._early_next = None, 0
            if end - self._segment_start > self.max_utterance:
                self._segment_long = True
            elif self._decided_core is None and self._core_gap:
                self._decide_early(end)
        elif self._in_segment:  # the segment ended at this hop
            self._close_segment(end, end)
        while self._decisions and self._decisions[0][1] <= end:
            centre, _, start, stop = self._decisions.pop(0)
            self._decide(end, centre, (start, stop), events)

    def _close_segment(self, closed_at: int, now: int) -> None:
        """End the segment in progress; `closed_at` is where the segmenter's flag went off (its
        hang-over included). A short one waits for its centred windows."""
        self._in_segment = False
        start = self._segment_start
        rate = self.sample_rate
        if self._segment_long or closed_at - start > self.max_utterance:
            log.debug("gate: sound from %.2f s longer than %d ms: talk, not judged", start / rate,
                      self.options.max_utterance_ms)
            return
        speech_end = max(start + 1, closed_at - self.hangover)
        if self._core_fs:
            start, speech_end = self._core(start, speech_end)
            if self.max_core and speech_end - start > self.max_core:
                log.debug("gate: loud part %.2f-%.2f s over %d ms, longer than a word: not judged",
                          start / rate, speech_end / rate, self.options.max_core_ms)
                return
            decided = self._decided_core
            if decided is not None and start < decided[1] and speech_end > decided[0]:
                return  # this core was decided while the segment was still open
        self._schedule(start, speech_end, now)

    def _schedule(self, start: int, end: int, now: int) -> None:
        """A decision on the windows centred on [start, end), once they have all been scored."""
        centre = (start + end) // 2
        self._decisions.append((centre, max(now, centre + self.window // 2 + self.centre), start, end))

    def _decide_early(self, now: int) -> None:
        """Noise can hold a segment open long after the word (a room whose level keeps changing):
        once the segment's core is followed by a pause of `core_gap_ms` under its level, no later
        sound can join it, so it is decided now rather than when the segment closes (which would
        come too late to answer the word, or never, past the length limit)."""
        if now < self._early_next:
            return
        first = max(0, self._segment_start // self._core_fs - self._levels_first)
        levels = self._levels[first:now // self._core_fs - self._levels_first]
        # Cheap first: the core holds every frame within CORE_MIN_DB of the loudest, so a pause
        # after it has none in its last `core_gap` frames (this check fails during talk).
        if len(levels) <= self._core_gap or levels[-self._core_gap:].max() >= levels.max() - CORE_MIN_DB:
            return
        gap = self._core_gap * self._core_fs
        start, end = self._core(self._segment_start, now)
        if now - end < gap or (self.max_core and end - start > self.max_core):
            # Later frames can only end the core later (or make another part loudest).
            self._early_next = max(end, now - gap) + gap
            return
        self._decided_core = (start, end)
        self._schedule(start, end, now)

    def _core(self, start: int, end: int) -> tuple[int, int]:
        """The first and last sample of the frames of [start, end) within `core_db` of the loudest
        (of those on the loudest frame's side of any pause of `core_gap_ms`)."""
        fs = self._core_fs
        a = max(0, start // fs - self._levels_first)
        b = max(a + 1, end // fs - self._levels_first)
        levels = self._levels[a:b]
        if not len(levels):
            return start, end
        first, stop = core_frames(levels, self.options.core_db, self._core_gap)
        return (self._levels_first + a + first) * fs, (self._levels_first + a + stop) * fs

    def _voiced(self, start: int, end: int) -> bool:
        """Whether the core [start, end), with VOICE_MARGIN_MS either side (a core can be one
        syllable, shorter than the check's 40-ms frames), holds `min_voice_ms` of voice."""
        if not self._voice_check:
            return True
        margin = self.sample_rate * VOICE_MARGIN_MS // 1000
        heard = self._ring.total_written
        a = max(0, start - margin, heard - self._ring.capacity)
        b = min(end + margin, heard)
        if b <= a:
            return True
        audio = self._ring.latest(heard - a)[:b - a]
        need = self.options.min_voice_ms
        return voiced_ms(audio, self.sample_rate, enough_ms=need) >= need

    def _decide(self, end: int, centre: int, core: tuple[int, int], events: list[Detection],
                final: bool = False) -> None:
        """One decision for a short segment's core (`core`: its first and end sample): the best
        smoothed mean of the windows centred on it (at the end of the stream, where those may never
        come, the window nearest its centre). A keyword over its threshold fires if the core holds
        a voice; that check comes last, as it costs more than the model's few windows."""
        half = self.window // 2
        near = [item for item in self._recent if abs(item[0] - half - centre) <= self.centre]
        if not near and final and self._recent:
            item = min(self._recent, key=lambda item: abs(item[0] - half - centre))
            near = [item] if abs(item[0] - half - centre) <= half // 2 else []
        if not near:
            return
        self._score(near)
        near = [item[1] for item in near]
        # The best mean of `smooth_n` consecutive windows (the ungated detector's smoothing): over
        # talk or moving noise one offset of the word can be masked where the next is not.
        k = min(self.smooth_n, len(near))
        sums = np.cumsum(np.concatenate([np.zeros((1, len(self.labels))), np.stack(near)]), axis=0)
        mean = ((sums[k:] - sums[:-k]) / k).max(axis=0)
        margin = mean - self.thresholds
        best = int(np.argmax(margin))
        rate = self.sample_rate
        if margin[best] < 0 or not self._voiced(*core):
            if log.isEnabledFor(logging.DEBUG):  # kws-listen -v: why nothing fired
                log.debug("gate: loud part %.2f-%.2f s: %s", core[0] / rate, core[1] / rate,
                          self._not_fired(mean, None if margin[best] < 0 else best))
            return
        self._emit(Detection(time=end / rate, label=self.labels[best], score=float(mean[best]),
                             start=max(0, centre - half) / rate, end=(centre + half) / rate), events)

    def _not_fired(self, mean: np.ndarray, unvoiced: int | None) -> str:
        """Why a decision's scores `mean` fired nothing: keyword `unvoiced` was over its threshold
        with no voice in the core; with None, nothing was over its threshold."""
        if unvoiced is not None:
            said = f"{self.labels[unvoiced]} {mean[unvoiced]:.2f}"
            return f"{said}, but no voice in it (a click, a knock, a whisper?)"
        top = int(np.argmax(mean))
        said = f"{self.labels[top]} {mean[top]:.2f}"
        return said if top == self._unknown else f"{said}, under its threshold {self.thresholds[top]:.2f}"

    def _predict(self, windows: np.ndarray) -> np.ndarray:
        """The model's probabilities, windows under its RMS floor first raised towards it."""
        if self._quiet_floor is not None:
            # ~3 us a window in float32 (a float64 mean of squares cost as much as the model); not
            # BLAS's dot, whose threads a busy machine makes wait (kws_edge/audio.py, downmix).
            rms = np.sqrt(np.einsum("ij,ij->i", windows, windows) / windows.shape[1])
            quiet = rms < self._quiet_floor
            if quiet.any():
                gain = np.minimum(self._quiet_floor / np.maximum(rms[quiet], 1e-12), self._max_gain)
                windows = windows.copy()
                windows[quiet] *= gain[:, None].astype(np.float32)
        return self.model.predict(windows)

    def _score(self, items: list[list]) -> None:
        """Score the windows among `items` ([end, probs, audio]) that have only their audio."""
        todo = [item for item in items if item[1] is None]
        if not todo:
            return
        probs = self._predict(np.stack([item[2] for item in todo]))
        self.stats.model_calls += 1
        self.stats.windows_scored += len(todo)
        for item, p in zip(todo, probs, strict=True):
            item[1], item[2] = p, None

    def _clear_history(self) -> None:
        self._hist_len = 0
        self._hist_pos = 0

    def _candidate(self, end: int, probs: np.ndarray) -> Detection | None:
        self._history[self._hist_pos] = probs
        self._hist_pos = (self._hist_pos + 1) % self.smooth_n
        self._hist_len = min(self._hist_len + 1, self.smooth_n)
        # Filled rows are always [0, hist_len): clearing also rewinds the write position.
        smoothed = np.add.reduce(self._history[:self._hist_len], axis=0) / self._hist_len
        margin = smoothed - self.thresholds
        best = int(np.argmax(margin))
        if margin[best] < 0:
            return None
        rate = self.sample_rate
        return Detection(time=end / rate, label=self.labels[best], score=float(smoothed[best]),
                         start=max(0, end - self.window) / rate, end=end / rate)

    def _emit(self, event: Detection, events: list[Detection]) -> None:
        fired = round(event.time * self.sample_rate)
        if fired < self._next_allowed:
            return
        self._next_allowed = fired + self.refractory
        self.stats.detections += 1
        log.debug("detection %s", event)
        events.append(event)

    def run(self, chunks: Iterator[np.ndarray]) -> Iterator[Detection]:
        """Feed an iterator of chunks; yield events as they fire, then flush at its end."""
        for chunk in chunks:
            yield from self.process(chunk)
        yield from self.flush()


def spot_file(path: str | Path, model: OnnxModel | str | Path | None = None,
              options: SpotterOptions | None = None, realtime: bool = False,
              chunk_ms: int = 1000) -> Iterator[Detection]:
    """Events in an audio file (any format/rate/channels soundfile reads), streamed in chunks.

    Without `options`, windows are scored 16 per model call (same events, faster).
    """
    from .sources import FileSource

    spotter = KeywordSpotter(model, options or SpotterOptions(batch_windows=16))
    with FileSource(path, spotter.sample_rate, chunk_ms=chunk_ms, realtime=realtime) as source:
        yield from spotter.run(iter(source))


def spot_microphone(model: OnnxModel | str | Path | None = None, options: SpotterOptions | None = None,
                    device: int | str | None = None, chunk_ms: int = 100,
                    duration: float | None = None) -> Iterator[Detection]:
    """Events from a live input device until the caller stops iterating (or Ctrl-C), or after
    `duration` seconds of audio: the generator yields only on events, so a caller waiting for a
    quiet room to end needs the limit."""
    from .sources import MicrophoneSource

    spotter = KeywordSpotter(model, options)
    with MicrophoneSource(device, spotter.sample_rate, chunk_ms=chunk_ms) as source:
        chunks = iter(source) if duration is None else _first(source, int(duration * spotter.sample_rate))
        yield from spotter.run(chunks)


def _first(chunks, samples: int) -> Iterator[np.ndarray]:
    """The chunks that make up the first `samples` samples (the last one cut to fit)."""
    for chunk in chunks:
        yield chunk[:samples]
        samples -= len(chunk)
        if samples <= 0:
            return

"""Cutting a stream of one word said again and again into 1-s clips, one per utterance, with checks.

The energy VAD of kws_edge/vad.py finds the utterances (speech with pauses between). Each one is
then measured on 10-ms frames against the noise floor (both on the stream high-passed at 80 Hz,
kws_edge/highpass.py, so that rumble does not split or stretch a word; clips are cut from the
stream as it came): its extent (first to last frame 6 dB over
the floor), its loudest frame, its clipped samples and any pause inside it. A clip is the second
of stream centred on the extent; speech of a neighbouring utterance that reaches into that second
is faded out, so no clip holds a piece of another word.

Like the VAD, the cutter is a small stateful object, `process(chunk) -> list[Cut]` + `flush()`,
whose clock is the count of samples consumed: a file cut in any chunk sizes gives the same clips,
and a microphone the same as a recording of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .highpass import HighPass
from .labels import SAMPLE_RATE, WINDOW_SAMPLES
from .vad import EnergyVad, VadOptions
from .voicing import VOICE_CORR, VOICE_MS, VOICE_RANGE_DB, voiced_ms

# The problems a cut can have (stable names: tests and the UI key on them).
CLIPPED = "clipped"
TOO_QUIET = "too quiet"
TOO_LONG = "too long"
TWO_WORDS = "two words"
TOO_SHORT = "too short"
NO_VOICE = "no voice"
CUT_OFF = "cut off"
# A take whose loud part reaches this close (ms) to where the recording stopped was still being
# said: a word stopped midway is no clip of it.
CUT_OFF_MS = 30


# A clip whose loudest 10 ms is under this is refused as too quiet: a dataset's clips should be
# recorded well, though kws-listen hears words down to about -55 dBFS.
QUIET_DBFS = -40.0
# Frames under this are never speech to kws-record. The runtime hears down to -70 dBFS, but a clip
# under -40 dBFS is refused as too quiet anyway, and the cutter's edges were measured with -60.
RECORD_MIN_DBFS = -60.0


def _segment_vad() -> VadOptions:
    # The runtime's start/keep levels; a 250-ms hang-over keeps one word together across its
    # stop closures (espeak's longest inside a keyword: 90 ms) while a pause after each word of
    # half a second or more always ends the utterance.
    return VadOptions(start_db=8.0, keep_db=5.0, hangover_ms=250, min_level_dbfs=RECORD_MIN_DBFS)


@dataclass(frozen=True)
class CutterOptions:
    sample_rate: int = SAMPLE_RATE
    clip_samples: int = WINDOW_SAMPLES
    vad: VadOptions = field(default_factory=_segment_vad)
    # The extent of a word: 10-ms frames `edge_db` over the noise floor (and no more than
    # `range_db` under the utterance's loudest frame), searched from `lookback_ms` before the
    # VAD's start, which lags the first weak consonant.
    frame_ms: int = 10
    edge_db: float = 6.0
    range_db: float = 40.0
    lookback_ms: int = 300
    # Checks. Shorter than `min_word_ms`: a click or a breath. Longer than the clip: no 1-s clip
    # can hold it. A pause of `gap_ms` inside an utterance: two words (a word's own closures
    # are shorter; docs/recording.md has the measurement).
    min_word_ms: int = 100
    gap_ms: int = 150
    second_word_db: float = 15.0
    # Two takes run together with no pause to see: an utterance `longer_ratio` times as long as
    # the median of the last takes kept (at least `longer_takes` of them) and `longer_ms` longer.
    # A person says one word about as long each time; benchmarks/bench_record.py --pairs measures it.
    longer_ratio: float = 1.6
    longer_ms: int = 150
    longer_takes: int = 5
    # Clipped: `clip_count` samples at or over `clip_level` (a converter at full scale; after
    # resampling a clipped waveform rings around 1.0, so several samples reach it).
    clip_level: float = 0.98
    clip_count: int = 3
    # Too quiet: the loudest 10-ms frame under `quiet_dbfs`, or under `min_snr_db` over the noise.
    quiet_dbfs: float = QUIET_DBFS
    min_snr_db: float = 15.0
    # No voice: under `voice_ms` of the word's loud part (frames within `voice_range_db` of its
    # loudest) is periodic at a voice's pitch: a 40-ms frame's normalised autocorrelation peaks at
    # `voice_corr` or more at a lag of 2-20 ms (50-500 Hz: espeak-ng's deepest male voice, pitch 0,
    # goes under 66 Hz). Every keyword has a vowel; a knock, a clap, a door or running water has
    # none (docs/recording.md has the measurement).
    voice_ms: int = VOICE_MS
    voice_range_db: float = VOICE_RANGE_DB
    voice_corr: float = VOICE_CORR
    # Audio kept for cutting; an utterance still going after this long is reported as too long.
    history_seconds: float = 12.0
    # A neighbour's speech this close to the word's extent counts as part of it (not faded).
    guard_ms: int = 50


@dataclass
class Cut:
    """One utterance: its clip (kept when `problems` is empty) and what was measured.

    Positions are samples of the stream clock (`seconds` for display)."""

    start: int  # first sample of the 1-s clip (may be before the stream start: zeros)
    onset: int  # the word's extent
    offset: int
    audio: np.ndarray  # the clip, float32, clip_samples long
    peak_dbfs: float  # loudest 10-ms frame
    snr_db: float  # that frame over the noise floor
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # one plain sentence per problem
    rate: int = SAMPLE_RATE
    threshold_dbfs: float = -60.0  # the level that counted as sound when it was measured

    @property
    def kept(self) -> bool:
        return not self.problems

    @property
    def duration(self) -> float:
        return (self.offset - self.onset) / self.rate

    def span(self) -> str:
        return f"{self.onset / self.rate:.2f}-{self.offset / self.rate:.2f} s"

    def describe(self) -> str:
        """'clipped: ...; two words: ...' or 'ok'."""
        return "; ".join(self.details) if self.problems else "ok"


class _History:
    """The last few seconds of the stream, as it came."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw = np.zeros(0, np.float32)
        self.start = 0  # stream index of raw[0]

    @property
    def end(self) -> int:
        return self.start + len(self.raw)

    def append(self, raw: np.ndarray) -> None:
        self.raw = np.concatenate([self.raw, raw])

    def trim(self, keep_from: int) -> None:
        keep_from = max(keep_from, self.end - self.capacity)
        drop = keep_from - self.start
        if drop > 0:
            self.raw = self.raw[drop:]
            self.start = keep_from

    def get(self, a: int, b: int, dc_free: bool = False) -> np.ndarray:
        """Samples [a, b) of the stream; zeros where the history does not reach. `dc_free`:
        less the mean of the part it reaches (a microphone's DC offset is constant)."""
        out = np.zeros(max(0, b - a), np.float32)
        lo, hi = max(a, self.start), min(b, self.end)
        if hi > lo:
            part = self.raw[lo - self.start:hi - self.start]
            out[lo - a:hi - a] = part - np.float32(part.mean(dtype=np.float64)) if dc_free else part
        return out


class FrameDcRemover:
    """Whole VAD frames, each less its own mean, for an energy VAD: its levels become each frame's
    variance, blind to a microphone's DC offset. (A running DC estimate such as
    kws_edge/dc_offset.py's leaves a step after each word, the mean of the block with the word,
    up to -57 dBFS for espeak's sentences: over digital silence the VAD takes it for sound.)
    Frames are cut on the stream's own grid, so any chunking feeds the VAD the same frames."""

    def __init__(self, frame: int) -> None:
        self.frame = frame
        self._pending = np.zeros(0, np.float32)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        data = np.concatenate([self._pending, chunk]) if len(self._pending) else chunk
        whole = len(data) // self.frame * self.frame
        self._pending = data[whole:].copy()
        frames = data[:whole].reshape(-1, self.frame).astype(np.float64)
        frames -= frames.mean(axis=1, keepdims=True)
        return frames.astype(np.float32).ravel()


def is_phrase(word: str) -> bool:
    """A label of several words ("lights on"), said with a pause between them by nature."""
    return len(word.split()) > 1


class UtteranceCutter:
    """`process(chunk) -> list[Cut]` over mono float32 at `options.sample_rate`."""

    def __init__(self, options: CutterOptions | None = None) -> None:
        self.options = opts = options or CutterOptions()
        self.rate = opts.sample_rate
        self.frame = opts.sample_rate * opts.frame_ms // 1000
        self._vad = EnergyVad(opts.vad, opts.sample_rate)
        self._vad_frame = self._vad.frame_samples
        self._dc = FrameDcRemover(self._vad_frame)
        self._history = _History(int(opts.history_seconds * opts.sample_rate))
        self._highpass = HighPass(opts.sample_rate)
        self._measured = _History(self._history.capacity)  # the high-passed stream: levels only
        # Smoothed VAD levels of the last `floor_seconds` (one per VAD frame): the noise floor.
        self._floor_frames = max(1, int(opts.vad.floor_seconds * 1000 / opts.vad.frame_ms))
        self._levels = np.zeros(0)
        self.samples = 0
        # A phrase ("lights on") has a pause between its words by nature, and must fit the clip
        # as a whole: set by new_word().
        self.phrase = False
        self._open_at: int | None = None
        self._pending: list[Cut] = []
        self._takes: list[float] = []  # durations (ms) of the last takes kept, this word
        self._last_offset = -1
        self._ignore_until = -1
        # For a level meter: the last chunk's RMS level and peak (dBFS), and the noise floor.
        self.level_dbfs = -120.0
        self.peak_dbfs = -120.0
        self.last_speech = 0  # stream sample where speech was last heard

    @property
    def seconds(self) -> float:
        return self.samples / self.rate

    @property
    def in_speech(self) -> bool:
        return self._open_at is not None

    @property
    def floor_dbfs(self) -> float:
        return float(self._levels.min()) if len(self._levels) else -120.0

    def new_word(self, phrase: bool = False) -> None:
        """The person moves on to another word (`phrase`: of several words, "lights on"): forget
        how long the takes of the last one were."""
        self._takes = []
        self.phrase = phrase

    @property
    def _unit(self) -> str:
        return "phrase" if self.phrase else "word"

    def forget_last_take(self) -> None:
        """The person deleted the last clip kept: its length no longer tells how long they say the
        word (deleted noises would make their real takes look like two words)."""
        self._takes = self._takes[:-1]

    def ignore_until(self, sample: int) -> None:
        """Drop utterances that begin before stream sample `sample` (a replayed clip the
        microphone hears through the speakers)."""
        self._ignore_until = max(self._ignore_until, sample)

    def process(self, chunk: np.ndarray) -> list[Cut]:
        raw = np.asarray(chunk, dtype=np.float32)
        if not len(raw):
            return []
        self._history.append(raw)
        measured = self._highpass.process(raw)
        self._measured.append(measured)
        frames_before = self._vad.frames_done
        flags = self._vad.process(self._dc.process(measured))
        self.samples += len(raw)
        self.level_dbfs = 10.0 * math.log10(float(np.var(measured, dtype=np.float64)) + 1e-12)
        self.peak_dbfs = 20.0 * math.log10(float(np.max(np.abs(raw))) + 1e-12)
        cuts: list[Cut] = []
        levels = self._vad.last_levels
        for i, speech in enumerate(flags):
            at = (frames_before + i) * self._vad_frame
            if speech:
                self.last_speech = at + self._vad_frame
                if self._open_at is None:
                    self._open_at = at
            elif self._open_at is not None:
                self._close(self._open_at, at)
                self._open_at = None
            # The floor of the frames before a segment opens, not counting the segment itself.
            if not speech:
                self._levels = np.append(self._levels[-(self._floor_frames - 1):], levels[i])
        cuts += self._ready(final=False)
        self._trim()
        return cuts

    def flush(self, stopped: bool = False) -> list[Cut]:
        """End of stream: close an open utterance and hand over every pending cut. `stopped`: a
        microphone the person stopped (Ctrl-C, q): a take still loud there was cut off midway, and
        is refused. (A file may end right on its last word's end, where its own noise, with no
        quiet before it to measure the floor, can look loud to the end.)"""
        if self._open_at is not None:
            pending = len(self._pending)
            self._close(self._open_at, self.samples)
            self._open_at = None
            if stopped and len(self._pending) > pending:
                cut = self._pending[-1]
                if self.samples - cut.offset <= CUT_OFF_MS * self.rate // 1000:
                    cut.problems.append(CUT_OFF)
                    cut.details.append(f"cut off: the {self._unit} was still being said where the recording "
                                       "stopped")
        return self._ready(final=True)

    # -- internals ---------------------------------------------------------------------------

    def _close(self, seg_start: int, seg_end: int) -> None:
        opts = self.options
        if seg_start < self._ignore_until:
            return
        if max(0, seg_start - opts.lookback_ms * self.rate // 1000) < self._history.start:
            # Longer than the history: nothing left to cut, but the person hears why.
            secs = (seg_end - seg_start) / self.rate
            self._pending.append(Cut(start=seg_start, onset=seg_start, offset=seg_end,
                                     audio=np.zeros(opts.clip_samples, np.float32), peak_dbfs=0.0,
                                     snr_db=0.0, problems=[TOO_LONG],
                                     details=[f"too long for one {self._unit} ({secs:.1f} s of sound)"],
                                     rate=self.rate))
            return
        cut = self._measure(seg_start, seg_end)
        if cut is not None:
            self._pending.append(cut)

    def _frame_levels(self, a: int, b: int) -> tuple[int, np.ndarray]:
        """10-ms frame levels (dBFS) on the stream's fixed frame grid covering [a, b)."""
        f = self.frame
        a0 = (a // f) * f
        n = max(0, -(-(b - a0) // f))
        x = self._measured.get(a0, a0 + n * f).reshape(n, f).astype(np.float64)
        # Each frame's variance: what is left of a DC offset does not count as sound.
        return a0, 10.0 * np.log10(np.var(x, axis=1) + 1e-12)

    def _measure(self, seg_start: int, seg_end: int) -> Cut | None:
        opts, f, rate = self.options, self.frame, self.rate
        a = max(self._history.start, seg_start - opts.lookback_ms * rate // 1000, self._last_offset)
        a0, lv = self._frame_levels(a, seg_end)
        if not len(lv):
            return None
        floor = self.floor_dbfs
        if len(self._levels) < self._floor_frames // 2:
            # Little heard before this utterance (the stream's start): the quiet after it, up to
            # the VAD's end, tells the noise floor too.
            floor = min(floor, float(lv.min()))
        peak = float(lv.max())
        thr = max(floor + opts.edge_db, peak - opts.range_db, opts.vad.min_level_dbfs)
        loud = np.flatnonzero(lv > thr)
        if not len(loud):
            return None
        onset, offset = a0 + int(loud[0]) * f, a0 + (int(loud[-1]) + 1) * f
        self._last_offset = offset
        centre = (onset + offset) // 2
        start = centre - opts.clip_samples // 2
        cut = Cut(start=start, onset=onset, offset=offset, audio=np.zeros(0, np.float32),
                  peak_dbfs=peak, snr_db=peak - floor, rate=rate, threshold_dbfs=thr)
        self._check(cut, lv[loud[0]:loud[-1] + 1], thr)
        return cut

    def _check(self, cut: Cut, levels: np.ndarray, thr: float) -> None:
        opts, rate = self.options, self.rate
        speech = levels > thr
        dur_ms = 1000 * (cut.offset - cut.onset) / rate

        def problem(name: str, detail: str) -> None:
            cut.problems.append(name)
            cut.details.append(detail)

        clipped = int(np.count_nonzero(np.abs(self._history.get(cut.onset, cut.offset))
                                       >= opts.clip_level))
        if clipped >= opts.clip_count:
            problem(CLIPPED, f"clipped ({clipped} samples at full scale): speak a little softer "
                             "or further from the microphone, or turn its input volume down")
        gaps = _pauses(speech, opts.frame_ms)
        # Two words: a long pause with a loud part on each side. A breath before a word, or a final
        # "t" released after its closure, sits far under the word's loudest part.
        loudest = float(levels.max())
        long_gaps = [(s, n) for s, n in gaps if n * opts.frame_ms >= opts.gap_ms
                     and min(levels[:s].max(), levels[s + n:].max()) >= loudest - opts.second_word_db]
        if long_gaps and not self.phrase:
            s, n = max(long_gaps, key=lambda g: g[1])
            problem(TWO_WORDS, f"two words in one clip (a {n * opts.frame_ms} ms pause inside): "
                               "leave a longer pause between words")
        elif len(self._takes) >= opts.longer_takes:
            usual = float(np.median(self._takes[-20:]))
            if dur_ms > opts.longer_ratio * usual and dur_ms - usual >= opts.longer_ms:
                problem(TWO_WORDS, f"two words in one clip? ({dur_ms / 1000:.2f} s; your takes of this "
                                   f"word last {usual / 1000:.2f} s): leave a longer pause between words")
        # One frame of slack: the high-pass rings for a few ms after sound stops, and a 1-s clip of a
        # word in its own room noise (all of it within range_db of the word) is exactly a second.
        if dur_ms > 1000 * opts.clip_samples / rate + opts.frame_ms:
            advice = ("say the phrase a little faster, all of it within the second, without a long pause"
                      if self.phrase else "say the word alone, then pause")
            problem(TOO_LONG, f"too long for one {self._unit} ({dur_ms / 1000:.2f} s; a clip holds "
                              f"{opts.clip_samples / rate:g} s): {advice}")
        elif dur_ms < opts.min_word_ms:
            problem(TOO_SHORT, f"too short for a word ({dur_ms:.0f} ms): a click or a breath?")
        if cut.peak_dbfs < opts.quiet_dbfs:
            problem(TOO_QUIET, f"too quiet (loudest {cut.peak_dbfs:.0f} dBFS): speak up, move closer "
                               "or turn the microphone's input volume up")
        elif cut.snr_db < opts.min_snr_db:
            problem(TOO_QUIET, f"too quiet for the room ({cut.snr_db:.0f} dB over the noise): speak "
                               "up or move closer to the microphone")
        if not cut.problems:
            voiced = voiced_ms(self._history.get(cut.onset, cut.offset, dc_free=True), self.rate,
                               frame_ms=opts.frame_ms, range_db=opts.voice_range_db, corr=opts.voice_corr,
                               enough_ms=opts.voice_ms)
            if voiced < opts.voice_ms:
                problem(NO_VOICE, "no voice in it: a noise, a cough or a whisper? "
                                  "Say the word aloud")
        if not cut.problems:
            self._takes = (self._takes + [dur_ms])[-20:]

    def _ready(self, final: bool) -> list[Cut]:
        """Pending cuts whose whole second the stream has reached (every one when final)."""
        out: list[Cut] = []
        while self._pending:
            cut = self._pending[0]
            end = cut.start + self.options.clip_samples
            if not final and end > self._history.end:
                break  # a cut waits for the rest of its second (at most half a second)
            self._pending.pop(0)
            if not len(cut.audio):
                cut.audio = self._isolate(cut)
            out.append(cut)
        return out

    def _isolate(self, cut: Cut) -> np.ndarray:
        """The clip's second, with any other utterance reaching into it faded to silence."""
        opts, f = self.options, self.frame
        end = cut.start + opts.clip_samples
        clip = self._history.get(cut.start, end, dc_free=True)
        a0, lv = self._frame_levels(cut.start, end)
        thr = cut.threshold_dbfs
        guard = opts.guard_ms * self.rate // 1000
        starts = a0 + np.arange(len(lv)) * f
        other = lv > thr
        before = np.flatnonzero(other & (starts + f <= cut.onset - guard))
        after = np.flatnonzero(other & (starts >= cut.offset + guard))
        fade = np.linspace(0.0, 1.0, f, dtype=np.float32)
        if len(after):
            i = max(0, int(starts[after[0]]) - cut.start)
            clip[i:] = 0.0
            lo = max(0, i - f)
            clip[lo:i] *= fade[::-1][f - (i - lo):]
        if len(before):
            i = min(len(clip), int(starts[before[-1]]) + f - cut.start)
            clip[:i] = 0.0
            hi = min(len(clip), i + f)
            clip[i:hi] *= fade[:hi - i]
        return clip

    def _trim(self) -> None:
        keep = self.samples - int(2.0 * self.rate)
        if self._open_at is not None:
            keep = min(keep, self._open_at - self.options.lookback_ms * self.rate // 1000)
        for cut in self._pending:
            keep = min(keep, cut.start, cut.onset)
        self._history.trim(keep)
        self._measured.trim(keep)


def _pauses(speech: np.ndarray, frame_ms: int) -> list[tuple[int, int]]:
    """(first frame, length) of each run of non-speech frames inside a word's extent."""
    quiet = ~speech
    if not quiet.any():
        return []
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def cut_audio(audio: np.ndarray, options: CutterOptions | None = None, chunk: int = SAMPLE_RATE,
              phrase: bool = False) -> list[Cut]:
    """Every utterance of a whole recording (mono float32 at the options' rate), of a word or,
    with `phrase`, of a phrase of several words."""
    cutter = UtteranceCutter(options)
    cutter.new_word(phrase=phrase)
    out: list[Cut] = []
    for i in range(0, len(audio), chunk):
        out += cutter.process(audio[i:i + chunk])
    return out + cutter.flush()

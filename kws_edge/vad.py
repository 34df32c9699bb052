"""Voice activity detection on short frames, used to skip inference when nobody is speaking.

`EnergyVad` needs only numpy: frame energy against an adaptive noise floor (minimum statistics
over the last few seconds), with hysteresis (a higher level to start speech than to keep it) and
a hang-over so short pauses inside a word do not end it. Like silero-vad's VADIterator it is a
small stateful object, `process(chunk)` + `reset()`, whose clock is the number of samples
consumed, so a replay gives the same decisions whatever the chunk sizes.

`WebRtcVad` wraps the optional `webrtcvad` package (pip install webrtcvad-wheels) behind the same
interface, with the same hang-over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import KwsError
from .labels import SAMPLE_RATE

VAD_KINDS = ("energy", "webrtc", "off")


@dataclass(frozen=True)
class VadOptions:
    kind: str = "energy"
    frame_ms: int = 20
    # Levels above the noise floor: start speech above `start_db`, keep it while above `keep_db`.
    # 8 dB, not more: in a loud room (noise at -30 dBFS) a 9-10 dB start never opened on a
    # quarter of the keywords (docs/tried.md, "The detector").
    start_db: float = 8.0
    keep_db: float = 5.0
    start_frames: int = 2
    hangover_ms: int = 300
    # Frames quieter than this are never speech (digital silence, a muted microphone). -70, not
    # -60: a quiet microphone's words peak at -50 to -55 dBFS, and most of their frames are
    # quieter still (docs/listening.md, "Quiet microphones").
    min_level_dbfs: float = -70.0
    # The noise floor is the quietest frame of the last `floor_seconds` (minimum statistics).
    floor_seconds: float = 3.0
    # Optionally also at least this percentile of the last `percentile_seconds` of levels, less
    # `percentile_margin_db` (0 = off; refreshed every 0.5 s). Background talk (a TV, a room of
    # people) dips between words, so its quietest frame is far under it and it would count as
    # speech over the minimum alone; a low percentile sits at the talk's own level.
    floor_percentile: float = 0.0
    percentile_seconds: float = 5.0
    percentile_margin_db: float = 1.5
    # Decide on the mean power of the last `smooth_frames` frames: steadies the level of noises
    # that flicker from frame to frame (pink noise, rumble) while words last far longer.
    smooth_frames: int = 5
    # Speech also ends when the level stays this far below the loudest frame of the segment (0 =
    # off): a pause in a noisy room drops towards the noise, not to the floor of its quietest moments.
    pause_db: float = 0.0
    webrtc_mode: int = 2

    def __post_init__(self) -> None:
        if self.kind not in VAD_KINDS:
            raise KwsError(f"--vad: unknown VAD {self.kind!r} (choose from {', '.join(VAD_KINDS)})")
        if self.frame_ms not in (10, 20, 30):
            raise KwsError(f"VAD frame must be 10, 20 or 30 ms, got {self.frame_ms}")
        if self.keep_db > self.start_db:
            raise KwsError("VAD keep_db must not exceed start_db (hysteresis)")
        if not 0.0 <= self.floor_percentile < 100.0:
            raise KwsError(f"VAD floor_percentile must be in [0, 100), got {self.floor_percentile}")
        if self.percentile_seconds < 0.5:
            raise KwsError(f"VAD percentile_seconds must be at least 0.5, got {self.percentile_seconds}")


class _FramedVad:
    """Shared framing: splits any chunking into whole frames and keeps the sample clock."""

    def __init__(self, options: VadOptions, sample_rate: int) -> None:
        self.options = options
        self.sample_rate = sample_rate
        self.frame_samples = sample_rate * options.frame_ms // 1000
        self.hangover_frames = max(1, math.ceil(options.hangover_ms / options.frame_ms))
        self._pending = np.zeros(self.frame_samples, dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        self._n_pending = 0
        self.samples_consumed = 0
        self.frames_done = 0
        self.in_speech = False
        # Sample index just past the last frame judged speech; -1 = none yet.
        self.last_speech_end = -1
        self._hang = 0
        self._peak = 0.0
        self._reset_detector()

    def _reset_detector(self) -> None:
        pass

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Consume samples; return one bool per frame completed by this chunk (True = speech)."""
        chunk = np.asarray(chunk, dtype=np.float32)
        self.samples_consumed += len(chunk)
        fs = self.frame_samples
        pieces = []
        pos = 0
        if self._n_pending:
            take = min(fs - self._n_pending, len(chunk))
            self._pending[self._n_pending:self._n_pending + take] = chunk[:take]
            self._n_pending += take
            pos = take
            if self._n_pending == fs:
                pieces.append(self._pending[None, :].copy())
                self._n_pending = 0
        whole = (len(chunk) - pos) // fs
        if whole:
            pieces.append(chunk[pos:pos + whole * fs].reshape(whole, fs))
            pos += whole * fs
        rest = len(chunk) - pos
        if rest:
            self._pending[:rest] = chunk[pos:]
            self._n_pending = rest
        if not pieces:
            return np.zeros(0, dtype=bool)
        frames = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        flags = self._decide(frames)
        if flags.any():
            last = int(np.flatnonzero(flags)[-1])
            self.last_speech_end = (self.frames_done + last + 1) * fs
        self.frames_done += len(frames)
        return flags

    def _decide(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _hysteresis(self, raw_start: np.ndarray, raw_keep: np.ndarray,
                    levels: np.ndarray | None = None) -> np.ndarray:
        """Speech flags from per-frame 'loud enough to start' / 'loud enough to keep' decisions."""
        flags = np.zeros(len(raw_start), dtype=bool)
        need = self.options.start_frames
        pause = self.options.pause_db if levels is not None else 0.0
        if not self.in_speech and not raw_start.any():
            # The common case in quiet or steady noise: nothing can start.
            self._run = 0
            return flags
        for i in range(len(raw_start)):
            if self.in_speech:
                if pause:
                    self._peak = max(self._peak, levels[i])
                if raw_keep[i] and not (pause and levels[i] < self._peak - pause):
                    self._hang = self.hangover_frames
                else:
                    self._hang -= 1
                    if self._hang <= 0:
                        self.in_speech = False
                        self._run = 0
                        continue
                flags[i] = True
            elif raw_start[i]:
                self._run += 1
                if self._run >= need:
                    # Flag from the confirming frame on; not retroactively, which would make the
                    # decisions depend on where chunk boundaries fall.
                    self.in_speech = True
                    self._hang = self.hangover_frames
                    self._peak = levels[i] if pause else 0.0
                    flags[i] = True
            else:
                self._run = 0
        return flags


class EnergyVad(_FramedVad):
    """Energy against an adaptive noise floor; numpy only."""

    def __init__(self, options: VadOptions | None = None, sample_rate: int = SAMPLE_RATE) -> None:
        self._leader: EnergyVad | None = None
        self._last = (np.zeros(0), np.zeros(0))
        super().__init__(options or VadOptions(), sample_rate)

    def _reset_detector(self) -> None:
        opts = self.options
        # Minimum statistics in sub-blocks: the floor is the minimum over the last few blocks, so
        # it follows a noise that gets louder within `floor_seconds` and never settles on speech.
        frames_per_second = 1000 // opts.frame_ms
        self._block_frames = max(1, frames_per_second // 2)
        self._n_blocks = max(1, round(opts.floor_seconds * 2))
        self._block_mins = np.full(self._n_blocks, np.inf)
        self._block_idx = 0
        self._cur_min = math.inf
        self._in_block = 0
        self._past_min = math.inf
        self._run = 0
        self._recent = np.zeros(max(0, self.options.smooth_frames - 1))
        self._n_recent = 0
        # Percentile floor: the levels of the last `percentile_seconds`, one row per 0.5-s block,
        # filled in turn (order is irrelevant to a percentile); the floor they gave at the last
        # block end.
        self._p_blocks = np.zeros((max(1, round(opts.percentile_seconds * 2)), self._block_frames))
        self._p_row = 0
        self._p_rows_filled = 0
        self._p_in_block = 0
        self._p_floor = -math.inf

    def _levels(self, frames: np.ndarray) -> np.ndarray:
        # Row-wise float64 mean: the same result per frame whatever the number of frames.
        power = np.square(frames, dtype=np.float64).mean(axis=1)
        k = self.options.smooth_frames
        if k > 1:
            # Causal moving average carrying the last k-1 powers across chunks. Every output sums
            # the same k values in the same order however the stream was chunked (bit-identical).
            history = np.concatenate([self._recent[len(self._recent) - self._n_recent:], power])
            smoothed = np.empty(len(power))
            partial = min(len(power), max(0, k - 1 - self._n_recent))
            for j in range(partial):  # stream start: fewer than k frames so far
                smoothed[j] = history[:self._n_recent + j + 1].sum() / (self._n_recent + j + 1)
            if partial < len(power):
                windows = np.lib.stride_tricks.sliding_window_view(history, k)
                smoothed[partial:] = windows[self._n_recent + partial - k + 1:].sum(axis=1) / k
            keep = history[-(k - 1):]
            self._recent[len(self._recent) - len(keep):] = keep
            self._n_recent = len(keep)
            power = smoothed
        return 10.0 * np.log10(power + 1e-12)

    # Level parameters: two VADs that agree on these measure the same levels (and, with the same
    # `floor_seconds`, the same minimum floors).
    _LEVEL_FIELDS = ("frame_ms", "smooth_frames")

    def measures_like(self, other: EnergyVad) -> bool:
        return other.sample_rate == self.sample_rate and all(
            getattr(self.options, f) == getattr(other.options, f) for f in self._LEVEL_FIELDS)

    def follow(self, leader: EnergyVad) -> None:
        """Reuse `leader`'s levels (and its noise floors, when both keep them as long) instead of
        measuring them again: both must see the same chunks, the leader first (the spotter's
        inference VAD leads its gate's segmenter)."""
        if not self.measures_like(leader):
            raise ValueError("a VAD can only follow one that measures levels the same way")
        self._leader = leader

    @property
    def last_levels(self) -> np.ndarray:
        """Levels (dBFS, smoothed) of the frames that the last `process` call completed."""
        return self._last[0]

    def _measure(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per frame: level (dBFS, smoothed) and noise floor."""
        levels = self._levels(frames)
        return levels, self._min_floors(levels)

    def _min_floors(self, levels: np.ndarray) -> np.ndarray:
        """Per frame: the quietest level of the last `floor_seconds` (in 0.5-s blocks)."""
        floors = np.empty(len(levels))
        i, n = 0, len(levels)
        # Block by block (not frame by frame): a running minimum inside the current block, and
        # the minimum of the last few finished blocks.
        while i < n:
            take = min(n - i, self._block_frames - self._in_block)
            running = np.minimum.accumulate(levels[i:i + take])
            np.minimum(running, self._cur_min, out=running)
            floors[i:i + take] = np.minimum(running, self._past_min)
            self._cur_min = float(running[-1])
            self._in_block += take
            i += take
            if self._in_block == self._block_frames:
                self._block_mins[self._block_idx] = self._cur_min
                self._block_idx = (self._block_idx + 1) % self._n_blocks
                self._past_min = float(self._block_mins.min())
                self._cur_min = math.inf
                self._in_block = 0
        return floors

    def _percentile_floors(self, levels: np.ndarray) -> np.ndarray:
        """Per frame: the percentile floor computed at the end of the previous 0.5-s block."""
        opts = self.options
        out = np.empty(len(levels))
        i, n = 0, len(levels)
        while i < n:
            take = min(n - i, self._block_frames - self._p_in_block)
            out[i:i + take] = self._p_floor
            self._p_blocks[self._p_row, self._p_in_block:self._p_in_block + take] = levels[i:i + take]
            self._p_in_block += take
            i += take
            if self._p_in_block == self._block_frames:
                self._p_in_block = 0
                self._p_row = (self._p_row + 1) % len(self._p_blocks)
                self._p_rows_filled = min(len(self._p_blocks), self._p_rows_filled + 1)
                filled = self._p_blocks[:self._p_rows_filled].ravel()
                k = int(opts.floor_percentile / 100.0 * (len(filled) - 1))
                self._p_floor = float(np.partition(filled, k)[k]) - opts.percentile_margin_db
        return out

    def _decide(self, frames: np.ndarray) -> np.ndarray:
        opts = self.options
        if self._leader is not None:
            levels, floors = self._leader._last
            if len(levels) != len(frames):
                raise RuntimeError("a following VAD must be fed the same chunks, after its leader")
            if self._leader.options.floor_seconds != opts.floor_seconds:
                floors = self._min_floors(levels)
        else:
            levels, floors = self._measure(frames)
        if opts.floor_percentile:
            floors = np.maximum(floors, self._percentile_floors(levels))
        self._last = (levels, floors)
        loud = levels > opts.min_level_dbfs
        raw_start = loud & (levels > floors + opts.start_db)
        raw_keep = loud & (levels > floors + opts.keep_db)
        return self._hysteresis(raw_start, raw_keep, levels)


class WebRtcVad(_FramedVad):
    """Google's WebRTC VAD (optional: pip install webrtcvad-wheels), with the same hang-over."""

    def __init__(self, options: VadOptions | None = None, sample_rate: int = SAMPLE_RATE) -> None:
        try:
            import webrtcvad
        except ImportError:
            raise KwsError("--vad webrtc needs the webrtcvad package: pip install webrtcvad-wheels") from None
        if sample_rate not in (8000, 16000, 32000, 48000):
            raise KwsError(f"webrtc VAD does not support {sample_rate} Hz")
        options = options or VadOptions(kind="webrtc")
        self._vad = webrtcvad.Vad(options.webrtc_mode)
        super().__init__(options, sample_rate)

    def _reset_detector(self) -> None:
        self._run = 0

    def _decide(self, frames: np.ndarray) -> np.ndarray:
        pcm = (np.clip(frames, -1.0, 1.0) * 32767.0).astype("<i2")
        loud = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12) \
            > self.options.min_level_dbfs
        raw = np.array([bool(ok) and self._vad.is_speech(row.tobytes(), self.sample_rate)
                        for ok, row in zip(loud, pcm, strict=True)], dtype=bool)
        return self._hysteresis(raw, raw)


def make_vad(options: VadOptions, sample_rate: int = SAMPLE_RATE) -> EnergyVad | WebRtcVad | None:
    """The VAD named by `options.kind`; None for 'off' (score every window)."""
    if options.kind == "off":
        return None
    if options.kind == "webrtc":
        return WebRtcVad(options, sample_rate)
    return EnergyVad(options, sample_rate)

"""Is there a voice in a sound? How much of it repeats at a voice's pitch.

Every keyword has a vowel, and a vowel repeats at the speaker's pitch; a knock, a click, a key
typed, a door or running water does not. kws-record refuses a take with no voice in it, and the
utterance gate of kws-listen does not fire on one (docs/recording.md and docs/listening.md have
the measurements).
"""

from __future__ import annotations

import numpy as np

# The pitch is looked for in the sound from here up (Hz; nothing under half of it, a ramp between),
# in frames that have at least VOICE_HIGH_DB of their energy there.
VOICE_HIGHPASS_HZ = 500.0
VOICE_HIGH_DB = -30.0
# A voice: at least VOICE_MS of the sound's loud part (frames within VOICE_RANGE_DB of its loudest)
# repeats at a pitch, a normalised autocorrelation peak of VOICE_CORR or more.
VOICE_MS = 30
VOICE_RANGE_DB = 20.0
VOICE_CORR = 0.5


def voiced_ms(audio: np.ndarray, rate: int, frame_ms: int = 10, range_db: float = VOICE_RANGE_DB,
              corr: float = VOICE_CORR, enough_ms: int | None = None) -> int:
    """How much of `audio`'s loud part (frames within `range_db` of its loudest; ms, in steps of
    `frame_ms`) is periodic at a voice's pitch: a 40-ms frame's normalised autocorrelation peaks at
    `corr` or more at a lag of 2-20 ms (50-500 Hz: espeak-ng's deepest male voice, pitch 0, goes
    under 66 Hz). With `enough_ms`, counting stops once that much is found (the answer is then at
    least `enough_ms`, not the whole count)."""
    frame, hop = rate * 40 // 1000, rate * frame_ms // 1000
    lo, hi = rate // 500, rate // 50
    x = np.asarray(audio, dtype=np.float64)
    if len(x) < frame:
        return 0
    # The pitch is looked for above VOICE_HIGHPASS_HZ: a voice's harmonics there still repeat at
    # its pitch, while a thump, a door or a bump (noise under a few hundred Hz) looks periodic over
    # a few cycles at any lag. A frame with next to nothing up there (under `VOICE_HIGH_DB` of its
    # energy; real words: -20 dB at the least) is no voice.
    spec = np.fft.rfft(x)
    spec *= np.clip(2.0 * np.fft.rfftfreq(len(x), 1.0 / rate) / VOICE_HIGHPASS_HZ - 1.0, 0.0, 1.0)
    high = np.fft.irfft(spec, len(x))
    n = 1 + (len(x) - frame) // hop
    at = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    energy = x[at].var(axis=1)
    keep = np.flatnonzero(energy >= energy.max() * 10.0 ** (-range_db / 10.0))
    if enough_ms is None:
        return frame_ms * _count_voiced(high[at[keep]], energy[keep], lo, hi, corr)
    # The loudest frames first (a word's vowels), a few at a time: a word is told from a click in
    # its first few frames, which is most of the cost of the gate's decision saved.
    keep = keep[np.argsort(-energy[keep], kind="stable")]
    found, start, step = 0, 0, 2 * -(-enough_ms // frame_ms)
    while start < len(keep) and found * frame_ms < enough_ms:
        part = keep[start:start + step]
        found += _count_voiced(high[at[part]], energy[part], lo, hi, corr)
        start, step = start + step, 4 * step
    return frame_ms * found


def _count_voiced(frames: np.ndarray, energy: np.ndarray, lo: int, hi: int, corr: float) -> int:
    """How many of the high-passed `frames` (rows; `energy`: each one's full-band variance) repeat
    at a lag of `lo`-`hi` samples with a normalised autocorrelation peak of `corr` or more."""
    frame = frames.shape[1]
    frames = frames - frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(frames, 2 * frame, axis=1)
    lags = np.arange(lo, hi + 1)
    corr_at = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, lags]
    power = np.cumsum(frames ** 2, axis=1)
    # Normalised by the energy of the two overlapping parts, so long lags are not penalised.
    corr_at /= np.sqrt(power[:, frame - 1 - lags] * (power[:, -1:] - power[:, lags - 1]) + 1e-20)
    peak = np.zeros(corr_at.shape, dtype=bool)
    # A peak, not the edge of the range: 1/f noise correlates most at the shortest lag.
    peak[:, 1:-1] = (corr_at[:, 1:-1] >= corr_at[:, :-2]) & (corr_at[:, 1:-1] >= corr_at[:, 2:])
    best = np.where(peak, corr_at, -1.0).max(axis=1)
    audible = power[:, -1] / frame >= energy * 10.0 ** (VOICE_HIGH_DB / 10.0)
    return int(np.count_nonzero((best >= corr) & audible))

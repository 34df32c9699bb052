"""Tried and left out (docs/tried.md): shipped negatives moved toward the user's voice (pitch
via resampling, long-term spectrum via an EQ), placed in the user's room. Writes a 16-k WAV of 1-s windows.

    .venv/bin/python scripts/voice_matched_negatives.py VOICE_DIR OUT.wav
        [--max-ratio 1.3] [--source all|real|synth] [--copies 1]
"""
import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_edge.audio import load_16k, resample
from kws_edge.models import BASE_NEGATIVES
from kws_edge.training.data import load_noise_dir
from kws_edge.training.unknown import _in_room, _span

SR = 16000
FRAME = 640  # 40 ms
HOP = 160
NFFT = 512


def frames(x, frame=FRAME, hop=HOP):
    n = 1 + max(0, (len(x) - frame) // hop)
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def f0_frames(x):
    """Per voiced frame: F0 (Hz) by normalised autocorrelation, 70-400 Hz."""
    fr = frames(x.astype(np.float64))
    fr = fr - fr.mean(axis=1, keepdims=True)
    energy = (fr ** 2).mean(axis=1)
    loud = energy >= energy.max() * 10 ** -2.5
    fr = fr[loud]
    if not len(fr):
        return np.empty(0)
    spec = np.fft.rfft(fr * np.hanning(FRAME), n=2 * FRAME, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :FRAME]
    ac /= ac[:, :1] + 1e-12
    lo, hi = SR // 400, SR // 70
    lag = lo + ac[:, lo:hi].argmax(axis=1)
    peak = ac[np.arange(len(ac)), lag]
    return SR / lag[peak > 0.5]


def median_f0(x):
    f = f0_frames(x)
    return float(np.median(f)) if len(f) >= 3 else None


def ltas(xs):
    acc = np.zeros(NFFT // 2 + 1)
    n = 0
    for x in xs:
        fr = frames(x.astype(np.float64), NFFT, NFFT // 2)
        e = (fr ** 2).mean(axis=1)
        fr = fr[e >= e.max() * 1e-2]
        if len(fr):
            acc += (np.abs(np.fft.rfft(fr * np.hanning(NFFT), axis=1)) ** 2).sum(axis=0)
            n += len(fr)
    return acc / max(n, 1)


def smooth_octave(p, third=3):
    freqs = np.fft.rfftfreq(NFFT, 1 / SR)
    out = np.empty_like(p)
    for i, f in enumerate(freqs):
        f = max(f, 50.0)
        band = (freqs >= f * 2 ** (-1 / (2 * third))) & (freqs <= f * 2 ** (1 / (2 * third)))
        out[i] = p[band].mean() if band.any() else p[i]
    return out


def apply_eq(x, gain_db_bins):
    freqs_bins = np.fft.rfftfreq(NFFT, 1 / SR)
    n = len(x)
    spec = np.fft.rfft(x, n=2 * n)
    f = np.fft.rfftfreq(2 * n, 1 / SR)
    g = 10 ** (np.interp(f, freqs_bins, gain_db_bins) / 20)
    return np.fft.irfft(spec * g, n=2 * n)[:n].astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("voice", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--max-ratio", type=float, default=1.3)
    ap.add_argument("--source", default="all")
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    user = [load_16k(p) for p in sorted(a.voice.glob("*/*.wav")) if not p.parent.name.startswith("_")]
    uf = np.concatenate([f0_frames(x) for x in user])
    f0_u = float(np.median(uf))
    print(f"user clips {len(user)}, median F0 {f0_u:.0f} Hz")
    src = load_noise_dir(BASE_NEGATIVES, what="--negatives")
    n = len(src)
    if a.source == "real":
        src = src[n - 200:]
    elif a.source == "synth":
        src = src[:n - 200]
    words, ratios = [], []
    for x in src:
        f0 = median_f0(x)
        if f0 is None:
            continue
        r = f0_u / f0
        if not (1 / a.max_ratio <= r <= a.max_ratio):
            continue
        s, e = _span(x)
        w = x[s:e]
        if len(w) < SR // 10:
            continue
        # Read as sampled at SR*r: played at SR, pitch and formants move by r.
        w = resample(w.astype(np.float32), int(round(SR * r)), SR)
        words.append(w)
        ratios.append(r)
    print(f"sources {len(src)}, kept {len(words)}; ratio median {np.median(ratios):.2f}")
    gain = 10 * np.log10(smooth_octave(ltas(user)) / smooth_octave(ltas(words)))
    band = np.fft.rfftfreq(NFFT, 1 / SR) < 3800  # the model hears 0-4 kHz; the negatives hold no more
    gain = np.where(band, np.clip(gain - np.median(gain[band]), -12, 12), 0.0)
    print("EQ dB at 250/500/1k/2k/4k/6k:", [round(float(gain[int(f * NFFT / SR)]), 1)
                                             for f in (250, 500, 1000, 2000, 4000, 6000)])
    out = []
    for _ in range(a.copies):
        for w in words:
            w = apply_eq(w, gain)
            k = int(rng.integers(len(user)))
            clip = user[k][:SR] if len(user[k]) >= SR else np.pad(user[k], (0, SR - len(user[k])))
            s, e = _span(clip)
            ref = np.sqrt((clip[s:e] ** 2).mean()) + 1e-9
            w = w / (np.sqrt((w ** 2).mean()) + 1e-9) * ref
            w = w[:int(0.95 * SR)]
            out.append(_in_room(clip.astype(np.float32), s, e, w.astype(np.float32)))
    out = np.clip(np.stack(out), -1, 1)
    sf.write(a.out, out.reshape(-1), SR, subtype="PCM_16")
    print(f"wrote {a.out}: {len(out)} windows")


if __name__ == "__main__":
    main()

"""Reject-class (`_unknown_`) examples for datasets that bring none.

A streaming detector spends most of its life on silence, noise and talk that holds no keyword; a
model fine-tuned only on keyword clips forgets how to say "nothing". These generators make that
class from what is at hand: silence, coloured noise, real noise recordings, and pseudo-speech
built from the keyword clips themselves, in the user's voice and room: time-reversed clips keep
the voice and the spectrum but no word; the start of one word spliced onto the end of another,
a word's first or last syllables alone, and a word's parts in swapped order are word-like but no
keyword (the near neighbours a user says all day: "fed" for bed, "eleven" for seven); a word's
vowel and what follows it after another word's first consonants is a rhyme of a keyword ("fix",
"thick" for six), the words a model fine-tuned on one voice confuses most, as it hears the vowel
best; chains of short pieces of several different words sound like the user talking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES

KINDS = ("silence", "coloured_noise", "real_noise", "reversed", "splice", "partial", "swap", "chain", "rhyme")
# Mixture of kinds; word-like sounds in the user's voice get the largest share because they are the
# hard negative: said alone, a word that is no keyword is judged on windows centred on it, exactly
# as a keyword is, and a model fine-tuned only on the user's keywords learns "this voice = keyword".
# Rhymes get half: of the user's own words that fire, most share a keyword's vowel
# (docs/rejecting.md).
DEFAULT_MIX = {"silence": 0.025, "coloured_noise": 0.04, "real_noise": 0.04, "reversed": 0.075,
               "splice": 0.11, "partial": 0.06, "swap": 0.06, "chain": 0.09, "rhyme": 0.5}
OWN_VOICE_KINDS = ("reversed", "splice", "partial", "swap", "chain", "rhyme")
# A rhyme's borrowed onset: 30-250 ms of consonants before the other word's vowel.
ONSET_MS = (30, 250)
VOWELS = "aeiou"
# Words whose spelling misleads about their first sound (the rhyme guard below).
SOUNDS = {"one": ("w", "un")}
# A chain: this many pieces of different words, each this long (ms), like running speech.
CHAIN_PIECES = (3, 6)
CHAIN_PIECE_MS = (120, 300)
# A partial word keeps this share of the word's span (kws-synth's partial clips keep 30-60%).
PARTIAL_KEEP = (0.3, 0.6)


def coloured_noise(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise (1/f^beta, beta in {0, 1, 2}) at random levels, [n, length]."""
    white = rng.standard_normal((n, length))
    spec = np.fft.rfft(white, axis=1)
    freqs = np.fft.rfftfreq(length, d=1.0 / SAMPLE_RATE)
    freqs[0] = freqs[1]
    beta = rng.integers(0, 3, size=(n, 1))
    shaped = np.fft.irfft(spec / freqs[None, :] ** (beta / 2.0), n=length, axis=1)
    shaped /= shaped.std(axis=1, keepdims=True) + 1e-12
    level = 10.0 ** rng.uniform(-3.0, -0.7, size=(n, 1))  # RMS 0.001 .. 0.2
    return (shaped * level).astype(np.float32)


def _span(clip: np.ndarray, frame: int = SAMPLE_RATE // 100) -> tuple[int, int]:
    """The word in a clip: first and last sample of the 10-ms frames within 30 dB of the loudest."""
    n = len(clip) // frame
    energy = (clip[:n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
    active = np.flatnonzero(energy >= energy.max() * 1e-3)
    if not len(active):
        return 0, len(clip)
    return int(active[0] * frame), int((active[-1] + 1) * frame)


def _join(a: np.ndarray, b: np.ndarray, fade: int) -> np.ndarray:
    """`a` then `b`, overlapped by a linear crossfade of `fade` samples (no click at the seam)."""
    fade = min(fade, len(a), len(b))
    if fade == 0:
        return np.concatenate([a, b])
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    return np.concatenate([a[:len(a) - fade], a[len(a) - fade:] * (1 - ramp) + b[:fade] * ramp, b[fade:]])


def _in_room(clip: np.ndarray, start: int, end: int, word: np.ndarray) -> np.ndarray:
    """`clip` with its word span [start, end) replaced by `word` (any length), the clip's own
    background kept around it, so a made-up word sounds recorded like the keywords."""
    length = len(clip)
    out = np.concatenate([clip[:start], word, clip[end:]])
    if len(out) > length:  # longer: drop the background after the word first, then before it
        lead = min(start, max(0, len(out) - length - (length - end)))
        out = out[lead:lead + length]
    elif len(out) < length:  # shorter: pad with the clip's background before its word
        room = clip[:max(1, start)]
        out = np.concatenate([out, np.resize(room, length - len(out))])
    return out.astype(np.float32)


def _splice(clips: np.ndarray, classes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The start of one word + the end of a word of another class, cut near the middle of each
    word (not of the clip: words sit anywhere in their clips), in the first word's room: a word
    with a keyword's onset or its rhyme, but no keyword."""
    fade = SAMPLE_RATE // 100
    out = np.empty((n, clips.shape[1]), dtype=np.float32)
    for i in range(n):
        a = int(rng.integers(len(clips)))
        others = np.flatnonzero(classes != classes[a])
        b = int(rng.choice(others)) if len(others) else int(rng.integers(len(clips)))
        (sa, ea), (sb, eb) = _span(clips[a]), _span(clips[b])
        cut_a = sa + int(rng.uniform(0.35, 0.65) * (ea - sa))
        cut_b = sb + int(rng.uniform(0.35, 0.65) * (eb - sb))
        out[i] = _in_room(clips[a], sa, ea, _join(clips[a, sa:cut_a], clips[b, cut_b:eb], fade))
    return out


def _onset_and_vowel(clip: np.ndarray, frame: int = SAMPLE_RATE // 100) -> tuple[int, int, int]:
    """A word's first sound, its vowel's start and its end (samples): the first and last 10-ms
    frames within 20 dB of the clip's loudest, and the first whose 100-900 Hz level is within 10 dB
    of the highest in that band (consonants - bursts, fricatives, nasals - sit lower in that band
    than the vowel after them)."""
    n = len(clip) // frame
    frames = clip[:n * frame].reshape(n, frame).astype(np.float64)
    spec = np.abs(np.fft.rfft(frames * np.hanning(frame), n=2 * frame, axis=1)) ** 2 + 1e-20
    freqs = np.fft.rfftfreq(2 * frame, 1.0 / SAMPLE_RATE)
    full, low = spec.sum(axis=1), spec[:, (freqs >= 100) & (freqs <= 900)].sum(axis=1)
    loud = np.flatnonzero(full >= full.max() * 0.01)
    vowel = max(int(loud[0]), int(np.flatnonzero(low >= low.max() * 0.1)[0]))
    return int(loud[0]) * frame, vowel * frame, (int(loud[-1]) + 1) * frame


def spelled_sounds(word: str) -> tuple[str, str]:
    """A word's first consonants and the rest, from its spelling ("three" -> "thr", "ee"):
    close enough to tell which borrowed onset would turn one keyword's rhyme into another."""
    word = word.lower()
    if word in SOUNDS:
        return SOUNDS[word]
    first = next((i for i, c in enumerate(word) if c in VOWELS or (c == "y" and i > 0)), len(word))
    return word[:first], word[first:]


def _onset_donors(names: Sequence[str]) -> np.ndarray:
    """allowed[a, b]: word b's onset may go before word a's rhyme without making a keyword: its
    first letter starts no word that rhymes with a ("f" + "-ive" is five, "n" + "-o" of go is no,
    "t" + "-ree" of three is tree)."""
    sounds = [spelled_sounds(w) for w in names]
    allowed = np.ones((len(names), len(names)), dtype=bool)
    for a, (_, rhyme) in enumerate(sounds):
        taken = {onset[:1] for onset, r in sounds if r == rhyme}
        allowed[a] = [onset[:1] not in taken for onset, _ in sounds]
    return allowed


def _rhyme(clips: np.ndarray, classes: np.ndarray, n: int, rng: np.random.Generator,
           names: Sequence[str] | None = None) -> np.ndarray:
    """A word from its vowel on, after another word's onset consonants ("s-ix" of six said "f-ix",
    "th-ix"), level-matched, in the first word's room. With `names` (class index -> word), no
    onset that would make another keyword is borrowed, and only words spelled with a vowel first
    ("eight") may show no onset of their own."""
    fade = SAMPLE_RATE // 200
    shortest, longest = (SAMPLE_RATE * ms // 1000 for ms in ONSET_MS)
    allowed = _onset_donors(names) if names is not None else None
    sounds = [_onset_and_vowel(clip) for clip in clips]
    out = np.empty((n, clips.shape[1]), dtype=np.float32)
    # The split failed where a word's "onset" is longer than any consonant (noise before it), or
    # where a word spelled with a consonant first shows none: its "rhyme" would be the whole keyword
    # after another's consonant, and would teach that the keyword itself is no keyword.
    vowel_first = (np.zeros(len(clips), dtype=bool) if names is None
                   else np.array([not spelled_sounds(w)[0] for w in names])[classes])
    found = np.flatnonzero([v - s <= longest and (v - s >= shortest or first_is_vowel)
                            for (s, v, _), first_is_vowel in zip(sounds, vowel_first, strict=True)])
    if not len(found):
        return _partial(clips, n, rng)
    for i in range(n):
        a = int(rng.choice(found))
        sa, va, ea = sounds[a]
        rhyme = clips[a, va:max(ea, va + SAMPLE_RATE // 20)]
        donors = classes != classes[a]
        if allowed is not None:
            donors &= allowed[classes[a], classes]
        onset = None
        for b in rng.permutation(np.flatnonzero(donors))[:20]:
            sb, vb, eb = sounds[b]
            if shortest <= vb - sb <= longest:
                gain = np.abs(rhyme).max() / max(1e-6, float(np.abs(clips[b, vb:eb]).max()))
                onset = (clips[b, sb:vb] * gain).astype(np.float32)
                break
        word = rhyme if onset is None else _join(onset, rhyme, fade)
        out[i] = _in_room(clips[a], sa, ea, word)
    return np.clip(out, -1.0, 1.0)


def _partial(clips: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The first or the last 30-60% of a word, alone in its room: a syllable the keyword shares
    with other words ("mar" of marvin, "-ven" of seven)."""
    out = np.empty((n, clips.shape[1]), dtype=np.float32)
    for i in range(n):
        k = int(rng.integers(len(clips)))
        s, e = _span(clips[k])
        keep = max(SAMPLE_RATE // 20, int(rng.uniform(*PARTIAL_KEEP) * (e - s)))
        piece = clips[k, s:s + keep] if rng.random() < 0.5 else clips[k, max(s, e - keep):e]
        fade = min(SAMPLE_RATE // 200, len(piece) // 4)
        piece = piece.copy()
        if fade:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            piece[:fade] *= ramp
            piece[-fade:] *= ramp[::-1]
        out[i] = _in_room(clips[k], s, e, piece)
    return out


def _swap(clips: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A word's second part said before its first ("vin-mar"): the voice and the sounds of a
    keyword in an order that is none."""
    fade = SAMPLE_RATE // 100
    out = np.empty((n, clips.shape[1]), dtype=np.float32)
    for i in range(n):
        k = int(rng.integers(len(clips)))
        s, e = _span(clips[k])
        cut = s + int(rng.uniform(0.35, 0.65) * (e - s))
        out[i] = _in_room(clips[k], s, e, _join(clips[k, cut:e], clips[k, s:cut], fade))
    return out


def _active_starts(clip: np.ndarray, frame: int) -> np.ndarray:
    """Frame starts whose energy is within 20 dB of the clip's loudest frame (where the word is)."""
    n = len(clip) // frame
    energy = (clip[:n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1)
    return np.flatnonzero(energy >= energy.max() * 0.01) * frame


def _chain(clips: np.ndarray, classes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Short pieces of several different words back to back: talk in the user's voice, no keyword."""
    length = clips.shape[1]
    frame = SAMPLE_RATE // 100
    fade = SAMPLE_RATE // 200
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    out = np.zeros((n, length), dtype=np.float32)
    for i in range(n):
        pos = int(rng.integers(0, length // 5))
        used: set[int] = set()
        for _ in range(int(rng.integers(*CHAIN_PIECES))):
            choices = np.flatnonzero(~np.isin(classes, list(used))) if used else np.arange(len(clips))
            k = int(rng.choice(choices)) if len(choices) else int(rng.integers(len(clips)))
            used.add(int(classes[k]))
            piece_len = SAMPLE_RATE * int(rng.integers(*CHAIN_PIECE_MS)) // 1000
            starts = _active_starts(clips[k], frame)
            if len(starts):  # keep at least half of each piece inside the word
                starts = starts[starts <= max(starts[0], starts[-1] - piece_len // 2)]
            start = int(rng.choice(starts)) if len(starts) else 0
            piece = clips[k, start:start + piece_len].copy()
            piece = piece[:max(0, length - pos)]
            if len(piece) > 2 * fade:
                piece[:fade] *= ramp
                piece[-fade:] *= ramp[::-1]
            out[i, pos:pos + len(piece)] += piece
            pos += len(piece) + SAMPLE_RATE * int(rng.integers(0, 40)) // 1000
            if pos >= length:
                break
    return out


def make_reject_clips(word_clips: np.ndarray, word_classes: np.ndarray, n: int, *, seed: int,
                      noise_bank: np.ndarray | None = None,
                      mix: dict[str, float] | None = None,
                      names: Sequence[str] | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """`n` reject examples [n, WINDOW_SAMPLES] and how many of each kind were made. `names` maps
    a class index of `word_classes` to its word (for rhymes that make no keyword)."""
    mix = dict(DEFAULT_MIX if mix is None else mix)
    rng = np.random.default_rng(seed)
    if noise_bank is None or len(noise_bank) == 0:
        mix["coloured_noise"] = mix.get("coloured_noise", 0) + mix.pop("real_noise", 0)
    if len(word_clips) == 0:
        mix = {k: v for k, v in mix.items() if k not in OWN_VOICE_KINDS}
    elif len(np.unique(word_classes)) < 2:
        # One word alone (a wake word): a splice or chain of it with itself is that word again.
        mix = {k: v for k, v in mix.items() if k not in ("splice", "chain")}
    kinds = list(mix)
    weights = np.asarray([mix[k] for k in kinds], dtype=float)
    counts = rng.multinomial(n, weights / weights.sum())
    parts: list[np.ndarray] = []
    made: dict[str, int] = {}
    for kind, count in zip(kinds, counts, strict=True):
        count = int(count)
        if count == 0:
            continue
        made[kind] = count
        if kind == "silence":
            # Digital silence and a near-silent room (below the model's RMS floor).
            level = rng.choice([0.0, 1e-4, 3e-4], size=(count, 1))
            parts.append((rng.standard_normal((count, WINDOW_SAMPLES)) * level).astype(np.float32))
        elif kind == "coloured_noise":
            parts.append(coloured_noise(count, WINDOW_SAMPLES, rng))
        elif kind == "real_noise":
            pick = noise_bank[rng.integers(len(noise_bank), size=count)]
            gain = 10.0 ** (rng.uniform(-20, 6, size=(count, 1)) / 20)
            parts.append(np.clip(pick * gain, -1, 1).astype(np.float32))
        elif kind == "reversed":
            pick = word_clips[rng.integers(len(word_clips), size=count)]
            parts.append(np.ascontiguousarray(pick[:, ::-1]))
        elif kind == "splice":
            parts.append(_splice(word_clips, word_classes, count, rng))
        elif kind == "partial":
            parts.append(_partial(word_clips, count, rng))
        elif kind == "swap":
            parts.append(_swap(word_clips, count, rng))
        elif kind == "chain":
            parts.append(_chain(word_clips, word_classes, count, rng))
        elif kind == "rhyme":
            parts.append(_rhyme(word_clips, word_classes, count, rng, names))
    out = np.concatenate(parts) if parts else np.zeros((0, WINDOW_SAMPLES), dtype=np.float32)
    return out[rng.permutation(len(out))], made


def utterance_windows(audio: np.ndarray, hop_s: float = 0.5) -> np.ndarray:
    """1-s windows of a recording of the user's talk, [N, WINDOW_SAMPLES]: one centred on each
    utterance (speech between pauses, as the utterance gate's segmenter finds them) that fits a
    window, and windows centred every `hop_s` along a longer one.

    Cut this way, a short word of the talk sits in its window as a keyword sits in a training clip,
    and as the gate will judge it; cut into consecutive seconds, most windows would hold parts of
    two words instead.
    """
    from kws_edge.spotter import SpotterOptions
    from kws_edge.vad import EnergyVad

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    vad = EnergyVad(SpotterOptions().segment_vad)
    flags = vad.process(audio)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    half = WINDOW_SAMPLES // 2
    padded = np.concatenate([np.zeros(half, np.float32), audio, np.zeros(half, np.float32)])
    centres: list[int] = []
    hangover = vad.hangover_frames * vad.frame_samples  # the flags run on past the speech
    for start, end in (edges.reshape(-1, 2) * vad.frame_samples).tolist():
        end = max(start + vad.frame_samples, end - hangover)
        if end - start <= WINDOW_SAMPLES:
            centres.append((start + end) // 2)
        else:
            centres += list(range(start + half, end - half + 1, int(hop_s * SAMPLE_RATE)))
    if not centres:
        return np.zeros((0, WINDOW_SAMPLES), dtype=np.float32)
    return np.stack([padded[c:c + WINDOW_SAMPLES] for c in centres])

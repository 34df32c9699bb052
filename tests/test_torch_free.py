"""The runtime never loads torch: checked in fresh interpreters, where nothing else imported it."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import numpy as np
from audiogen import noise, tone, write_wav
from onnx_tiny import tone_model

import kws_edge

HEAVY = ("torch", "torchaudio", "kws_edge.training", "kws_edge.export", "onnx", "matplotlib")


def _runtime_modules() -> list[str]:
    names = ["kws_edge"]
    for info in pkgutil.iter_modules(kws_edge.__path__):
        if info.name not in ("training", "export"):
            names.append(f"kws_edge.{info.name}")
    return names


def test_every_runtime_module_imports_without_torch():
    modules = _runtime_modules()
    expected = {"kws_edge.spotter", "kws_edge.onnx_model", "kws_edge.listen_cli", "kws_edge.stream_eval"}
    assert expected <= set(modules)
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        f"or m in {HEAVY!r})))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(res.stdout) == []


def test_kws_listen_run_never_loads_torch(tmp_path):
    model = tone_model(tmp_path / "tone.onnx")
    audio = np.concatenate([noise(1.0, 0.005), tone(1000, 0.6), noise(1.0, 0.005)])
    wav = write_wav(tmp_path / "s.wav", audio)
    code = (
        "import json, sys\n"
        "from kws_edge.listen_cli import main\n"
        f"rc = main(['--model', {str(model)!r}, '--input', {str(wav)!r}, '--json'])\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})\n"
        "print(json.dumps({'rc': rc, 'loaded': loaded}), file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    report = json.loads(res.stderr.strip().splitlines()[-1])
    assert report == {"rc": 0, "loaded": []}
    assert json.loads(res.stdout.strip().splitlines()[0])["label"] == "yes"


def _without_training_tools(body: str, tmp_path) -> subprocess.CompletedProcess:
    """Run `body` in an interpreter where the `train` extra is not importable, as in an install of
    the runtime alone (`bash scripts/demo.sh`)."""
    code = ("import sys\n"
            "for name in ('torch', 'torchaudio', 'onnx', 'onnxscript'): sys.modules[name] = None\n" + body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)


def test_training_tools_say_how_to_install_them_where_only_the_runtime_is(tmp_path):
    (tmp_path / "data" / "yes").mkdir(parents=True)
    for body in ("from kws_edge.export import main\nsys.exit(main(['base', '-o', 'm.onnx']))\n",
                 "from kws_edge.training.train_cli import main\n"
                 f"sys.exit(main(['--data', {str(tmp_path / 'data')!r}, '--out', 'run']))\n"):
        res = _without_training_tools(body, tmp_path)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "is not installed): in a clone of kws-edge, bash scripts/setup.sh --dev" \
            in lines[0], res.stderr
    assert not (tmp_path / "run").exists()
    # Their usage needs no training package.
    res = _without_training_tools("from kws_edge.training.train_cli import main\nmain(['--help'])\n",
                                  tmp_path)
    assert res.returncode == 0 and "--init" in res.stdout
    res = _without_training_tools("from kws_edge.export import main\nmain(['--help'])\n", tmp_path)
    assert res.returncode == 0 and "--quantize" in res.stdout, res.stderr


def test_kws_eval_scores_an_exported_model_on_clips_without_the_training_tools(tmp_path):
    """The README's `kws-eval --model runs/me.onnx --data new_clips/` in an install of the runtime
    alone: an ONNX model needs no torch."""
    model = tone_model(tmp_path / "tone.onnx")
    for word, freq in (("yes", 1000.0), ("no", 2000.0)):
        for i in range(3):
            write_wav(tmp_path / "clips" / word / f"{i}.wav", np.concatenate(
                [noise(0.2, 0.005, seed=i), tone(freq, 0.5), noise(0.2, 0.005, seed=9 + i)]))
    body = ("from kws_edge.training.eval_cli import main\n"
            f"sys.exit(main(['--model', {str(model)!r}, '--data', {str(tmp_path / 'clips')!r}, '--json']))\n")
    res = _without_training_tools(body, tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["accuracy"] == 1.0

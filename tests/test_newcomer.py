"""The first hour of a newcomer (issue 25): clean install configuration, one-line hints where a
user takes a wrong turn, a `kws-info` command, readable logs and reports, short --help, a README
and docs a person can act on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from audiogen import make_word_dataset, noise, write_wav
from conftest import REPO, requires_espeak

from kws_edge.labels import KEYWORDS

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

BASE_ONNX = REPO / "kws_edge" / "models" / "base.onnx"
BASE_PT = REPO / "kws_edge" / "models" / "base.pt"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
HEAVY = ("torch", "torchaudio", "onnx", "matplotlib", "kws_edge.training", "kws_edge.export")


def _cli(module: str, *args: str, env: dict | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess:
    """A kws-* command as a user runs it: its own process, real files, its exit status."""
    code = f"import sys; from {module} import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "100", **(env or {})}, cwd=REPO)


def _one_line_error(res: subprocess.CompletedProcess, prog: str) -> str:
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


# --- install ------------------------------------------------------------------------------------

def test_pyproject_needs_no_deprecated_setuptools_forms():
    """`license` as a table and data folders missing from `packages` were ~70 lines of warnings."""
    assert PYPROJECT["project"]["license"] == "MIT"  # an SPDX string (PEP 639)
    requires = PYPROJECT["build-system"]["requires"]
    floor = [r for r in requires if r.startswith("setuptools")]
    assert floor and int(re.search(r">=\s*(\d+)", floor[0]).group(1)) >= 77, requires  # PEP 639 support
    packages = set(PYPROJECT["tool"]["setuptools"]["packages"])
    # Every folder of kws_edge/ that holds shipped files is a package of its own.
    for folder in (REPO / "kws_edge").iterdir():
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.iterdir()):
            assert f"kws_edge.{folder.name}" in packages, folder
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert all("/" not in pattern for patterns in data.values() for pattern in patterns), data


def test_every_command_is_installed_and_its_help_fits_a_screen():
    """A person sees what a command is for and how to call it without scrolling: the whole --help
    in 40 lines, or a usage of at most 15 lines followed by the description."""
    scripts = PYPROJECT["project"]["scripts"]
    assert "kws-info" in scripts
    for name, target in scripts.items():
        module = target.split(":")[0]
        if module == "kws_edge.record_cli" and not (REPO / "kws_edge" / "record_cli.py").exists():
            continue  # added by its own change
        res = _cli(module, "--help")
        assert res.returncode == 0, (name, res.stderr)
        lines = res.stdout.splitlines()
        usage = lines[:lines.index("")] if "" in lines else lines
        assert usage[0].startswith(f"usage: {name}"), (name, usage[0])
        assert len(lines) <= 40 or len(usage) <= 15, (name, len(lines), len(usage))
        assert len(lines) > len(usage) + 1 and lines[len(usage) + 1].strip(), name  # a description next


def test_a_usage_mistake_is_one_line_in_every_command():
    """A flag misspelt or a number that is not one: the one-line error every bad input gets, naming
    --help, not argparse's usage block before it."""
    for name, target in PYPROJECT["project"]["scripts"].items():
        res = _cli(target.split(":")[0], "--no-such-flag", "1")
        assert res.returncode == 2, (name, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1, (name, res.stderr)
        assert res.stderr.startswith(f"{name}: error: ") and f"(see {name} --help)" in res.stderr, res.stderr


def test_test_script_undoes_its_virtual_microphone():
    """After scripts/test.sh, a plain kws-listen must not find the null sink's silence as its
    default input. (Checked on the script: running it runs the whole suite.)"""
    text = (REPO / "scripts" / "test.sh").read_text()
    assert re.search(r"^trap restore_sound EXIT$", text, re.M)
    assert "virtual_mic.sh --stop" in text and "set-default-source" in text
    assert "exec " not in text  # exec would replace the shell and skip the trap
    # CI runs the Pi check after the tests: it must not need the PulseAudio the trap stops.
    pi_check = (REPO / "scripts" / "pi_check.sh").read_text()
    assert not re.search(r"pactl|paplay|pulseaudio|virtual_mic", pi_check)


# --- wrong turns --------------------------------------------------------------------------------

def test_no_microphone_says_so_in_one_line():
    """With no sound server reachable PortAudio has no input device: the message says that, and
    never `--device None` when no --device was given."""
    env = {"PULSE_SERVER": "unix:/nonexistent/kws-test"}
    listed = _cli("kws_edge.listen_cli", "--list-devices", env=env)
    if listed.returncode == 0:
        pytest.skip("this machine has sound hardware PortAudio reaches without PulseAudio")
    line = _one_line_error(_cli("kws_edge.listen_cli", "--duration", "1", env=env), "kws-listen")
    assert "no microphone" in line and "--list-devices" in line and "--input" in line
    assert "None" not in line and "-1" not in line


def test_digital_silence_from_the_input_is_reported(caplog):
    """A null sink's monitor (or a muted input) gives exact zeros, which no microphone does."""
    from kws_edge.sources import MUTED_WARN_SECONDS, SILENCE_WARN_SECONDS, MicrophoneSource

    def source() -> MicrophoneSource:  # the consumer-side state only; no device is opened
        src = MicrophoneSource.__new__(MicrophoneSource)
        src.device_name, src.device_rate, src._silent_seconds, src._heard_sound = "monitor", 16000, 0.0, False
        return src

    block = np.zeros(1600, dtype=np.float32)
    quiet = source()
    with caplog.at_level("WARNING", logger="kws_edge.sources"):
        for _ in range(int(SILENCE_WARN_SECONDS * 10) + 5):
            quiet._check_silence(block)
    warnings = [r.getMessage() for r in caplog.records if "digital silence" in r.getMessage()]
    assert len(warnings) == 1 and "'monitor'" in warnings[0]  # once, naming the device
    caplog.clear()
    heard = source()
    with caplog.at_level("WARNING", logger="kws_edge.sources"):
        heard._check_silence(noise(0.1, 1e-4))  # a real room's faint noise
        for _ in range(int(SILENCE_WARN_SECONDS * 10) + 5):
            heard._check_silence(block)
    assert not caplog.records
    # A microphone muted while listening: said after MUTED_WARN_SECONDS, once, and again only after
    # sound came back and went again.
    with caplog.at_level("WARNING", logger="kws_edge.sources"):
        for _ in range(2):
            for _ in range(3 * int(MUTED_WARN_SECONDS * 10)):
                heard._check_silence(block)
            heard._check_silence(noise(0.1, 1e-4))
    muted = [r.getMessage() for r in caplog.records if "digital silence" in r.getMessage()]
    assert len(muted) == 2 and "muted or unplugged" in muted[0], muted


def test_a_checkpoint_given_to_kws_listen_names_kws_export(tmp_path):
    mine = tmp_path / "model.pt"
    mine.write_bytes(BASE_PT.read_bytes())  # a fine-tune's checkpoint: export it
    demo = str(REPO / "kws_edge" / "assets" / "demo.wav")
    line = _one_line_error(_cli("kws_edge.listen_cli", "--model", str(mine), "--input", demo), "kws-listen")
    assert "training checkpoint" in line and f"kws-export {mine}" in line
    # The shipped checkpoint's model is shipped already: no export to run.
    shipped = _cli("kws_edge.listen_cli", "--model", str(BASE_PT), "--input", demo)
    line = _one_line_error(shipped, "kws-listen")
    assert "its ONNX model is 'base'" in line and "kws-export" not in line
    # A recording given as the model (the arguments swapped) is named as audio, for both tools.
    for tool, prog in (("kws_edge.listen_cli", "kws-listen"), ("kws_edge.info_cli", "kws-info")):
        args = ["--model", demo] if prog == "kws-listen" else [demo]
        line = _one_line_error(_cli(tool, *args), prog)
        assert "is an audio file, not a model" in line


def test_an_onnx_model_given_to_kws_export_or_init_names_the_right_input(tmp_path):
    line = _one_line_error(_cli("kws_edge.export.export_cli", str(BASE_ONNX), "-o", str(tmp_path / "x.onnx")),
                           "kws-export")
    assert "ONNX model" in line and "model.pt" in line and "kws-info" in line
    assert not list(tmp_path.iterdir())


@requires_espeak
def test_a_misspelt_init_fails_before_the_dataset_loads(tmp_path):
    data = make_word_dataset(tmp_path / "ds", ["yes", "no"], per_word=3)
    (data / "yes" / "broken.wav").write_bytes(b"not audio")  # loading it would warn
    res = _cli("kws_edge.training.train_cli", "--data", str(data), "--init", "bsae",
               "--out", str(tmp_path / "run"))
    line = _one_line_error(res, "kws-train")  # one line: no "skipped broken.wav", the data was never read
    assert "bsae" in line and "'base'" in line
    assert not (tmp_path / "run").exists()


def test_skipped_files_are_named_by_their_path_in_the_zip(tmp_path):
    archive = tmp_path / "words.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for word in ("yes", "no"):
            for i in range(3):
                wav = write_wav(tmp_path / "w" / f"{word}{i}.wav", noise(0.8, 0.05, seed=i))
                zf.write(wav, f"{word}/{i}.wav")
        zf.writestr("yes/broken.wav", b"RIFF but not really a wav file")
    res = _cli("kws_edge.training.eval_cli", "--model", str(BASE_ONNX), "--data", str(archive))
    assert res.returncode == 0, res.stderr
    warned = [line for line in res.stderr.splitlines() if "broken.wav" in line]
    assert warned and "words.zip:yes/broken.wav: not a readable audio file" in warned[0], res.stderr
    assert "BytesIO" not in res.stderr and " at 0x" not in res.stderr


def test_int8_export_does_not_print_onnxruntime_calibration_progress(tmp_path, capfd):
    """onnxruntime's percentile calibrator print()s "Finding optimal threshold ..." and bin counts
    into kws-export's report; they go to the debug log instead."""
    import onnx
    from onnx_tiny import random_model

    from kws_edge.export.quantize import quantize_int8

    model = onnx.load(str(random_model(tmp_path / "m.onnx")))
    labels = json.loads({p.key: p.value for p in model.metadata_props}["labels"])
    windows = np.random.default_rng(0).normal(0, 0.1, (8, 16000)).astype(np.float32)
    capfd.readouterr()
    int8 = quantize_int8(model, windows, len(labels), 16000)
    out, err = capfd.readouterr()
    assert "QuantizeLinear" in {n.op_type for n in int8.graph.node}  # it did calibrate and quantize
    assert "Finding optimal threshold" not in out + err and "histogram bins" not in out + err


# --- kws-info -----------------------------------------------------------------------------------

def _torch_free_info(*args: str) -> tuple[int, str, list[str]]:
    code = ("import json, sys\nfrom kws_edge.info_cli import main\n"
            f"rc = main({list(args)!r})\n"
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r})\n"
            "print(json.dumps({'rc': rc, 'heavy': heavy}), file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    tail = json.loads(res.stderr.strip().splitlines()[-1])
    return tail["rc"], res.stdout, tail["heavy"]


def test_kws_info_shows_words_thresholds_quantization_without_torch():
    rc, out, heavy = _torch_free_info(str(BASE_ONNX))
    assert rc == 0 and heavy == []
    assert "quantization int8" in out and "words (35)" in out
    assert all(word in out.split() for word in KEYWORDS)
    assert re.search(r"^int8 check\s+fp32 0\.\d+ / int8 0\.\d+ on \d+ held-out clips", out, re.M)
    rc, raw, heavy = _torch_free_info(str(BASE_ONNX), "--json")
    info = json.loads(raw)
    assert rc == 0 and heavy == [] and info["labels"][-1] == "_unknown_" and info["kind"] == "onnx"
    stored = info.get("thresholds") or {}
    expected = (", ".join(f"{w} {stored[w]:.2f}" for w in info["labels"] if w in stored)[:20]
                or "0.5 for every word")
    assert re.search(rf"^thresholds\s+{re.escape(expected)}", out, re.M), out
    boosted = " ".join(sorted(info["boost"]))
    assert re.search(r"^boost\s+odds x4: " + re.escape(boosted[:40]), out, re.M), out


def test_kws_info_shows_stored_thresholds_and_each_member_of_a_pair(tmp_path):
    from onnx_tiny import tone_model

    ensemble = {"combine": "mean of probabilities",
                "members": [{"checkpoint": "a.pt", "test_accuracy": 0.9, "sha256": "a1" * 32},
                            {"checkpoint": "b.pt", "test_accuracy": 0.8, "sha256": "b2" * 32}]}
    model = tone_model(tmp_path / "pair.onnx", thresholds={"yes": 0.72}, metadata={
        "ensemble": json.dumps(ensemble), "metrics": json.dumps({"test_accuracy": 0.9}),
        "training": json.dumps({"data": ["my_words"], "init": "base.pt"}),
        "source": json.dumps({"checkpoint": "a.pt", "sha256": "a1" * 32})})
    rc, out, heavy = _torch_free_info(str(model))
    assert rc == 0 and heavy == []
    assert re.search(r"^thresholds\s+yes 0\.72; 0\.5 for the other \d+", out, re.M), out
    assert re.search(r"^ensemble\s+mean of probabilities of a\.pt, b\.pt", out, re.M)
    assert re.search(r"^accuracy\s+members 0\.900 / 0\.800", out, re.M)  # not the first member's alone
    assert re.search(r"^trained on\s+data my_words; fine-tuned from base\.pt", out, re.M)
    assert re.search(r"^exported from a\.pt \(sha256 a1a1a1a1a1a1\), b\.pt \(sha256 b2b2b2b2b2b2\)",
                     out, re.M), out


def test_a_pair_of_fine_tunes_names_the_start_of_each_member(tmp_path):
    """A pair fine-tuned from base.pt and base_b.pt says so, not "from base.pt" for both."""
    from onnx_tiny import tone_model

    from kws_edge.export.export_cli import _pair_metadata
    from kws_edge.export.onnx_export import build_metadata

    ckpts = [{"labels": ["yes", "_unknown_"], "sample_rate": 16000, "model_config": {"window_samples": 16000},
              "train_config": {"init": f"/m/{init}"}}
             for init in ("base.pt", "base_b.pt")]
    paths = [tmp_path / "a.pt", tmp_path / "b.pt"]
    for path in paths:
        path.write_bytes(b"x")
    meta = build_metadata(ckpts[0], source="a.pt", source_sha256="0")
    assert json.loads(_pair_metadata(meta, ckpts, paths)["training"])["init"] == ["base.pt", "base_b.pt"]
    same = [ckpts[0], ckpts[0]]
    assert json.loads(_pair_metadata(meta, same, paths)["training"])["init"] == "base.pt"
    model = tone_model(tmp_path / "pair.onnx", metadata={
        "training": json.dumps({"data": ["my_words"], "init": ["base.pt", "base_b.pt"]})})
    rc, out, _ = _torch_free_info(str(model))
    assert rc == 0
    assert re.search(r"^trained on\s+data my_words; fine-tuned from base\.pt, base_b\.pt", out, re.M), out


def test_exported_training_summary_names_every_dataset_without_folders():
    from kws_edge.export.onnx_export import training_summary

    ckpt = {"train_config": {"data": "/home/me/work/synth /home/me/work/real_train",
                             "init": "/opt/kws/models/base.pt",
                             "negatives": "/opt/kws/models/base_negatives.flac /home/me/talk.wav"},
            "provenance": {"recipe": "scripts/make_base_model.sh", "training_data": "synthetic"}}
    summary = training_summary(ckpt)
    assert summary["data"] == ["synth", "real_train"] and summary["init"] == "base.pt"
    assert summary["negatives"] == ["base_negatives.flac", "talk.wav"]
    assert "/home/me" not in json.dumps(summary) and summary["recipe"] == "scripts/make_base_model.sh"


def test_kws_info_reads_a_checkpoint_without_torch_and_its_provenance():
    rc, out, heavy = _torch_free_info("--json", str(BASE_PT))
    assert rc == 0 and heavy == []
    info = json.loads(out)
    assert info["kind"] == "checkpoint" and len(info["labels"]) == 36
    assert info["parameters"] > 10_000 and "state_dict" not in info
    assert info["provenance"]["recipe"].startswith("scripts/make_base_model.sh")
    rc, out, _ = _torch_free_info(str(BASE_PT))
    assert "training checkpoint (export it with kws-export)" in out and "trained on" in out


def test_kws_info_refuses_a_checkpoint_that_would_run_code(tmp_path):
    """A .pt is a pickle: only the globals a checkpoint holds are allowed, nothing is executed."""
    marker = tmp_path / "ran"
    payload = (b"\x80\x02cos\nsystem\nq\x00X" + len(f"touch {marker}").to_bytes(4, "little")
               + f"touch {marker}".encode() + b"\x85R.")
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("evil/data.pkl", payload)
    line = _one_line_error(_cli("kws_edge.info_cli", str(evil)), "kws-info")
    assert "refused global os.system" in line and not marker.exists()
    line = _one_line_error(_cli("kws_edge.info_cli", str(REPO / "README.md")), "kws-info")
    assert "README.md: not a loadable ONNX model" in line
    notes = tmp_path / "notes.pt"
    notes.write_text("not a checkpoint\n")
    line = _one_line_error(_cli("kws_edge.info_cli", str(notes)), "kws-info")
    assert "notes.pt: not a kws-edge checkpoint" in line


def test_kws_info_refuses_a_checkpoint_without_weights(tmp_path):
    """Shown as '0 parameters' it had looked like a model; kws-export and kws-eval refuse it."""
    torch = pytest.importorskip("torch")
    ckpt = torch.load(BASE_PT, weights_only=True, map_location="cpu")
    for key in ("state_dict", "model_config"):
        broken = tmp_path / f"no_{key}.pt"
        torch.save({k: v for k, v in ckpt.items() if k != key}, broken)
        line = _one_line_error(_cli("kws_edge.info_cli", str(broken)), "kws-info")
        assert f"no_{key}.pt: not a complete kws-edge checkpoint (no {key})" in line



@pytest.mark.parametrize("key, value, says", [
    ("labels", "{not json", "metadata 'labels' is not JSON"),
    ("sample_rate", "abc", "metadata 'sample_rate' is not an integer"),
    ("boost", '{"yes": "lots"}', "malformed kws-edge metadata"),
])
def test_kws_info_on_broken_metadata_is_one_line(tmp_path, key, value, says):
    import onnx

    from kws_edge.models import BASE_ONNX

    model = onnx.load(str(BASE_ONNX))
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    line = _one_line_error(_cli("kws_edge.info_cli", str(broken)), "kws-info")
    assert says in line

# --- reports and logs ---------------------------------------------------------------------------

def test_text_confusion_matrix_has_headers_and_the_reject_row():
    from kws_edge.training.metrics import classification_report, format_confusion

    labels = ["follow", "forward", "four", "yes", "_unknown_"]
    report = classification_report(np.array([0, 1, 2, 3, 3]), np.array([0, 2, 2, 3, 4]), labels)
    lines = format_confusion(report)
    header = lines[1].split()
    assert header == ["fol", "for", "fou", "yes", "_un"]  # short, and still tells them apart
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["forward"] == [".", ".", "1", ".", "."]
    assert rows["_unknown_"] == ["."] * 5  # shown although no clip of it was scored
    assert rows["yes"] == [".", ".", ".", "1", "1"]


def test_stream_latency_is_never_printed_negative():
    from kws_edge.training.eval_cli import stream_report

    result = {"model": "m.onnx", "stream": "s.wav", "duration_s": 60.0, "keyword_segments": 2,
              "other_segments": 0, "recall": 1.0, "hits": 2, "wrong_word_events": [],
              "false_alarm_events": [], "false_alarms_per_hour": 0.0, "latency_median_s": -0.1,
              "latency_p90_s": 0.25, "per_label": {}, "hops": 0, "windows_scored": 0}
    latency = [line for line in stream_report(result) if line.startswith("latency")][0]
    assert "-0." not in latency
    assert "0.100 s before the word's end" in latency and "p90 0.250 s" in latency


@requires_espeak
def test_training_log_is_short_and_says_what_each_figure_is(tmp_path):
    data = make_word_dataset(tmp_path / "ds", ["yes", "no", "stop"], per_word=6)
    res = _cli("kws_edge.training.train_cli", "--data", str(data), "--init", "base", "--epochs", "16",
               "--out", str(tmp_path / "run"), "--negatives", "none")
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stderr
    info = [line for line in log.splitlines() if line.startswith("INFO")]
    epochs = [line for line in info if " epoch " in f" {line.split(': ', 1)[1]}"]
    assert len(epochs) <= 2 * 10, epochs  # about 8 a run (measured + refit), not 16 each
    assert len(info) <= 32, info
    assert "threads=0" not in log and "amp=" not in log
    refit = log.split("refit: training again", 1)[1]
    assert "val_acc" not in refit.split("test accuracy", 1)[0]  # the refit has no validation clips
    assert re.search(r"test accuracy \d\.\d{3} on \d+ held-out clips \(the measured run, before the refit",
                     log)
    words = re.findall(r"^  (.+)$", log.split("per word:", 1)[1], re.M)
    names = [cell.split()[0] for line in words for cell in re.split(r"\s{2,}", line.strip())]
    assert names == sorted(names) and {"yes", "no", "stop"} <= set(names)


# --- README and docs ----------------------------------------------------------------------------

INTERNAL_WORDS = re.compile(r"\b(landing|previous base|seeds? \d+/\d+|seeds 21|(first|second|third|\w+th) "
                            r"(round|stop)|the pair\b)", re.I)


def test_readme_is_short_and_lists_the_words_and_commands():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    for word in KEYWORDS:
        assert re.search(rf"\b{word}\b", readme), word
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
    for command in ("kws-record", "kws-train", "kws-export", "kws-listen", "kws-info"):
        assert command in readme, command
    # Outputs of the README's examples land in runs/, which git ignores.
    for out in re.findall(r"(?:-o|--out)\s+(\S+)", readme):
        assert out.startswith("runs/"), out
    assert "runs/" in (REPO / ".gitignore").read_text().split()
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / link).is_file(), link
    assert "## Model card" in readme and "Warden" in readme and "CC BY 4.0" in readme


def test_no_internal_round_names_in_readme_or_docs():
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            match = INTERNAL_WORDS.search(line)
            assert not match, f"{path.name}:{n}: {match.group(0)!r} in {line.strip()[:100]}"

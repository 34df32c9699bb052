"""kws-export as a user runs it (a subprocess): bad input gives one line on stderr, exit 2, no files
left; --keyword-free stores per-word thresholds that silence the detector on those recordings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from audiogen import noise, tone, write_wav

from kws_edge.labels import UNKNOWN_LABEL
from kws_edge.training.checkpoint import atomic_save, make_checkpoint
from kws_edge.training.model import build_m5

KWS_EXPORT = Path(sys.executable).parent / "kws-export"
LABELS = ["no", "yes", UNKNOWN_LABEL]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [str(KWS_EXPORT)] if KWS_EXPORT.exists() else [sys.executable, "-m", "kws_edge.export.export_cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory) -> Path:
    """An untrained but valid checkpoint (bad-input handling needs no accuracy), and its variants."""
    root = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    model = build_m5(LABELS)
    ckpt = make_checkpoint(model, LABELS, train_config={"data": str(root / "gone")}, metrics={},
                           split={"sha256": "0"})
    atomic_save(ckpt, root / "ok.pt")
    other = dict(ckpt, model="ResNet8")
    atomic_save(other, root / "resnet.pt")
    wrong_shape = dict(ckpt, model_config={**ckpt["model_config"], "n_channel": 48})
    atomic_save(wrong_shape, root / "wrong_shape.pt")
    atomic_save({"weights": torch.zeros(3)}, root / "plain_dict.pt")
    (root / "text.pt").write_text("not a checkpoint\n")
    write_wav(root / "audio.wav", noise(0.2)).rename(root / "audio.pt")
    # A model that hears 'yes' in everything (p = e^3 / (e^3 + 2) = 0.91 on any window): every
    # short sound in a keyword-free recording is a false alarm of 'yes', and only of 'yes'.
    with torch.no_grad():
        model.fc1.weight.zero_()
        model.fc1.bias.copy_(torch.tensor([0.0, 3.0, 0.0]))
    atomic_save(dict(ckpt, model_state=model.state_dict()), root / "says_yes.pt")
    with torch.no_grad():
        model.fc1.bias.copy_(torch.tensor([0.0, 6.0, 0.0]))  # p(yes) = 0.995: over the cap
    atomic_save(dict(ckpt, model_state=model.state_dict()), root / "sure_yes.pt")
    quiet = noise(1.0, amp=0.002, seed=1)
    bursts = [quiet] + [np.concatenate([tone(500 + 200 * i, 0.4), noise(1.6, amp=0.002, seed=2 + i)])
                        for i in range(4)]
    write_wav(root / "room.wav", np.concatenate(bursts))
    return root


def _assert_one_line_error(res: subprocess.CompletedProcess, match: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("kws-export: error:")]
    assert len(errors) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert match in errors[0], errors[0]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("ckpt, match", [
    ("missing.pt", "no such checkpoint file"),
    ("text.pt", "not a kws-edge checkpoint"),
    ("audio.pt", "not a kws-edge checkpoint"),
    ("plain_dict.pt", "not a kws-edge checkpoint (missing"),
    ("resnet.pt", "checkpoint is for model 'ResNet8'"),
    ("wrong_shape.pt", "checkpoint weights do not fit M5"),
])
def test_bad_checkpoints(ckpt_dir, tmp_path, ckpt, match):
    res = _run(str(ckpt_dir / ckpt), "-o", str(tmp_path / "m.onnx"), cwd=tmp_path)
    _assert_one_line_error(res, match)
    assert _files(tmp_path) == set()


def test_a_missing_output_folder_is_made_and_taken_away_if_the_export_fails(ckpt_dir, tmp_path):
    # As kws-train makes --out: `kws-export base -o runs/base.onnx` in a fresh clone has no runs/.
    res = _run(str(ckpt_dir / "text.pt"), "-o", str(tmp_path / "runs" / "sub" / "m.onnx"), cwd=tmp_path)
    _assert_one_line_error(res, "not a kws-edge checkpoint")
    assert _files(tmp_path) == set() and not (tmp_path / "runs").exists()
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "runs" / "sub" / "m.onnx"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "runs" / "sub" / "m.onnx").is_file()


def test_quantize_without_calibration_data(ckpt_dir, tmp_path):
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "m.onnx"), "--quantize", cwd=tmp_path)
    _assert_one_line_error(res, "--quantize needs --calibration-data")
    assert "is gone" in res.stderr  # says why the checkpoint's own data could not be used
    assert _files(tmp_path) == set()


def test_calibration_data_without_usable_audio(ckpt_dir, tmp_path):
    data = tmp_path / "data"
    for word in ("yes", "no"):
        (data / word).mkdir(parents=True)
        for i in range(3):
            (data / word / f"{i}.wav").write_bytes(b"RIFF garbage, not audio" * 10)
    before = _files(tmp_path)
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "m.onnx"), "--quantize",
               "--calibration-data", str(data), cwd=tmp_path)
    _assert_one_line_error(res, str(data))
    assert _files(tmp_path) == before


def test_parity_failure_writes_nothing(ckpt_dir, tmp_path):
    """A zero tolerance cannot be met by any float graph: the self-check must stop the export."""
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "m.onnx"), "--parity-tolerance", "0",
               cwd=tmp_path)
    _assert_one_line_error(res, "disagrees with PyTorch")
    assert _files(tmp_path) == set()


def test_output_over_the_checkpoint_is_refused(ckpt_dir, tmp_path):
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes((ckpt_dir / "ok.pt").read_bytes())
    res = _run(str(ckpt), "-o", str(ckpt), cwd=tmp_path)
    _assert_one_line_error(res, "would overwrite the checkpoint")
    assert ckpt.read_bytes() == (ckpt_dir / "ok.pt").read_bytes()


def test_output_must_be_named_onnx(ckpt_dir, tmp_path):
    """kws-eval tells an exported model from a checkpoint by its suffix: 'runs/me' would be read
    as a checkpoint later."""
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "me"), cwd=tmp_path)
    _assert_one_line_error(res, "must end in .onnx (e.g. me.onnx)")
    assert _files(tmp_path) == set()


def test_replacing_a_model_says_what_it_was(ckpt_dir, tmp_path):
    out = tmp_path / "m.onnx"
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(out), cwd=tmp_path)
    assert res.returncode == 0 and "exists" not in res.stderr, res.stderr
    import onnx

    model = onnx.load(str(out))
    for prop in model.metadata_props:
        if prop.key == "quantization":
            prop.value = "int8 QDQ per-channel"  # as if an earlier export had --quantize
    onnx.save(model, str(out))
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "m.onnx exists (int8); this export replaces it with an fp32 model" in res.stderr
    assert _files(tmp_path) == {"m.onnx"}


def test_report_needs_quantize(ckpt_dir, tmp_path):
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "m.onnx"), "--report", str(tmp_path / "r.json"),
               cwd=tmp_path)
    _assert_one_line_error(res, "--report needs --quantize")
    assert _files(tmp_path) == set()


def test_good_export_and_the_runtime_rejects_non_onnx(ckpt_dir, tmp_path):
    out = tmp_path / "m.onnx"
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "synthetic signals" in res.stdout  # no clips reachable: parity ran on test signals
    assert _files(tmp_path) == {"m.onnx"}  # no temp files left beside it
    probe = ("import numpy as np\nfrom kws_edge.onnx_model import OnnxModel\n"
             f"m = OnnxModel({str(out)!r})\nprint(m.labels, m.predict(np.zeros((1, m.window_samples), "
             "np.float32)).shape)")
    ok = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "(1, 3)" in ok.stdout and "'_unknown_'" in ok.stdout, ok.stderr

    from kws_edge.errors import KwsError
    from kws_edge.export.onnx_export import load_onnx
    from kws_edge.onnx_model import OnnxModel

    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(np.arange(1000, dtype=np.int32).tobytes())
    for load in (OnnxModel, load_onnx):
        with pytest.raises(KwsError, match="bogus.onnx: not"):
            load(bogus)


def test_keyword_free_recordings_raise_the_words_that_fire(ckpt_dir, tmp_path):
    from kws_edge.onnx_model import OnnxModel
    from kws_edge.spotter import spot_file

    plain, tuned = tmp_path / "plain.onnx", tmp_path / "tuned.onnx"
    assert _run(str(ckpt_dir / "says_yes.pt"), "-o", str(plain), cwd=tmp_path).returncode == 0
    before = list(spot_file(ckpt_dir / "room.wav", plain))
    assert [d.label for d in before] == ["yes"] * 4  # one alarm per tone burst

    res = _run(str(ckpt_dir / "says_yes.pt"), "-o", str(tuned), "--keyword-free", str(ckpt_dir / "room.wav"),
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "false alarms 4 -> 0" in res.stdout and "raised: yes 0.93" in res.stdout, res.stdout
    assert "--keyword-free: 9.0 s of audio in all" in res.stderr  # a test's room, not a user's
    model = OnnxModel(tuned)
    assert model.thresholds == {"no": 0.5, "yes": 0.929}  # never one for _unknown_
    record = json.loads(model.metadata["thresholds_calibration"])
    assert (record["alarms_before"], record["alarms_after"], record["recordings"]) == (4, 0, ["room.wav"])
    assert list(spot_file(ckpt_dir / "room.wav", tuned)) == []
    assert _files(tmp_path) == {"plain.onnx", "tuned.onnx"}


def test_a_word_that_fires_over_the_cap_is_reported(ckpt_dir, tmp_path):
    from kws_edge.onnx_model import OnnxModel

    out = tmp_path / "m.onnx"
    res = _run(str(ckpt_dir / "sure_yes.pt"), "-o", str(out), "--keyword-free", str(ckpt_dir / "room.wav"),
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "yes still fire(s) at the 0.95 cap" in res.stderr and "false alarms 4 -> 4" in res.stdout
    assert OnnxModel(out).thresholds["yes"] == 0.95


@pytest.mark.parametrize("name, match", [("absent.wav", "no such recording"),
                                         ("notes.wav", "not a readable audio file"),
                                         ("takes", "is a folder, not a recording")])
def test_bad_keyword_free_recording(ckpt_dir, tmp_path, name, match):
    (tmp_path / "notes.wav").write_text("not audio\n")
    (tmp_path / "takes").mkdir()
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "m.onnx"),
               "--keyword-free", str(tmp_path / name), cwd=tmp_path)
    _assert_one_line_error(res, match)
    assert name in res.stderr and not (tmp_path / "m.onnx").exists()


def test_help_explains_refusal_and_inputs():
    res = _run("--help", cwd=Path.cwd())
    assert res.returncode == 0
    for text in ("--calibration-data", "--max-accuracy-drop", ".fp32.onnx", "base", "metadata"):
        assert text in res.stdout


def _constant_model(tmp_path: Path, name: str, bias: list[float], labels: list[str] = LABELS) -> Path:
    """A checkpoint whose output is the same on every window: softmax(bias)."""
    torch.manual_seed(1)
    model = build_m5(labels)
    with torch.no_grad():
        model.fc1.weight.zero_()
        model.fc1.bias.copy_(torch.tensor(bias))
    ckpt = make_checkpoint(model, labels, train_config={"data": str(tmp_path / "gone")},
                           metrics={"test_accuracy": 0.5}, split={"sha256": "0"})
    atomic_save(ckpt, tmp_path / name)
    return tmp_path / name


def test_several_checkpoints_become_one_model_that_averages_them(ckpt_dir, tmp_path):
    from kws_edge.onnx_model import OnnxModel
    from kws_edge.spotter import spot_file

    says_no = _constant_model(tmp_path, "says_no.pt", [3.0, 0.0, 0.0])
    outs = {}
    for name, ckpts in {"ok": ["ok.pt"], "yes": ["says_yes.pt"], "pair": ["ok.pt", "says_yes.pt"],
                        "yes_no": ["says_yes.pt", str(says_no)]}.items():
        outs[name] = tmp_path / f"{name}.onnx"
        res = _run(*[str(ckpt_dir / c) for c in ckpts], "-o", str(outs[name]), cwd=tmp_path)
        assert res.returncode == 0, res.stderr

    windows = np.stack([noise(1.0, amp=a, seed=i) for i, a in enumerate((0.001, 0.05, 0.3))])
    windows = np.concatenate([windows, tone(440, 1.0)[None]]).astype(np.float32)
    single = [OnnxModel(outs[n]).predict(windows) for n in ("ok", "yes")]
    pair = OnnxModel(outs["pair"])
    np.testing.assert_allclose(pair.predict(windows), (single[0] + single[1]) / 2, atol=1e-5)
    members = json.loads(pair.metadata["ensemble"])["members"]
    folder = ckpt_dir.name  # with the run folder: a pair's members are often both model.pt
    assert [m["checkpoint"] for m in members] == [f"{folder}/ok.pt", f"{folder}/says_yes.pt"]
    assert pair.metadata["model"] == "2 x M5" and "test_accuracy" not in pair.metadata

    # Each alone is sure of its word everywhere (p = 0.91); averaged, neither reaches 0.5.
    yes_no = OnnxModel(outs["yes_no"]).predict(windows)
    np.testing.assert_allclose(yes_no, [[0.477, 0.477, 0.045]] * 4, atol=1e-3)
    assert [d.label for d in spot_file(ckpt_dir / "room.wav", outs["yes"])] == ["yes"] * 4
    assert list(spot_file(ckpt_dir / "room.wav", outs["yes_no"])) == []


def test_boost_multiplies_a_words_odds_in_every_member(ckpt_dir, tmp_path):
    from kws_edge.onnx_model import OnnxModel

    plain, boosted = tmp_path / "plain.onnx", tmp_path / "boosted.onnx"
    pair = [str(ckpt_dir / "ok.pt"), str(ckpt_dir / "says_yes.pt")]
    assert _run(*pair, "-o", str(plain), cwd=tmp_path).returncode == 0
    res = _run(*pair, "-o", str(boosted), "--boost", "no=4", cwd=tmp_path)
    assert res.returncode == 0, res.stderr

    windows = np.stack([noise(1.0, amp=a, seed=i) for i, a in enumerate((0.001, 0.05, 0.3))])
    windows = windows.astype(np.float32)
    for member in pair:  # the odds of 'no' against each other class, times 4, before the mean
        one, one_boosted = tmp_path / "one.onnx", tmp_path / "one_boosted.onnx"
        assert _run(member, "-o", str(one), cwd=tmp_path).returncode == 0
        assert _run(member, "-o", str(one_boosted), "--boost", "no=4", cwd=tmp_path).returncode == 0
        p, q = OnnxModel(one).predict(windows), OnnxModel(one_boosted).predict(windows)
        np.testing.assert_allclose(q[:, 0] / q[:, 1:].T, 4 * p[:, 0] / p[:, 1:].T, rtol=1e-3)
    model = OnnxModel(boosted)
    assert json.loads(model.metadata["boost"]) == {"no": 4.0}
    assert (model.predict(windows)[:, 0] > OnnxModel(plain).predict(windows)[:, 0]).all()
    assert "boost" not in OnnxModel(plain).metadata


def test_a_checkpoints_boost_is_applied_unless_overridden(ckpt_dir, tmp_path):
    from kws_edge.onnx_model import OnnxModel
    from kws_edge.training.checkpoint import atomic_save, load_checkpoint

    ckpt = load_checkpoint(ckpt_dir / "ok.pt")
    atomic_save(dict(ckpt, boost={"yes": 2.0}), tmp_path / "carries.pt")
    outs = {name: tmp_path / f"{name}.onnx" for name in ("default", "none", "given")}
    for name, extra in (("default", []), ("none", ["--boost", "none"]), ("given", ["--boost", "yes=3"])):
        res = _run(str(tmp_path / "carries.pt"), "-o", str(outs[name]), *extra, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
    meta = {name: OnnxModel(path).metadata.get("boost") for name, path in outs.items()}
    assert meta == {"default": '{"yes": 2.0}', "none": None, "given": '{"yes": 3.0}'}

    res = _run(str(tmp_path / "carries.pt"), str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "p.onnx"),
               cwd=tmp_path)
    _assert_one_line_error(res, "ok.pt: its boost differs from")
    assert not (tmp_path / "p.onnx").exists()


@pytest.mark.parametrize("spec, match", [
    ("no=0", "expected WORD[,WORD...]=F with F a number > 0"),
    ("no", "expected WORD[,WORD...]=F"),
    ("no=x", "expected WORD[,WORD...]=F"),
    ("no,maybe=2", "'maybe' is not a keyword of the model (no, yes)"),
    (f"{UNKNOWN_LABEL}=2", f"'{UNKNOWN_LABEL}' is not a keyword"),
])
def test_bad_boost(ckpt_dir, tmp_path, spec, match):
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "m.onnx"), "--boost", spec, cwd=tmp_path)
    _assert_one_line_error(res, match)
    assert not (tmp_path / "m.onnx").exists()


def test_checkpoints_with_other_labels_cannot_be_averaged(ckpt_dir, tmp_path):
    more = _constant_model(tmp_path, "more.pt", [0.0] * 4, labels=["no", "up", "yes", UNKNOWN_LABEL])
    res = _run(str(ckpt_dir / "ok.pt"), str(more), "-o", str(tmp_path / "m.onnx"), cwd=tmp_path)
    _assert_one_line_error(res, "more.pt: its labels differ from")
    assert not (tmp_path / "m.onnx").exists()


def test_shipped_onnx_is_the_mean_of_base_and_base_b():
    import onnx

    from kws_edge.export.onnx_export import file_sha256, read_metadata
    from kws_edge.models import BASE_B_CHECKPOINT, BASE_CHECKPOINT, BASE_ONNX
    from kws_edge.training.checkpoint import load_checkpoint

    base, base_b = load_checkpoint("base"), load_checkpoint("base-b")
    assert base_b["labels"] == base["labels"]
    assert base_b["model_config"] == base["model_config"]
    # One recipe, two seeds: a retrained base.pt with a stale base_b.pt (or the reverse) fails here.
    for ckpt in (base, base_b):
        assert "make_base_model.sh" in ckpt["provenance"]["recipe"]
    assert base_b["train_config"]["seed"] != base["train_config"]["seed"]
    meta = read_metadata(onnx.load(str(BASE_ONNX)))
    ensemble = json.loads(meta["ensemble"])
    assert [m["sha256"] for m in ensemble["members"]] == [file_sha256(BASE_CHECKPOINT),
                                                           file_sha256(BASE_B_CHECKPOINT)]
    # The recipe's --boost: the words with no real training clips (../shared/data/README.md), and
    # only those, get four times their odds.
    real = {"bed", "cat", "down", "eight", "five", "go", "happy", "left", "one", "right", "up", "zero"}
    keywords = [w for w in base["labels"] if w != UNKNOWN_LABEL]
    assert json.loads(meta["boost"]) == {w: 4.0 for w in keywords if w not in real}
    assert base["boost"] == base_b["boost"] == json.loads(meta["boost"])  # kws-export base base-b: the same


def test_keyword_free_refuses_a_recording_that_holds_the_keywords(tmp_path):
    """Keyword-free talk leaves a few words at the cap; a recording of the keywords themselves
    leaves most of them there, and its thresholds would miss every one: refused, not stored."""
    from onnx_tiny import tone_model

    from kws_edge.errors import KwsError
    from kws_edge.export.thresholds import calibrate
    from kws_edge.onnx_model import OnnxModel

    tones = {f"w{i}": 400.0 + 300.0 * i for i in range(8)}
    model = OnnxModel(tone_model(tmp_path / "t.onnx", tones=tones))
    said = [np.concatenate([noise(1.2, amp=0.002, seed=i), tone(f, 0.8)])
            for i, f in enumerate(tones.values())]
    keywords = write_wav(tmp_path / "keywords.wav", np.concatenate([*said, noise(1.2, amp=0.002, seed=99)]))
    with pytest.raises(KwsError, match=r"8 of 8 words still fire at the 0.95 cap on keywords.wav: it holds"):
        calibrate(model, [keywords])
    two = write_wav(tmp_path / "two.wav", np.concatenate([*said[:2], noise(1.2, amp=0.002, seed=98)]))
    assert sorted(calibrate(model, [two]).capped) == ["w0", "w1"]  # a few: a warning, as before


def test_a_parity_tolerance_that_no_export_can_meet_is_refused_first(ckpt_dir, tmp_path):
    res = _run(str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "m.onnx"), "--parity-tolerance", "-1",
               cwd=tmp_path)
    _assert_one_line_error(res, "--parity-tolerance must be 0 or more (got -1.0)")
    assert not (tmp_path / "m.onnx").exists()


def test_the_same_checkpoint_twice_is_said_to_change_nothing(ckpt_dir, tmp_path):
    res = _run(str(ckpt_dir / "ok.pt"), str(ckpt_dir / "ok.pt"), "-o", str(tmp_path / "m.onnx"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "the same checkpoint is given twice" in res.stderr


def test_an_output_under_a_file_names_the_file_in_the_way(ckpt_dir, tmp_path):
    (tmp_path / "a.onnx").write_bytes(b"a model")
    for out in (tmp_path / "a.onnx" / "m.onnx", tmp_path / "a.onnx" / "sub" / "m.onnx"):
        res = _run(str(ckpt_dir / "ok.pt"), "-o", str(out), cwd=tmp_path)
        _assert_one_line_error(res, f"{tmp_path / 'a.onnx'} is a file, not a folder")
    assert (tmp_path / "a.onnx").read_bytes() == b"a model"


def test_a_sigterm_that_a_library_turned_into_its_own_error_still_ends_as_terminated(monkeypatch, capsys,
                                                                                    tmp_path):
    """torch.export catches the SystemExit that SIGTERM raises and re-raises it as an export error:
    kws-export still says 'terminated' (exit 143), not a 100-line traceback; and a SIGTERM swallowed
    outright stops it before anything is written."""
    import signal

    from kws_edge import errors
    from kws_edge.export import export_cli

    def export_interrupted(args):
        errors._terminated_by = signal.SIGTERM
        raise RuntimeError("Failed to export the model with torch.export")

    monkeypatch.setattr(errors, "_terminated_by", None)
    monkeypatch.setattr(errors, "_terminated_note", "")
    monkeypatch.setattr(export_cli, "_run_guarded", export_interrupted)
    assert export_cli.main(["base", "-o", str(tmp_path / "m.onnx")]) == 143
    said = capsys.readouterr().err.strip()
    assert said == f"kws-export: terminated; nothing was written to {tmp_path / 'm.onnx'}"
    from kws_edge.atomic import write_bytes_atomic

    with pytest.raises(SystemExit) as stop:
        write_bytes_atomic(tmp_path / "m.onnx", b"a model")
    assert stop.value.code == 143 and list(tmp_path.iterdir()) == []
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_boost_names_a_word_in_any_case_or_unicode_form():
    """--boost Yes=2, or a word typed on a Mac (decomposed, as its file names are), is the model's
    word, as the folder it was trained from was."""
    import unicodedata

    from kws_edge.export.export_cli import parse_boost

    labels = ["lumière", "no", "yes", UNKNOWN_LABEL]
    assert parse_boost(["Yes=2"], labels) == {"yes": 2.0}
    assert parse_boost([unicodedata.normalize("NFD", "Lumière,NO=3")], labels) == {"lumière": 3.0, "no": 3.0}

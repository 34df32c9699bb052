"""kws-eval on a checkpoint and on its ONNX export: same output shape, same numbers, no torch for ONNX."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audiogen import noise, tone, write_wav

from kws_edge.labels import UNKNOWN_LABEL
from kws_edge.training import train_cli

PY = sys.executable
FREQS = {"low": 300.0, "mid": 900.0, "high": 2500.0}


def make_tones(root: Path, per_class: int = 10) -> Path:
    for k, (word, f) in enumerate(FREQS.items()):
        for i in range(per_class):
            audio = tone(f * (1 + 0.01 * i), seconds=0.6) + noise(0.6, amp=0.005, seed=10 * k + i)
            write_wav(root / word / f"c{i:02d}.wav", audio)
    return root


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("evalclips")
    data = make_tones(base / "ds")
    out = base / "run"
    assert train_cli.main(["--data", str(data), "--out", str(out), "--epochs", "12"]) == 0
    onnx_path = out / "model.onnx"
    cmd = [PY, "-m", "kws_edge.export.export_cli", str(out / "model.pt"), "-o", str(onnx_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not onnx_path.is_file():
        pytest.fail(f"kws-export failed: {proc.stderr[-2000:]}")
    return out / "model.pt", onnx_path, data


def eval_json(*args: str) -> tuple[dict, str]:
    code = ("import sys, json; from kws_edge.training import eval_cli; rc = eval_cli.main(sys.argv[1:]); "
            "print('TORCH_LOADED', 'torch' in sys.modules, file=sys.stderr); sys.exit(rc)")
    proc = subprocess.run([PY, "-c", code, *args, "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_pt_and_onnx_give_the_same_report(model_and_data):
    pt, onnx_path, data = model_and_data
    r_pt, _ = eval_json("--model", str(pt), "--data", str(data), "--split", "test")
    r_onnx, err = eval_json("--model", str(onnx_path), "--data", str(data), "--split", "test",
                            "--split-file", str(pt.parent / "split.json"))
    assert set(r_pt) == set(r_onnx)
    assert r_pt["labels"] == r_onnx["labels"] == sorted(FREQS) + [UNKNOWN_LABEL]
    assert r_pt["n"] == r_onnx["n"] == 6  # 20% of 10 clips x 3 classes
    assert r_pt["confusion"] == r_onnx["confusion"]
    assert r_pt["accuracy"] >= 0.8
    assert "TORCH_LOADED False" in err  # the ONNX path never imported torch


def test_a_dataset_scored_in_parts_gives_the_report_of_one_pass(model_and_data, monkeypatch, capsys):
    """Large datasets are decoded and scored a part at a time (memory); the report is the same."""
    from kws_edge.training import data as data_module
    from kws_edge.training import eval_cli

    _, onnx_path, data = model_and_data
    (data / "mid" / "broken.wav").write_bytes(b"RIFF not audio")
    try:
        reports = []
        for part in (10_000, 4):
            monkeypatch.setattr(data_module, "EVAL_PART", part)
            assert eval_cli.main(["--model", str(onnx_path), "--data", str(data), "--json"]) == 0
            reports.append(json.loads(capsys.readouterr().out))
    finally:
        (data / "mid" / "broken.wav").unlink()
    whole, parts = reports
    assert whole["n"] == 30 and whole["skipped_files"] == 1
    assert parts == whole


def test_scoring_the_training_data_says_the_model_heard_it(model_and_data, tmp_path):
    pt, onnx_path, data = model_and_data
    for model, how in ((pt, "is"), (onnx_path, "looks like")):  # the export keeps folder names only
        _, err = eval_json("--model", str(model), "--data", str(data))
        assert f"{data} {how} the data {model} was trained on" in err, err
    other = make_tones(tmp_path / "new")
    _, err = eval_json("--model", str(pt), "--data", str(other))
    assert "was trained on" not in err


def test_unknown_words_count_as_unknown_truth(model_and_data, tmp_path):
    _, onnx_path, _ = model_and_data
    other = tmp_path / "other"
    for i in range(4):
        write_wav(other / "mystery" / f"m{i}.wav", noise(1.0, amp=0.1, seed=i))
        write_wav(other / "low" / f"l{i}.wav", tone(300.0 + i, seconds=0.6))
    r, err = eval_json("--model", str(onnx_path), "--data", str(other))
    assert r["support"][UNKNOWN_LABEL] == 4 and r["support"]["low"] == 4
    assert r["n"] == 8 and "holds no clip of" not in err
    # None of the data's words is the model's: its accuracy says only how it rejects.
    only_other = tmp_path / "only_other"
    for i in range(3):
        write_wav(only_other / "mystery" / f"m{i}.wav", noise(1.0, amp=0.1, seed=i))
    r, err = eval_json("--model", str(onnx_path), "--data", str(only_other))
    assert r["n"] == 3 and "holds no clip of" in err and "says only how often it stays quiet" in err


def test_confusion_png_and_human_output(model_and_data, tmp_path):
    pt, _, data = model_and_data
    png = tmp_path / "cm.png"
    proc = subprocess.run([PY, "-m", "kws_edge.training.eval_cli", "--model", str(pt), "--data", str(data),
                           "--confusion", str(png)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("model ") and "accuracy" in proc.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A name that cannot be a PNG, or a folder, fails in one line before the scoring.
    for bad, why in ((tmp_path / "cm", "ending in .png"), (tmp_path, "names a folder"),
                     (tmp_path / "none" / "cm.png", "does not exist")):
        cmd = [PY, "-m", "kws_edge.training.eval_cli", "--model", str(pt), "--data", str(data),
               "--confusion", str(bad)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "cm").exists()


def test_stream_mode(model_and_data, tmp_path):
    _, onnx_path, _ = model_and_data
    proc = subprocess.run([PY, "-m", "kws_edge.training.eval_cli", "--model", str(onnx_path), "--stream",
                           str(tmp_path / "x.wav")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "needs --truth" in proc.stderr
    pytest.importorskip("kws_edge.stream_eval")
    stream = np.concatenate([noise(1.0, amp=0.002, seed=1), tone(300.0, 0.6), noise(1.0, amp=0.002, seed=2),
                             tone(2500.0, 0.6), noise(1.0, amp=0.002, seed=3)])
    wav = write_wav(tmp_path / "s.wav", stream)
    truth = tmp_path / "s.csv"
    truth.write_text("start_s,end_s,label\n1.0,1.6,low\n2.6,3.2,high\n")
    r, _ = eval_json("--model", str(onnx_path), "--stream", str(wav), "--truth", str(truth))
    assert isinstance(r, dict) and r
    text = subprocess.run([PY, "-m", "kws_edge.training.eval_cli", "--model", str(onnx_path),
                           "--stream", str(wav), "--truth", str(truth)],
                          capture_output=True, text=True, timeout=300)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"model {onnx_path} on {wav} (00:04.") and "2 keywords" in lines[0]
    assert f"recall        {r['recall']:.3f} ({r['hits']} of 2 detected)" in lines
    assert any(line.startswith(f"false alarms  {r['false_alarms']}, ") for line in lines)
    assert "detection_events" not in text.stdout  # the full record is --json's
    # kws-listen's detection flags score the settings a user tunes; with --data they are refused.
    tuned, _ = eval_json("--model", str(onnx_path), "--stream", str(wav), "--truth", str(truth),
                         "--hop-ms", "50", "--smooth-ms", "500", "--refractory-ms", "1500", "--vad", "off")
    assert {k: tuned["options"][k] for k in ("hop_ms", "smooth_ms", "refractory_ms")} == {
        "hop_ms": 50, "smooth_ms": 500, "refractory_ms": 1500}
    assert tuned["options"]["vad"]["kind"] == "off" and r["options"]["vad"]["kind"] == "energy"
    refused = subprocess.run([PY, "-m", "kws_edge.training.eval_cli", "--model", str(onnx_path), "--data",
                              str(tmp_path), "--hop-ms", "50"], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "--hop-ms goes with --stream" in refused.stderr, refused.stderr
    refused = subprocess.run([PY, "-m", "kws_edge.training.eval_cli", "--model", str(onnx_path), "--data",
                              str(tmp_path), "--truth", str(truth)], capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2 and "--truth goes with --stream" in refused.stderr, refused.stderr


def test_stream_report_lists_events_briefly():
    from kws_edge.training.eval_cli import SHOWN_EVENTS, stream_report

    fas = [{"time": 60.0 * i + 0.5, "label": "yes"} for i in range(SHOWN_EVENTS + 3)]
    result = {"model": "m.onnx", "stream": "s.wav", "duration_s": 3725.0, "keyword_segments": 2,
              "other_segments": 5, "hits": 1, "recall": 0.5, "false_alarms_per_hour": 12.56,
              "wrong_word_events": [{"time": 5.25, "label": "tree", "truth": "three"}],
              "false_alarm_events": fas, "latency_median_s": 0.3, "latency_p90_s": 0.4,
              "per_label": {"three": {"segments": 1, "hits": 0}, "go": {"segments": 1, "hits": 1}},
              "windows_scored": 30, "hops": 120}
    lines = stream_report(result)
    assert lines[0] == "model m.onnx on s.wav (1:02:05.000, 2 keywords and 5 other segments in the truth)"
    assert "recall        0.500 (1 of 2 detected)" in lines
    assert "wrong words   1: 00:05.250 tree (said: three)" in lines
    fa_line = next(line for line in lines if line.startswith("false alarms"))
    head = f"false alarms  {SHOWN_EVENTS + 3}, 12.56 per hour: 00:00.500 yes, 01:00.500 yes, "
    assert fa_line.startswith(head)
    assert fa_line.endswith(", and 3 more (--json lists all)")
    assert "missed        three 1/1" in lines
    assert ("windows       30 scored of 120 hops (75% never needed: quiet, or no decision of the gate "
            "looked at them)") in lines


def test_split_test_finds_the_run_folder_of_an_export_named_after_it(model_and_data):
    # The README's layout: kws-train --out runs/me, kws-export runs/me/model.pt -o runs/me.onnx.
    import shutil

    pt, onnx_path, data = model_and_data
    named = pt.parent.with_suffix(".onnx")  # <run>.onnx beside the run folder
    shutil.copy(onnx_path, named)
    r, _ = eval_json("--model", str(named), "--data", str(data), "--split", "test")
    assert r["n"] == 6


def test_split_test_of_another_dataset_with_the_same_clip_names_is_refused(model_and_data, tmp_path):
    """kws-record numbers every session's clips from 001: the split's names in another dataset are
    other recordings, so --split test there would score a random subset as if it were held out.
    The same dataset moved keeps its folder name: scored, with a warning."""
    import shutil

    pt, _, data = model_and_data
    other = make_tones(tmp_path / "second_session", per_class=10)
    proc = subprocess.run([PY, "-m", "kws_edge.training.eval_cli", "--model", str(pt), "--data", str(other),
                           "--split", "test"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "in another dataset the same names are other clips" in proc.stderr
    moved = shutil.copytree(data, tmp_path / "elsewhere" / data.name)
    r, err = eval_json("--model", str(pt), "--data", str(moved), "--split", "test")
    assert r["n"] == 6 and "taken to be that dataset moved" in err


def test_a_refit_model_is_not_reported_as_measured_on_unheard_clips(tmp_path):
    """A fine-tune's default refit trains on its test split too: kws-eval --split test and
    kws-info's int8 check say so instead of passing 1.000 off as held-out accuracy."""
    data = make_tones(tmp_path / "ds", per_class=6)
    out = tmp_path / "run"
    assert train_cli.main(["--data", str(data), "--out", str(out), "--epochs", "2", "--refit",
                           "--channels", "8", "--threads", "1"]) == 0
    onnx_path = tmp_path / "run.onnx"
    export = [PY, "-m", "kws_edge.export.export_cli", str(out / "model.pt"), "-o", str(onnx_path),
              "--quantize", "--max-accuracy-drop", "1"]
    proc = subprocess.run(export, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for model in (out / "model.pt", onnx_path):
        cmd = [PY, "-m", "kws_edge.training.eval_cli", "--model", str(model), "--data", str(data),
               "--split", "test"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "clips it has heard" in proc.stderr, proc.stderr
    info = subprocess.run([PY, "-m", "kws_edge.info_cli", str(onnx_path)], capture_output=True, text=True,
                          timeout=120)
    assert "the refit model trained on them" in info.stdout, info.stdout

"""kws-train end to end on espeak-ng speech: train, evaluate, fine-tune with another label set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from audiogen import make_word_dataset
from conftest import requires_espeak

from kws_edge.labels import UNKNOWN_LABEL
from kws_edge.models import BASE_NEGATIVES
from kws_edge.training import eval_cli, train_cli
from kws_edge.training.checkpoint import atomic_save, load_checkpoint, model_from_checkpoint
from kws_edge.training.finetune import model_from_init
from kws_edge.training.split import read_split, split_hash

WORDS = ["yes", "no", "seven", "stop"]

pytestmark = requires_espeak


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    return make_word_dataset(tmp_path_factory.mktemp("speech") / "ds", WORDS, per_word=16, seed=0)


@pytest.fixture(scope="module")
def trained(speech, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    rc = train_cli.main(["--data", str(speech), "--out", str(out), "--epochs", "40", "--patience", "12"])
    assert rc == 0
    return out


def test_outputs_and_real_accuracy(trained, speech):
    for name in ("model.pt", "metrics.json", "confusion.png", "split.json"):
        assert (trained / name).is_file(), name
    assert not (trained / "resume.pt").exists()
    assert not [p for p in trained.iterdir() if p.name.startswith(".")]  # no temp files left
    metrics = json.loads((trained / "metrics.json").read_text())
    # 4 words + _unknown_: chance is 0.2-0.25; espeak voices are seen in training, so this must be high.
    assert metrics["test_accuracy"] >= 0.75, metrics["test_accuracy"]
    assert metrics["counts"]["test"][UNKNOWN_LABEL] == 0
    assert metrics["generated_reject"]["train"]
    assert "negatives" not in metrics["generated_reject"]  # from scratch: no shipped negatives
    ckpt = load_checkpoint(trained / "model.pt")
    assert ckpt["labels"] == sorted(WORDS) + [UNKNOWN_LABEL]
    assert ckpt["split"]["sha256"] == split_hash(read_split(trained / "split.json"))
    model_from_checkpoint(ckpt)


def test_eval_pt_matches_training_metrics(trained, speech, capsys):
    capsys.readouterr()
    rc = eval_cli.main(["--model", str(trained / "model.pt"), "--data", str(speech), "--split", "test",
                        "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    metrics = json.loads((trained / "metrics.json").read_text())
    assert result["n"] == metrics["test"]["n"]
    assert result["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    assert result["confusion"] == metrics["test"]["confusion"]
    rc = eval_cli.main(["--model", str(trained / "model.pt"), "--data", str(speech)])
    text = capsys.readouterr().out
    assert rc == 0 and "accuracy" in text and "confusion" in text


def test_finetune_on_a_subset_keeps_rows_and_freezes_conv1(trained, speech, tmp_path):
    init = trained / "model.pt"
    source = model_from_checkpoint(load_checkpoint(init))
    model, info = model_from_init(init, ["no", "yes", UNKNOWN_LABEL])
    assert info["carried_labels"] == ["no", "yes", UNKNOWN_LABEL]
    old = load_checkpoint(init)["labels"]
    assert torch.equal(model.fc1.weight[1], source.fc1.weight[old.index("yes")])
    assert torch.equal(model.conv3.weight, source.conv3.weight)

    out = tmp_path / "ft"
    rc = train_cli.main(["--data", str(speech), "--init", str(init), "--words", "yes,no", "--out", str(out),
                         "--epochs", "6", "--negatives", "none"])
    assert rc == 0
    ckpt = load_checkpoint(out / "model.pt")
    assert ckpt["labels"] == ["no", "yes", UNKNOWN_LABEL]
    assert ckpt["train_config"]["negatives"] is None
    assert "negatives" not in ckpt["metrics"]["generated_reject"]
    assert ckpt["train_config"]["freeze"] == ["conv1"]  # the fine-tuning defaults
    assert ckpt["train_config"]["select"] == "last"
    assert ckpt["train_config"]["augment_config"]["speed"] == 0.1
    assert ckpt["train_config"]["augment_config"]["room_prob"] == 0.8
    tuned = model_from_checkpoint(ckpt)
    assert torch.equal(tuned.conv1.weight, source.conv1.weight)  # frozen
    assert not torch.equal(tuned.conv4.weight, source.conv4.weight)  # trained
    metrics = json.loads((out / "metrics.json").read_text())
    # The validation accuracy is the kept (last) epoch's, not the best one's.
    assert metrics["val_accuracy"] == metrics["history"][-1]["val_acc"]
    # "seven" and "stop" clips are now _unknown_ truth in test
    assert metrics["counts"]["test"][UNKNOWN_LABEL] > 0
    assert metrics["test_accuracy"] >= 0.6
    # The kept model was refit on every clip, test included, after the measured run.
    every = sum(sum(metrics["counts"][s].values()) for s in ("train", "val", "test"))
    assert metrics["refit"]["clips"] == every and metrics["refit"]["epochs"] == 6


def test_finetune_with_a_new_word(trained, tmp_path):
    data = make_word_dataset(tmp_path / "new", ["yes", "house"], per_word=6, seed=3)
    model, info = model_from_init(trained / "model.pt", ["house", "yes", UNKNOWN_LABEL])
    assert info["new_labels"] == ["house"] and info["carried_labels"] == ["yes", UNKNOWN_LABEL]
    # A model from when new words kept their folder's case ("House") still gives its row to "house".
    old = load_checkpoint(trained / "model.pt")
    renamed = ["House" if label == "yes" else label for label in old["labels"]]
    atomic_save(dict(old, labels=renamed), tmp_path / "old.pt")
    model, info = model_from_init(tmp_path / "old.pt", ["house", UNKNOWN_LABEL])
    assert info["new_labels"] == [] and info["carried_labels"] == ["house", UNKNOWN_LABEL]
    out = tmp_path / "ft"
    # A base's export boost (words it heard from synthetic voices only) is not the fine-tune's: it
    # has heard every word in the user's voice.
    atomic_save(dict(load_checkpoint(trained / "model.pt"), boost={"yes": 4.0}), tmp_path / "init.pt")
    assert train_cli.main(["--data", str(data), "--init", str(tmp_path / "init.pt"), "--out", str(out),
                           "--epochs", "2", "--freeze", "conv1,conv2", "--no-refit"]) == 0
    ckpt = load_checkpoint(out / "model.pt")
    assert "boost" not in ckpt
    assert json.loads((out / "metrics.json").read_text())["refit"] is None
    assert ckpt["labels"] == ["house", "yes", UNKNOWN_LABEL]
    assert ckpt["provenance"]["new_labels"] == ["house"]
    # Fine-tuning adds the talk shipped with the base model to the reject class by default.
    assert ckpt["train_config"]["negatives"] == [str(BASE_NEGATIVES)]
    # 200 synthetic talk, 200 isolated common words and 200 real 1-s windows (make_negatives.py).
    assert ckpt["metrics"]["generated_reject"]["negatives"] == {"windows": 600}


def test_refit_reuses_the_measured_runs_front_cache(trained, speech, tmp_path, monkeypatch):
    # conv1 is frozen and the same in the measured run and the refit: its outputs for every clip
    # (train first, then val and test, the refit's order) are computed once, not once per run.
    from kws_edge.training import front_cache, trainer

    built = []

    class Counting(front_cache.FrontCache):
        def __init__(self, model, x_train, *args, **kwargs):
            built.append(x_train.shape[0])
            super().__init__(model, x_train, *args, **kwargs)

    monkeypatch.setattr(trainer, "FrontCache", Counting)
    out = tmp_path / "ft"
    assert train_cli.main(["--data", str(speech), "--init", str(trained / "model.pt"), "--out", str(out),
                           "--epochs", "2", "--negatives", "none"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert built == [metrics["refit"]["clips"]]


def test_a_dataset_whose_lists_leave_no_test_clips_trains_without_a_test_report(trained, tmp_path):
    data = make_word_dataset(tmp_path / "ds", ["yes", "no"], per_word=6, seed=4)
    named = sorted(str(p.relative_to(data)) for p in data.glob("*/*.wav"))[:2]
    (data / "validation_list.txt").write_text("\n".join(named) + "\n")
    out = tmp_path / "run"
    assert train_cli.main(["--data", str(data), "--init", str(trained / "model.pt"), "--out", str(out),
                           "--epochs", "2", "--no-refit"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] is None and metrics["test"]["n"] == 0
    assert (out / "model.pt").is_file()


def test_log_front_trains_fine_tunes_and_exports(speech, tmp_path):
    """`--front log` from scratch: the checkpoint says so, a fine-tune from it keeps it (through the
    frozen conv1's front cache), and its export equals it."""
    import numpy as np

    from kws_edge.export import export_cli
    from kws_edge.export.onnx_export import torch_probs
    from kws_edge.onnx_model import OnnxModel
    from kws_edge.training.audio_io import load_clip

    scratch = tmp_path / "scratch"
    assert train_cli.main(["--data", str(speech), "--out", str(scratch), "--epochs", "30", "--patience", "30",
                           "--channels", "16", "--front", "log"]) == 0
    assert load_checkpoint(scratch / "model.pt")["model_config"]["front"] == "log"
    ft = tmp_path / "ft"
    assert train_cli.main(["--data", str(speech), "--init", str(scratch / "model.pt"), "--out", str(ft),
                           "--epochs", "4", "--negatives", "none"]) == 0
    ckpt = load_checkpoint(ft / "model.pt")
    assert ckpt["model_config"]["front"] == "log"
    assert torch.equal(model_from_checkpoint(ckpt).conv1.weight,
                       model_from_checkpoint(load_checkpoint(scratch / "model.pt")).conv1.weight)
    onnx = tmp_path / "ft.onnx"
    assert export_cli.main([str(ft / "model.pt"), "-o", str(onnx)]) == 0
    x = np.stack([load_clip(p) for p in sorted(speech.glob("*/*.wav"))])
    assert np.abs(OnnxModel(onnx).predict(x) - torch_probs(model_from_checkpoint(ckpt), x)).max() < 1e-4
    assert export_cli.main([str(ft / "model.pt"), "-o", str(tmp_path / "int8.onnx"), "--quantize",
                            "--calibration-data", str(speech)]) == 0
    assert OnnxModel(tmp_path / "int8.onnx").predict(x).shape == (len(x), len(ckpt["labels"]))
    assert train_cli.main(["--data", str(speech), "--init", str(scratch / "model.pt"), "--out",
                           str(tmp_path / "x"), "--front", "log"]) == 2
    assert not (tmp_path / "x").exists()


def test_metrics_give_the_kept_epochs_validation_accuracy(trained, speech, tmp_path, monkeypatch):
    """With --select last (the fine-tune's default), val_accuracy describes the weights kept: the
    last epoch's, even when an earlier epoch scored better. Validation scores are forced to fall
    (the real scorer cannot be made to do so on demand)."""
    from kws_edge.training import trainer

    scores = iter([(0.9, 0.1), (0.8, 0.2), (0.7, 0.3)])
    monkeypatch.setattr(trainer, "_val_score", lambda *a, **k: next(scores))
    out = tmp_path / "ft"
    assert train_cli.main(["--data", str(speech), "--init", str(trained / "model.pt"), "--out", str(out),
                           "--epochs", "3", "--negatives", "none", "--no-refit"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_epoch"] == 1 and metrics["val_accuracy"] == 0.7

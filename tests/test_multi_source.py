"""Training on several datasets at once: labels, speaker-disjoint splits, _talk/ negatives, balance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from audiogen import noise, tone, write_wav

from kws_edge.labels import UNKNOWN_LABEL
from kws_edge.training.holdout import is_heldout_other, is_heldout_speaker, speaker_of
from kws_edge.training.prepare import prepare_dataset
from kws_edge.training.split import speaker_split
from kws_edge.training.train_cli import balance_weights, build_parser, wants_balance, wants_refit


def speakers_dataset(root: Path, words: dict[str, float], speakers: int, per_speaker: int = 2) -> Path:
    """Speech Commands file names: `<speaker>_nohash_<n>.wav`, `speakers` people per word."""
    for w, f in words.items():
        for s in range(speakers):
            for n in range(per_speaker):
                write_wav(root / w / f"{s:08x}_nohash_{n}.wav", tone(f * (1 + 0.002 * s + 0.01 * n), 0.8))
    return root


def test_speaker_split_keeps_each_speaker_on_one_side():
    keys, speakers, classes = [], [], []
    for s in range(200):
        for n in range(3):
            keys.append(f"yes/{s:08x}_nohash_{n}.wav")
            speakers.append(f"{s:08x}")
            classes.append("yes")
    split = speaker_split(keys, speakers, classes, seed=3)
    side = {}
    for name, part in split.items():
        for k in part:
            assert side.setdefault(speaker_of(k), name) == name
    assert 0.1 < len(split["test"]) / len(keys) < 0.3
    assert split == speaker_split(keys, speakers, classes, seed=3)
    assert split != speaker_split(keys, speakers, classes, seed=4)


def test_many_speakers_are_split_by_speaker_few_by_clip(tmp_path):
    many = prepare_dataset(speakers_dataset(tmp_path / "many", {"yes": 300.0, "no": 800.0}, speakers=30),
                           seed=0)
    assert many.split_source.startswith("by speaker")
    test_speakers = {speaker_of(k) for k in many.split["test"]}
    train_speakers = {speaker_of(k) for k in many.split["train"] + many.split["val"]}
    assert test_speakers and not test_speakers & train_speakers
    few = prepare_dataset(speakers_dataset(tmp_path / "few", {"yes": 300.0, "no": 800.0}, speakers=3,
                                           per_speaker=5), seed=0)
    assert few.split_source.startswith("stratified")


def test_several_datasets_train_together(tmp_path):
    a = speakers_dataset(tmp_path / "a", {"yes": 300.0, "no": 800.0}, speakers=12)
    b = tmp_path / "b"  # custom layout: a new word, and non-keyword clips
    for i in range(6):
        write_wav(b / "wolf" / f"take{i}.wav", tone(1500.0 + 5 * i, 0.8))
        write_wav(b / UNKNOWN_LABEL / f"other{i}.wav", noise(0.8, seed=i))
    data = prepare_dataset([a, b], seed=0, synth_reject=False)
    assert data.labels == ["no", "wolf", "yes", UNKNOWN_LABEL]
    keys = [k for part in data.split.values() for k in part]
    assert all(k.startswith(("0:", "1:")) for k in keys)
    assert len(keys) == 12 * 2 * 2 + 12
    for part in data.split:
        assert len(data.split[part]) == len(data.y[part]) == len(data.x[part])
    # The split file of a multi-source run reproduces it.
    from kws_edge.training.split import write_split

    write_split(tmp_path / "split.json", data.split, seed=0, data="a b", source=data.split_source)
    again = prepare_dataset([a, b], seed=9, synth_reject=False, split_file=tmp_path / "split.json")
    assert again.split == data.split
    np.testing.assert_array_equal(again.y["test"], data.y["test"])


def test_talk_folder_is_negatives_not_a_class(tmp_path):
    root = tmp_path / "me"
    for w, f in {"yes": 300.0, "no": 800.0}.items():
        for i in range(5):
            write_wav(root / w / f"{i:03d}.wav", tone(f + 3 * i, 0.8))
    # Six short "words" with pauses over quiet noise: one window centred on each.
    quiet = noise(1.0, amp=0.001, seed=5)
    talk = np.concatenate([quiet] + [np.concatenate([tone(500.0 + 60 * i, 0.35), quiet]) for i in range(6)])
    write_wav(root / "_talk" / "talk1.wav", talk.astype(np.float32))
    data = prepare_dataset(root, seed=0, synth_reject=False)
    assert data.labels == ["no", "yes", UNKNOWN_LABEL]
    assert data.generated_reject["negatives"] == {"windows": 6} and data.talk_windows == 6
    unk = data.labels.index(UNKNOWN_LABEL)
    assert (data.y["train"] == unk).sum() + (data.y["val"] == unk).sum() == 6
    assert (data.y["test"] == unk).sum() == 0
    windows = np.concatenate([data.x["train"][data.y["train"] == unk], data.x["val"][data.y["val"] == unk]])
    # Each window holds its word whole: loud inside, quiet at both edges.
    peaks = np.abs(windows).reshape(len(windows), 10, -1).max(axis=2)
    assert (peaks[:, 0] < 0.05).all() and (peaks[:, -1] < 0.05).all() and (peaks.max(axis=1) > 0.2).all()


def test_balance_weights_make_keyword_classes_count_alike():
    labels = ["bed", "dog", "yes", UNKNOWN_LABEL]
    y = np.array([0] * 400 + [1] * 100 + [2] * 100 + [3] * 1000)
    w = balance_weights(y, labels)
    assert w[3] == 1.0
    counts = np.bincount(y)
    mass = [w[i] * counts[i] for i in range(3)]
    assert np.allclose(mass, mass[0])


def test_a_resumed_run_keeps_its_balance_unless_told_otherwise():
    weighted, plain = {"class_weights": [0.5, 1.0]}, {"class_weights": []}
    parse = build_parser().parse_args
    assert wants_balance(parse(["--data", "d", "--resume"]), weighted)
    assert not wants_balance(parse(["--data", "d", "--resume"]), plain)
    assert not wants_balance(parse(["--data", "d", "--resume", "--no-balance"]), weighted)
    assert wants_balance(parse(["--data", "d", "--balance"]), None)
    assert not wants_balance(parse(["--data", "d"]), None)


def test_a_resumed_run_keeps_its_refit_choice_unless_told_otherwise():
    parse = build_parser().parse_args
    assert not wants_refit(parse(["--data", "d", "--resume"]), {"refit": False, "init_spec": "base"})
    assert wants_refit(parse(["--data", "d", "--resume"]), {"refit": True})
    assert wants_refit(parse(["--data", "d", "--resume", "--refit"]), {"refit": False})
    assert wants_refit(parse(["--data", "d", "--init", "base"]), None)
    assert not wants_refit(parse(["--data", "d", "--init", "base", "--no-refit"]), None)
    assert not wants_refit(parse(["--data", "d"]), None)


def test_holdout_rule_is_fixed_by_name():
    assert speaker_of("bed/0a1b2c3d_nohash_1.flac") == "0a1b2c3d"
    assert speaker_of("take1.wav") is None
    ids = [f"{i:08x}" for i in range(2000)]
    share = sum(map(is_heldout_speaker, ids)) / len(ids)
    assert 0.12 < share < 0.18
    assert is_heldout_other("picovoice/computer__3.ogg") and not is_heldout_other("picovoice/alexa__3.ogg")
    assert is_heldout_other("pyroomacoustics/x.ogg") and not is_heldout_other("coqui/x.ogg")


def test_kws_train_takes_several_datasets(tmp_path):
    from kws_edge.training.train_cli import main

    a = speakers_dataset(tmp_path / "a", {"yes": 300.0, "no": 800.0}, speakers=12)
    b = tmp_path / "b"
    for i in range(8):
        write_wav(b / "yes" / f"b{i}.wav", tone(310.0 + i, 0.8))
    out = tmp_path / "run"
    assert main(["--data", str(a), str(b), "--out", str(out), "--epochs", "1", "--balance",
                 "--channels", "8", "--threads", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["train"]["yes"] > metrics["counts"]["train"]["no"]
    import torch

    ckpt = torch.load(out / "model.pt", weights_only=True)  # as kws-export and kws-eval load it
    config, labels = ckpt["train_config"], ckpt["labels"]
    weights = dict(zip(labels, config["class_weights"], strict=True))
    assert weights["yes"] < weights["no"] and weights[UNKNOWN_LABEL] == 1.0  # --balance took effect
    split = json.loads((out / "split.json").read_text())
    assert any(k.startswith("1:") for k in split["train"])

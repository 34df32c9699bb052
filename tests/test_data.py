"""Dataset discovery and loading: layouts, formats, bad files, split determinism, reject synthesis."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audiogen import noise, tone, write_wav

from kws_edge.errors import KwsError
from kws_edge.labels import SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES
from kws_edge.training.data import choose_words, load_labelled_clips, scan_dataset
from kws_edge.training.prepare import prepare_dataset
from kws_edge.training.split import stratified_split
from kws_edge.training.unknown import make_reject_clips

FREQS = {"alpha": 300.0, "beta": 700.0, "gamma": 1500.0}


def tone_dataset(root: Path, per_class: int = 6, words: dict[str, float] = FREQS) -> Path:
    for w, f in words.items():
        for i in range(per_class):
            write_wav(root / w / f"clip{i:02d}.wav", tone(f * (1 + 0.01 * i), seconds=0.8))
    return root


def zip_folder(folder: Path, zpath: Path, arc_prefix: str = "") -> Path:
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, arc_prefix + f.relative_to(folder).as_posix())
    return zpath


def test_custom_folder_labels_and_shapes(tmp_path):
    root = tone_dataset(tmp_path / "ds")
    x, y, names = load_labelled_clips(root, ["alpha", "beta", "gamma", UNKNOWN_LABEL])
    assert x.shape == (18, WINDOW_SAMPLES) and x.dtype == np.float32
    assert y.dtype == np.int64 and sorted(set(y.tolist())) == [0, 1, 2]
    assert all(Path(n).is_file() for n in names)
    # A 300 Hz tone stays a 300 Hz tone after padding: dominant FFT bin.
    i = names.index(str(root / "alpha" / "clip00.wav"))
    spec = np.abs(np.fft.rfft(x[i]))
    assert abs(np.argmax(spec) * SAMPLE_RATE / WINDOW_SAMPLES - 300) < 3


@pytest.mark.parametrize("names", ["plain", "speech_commands"])
def test_keyword_folders_in_any_case_are_the_keywords(tmp_path, names):
    """'Yes/', 'NO /' are the keywords yes and no (the base model's labels, whose classifier rows
    fine-tuning carries over); other names are read in lower case, so "Lights " and "lights" are one
    new word; "_Talk" is the talk folder and "_unknown" the reject class. With Speech Commands file
    names, the capitalised folders used to be dropped as non-keywords."""
    root = tmp_path / "ds"
    for i, folder in enumerate(["Yes", "NO ", "_Unknown_", "Wake up", "Lights ", "lights", "_unknown"]):
        for j in range(3):
            name = f"{i:04x}abcd_nohash_{j}.wav" if names == "speech_commands" else f"take{j}.wav"
            write_wav(root / folder / name, tone(300.0 + 200 * i + 10 * j, seconds=0.8))
    write_wav(root / "_Talk" / "talk.wav", tone(200.0, seconds=3.0))
    index = scan_dataset(root)
    assert sorted(index.clips) == sorted(["yes", "no", UNKNOWN_LABEL, "wake up", "lights"])
    assert len(index.clips["lights"]) == 6 and len(index.clips[UNKNOWN_LABEL]) == 6
    assert index.talk == ["_Talk/talk.wav"]
    assert choose_words(index) == ["lights", "no", "wake up", "yes"]
    assert choose_words(index, ["Lights", "YES"]) == ["lights", "yes"]
    x, y, _ = load_labelled_clips(root, ["no", "yes", UNKNOWN_LABEL])
    assert np.bincount(y).tolist() == [3, 3, 15]  # lights/ and wake up/ are other speech: _unknown_
    # A model trained when new words kept their case still meets its clips.
    _, y, _ = load_labelled_clips(root, ["Lights", "no", UNKNOWN_LABEL])
    assert np.bincount(y).tolist() == [6, 3, 12]


def test_folder_names_meant_otherwise_are_said(tmp_path, caplog):
    """`Talk/` (not `_talk/`) and `sheela/` (not `sheila/`) train as new words: a warning says what
    the folder would have been, when training (kws-eval trains nothing and says nothing)."""
    root = tmp_path / "ds"
    folders = ("Talk", "sheela", "yes", "_silence_", "Background Noise", "other", "yes - Copy", "no (1)",
               "lights", "lights 2", "route 66", "seven 11", "Yes - Copy - Copy", "no (another copy)",
               "_talk copy", "_unknown_")
    for folder in folders:
        for j in range(2):
            write_wav(root / folder / f"{j}.wav", tone(300.0 + 10 * j, seconds=0.8))
    with caplog.at_level(logging.WARNING):
        assert len(scan_dataset(root).folders) == len(folders)
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        prepare_dataset(root)
    assert "Talk/ is trained as a new word 'talk'; name it _talk/" in caplog.text
    assert "sheela/ is a new word, not the base model's 'sheila'" in caplog.text
    # TensorFlow's folder of silence, a spelt-out noise folder, and "other" speech.
    assert "_silence_/ is trained as a new word '_silence_'; name it _background_noise_/" in caplog.text
    assert "Background Noise/ is trained as a new word 'background noise'; name it _background_noise_/" \
        in caplog.text
    assert "other/ is trained as a new word 'other'; name it _unknown_/" in caplog.text
    # Folders a file manager copied: the word's clips would be split over competing classes.
    assert "yes - Copy/ looks like a copy of yes/" in caplog.text
    assert "no (1)/ looks like a copy of no/" in caplog.text
    assert "lights 2/ looks like a copy of lights/" in caplog.text
    assert "Yes - Copy - Copy/ looks like a copy of yes/" in caplog.text
    assert "no (another copy)/ looks like a copy of no/" in caplog.text
    assert "_talk copy/ looks like a copy of _talk/" in caplog.text
    for fine in ("route 66/", "seven 11/", "folder yes/", "folder _unknown_/"):
        assert fine not in caplog.text, fine


def test_wrapping_folders_stray_files_and_a_folder_too_high(tmp_path, caplog):
    """Two wrapping folders, or one holding a desktop.ini or a stray clip beside the word folders,
    still find the words; --data one level above the dataset says so instead of "no clips"."""
    inner = tmp_path / "Archive" / "my words"
    for folder in ("down", "left"):
        for j in range(3):
            write_wav(inner / folder / f"{j}.wav", tone(300.0 + 10 * j, seconds=0.8))
    (inner / "desktop.ini").write_text("[.ShellClassInfo]\r\n")
    write_wav(inner / "take9.wav", tone(500.0, seconds=0.8))
    with caplog.at_level(logging.WARNING):
        index = scan_dataset(tmp_path / "Archive")
    assert index.prefix == "my words/" and index.folders == ["down", "left"]
    assert "1 file(s) beside the class folders are not used (e.g. my words/take9.wav)" in caplog.text
    assert scan_dataset(tmp_path).prefix == "Archive/my words/"
    other = tmp_path / "other"
    write_wav(other / "yes" / "0.wav", tone(400.0, seconds=0.8))
    with pytest.raises(KwsError, match=r"holds folders, not clips .* it holds 2 datasets "
                       r"\(Archive/, other/\): point --data at one of them; kws-train trains on several"):
        scan_dataset(tmp_path)
    mixed = tmp_path / "mixed"
    write_wav(mixed / "yes" / "0.wav", tone(400.0, seconds=0.8))
    write_wav(mixed / "more" / "no" / "0.wav", tone(400.0, seconds=0.8))
    with pytest.raises(KwsError, match="more/ holds folders, not clips .* point --data at the folder"):
        scan_dataset(mixed)
    with pytest.raises(KwsError, match=r"holds clips directly, as a word folder does; point --data at the "
                       r"folder above it \("):
        scan_dataset(inner / "down")
    deep = tmp_path / "a" / "b" / "c" / "d" / "e"
    write_wav(deep / "go" / "0.wav", tone(400.0, seconds=0.8))
    write_wav(deep / "up" / "0.wav", tone(500.0, seconds=0.8))
    assert scan_dataset(tmp_path / "a").folders == ["go", "up"]


def test_a_wake_words_folder_with_a_subfolder_is_the_word_not_a_wrapper(tmp_path, caplog):
    """One word folder holding an old/ subfolder is the word (the subfolder's clips are not used);
    a wrapper holding one word folder and stray clips is a wrapper."""
    word = tmp_path / "one"
    for j in range(2):
        write_wav(word / "zero" / f"{j}.wav", tone(300.0 + j, seconds=0.8))
    for j in range(3):
        write_wav(word / "zero" / "old" / f"{j}.wav", tone(320.0 + j, seconds=0.8))
    with caplog.at_level(logging.WARNING):
        index = scan_dataset(word)
    assert index.prefix == "" and index.folders == ["zero"] and len(index.clips["zero"]) == 2
    assert "3 file(s) in folders inside the class folders are not used" in caplog.text
    wrapped = tmp_path / "two" / "My Words"
    for j in range(3):
        write_wav(wrapped / "zero" / f"{j}.wav", tone(300.0 + j, seconds=0.8))
        write_wav(wrapped / f"stray{j}.wav", tone(700.0 + j, seconds=0.8))
    index = scan_dataset(tmp_path / "two")
    assert index.prefix == "My Words/" and index.folders == ["zero"]


def test_decomposed_unicode_names_are_one_class(tmp_path):
    """macOS writes "lumière" decomposed (e + combining grave): the same word as the composed one."""
    import unicodedata

    root = tmp_path / "ds"
    for form in ("NFC", "NFD"):
        write_wav(root / unicodedata.normalize(form, "lumière") / f"{form}.wav", tone(300.0, seconds=0.8))
    write_wav(root / "down" / "0.wav", tone(600.0, seconds=0.8))
    assert scan_dataset(root).folders == ["down", "lumière"]
    assert choose_words(scan_dataset(root), [unicodedata.normalize("NFD", "Lumière")]) == ["lumière"]


def test_words_not_in_labels_become_unknown_or_are_skipped(tmp_path):
    root = tone_dataset(tmp_path / "ds")
    x, y, _ = load_labelled_clips(root, ["alpha", UNKNOWN_LABEL])
    assert len(y) == 18 and (y == 1).sum() == 12
    x, y, _ = load_labelled_clips(root, ["alpha", "beta"])
    assert len(y) == 12


@pytest.mark.parametrize("wrap", ["", "dataset/"])
def test_zip_and_wrapping_folder_give_the_same_clips(tmp_path, wrap):
    root = tone_dataset(tmp_path / "ds")
    labels = ["alpha", "beta", "gamma", UNKNOWN_LABEL]
    xf, yf, _ = load_labelled_clips(root, labels)
    zx, zy, znames = load_labelled_clips(zip_folder(root, tmp_path / "ds.zip", wrap), labels)
    np.testing.assert_array_equal(xf, zx)
    np.testing.assert_array_equal(yf, zy)
    assert all(".zip" in n for n in znames)


def test_a_kws_synth_folder_zipped_with_its_folder_reads_like_the_folder(tmp_path):
    # `zip -r ds.zip ds` of what kws-synth writes: ds/manifest.json and ds/*_list.txt sit beside the
    # class folders, and used to make `ds` read as the only class.
    root = tone_dataset(tmp_path / "wrap" / "ds")
    (root / "manifest.json").write_text("{}")
    (root / "validation_list.txt").write_text("alpha/clip00.wav\n")
    (root / "testing_list.txt").write_text("beta/clip00.wav\n")
    plain = scan_dataset(root)
    for wrapped in (zip_folder(root, tmp_path / "ds.zip", "ds/"), tmp_path / "wrap"):
        index = scan_dataset(wrapped)
        assert index.prefix == "ds/" and sorted(index.clips) == sorted(plain.clips) == sorted(FREQS)
        assert index.split_lists == plain.split_lists


def test_formats_rates_and_channels(tmp_path):
    """44.1 kHz stereo, 8-bit, 24-bit, float, FLAC and a long clip all become 1-s 16 kHz windows."""
    root = tmp_path / "ds"
    t = np.arange(int(1.5 * 44100)) / 44100
    st = np.stack([0.3 * np.sin(2 * np.pi * 500 * t)] * 2, axis=1).astype(np.float32)
    (root / "a").mkdir(parents=True)
    sf.write(root / "a" / "stereo44k.wav", st, 44100)
    write_wav(root / "a" / "u8.wav", tone(500), subtype="PCM_U8")
    write_wav(root / "a" / "p24.wav", tone(500), subtype="PCM_24")
    write_wav(root / "b" / "float.wav", tone(900), subtype="FLOAT")
    sf.write(root / "b" / "flac.flac", tone(900), SAMPLE_RATE, format="FLAC")
    x, y, names = load_labelled_clips(root, ["a", "b"])
    assert x.shape == (5, WINDOW_SAMPLES)
    for row, name in zip(x, names, strict=True):
        peak_hz = np.argmax(np.abs(np.fft.rfft(row))) * SAMPLE_RATE / WINDOW_SAMPLES
        assert abs(peak_hz - (500 if "/a/" in name else 900)) < 5, name


def test_a_clips_dc_offset_is_removed_as_the_runtime_removes_it(tmp_path):
    """A microphone's offset: the clip is loaded without it, at 44.1 kHz as at 16 kHz."""
    root = tmp_path / "ds"
    write_wav(root / "a" / "offset16k.wav", tone(500) + np.float32(0.1))
    t = np.arange(44100) / 44100
    offset44k = (0.3 * np.sin(2 * np.pi * 500 * t) + 0.1).astype(np.float32)
    sf.write(root / "a" / "offset44k.wav", offset44k, 44100)
    x, _, _ = load_labelled_clips(root, ["a"])
    assert x.shape == (2, WINDOW_SAMPLES)
    assert np.abs(x.mean(axis=1)).max() < 1e-3


def test_corrupt_and_non_audio_files_are_skipped_and_counted(tmp_path, caplog):
    root = tone_dataset(tmp_path / "ds")
    (root / "alpha" / "notes.txt").write_text("not audio")
    (root / "beta" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    (root / "gamma" / "empty.wav").write_bytes(b"")
    data = prepare_dataset(root, seed=0)
    assert data.skipped == 3
    assert sum(len(v) for v in data.y.values()) >= 18
    assert "skipped 3 file(s)" in caplog.text
    assert "gamma/empty.wav: empty file (0 bytes)" in caplog.text


def test_structural_errors(tmp_path):
    with pytest.raises(KwsError, match="no such dataset"):
        scan_dataset(tmp_path / "missing")
    one = tone_dataset(tmp_path / "one", words={"alpha": 300.0})
    with pytest.raises(KwsError, match="only one class"):
        prepare_dataset(one, synth_reject=False)
    # One word alone (a wake word) trains against the reject class made for it; a splice or chain
    # of that word with itself would be the word again, so none is made.
    alone = prepare_dataset(one)
    assert alone.labels == ["alpha", UNKNOWN_LABEL]
    assert alone.counts("train")[UNKNOWN_LABEL] > 0
    assert not {"splice", "chain"} & set(alone.generated_reject["train"])
    few = tone_dataset(tmp_path / "few", per_class=1, words={"alpha": 300.0, "beta": 600.0})
    with pytest.raises(KwsError, match=r"'alpha' has 1 clip\(s\); each class needs at least 2"):
        prepare_dataset(few)
    empty = tone_dataset(tmp_path / "empty")
    (empty / "delta").mkdir()
    with pytest.raises(KwsError, match="delta/ has no clips"):
        prepare_dataset(empty)
    only_bad = tone_dataset(tmp_path / "bad")
    for f in (only_bad / "gamma").iterdir():
        f.write_bytes(b"junk")
    with pytest.raises(KwsError, match="'gamma' has 0 readable"):
        prepare_dataset(only_bad)


def test_speech_commands_layout(tmp_path):
    root = tmp_path / "sc"
    # wolf: a new word, a class too; No/: the lists' no/ (a folder renamed by hand or a file manager)
    for w, f in (("yes", 400.0), ("No", 800.0), ("wolf", 1200.0)):
        for s in range(5):
            write_wav(root / w / f"spk{s}_nohash_0.wav", tone(f + s))
    write_wav(root / "_background_noise_" / "hum.wav", noise(3.5, seed=1))
    (root / "validation_list.txt").write_text("yes/spk0_nohash_0.wav\nno/spk0_nohash_0.wav\n")
    (root / "testing_list.txt").write_text(
        "yes/spk1_nohash_0.wav\nno/spk1_nohash_0.wav\nwolf/spk1_nohash_0.wav\n")
    data = prepare_dataset(root, seed=0, synth_reject=False)
    assert data.layout == "speech_commands"
    assert data.labels == ["no", "wolf", "yes", UNKNOWN_LABEL]
    assert data.split["val"] == ["No/spk0_nohash_0.wav", "yes/spk0_nohash_0.wav"]
    assert sorted(data.split["test"]) == ["No/spk1_nohash_0.wav", "wolf/spk1_nohash_0.wav",
                                          "yes/spk1_nohash_0.wav"]
    # three 1-s noise windows join the reject class in train, and the augmentation bank
    assert sum(k.startswith("_background_noise_/") for k in data.split["train"]) == 3
    assert data.noise.shape == (3, WINDOW_SAMPLES)
    assert data.counts("train")[UNKNOWN_LABEL] == 3


def test_a_one_voice_kws_synth_set_with_empty_lists_is_split_by_clip(tmp_path):
    # kws-synth splits by voice: for one voice it writes both lists empty, and every clip used to
    # go to training, leaving no test clips (kws-train then failed with a traceback).
    root = tone_dataset(tmp_path / "ds", per_class=10)
    for folder in [d for d in root.iterdir() if d.is_dir()]:
        for i, f in enumerate(sorted(folder.iterdir())):
            f.rename(folder / f"0a1b2c3d_nohash_{i}.wav")
    (root / "validation_list.txt").write_text("")
    (root / "testing_list.txt").write_text("")
    data = prepare_dataset(root, seed=0, synth_reject=False)
    assert data.layout == "speech_commands"
    assert all(data.counts("test")[w] == 2 for w in FREQS)
    assert all(data.counts("val")[w] >= 1 for w in FREQS)


def test_lists_that_leave_a_word_nothing_to_train_on_are_set_aside(tmp_path, caplog):
    """A one-voice kws-synth set whose voice hashed to "testing" (a fifth of voices) named every
    clip in testing_list.txt: the measured run trained on no keyword clip ("test accuracy 0.000")
    and made no reject clips from the user's words. Such lists are now set aside, with a warning."""
    root = tone_dataset(tmp_path / "ds", per_class=10)
    listed = []
    for folder in [d for d in root.iterdir() if d.is_dir()]:
        for i, f in enumerate(sorted(folder.iterdir())):
            f.rename(folder / f"0a1b2c3d_nohash_{i}.wav")
            listed.append(f"{folder.name}/0a1b2c3d_nohash_{i}.wav")
    (root / "validation_list.txt").write_text("")
    (root / "testing_list.txt").write_text("\n".join(listed) + "\n")
    with caplog.at_level(logging.WARNING):
        data = prepare_dataset(root, seed=0, synth_reject=False)
    assert "its validation/testing lists leave no clip of" in caplog.text
    assert all(data.counts("train")[w] >= 6 and data.counts("test")[w] == 2 for w in FREQS)


def test_split_is_deterministic_stratified_and_seeded():
    keys = [f"{c}/{i}.wav" for c in "abc" for i in range(30)]
    classes = [k[0] for k in keys]
    s1 = stratified_split(keys, classes, seed=3)
    s2 = stratified_split(list(reversed(keys)), list(reversed(classes)), seed=3)
    assert s1 == s2
    assert stratified_split(keys, classes, seed=4) != s1
    for c in "abc":
        assert sum(k[0] == c for k in s1["test"]) == 6
        assert sum(k[0] == c for k in s1["val"]) >= 1
    assert set(s1["train"]) | set(s1["val"]) | set(s1["test"]) == set(keys)
    assert not set(s1["train"]) & set(s1["test"])


def test_split_file_written_by_training_reproduces(tmp_path):
    from kws_edge.training.split import write_split

    root = tone_dataset(tmp_path / "ds", per_class=10)
    a = prepare_dataset(root, seed=5)
    write_split(tmp_path / "split.json", a.split, seed=5, data=str(root), source=a.split_source)
    b = prepare_dataset(root, seed=99, split_file=tmp_path / "split.json")
    assert a.split == b.split
    for s in ("train", "val", "test"):  # real clips come first; generated reject clips follow
        n = len(a.split[s])
        np.testing.assert_array_equal(a.x[s][:n], b.x[s][:n])
        np.testing.assert_array_equal(a.y[s][:n], b.y[s][:n])


def test_clips_recorded_after_a_split_file_are_said_to_be_left_out(tmp_path, caplog):
    from kws_edge.training.split import write_split

    root = tone_dataset(tmp_path / "ds", per_class=10)
    a = prepare_dataset(root, seed=5)
    write_split(tmp_path / "split.json", a.split, seed=5, data=str(root), source=a.split_source)
    write_wav(root / "alpha" / "new01.wav", tone(310.0, seconds=0.8))
    with caplog.at_level(logging.WARNING):
        b = prepare_dataset(root, split_file=tmp_path / "split.json")
    assert a.split == b.split
    assert "1 clip(s) of" in caplog.text and "not used (e.g. alpha/new01.wav)" in caplog.text


def test_nearly_silent_keyword_clips_are_said(tmp_path, caplog):
    """Dithered silence (±1 step) passes the digital-silence check and would train as the word."""
    root = tone_dataset(tmp_path / "ds")
    rng = np.random.default_rng(0)
    write_wav(root / "alpha" / "dither.wav", (rng.integers(-1, 2, 16000) / 32768).astype(np.float32))
    with caplog.at_level(logging.WARNING):
        data = prepare_dataset(root, synth_reject=False)
    assert sum(data.counts(s)["alpha"] for s in ("train", "val", "test")) == 7
    assert "1 clip(s) in word folders are nearly silent (peak under -60 dBFS)" in caplog.text
    assert "alpha/dither.wav" in caplog.text


def test_a_long_clip_is_cropped_to_its_word_not_to_a_louder_tap():
    """A phone memo: the record button's 50-ms tap at full scale, the word a second later and
    20 dB quieter. Summed energy chose the second starting at the tap; the word is what counts."""
    from kws_edge.training.audio_io import fit_window

    clip = np.zeros(int(2.2 * SAMPLE_RATE), dtype=np.float32)
    clip[:800] = np.random.default_rng(1).uniform(-1, 1, 800)
    word = tone(440.0, seconds=0.5) * 0.1
    clip[SAMPLE_RATE:SAMPLE_RATE + len(word)] = word
    window = fit_window(clip)
    loud = np.flatnonzero(np.abs(window) > 0.5 * np.abs(word).max())
    assert np.abs(window).max() <= np.abs(word).max()  # no tap
    assert len(loud) and loud[0] / SAMPLE_RATE > 0.2 and loud[-1] / SAMPLE_RATE < 0.8  # word centred


def test_reject_clips_are_generated_only_when_missing(tmp_path):
    root = tone_dataset(tmp_path / "ds", per_class=10)
    data = prepare_dataset(root, seed=0)
    unk = data.labels.index(UNKNOWN_LABEL)
    assert (data.y["train"] == unk).sum() > 0 and (data.y["test"] == unk).sum() == 0
    assert set(data.generated_reject["train"]) <= {"silence", "coloured_noise", "reversed", "splice",
                                                   "partial", "swap", "chain", "rhyme"}
    for i in range(3):
        write_wav(root / UNKNOWN_LABEL / f"n{i}.wav", noise(1.0, seed=i))
    for i in range(20):
        write_wav(root / UNKNOWN_LABEL / f"m{i}.wav", noise(1.0, seed=10 + i))
    data = prepare_dataset(root, seed=0)
    assert "train" not in data.generated_reject


def test_make_reject_clips_kinds():
    rng = np.random.default_rng(0)
    words = rng.normal(0, 0.1, (10, WINDOW_SAMPLES)).astype(np.float32)
    classes = np.repeat(np.arange(5), 2)
    bank = rng.normal(0, 0.05, (4, WINDOW_SAMPLES)).astype(np.float32)
    clips, made = make_reject_clips(words, classes, 200, seed=1, noise_bank=bank)
    assert clips.shape == (200, WINDOW_SAMPLES) and clips.dtype == np.float32
    assert set(made) == {"silence", "coloured_noise", "real_noise", "reversed", "splice", "partial", "swap",
                         "chain", "rhyme"}
    assert sum(made.values()) == 200
    assert np.all(np.isfinite(clips)) and np.abs(clips).max() <= 1.0 + 1e-6


def test_chain_reject_clips_are_running_speech_of_several_words():
    """Chains hold pieces of at least three different words and fill a good part of the window."""
    from kws_edge.training.unknown import _chain

    rng = np.random.default_rng(3)
    words = np.zeros((6, WINDOW_SAMPLES), dtype=np.float32)
    for k in range(6):  # word k: a tone of its own frequency in the middle of its clip
        t = np.arange(6000) / 16000
        words[k, 5000:11000] = 0.3 * np.sin(2 * np.pi * (300 + 200 * k) * t)
    chains = _chain(words, np.arange(6), 20, rng)
    for clip in chains:
        spectrum = np.abs(np.fft.rfft(clip))
        bins = [int((300 + 200 * k) * len(clip) / 16000) for k in range(6)]
        peaks = {k for k in range(6) if spectrum[bins[k]] > 0.1 * spectrum.max()}
        assert len(peaks) >= 3
        assert (np.abs(clip) > 0.01).mean() > 0.2


def test_negatives_join_the_reject_class_of_train_and_val_only(tmp_path):
    root = tone_dataset(tmp_path / "ds")
    talk = tmp_path / "talk"
    write_wav(talk / "me_talking.wav", noise(20.0, amp=0.2, seed=3))  # 20 one-second windows
    write_wav(talk / "short.wav", noise(0.4, amp=0.2, seed=4))  # padded to one window
    plain = prepare_dataset(root, seed=0)
    data = prepare_dataset(root, seed=0, negatives=talk)
    unk = data.labels.index(UNKNOWN_LABEL)
    added = {s: int((data.y[s] == unk).sum() - (plain.y[s] == unk).sum()) for s in ("train", "val", "test")}
    assert added == {"train": 19, "val": 2, "test": 0}
    assert data.generated_reject["negatives"] == {"windows": 21}
    # The keyword clips and the generated reject clips are untouched.
    n = len(plain.y["train"])
    assert np.array_equal(data.x["train"][:n], plain.x["train"])


def test_negatives_must_be_a_folder_of_audio(tmp_path):
    root = tone_dataset(tmp_path / "ds")
    with pytest.raises(KwsError, match="--negatives must be a folder"):
        prepare_dataset(root, negatives=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not audio")
    write_wav(tmp_path / "empty" / "sub" / "talk.wav", tone(200.0, seconds=2.0))
    with pytest.raises(KwsError, match=r"no readable recordings directly in it \(subfolders are not read\) "
                       "for --negatives"):
        prepare_dataset(root, negatives=tmp_path / "empty")


def test_files_in_folders_inside_a_class_folder_are_reported_not_silently_dropped(tmp_path, caplog):
    root = tone_dataset(tmp_path / "ds")
    write_wav(root / "alpha" / "spk1" / "extra.wav", tone(300.0, seconds=0.8))
    with caplog.at_level("WARNING"):
        index = scan_dataset(root)
    assert len(index.clips["alpha"]) == 6
    assert "1 file(s) in folders inside the class folders are not used" in caplog.text
    assert "(e.g. alpha/spk1/extra.wav)" in caplog.text


def test_broken_mp3s_are_skipped_in_one_true_line_each(tmp_path):
    """libmpg123 prints its resync notes straight to stderr, and libsndfile says a file it cannot
    identify 'does not exist': neither reaches the user, only one warning per file that says why."""
    import subprocess
    import sys

    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for word, hz in (("a", 500), ("b", 900)):
        (tmp_path / word).mkdir()
        sf.write(tmp_path / word / "good.mp3", (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32),
                 SAMPLE_RATE, format="MP3")
    good = (tmp_path / "a" / "good.mp3").read_bytes()
    (tmp_path / "a" / "holes.mp3").write_bytes(good[:1000] + bytes(2000) + good[3000:])
    (tmp_path / "b" / "garbage.mp3").write_bytes(np.random.default_rng(0).bytes(3000))
    code = ("import sys\nfrom kws_edge.training.data import load_labelled_clips\n"
            "x, _, _ = load_labelled_clips(sys.argv[1], ['a', 'b'])\nprint(len(x))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "2", proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert not [ln for ln in lines if "Note:" in ln or "libmpg123" in ln or "Illegal" in ln], lines
    assert len(lines) == 3, lines  # one line per broken file, and the count
    assert "garbage.mp3: not a readable audio file (damaged, or not a format soundfile reads)" in proc.stderr
    assert "does not exist" not in proc.stderr


def test_negatives_without_base_on_a_fine_tune_say_that_the_shipped_ones_are_dropped(tmp_path, caplog):
    """`kws-train --init base --negatives talk.wav` reads as "add my talk"; it replaces the shipped
    negatives of many voices, which keep a fine-tune quiet on other people: that is said."""
    import argparse

    from kws_edge.training.train_cli import _negatives

    talk = write_wav(tmp_path / "talk.wav", tone(300.0, seconds=2.0))
    with caplog.at_level("WARNING"):
        assert _negatives(argparse.Namespace(negatives=[str(talk)], init="base")) == [talk]
    assert "replaces the shipped negatives" in caplog.text and f"--negatives base {talk}" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert len(_negatives(argparse.Namespace(negatives=["base", str(talk)], init="base"))) == 2
        _negatives(argparse.Namespace(negatives=None, init="base"))
    assert "replaces" not in caplog.text
    # Given twice (--negatives base --negatives base), once; 'none' beside others is a mistake.
    assert len(_negatives(argparse.Namespace(negatives=["base", str(talk), "base"], init="base"))) == 2
    from kws_edge.models import base_negatives_path

    same = [str(tmp_path), str(tmp_path) + "/", "base", str(base_negatives_path())]
    assert _negatives(argparse.Namespace(negatives=same, init="base")) == [tmp_path, base_negatives_path()]
    assert _negatives(argparse.Namespace(negatives=["none", "none"], init="base")) == []
    with pytest.raises(KwsError, match="'none' means no negatives; give it alone"):
        _negatives(argparse.Namespace(negatives=["none", "base"], init="base"))


def test_a_long_clip_with_a_second_word_is_said_but_not_a_tap_or_a_noisy_room(tmp_path, caplog):
    """A 4-s clip with "down" then "go" trains one of them as down: said. A tap before the word, or
    the steady noise of a room at 15 dB under the word, is no second word."""
    root = tmp_path / "ds"
    two = np.zeros(4 * SAMPLE_RATE, dtype=np.float32)
    two[8000:16000] = tone(400.0, seconds=0.5)
    two[40000:48000] = tone(600.0, seconds=0.5)
    write_wav(root / "down" / "two.wav", two)
    tap = np.zeros(int(2.2 * SAMPLE_RATE), dtype=np.float32)
    tap[:800] = 0.9
    tap[SAMPLE_RATE:SAMPLE_RATE + 8000] = tone(400.0, seconds=0.5)
    write_wav(root / "down" / "tap.wav", tap)
    room = noise(3.0, amp=0.04, seed=4)  # 14.5 dB under the word (RMS)
    room[SAMPLE_RATE:SAMPLE_RATE + 8000] += tone(400.0, seconds=0.5)
    write_wav(root / "down" / "room.wav", room)
    write_wav(root / "up" / "0.wav", tone(900.0, seconds=0.8))
    write_wav(root / "up" / "1.wav", tone(910.0, seconds=0.8))
    with caplog.at_level(logging.WARNING):
        prepare_dataset(root, synth_reject=False)
    assert "1 clip(s) in word folders are longer than a second and hold loud sound" in caplog.text
    assert "(e.g. down/two.wav)" in caplog.text


def test_a_word_said_longer_than_the_gate_hears_is_said(tmp_path, caplog):
    """A phrase said over 1.2 s in most of its clips ("turn on the kitchen lights") tests perfectly
    on its own clips, but kws-listen's gate judges no sound over 1 s: said when training. Short
    words in long clips (silence around them) and a single slow clip are not."""
    root = tmp_path / "ds"
    for j in range(5):
        slow = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
        slow[8000:8000 + int(1.25 * SAMPLE_RATE)] = tone(300.0 + 10 * j, seconds=1.25)
        write_wav(root / "kitchen lights" / f"{j}.wav", slow)
        short = np.zeros(int(1.5 * SAMPLE_RATE), dtype=np.float32)
        short[8000:16000] = tone(600.0 + 10 * j, seconds=0.5)
        write_wav(root / "yes" / f"{j}.wav", short)
        write_wav(root / "no" / f"{j}.wav", tone(900.0 + 10 * j, seconds=0.8) if j else slow)
        # A short word in a 2.5-s clip of steady noise 10 dB under it: the gate's core leaves the
        # noise out (half the clip's level range), and so does this measure.
        noisy = noise(2.5, amp=0.3 * 10 ** (-10 / 20), seed=j)
        noisy[SAMPLE_RATE:SAMPLE_RATE + 6400] += tone(700.0 + 10 * j, seconds=0.4, amp=0.3)
        write_wav(root / "up" / f"{j}.wav", noisy)
    with caplog.at_level(logging.WARNING):
        prepare_dataset(root, synth_reject=False)
    assert "'kitchen lights' is said over 1.0 s in 5 of its 5 clips" in caplog.text
    for word in ("'yes'", "'no'", "'up'"):
        assert word not in caplog.text, word

"""The streaming detector: equals whole-clip scoring, chunk-size invariance, thresholds, refractory."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest
from audiogen import babble, noise, tone, write_wav
from onnx_tiny import random_model, tone_model

from kws_edge.dc_offset import DcRemover
from kws_edge.errors import KwsError
from kws_edge.highpass import HighPass
from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.onnx_model import OnnxModel
from kws_edge.spotter import DEFAULT_THRESHOLD, KeywordSpotter, SpotterOptions, spot_file
from kws_edge.vad import EnergyVad, VadOptions


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {"tone": OnnxModel(tone_model(d / "tone.onnx")), "random": OnnxModel(random_model(d / "r.onnx"))}


def _gap(seconds: float, seed: int) -> np.ndarray:
    return noise(seconds, amp=0.005, seed=seed)


@pytest.fixture(scope="module")
def stream() -> np.ndarray:
    """Quiet noise with two 'yes' tones, one 'no' tone, a loud noise burst; ~12.3 s."""
    return np.concatenate([
        _gap(2.0, 1), tone(1000, 0.6) + _gap(0.6, 2), _gap(2.0, 3), tone(2000, 0.7), _gap(1.5, 4),
        noise(0.5, amp=0.2, seed=5), _gap(1.5, 6), tone(1000, 0.5), _gap(3.0, 7), np.zeros(1234, np.float32),
    ])


def _events(model, audio, chunk, **opts):
    spotter = KeywordSpotter(model, SpotterOptions(**opts))
    out = []
    for i in range(0, len(audio), chunk):
        out += spotter.process(audio[i:i + chunk])
    out += spotter.flush()
    return out, spotter


def test_streaming_equals_whole_clip_scoring(models, stream):
    """Every scored window's probabilities equal predict() on the same slice of the whole clip."""
    model = models["random"]
    seen: list[tuple[int, np.ndarray]] = []
    spotter = KeywordSpotter(model, SpotterOptions(vad=VadOptions(kind="off")),
                             score_hook=lambda end, p: seen.append((end, p.copy())))
    for i in range(0, len(stream), 777):
        spotter.process(stream[i:i + 777])
    # The spotter scores the stream without its DC offset (kws_edge/dc_offset.py) and its rumble
    # (kws_edge/highpass.py, the same in any chunks to float rounding).
    dc_free = DcRemover(SAMPLE_RATE * spotter.options.dc_block_ms // 1000).process(stream)
    heard = HighPass(SAMPLE_RATE, spotter.options.highpass_hz).process(dc_free)
    padded = np.concatenate([np.zeros(WINDOW_SAMPLES, np.float32), heard])
    ends = [end for end, _ in seen]
    hop = SAMPLE_RATE // 10
    assert ends == list(range(hop, len(stream) + 1, hop))
    whole = model.predict(np.stack([padded[e:e + WINDOW_SAMPLES] for e in ends]))
    np.testing.assert_allclose(np.stack([p for _, p in seen]), whole, atol=1e-5)


@pytest.mark.parametrize("vad", ["energy", "off"])
def test_events_do_not_depend_on_chunk_size(models, stream, vad):
    runs = {}
    for chunk in (160, 1000, 4096, 16000, len(stream)):
        events, spotter = _events(models["tone"], stream, chunk, vad=VadOptions(kind=vad))
        runs[chunk] = (events, spotter.stats.windows_scored)
    reference = runs[160]
    assert [e.label for e in reference[0]] == ["yes", "no", "yes"]
    for chunk, got in runs.items():
        assert got == reference, f"chunk {chunk} differs"


def test_batching_gives_the_same_events(models, stream):
    # Without the gate every speech window is scored as it comes, in batches.
    plain, s1 = _events(models["tone"], stream, 1000, batch_windows=1, max_utterance_ms=0)
    batched, s16 = _events(models["tone"], stream, 1000, batch_windows=16, max_utterance_ms=0)
    assert plain == batched
    assert s16.stats.model_calls < s1.stats.model_calls


@pytest.mark.parametrize("name", ["tone", "random"])
def test_the_gate_scores_only_the_windows_its_decisions_need(models, stream, name):
    # Scoring every speech window as it comes (what a score hook gets) and scoring only the
    # windows a decision looks at give the same events; talk and noise bursts are never scored.
    audio = np.concatenate([stream, babble(4.0, seed=3) * 0.3, _gap(1.0, 8), tone(1000, 0.5), _gap(2.0, 9)])
    runs = {}
    for mode, hook in (("every window", lambda end, p: None), ("on demand", None)):
        spotter = KeywordSpotter(models[name], SpotterOptions(threshold=0.05), score_hook=hook)
        events = []
        for i in range(0, len(audio), 1000):
            events += spotter.process(audio[i:i + 1000])
        runs[mode] = (events + spotter.flush(), spotter.stats)
    assert runs["on demand"][0] == runs["every window"][0] and len(runs["on demand"][0]) >= 3
    scored = {mode: stats.windows_scored for mode, (_, stats) in runs.items()}
    assert scored["on demand"] < scored["every window"] / 2, scored


def test_event_timing_and_fields(models, stream):
    events, spotter = _events(models["tone"], stream, 1600)
    first = events[0]
    # The first tone spans 2.0-2.6 s: the detector fires once its utterance has ended (VAD
    # hangover included); start/end are the 1-s window centred on the utterance, which it scored.
    assert 2.6 < first.time <= 3.6
    assert first.end <= first.time and first.start == pytest.approx(first.end - 1.0)
    assert abs((first.start + first.end) / 2 - 2.3) <= 0.15
    assert DEFAULT_THRESHOLD <= first.score <= 1.0
    assert all(round(e.time * SAMPLE_RATE) % (SAMPLE_RATE // 10) == 0 for e in events)
    assert spotter.seconds == pytest.approx(len(stream) / SAMPLE_RATE)


def test_refractory_makes_one_utterance_fire_once(models):
    # A 3-s sound is no short utterance: the gate is off here to test the refractory period alone.
    long_tone = np.concatenate([_gap(1.0, 0), tone(1000, 3.0), _gap(1.0, 1)])
    once, _ = _events(models["tone"], long_tone, 4000, refractory_ms=5000, max_utterance_ms=0)
    assert [e.label for e in once] == ["yes"]
    several, _ = _events(models["tone"], long_tone, 4000, refractory_ms=1000, max_utterance_ms=0)
    assert len(several) >= 2
    times = [e.time for e in several]
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(times, times[1:], strict=False))


def test_thresholds_from_metadata_and_override(tmp_path, stream, caplog):
    strict = OnnxModel(tone_model(tmp_path / "t.onnx", thresholds={"yes": 0.99, "no": 0.5}))
    events, _ = _events(strict, stream, 4000)
    assert [e.label for e in events] == ["no"]  # yes needs 0.99 which the short tones never reach
    assert "replaces" not in caplog.text
    overridden, _ = _events(strict, stream, 4000, threshold=0.6)
    assert [e.label for e in overridden] == ["yes", "no", "yes"]
    # Said, since a global threshold meant to cut false alarms can lower a word's stored one.
    assert "a threshold of 0.6 (--threshold) replaces this model's per-word thresholds (yes 0.99, no 0.5)" \
        in caplog.text


def test_unknown_is_never_reported(models):
    events, spotter = _events(models["tone"], noise(5.0, amp=0.3), 8000, threshold=0.05,
                              vad=VadOptions("off"))
    assert spotter.stats.windows_scored == 50
    assert all(e.label != "_unknown_" for e in events)


def test_vad_skips_silence_and_reset_restarts_clock(models):
    quiet = np.zeros(5 * SAMPLE_RATE, np.float32)
    events, spotter = _events(models["tone"], quiet, 16000)
    assert events == [] and spotter.stats.windows_scored == 0 and spotter.stats.hops == 50
    spotter.reset()
    assert spotter.stats.samples == 0 and spotter.seconds == 0.0


def test_smoothing_delays_a_short_peak(models):
    blip = np.concatenate([_gap(2.0, 0), tone(1000, 0.7), _gap(2.0, 1)])
    # Smoothing acts on the sliding windows when the utterance gate is off.
    raw, _ = _events(models["tone"], blip, 1600, smooth_ms=0, max_utterance_ms=0)
    smooth, _ = _events(models["tone"], blip, 1600, smooth_ms=500, max_utterance_ms=0)
    assert raw and smooth and smooth[0].time >= raw[0].time


def test_bad_options():
    with pytest.raises(KwsError):
        SpotterOptions(hop_ms=0)
    with pytest.raises(KwsError):
        SpotterOptions(threshold=1.5)
    with pytest.raises(KwsError):
        VadOptions(kind="magic")
    with pytest.raises(KwsError, match="quiet_gain_db"):
        SpotterOptions(quiet_gain_db=-6)


def test_hop_longer_than_window_is_refused(models):
    with pytest.raises(KwsError, match="hop-ms"):
        KeywordSpotter(models["tone"], SpotterOptions(hop_ms=1500))
    # With the gate, a hop longer than its decision span would leave some words no window.
    with pytest.raises(KwsError, match="--hop-ms 400: with the utterance gate at most 300"):
        KeywordSpotter(models["tone"], SpotterOptions(hop_ms=400))
    KeywordSpotter(models["tone"], SpotterOptions(hop_ms=300))
    KeywordSpotter(models["tone"], SpotterOptions(hop_ms=400, max_utterance_ms=0))


def test_spot_file_resamples_any_rate_and_channels(models, tmp_path, stream):
    ref, _ = _events(models["tone"], stream, 16000)
    import soxr

    stereo44 = soxr.resample(stream, SAMPLE_RATE, 44100)
    stereo44 = np.stack([stereo44, stereo44], axis=1)
    path = write_wav(tmp_path / "s44.wav", stereo44, rate=44100, subtype="FLOAT")
    got = list(spot_file(path, models["tone"], chunk_ms=333))
    assert [e.label for e in got] == [e.label for e in ref]
    for a, b in zip(got, ref, strict=True):
        assert abs(a.time - b.time) <= 0.1 + 1e-9


def test_a_stereo_file_with_one_channel_inverted_is_heard(models, stream, tmp_path):
    """Some laptops' microphone pairs deliver one channel inverted: averaged, the channels cancel.
    Their half-difference is the sound; a file read whole or block by block gives the same events."""
    from kws_edge.audio import decode

    ref, _ = _events(models["tone"], stream, 16000)
    path = write_wav(tmp_path / "antiphase.wav", np.stack([stream, -stream], axis=1), subtype="FLOAT")
    audio, rate = decode(path)
    assert rate == SAMPLE_RATE and np.allclose(audio, stream, atol=1e-6)
    got = list(spot_file(path, models["tone"], chunk_ms=333))
    assert [(e.label, e.time) for e in got] == [(e.label, e.time) for e in ref]
    same = write_wav(tmp_path / "same.wav", np.stack([stream, stream * 0.5], axis=1), subtype="FLOAT")
    assert np.allclose(decode(same)[0], 0.75 * stream, atol=1e-6)  # ordinary stereo: the mean


def test_utterance_gate_drops_long_speech_and_keeps_short(models):
    """A 'yes' tone inside 3.6 s of talk (no pause around it) never fires with the gate; alone it
    does. (Steady noise around a word is the room, not talk: test_reject_gate.py.)"""
    long_sound = np.concatenate([_gap(1.5, 1), babble(1.5, seed=8, amp=0.2, talkers=2), tone(1000, 0.6),
                                 babble(1.5, seed=9, amp=0.2, talkers=2), _gap(2.0, 2)])
    short = np.concatenate([_gap(1.5, 3), tone(1000, 0.6), _gap(2.0, 4)])
    gated, _ = _events(models["tone"], long_sound, 1000)
    ungated, _ = _events(models["tone"], long_sound, 1000, max_utterance_ms=0)
    alone, _ = _events(models["tone"], short, 1000)
    assert [e.label for e in ungated] == ["yes"]
    assert gated == []
    assert [e.label for e in alone] == ["yes"]


def test_utterance_gate_decides_once_per_utterance(models, stream):
    """Without a refractory period the ungated detector fires on many hops of one tone; the gate
    makes one decision per short utterance, on the windows centred on it."""
    ungated, _ = _events(models["tone"], stream, 1000, refractory_ms=0, max_utterance_ms=0)
    gated, _ = _events(models["tone"], stream, 1000, refractory_ms=0)
    assert len(ungated) > 3 * len(gated)
    assert [e.label for e in gated] == ["yes", "no", "yes"]


def test_utterance_gate_judges_a_word_at_the_very_end(models):
    """A word in the last second of a file, its segment still open: flush() decides it."""
    tail = np.concatenate([_gap(1.5, 5), tone(1000, 0.6), _gap(0.1, 6)])
    events, _ = _events(models["tone"], tail, 1000)
    assert [e.label for e in events] == ["yes"]


@pytest.mark.parametrize("after", [0.0, 0.1])
def test_a_word_that_ends_the_file_is_heard(models, after):
    """A word with nothing (or 100 ms) after it: the windows centred on it reach past the end, so
    flush() runs the stream on through silence; the event keeps a time within the stream."""
    tail = np.concatenate([_gap(1.5, 5), tone(1000, 0.6), _gap(after, 6)])
    events, spotter = _events(models["tone"], tail, 1000)
    assert [e.label for e in events] == ["yes"]
    assert events[0].time <= len(tail) / SAMPLE_RATE and spotter.seconds == len(tail) / SAMPLE_RATE


def test_a_real_clip_alone_in_a_file_is_heard(shared_data):
    """One real person's "cat", a 1-s clip whose word ends near its end: the shipped base hears it
    (it reported nothing before flush() ran on through silence)."""
    from kws_edge.models import BASE_ONNX

    events = list(spot_file(shared_data / "speech_real" / "cat" / "62581901_nohash_0.wav", BASE_ONNX))
    assert [e.label for e in events] == ["cat"] and events[0].time <= 1.0


def test_nan_samples_are_heard_as_silence_and_stereo_arrays_are_refused(models, stream):
    """A glitching driver's NaN or inf must not crash the gate nor silence the detector for good
    (both happened); a stereo array flattened into one stream gave wrong words at wrong times."""
    reference, _ = _events(models["tone"], stream, len(stream))
    for bad in (np.nan, np.inf):
        spoilt = stream.copy()
        spoilt[[100, len(stream) // 3]] = bad
        events, _ = _events(models["tone"], spoilt, 1600)
        assert [e.label for e in events] == [e.label for e in reference]
    spotter = KeywordSpotter(models["tone"])
    with pytest.raises(ValueError, match="mono"):
        spotter.process(np.stack([stream, stream], axis=1))
    row = spotter.process(stream[None, :]) + spotter.flush()  # [1, N] is mono
    assert [e.label for e in row] == [e.label for e in reference]


def test_int16_samples_are_heard_at_their_level(models, stream):
    """int16 chunks (a sound card's, a WAV read raw) are scaled to [-1, 1] as a float stream is:
    unscaled, a whisper of 3 steps (-81 dBFS, under the VAD's floor) was heard as a loud word."""
    for level in (1.0, 3 / 32768 / np.abs(stream).max()):
        floats = (stream * level).astype(np.float32)
        ints = np.round(floats * 32768).clip(-32768, 32767).astype(np.int16)
        scaled, _ = _events(models["tone"], ints.astype(np.float32) / 32768, 1600)
        expected = [(e.label, e.time) for e in scaled]
        assert [(e.label, e.time) for e in _events(models["tone"], ints, 1600)[0]] == expected
        assert bool(expected) == (level == 1.0)


def test_a_quiet_microphone_is_heard_like_a_loud_one(tmp_path):
    """The bundled recording with its words peaking at -50 dBFS (a far or turned-down microphone):
    the shipped base reports the same words as at full level. Before the quiet-input handling (the
    VAD's floor at -60 dBFS, windows under the model's RMS floor scored as they are) it gave one."""
    import soundfile as sf

    from kws_edge.models import BASE_ONNX

    demo = Path(__file__).resolve().parents[1] / "kws_edge" / "assets" / "demo.wav"
    audio, rate = sf.read(str(demo), dtype="float32")
    quiet = write_wav(tmp_path / "quiet.wav", audio / np.abs(audio).max() * 10 ** (-50 / 20), rate)
    model = OnnxModel(BASE_ONNX)
    assert model.rms_floor == pytest.approx(1e-3)
    loud = [e.label for e in spot_file(demo, model)]
    assert len(loud) == 7 and [e.label for e in spot_file(quiet, model)] == loud
    before = SpotterOptions(batch_windows=16, quiet_gain_db=0, vad=VadOptions(min_level_dbfs=-60),
                            segment_vad=dataclasses.replace(SpotterOptions().segment_vad, min_level_dbfs=-60))
    assert len(list(spot_file(quiet, model, before))) < 3


@pytest.mark.parametrize("chunk", [160, 999, 4096])
def test_utterance_gate_is_chunk_size_invariant(models, stream, chunk):
    reference, _ = _events(models["tone"], stream, len(stream))
    events, _ = _events(models["tone"], stream, chunk)
    assert events == reference and len(reference) >= 2


def test_utterance_gate_rejects_negative_length():
    with pytest.raises(KwsError, match="max-utterance-ms"):
        SpotterOptions(max_utterance_ms=-1)


@pytest.mark.parametrize("field", ["core_db", "max_core_ms", "core_gap_ms"])
def test_utterance_gate_rejects_negative_core_settings(field):
    with pytest.raises(KwsError, match=field):
        SpotterOptions(**{field: -1})


def _segment_flips(audio: np.ndarray) -> list[int]:
    """Sample indices where the gate's segmenter (default options) turns off or on."""
    vad = EnergyVad(SpotterOptions().segment_vad)
    flags = vad.process(audio)
    flips = np.flatnonzero(np.diff(flags.astype(np.int8))) + 1
    return [int(f) * vad.frame_samples for f in flips]


def test_utterance_gate_sees_a_pause_shorter_than_a_hop(models):
    """Two words whose pause ends the segmenter's segment and starts the next between two hop ends
    are two short segments, not one long one (which would drop both)."""
    hop = SAMPLE_RATE // 10
    for lead_ms, pause_ms in itertools.product(range(2000, 2100, 20), range(300, 460, 20)):
        audio = np.concatenate([_gap(lead_ms / 1000, 1), tone(1000, 0.6), _gap(pause_ms / 1000, 2),
                                tone(2000, 0.6), _gap(2.0, 3)])
        flips = _segment_flips(audio)
        if len(flips) >= 3 and flips[1] // hop == flips[2] // hop:  # off and on inside one hop
            break
    else:
        pytest.fail("no pause put the segmenter's off and on inside one hop")
    events, _ = _events(models["tone"], audio, 1000, refractory_ms=0)
    assert [e.label for e in events] == ["yes", "no"]


def test_utterance_gate_centres_on_the_loud_part(models):
    """Quieter noise that keeps the segmenter open before a word moves the segment's middle; the
    decision's windows are centred on the word (the segment's core), not on the middle."""
    word_start, word = 2.6, 0.5
    audio = np.concatenate([_gap(2.0, 1), noise(0.6, amp=0.03, seed=2), tone(1000, word), _gap(2.0, 3)])
    core, _ = _events(models["tone"], audio, 1000)
    whole, _ = _events(models["tone"], audio, 1000, core_db=0)
    assert [e.label for e in core] == [e.label for e in whole] == ["yes"]
    word_centre = word_start + word / 2
    assert abs((core[0].start + core[0].end) / 2 - word_centre) <= 0.1
    assert abs((whole[0].start + whole[0].end) / 2 - word_centre) >= 0.2


def test_utterance_gate_hears_a_word_over_background_talk(models):
    """Talk in the background, ~12 dB under a word: over the minimum of 3 s alone (the inference
    VAD's floor) the talk holds the segmenter open for seconds around the word, a segment over the
    limit that never fires."""
    audio = babble(10.0, seed=1)
    audio[5 * SAMPLE_RATE:int(5.5 * SAMPLE_RATE)] += tone(1000, 0.5, amp=0.1)
    by_min_floor = dataclasses.replace(SpotterOptions().segment_vad, floor_percentile=0.0, floor_seconds=3.0)
    heard, _ = _events(models["tone"], audio, 1000)
    missed, _ = _events(models["tone"], audio, 1000, segment_vad=by_min_floor)
    assert [e.label for e in heard] == ["yes"]
    assert missed == []


def test_utterance_gate_drops_a_loud_part_longer_than_a_word(models):
    """1.4 s of syllables (200 ms of tone, 120 ms at 3% of its level) fits the segment limit
    with its hang-over, but no keyword is said that long: its core is over `max_core_ms`."""
    syllables = np.tile(np.concatenate([np.ones(3200), np.full(1920, 0.03)]), 5)[:int(1.4 * SAMPLE_RATE)]
    audio = np.concatenate([_gap(2.0, 1), tone(1000, 1.4) * syllables.astype(np.float32), _gap(2.0, 3)])
    dropped, _ = _events(models["tone"], audio, 1000)
    kept, _ = _events(models["tone"], audio, 1000, max_core_ms=0)
    assert dropped == []
    assert [e.label for e in kept] == ["yes"]


def test_utterance_gate_keeps_a_word_that_noise_makes_a_long_segment(models):
    """Quieter noise keeps the segmenter open for a second before a word: the segment is 1.8 s
    long with its hang-over, but its loud part is the word, so it fires (a 1.5-s segment limit,
    the previous default, dropped it)."""
    audio = np.concatenate([_gap(2.0, 1), noise(1.0, amp=0.03, seed=2), tone(1000, 0.5), _gap(2.0, 3)])
    kept, _ = _events(models["tone"], audio, 1000)
    dropped, _ = _events(models["tone"], audio, 1000, max_utterance_ms=1500)
    assert [e.label for e in kept] == ["yes"]
    assert dropped == []


def test_utterance_gate_splits_the_loud_part_at_a_long_pause(models):
    """A burst of noise, 0.7 s of quieter noise that keeps the segment open, then a word: the loud
    part spans 1.5 s, over the 1-s limit, but a pause that long is no word's, so the core is the
    part holding the loudest frame, the word."""
    audio = np.concatenate([_gap(2.0, 1), noise(0.3, amp=0.1, seed=2), noise(0.7, amp=0.03, seed=3),
                            tone(1000, 0.5), _gap(2.0, 4)])
    split, _ = _events(models["tone"], audio, 1000)
    whole, _ = _events(models["tone"], audio, 1000, core_gap_ms=0)
    assert [e.label for e in split] == ["yes"]
    assert abs((split[0].start + split[0].end) / 2 - 3.25) <= 0.1
    assert whole == []


def test_batching_over_a_long_silence_gives_the_same_events(models):
    """A batch waits through silence for windows to fill it; the segment it then closes still finds
    its levels (the core needs them)."""
    audio = np.concatenate([_gap(2.0, 1), noise(0.4, amp=0.03, seed=2), tone(1000, 0.5), _gap(30.0, 3),
                            tone(2000, 0.5), _gap(2.0, 4)])
    plain, _ = _events(models["tone"], audio, 1000, batch_windows=1)
    batched, _ = _events(models["tone"], audio, 1000, batch_windows=16)
    assert [e.label for e in plain] == ["yes", "no"]
    assert batched == plain


def test_a_gate_too_short_for_a_spoken_keyword_is_warned_about(caplog):
    SpotterOptions(max_utterance_ms=500)
    assert any("--max-utterance-ms 500" in r.getMessage() for r in caplog.records)
    caplog.clear()
    SpotterOptions(max_utterance_ms=0)
    SpotterOptions()
    assert not caplog.records

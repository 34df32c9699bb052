"""The energy VAD (and the optional webrtc one): frames, hysteresis, hang-over, adaptive floor."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from audiogen import babble, espeak, noise, tone
from conftest import requires_espeak

from kws_edge.errors import KwsError
from kws_edge.labels import SAMPLE_RATE
from kws_edge.vad import EnergyVad, VadOptions, WebRtcVad, make_vad

FRAME = SAMPLE_RATE * 20 // 1000


def _flags(vad, audio, chunk):
    out = [vad.process(audio[i:i + chunk]) for i in range(0, len(audio), chunk)]
    return np.concatenate(out) if out else np.zeros(0, bool)


def _frames_of(seconds: float) -> int:
    return int(round(seconds * SAMPLE_RATE)) // FRAME


def test_silence_and_steady_noise_are_not_speech():
    vad = EnergyVad()
    assert not _flags(vad, np.zeros(3 * SAMPLE_RATE, np.float32), 1600).any()
    assert vad.last_speech_end == -1
    vad.reset()
    steady = noise(10.0, amp=0.05, seed=3)
    flags = _flags(vad, steady, 1600)
    assert flags.mean() < 0.01


def test_loud_burst_over_noise_is_speech_with_hangover():
    bg = noise(6.0, amp=0.01, seed=1)
    audio = bg.copy()
    s, e = 3 * SAMPLE_RATE, int(3.5 * SAMPLE_RATE)
    audio[s:e] += tone(300, 0.5, amp=0.3)
    vad = EnergyVad(VadOptions(hangover_ms=200))
    flags = _flags(vad, audio, 480)
    speech = np.flatnonzero(flags)
    assert speech.size
    first, last = speech[0], speech[-1]
    assert abs(first - _frames_of(3.0)) <= 2                 # onset within 40 ms
    assert _frames_of(3.5) + 5 <= last <= _frames_of(3.5) + 12  # 200 ms hang-over after the end
    assert vad.last_speech_end == (last + 1) * FRAME
    assert not flags[:_frames_of(2.9)].any()


def test_hysteresis_keeps_speech_through_a_softer_tail():
    bg = noise(5.0, amp=0.01, seed=2)
    audio = bg.copy()
    loud = slice(2 * SAMPLE_RATE, int(2.3 * SAMPLE_RATE))
    soft = slice(int(2.3 * SAMPLE_RATE), int(3.0 * SAMPLE_RATE))
    audio[loud] += tone(300, 0.3, amp=0.2)
    # ~7 dB over the floor: above keep (5 dB), below start (8 dB).
    audio[soft] += tone(300, 0.7, amp=0.028)
    flags = _flags(EnergyVad(VadOptions(hangover_ms=100)), audio, 320)
    assert flags[_frames_of(2.5):_frames_of(2.95)].all()
    # The same soft tone alone never starts speech.
    alone = bg.copy()
    alone[soft] += tone(300, 0.7, amp=0.028)
    assert not _flags(EnergyVad(), alone, 320)[_frames_of(2.2):].any()


def test_a_word_under_9_db_over_a_loud_room_still_starts_speech():
    """In noise at -30 dBFS a quarter of the keywords never rose 9-10 dB over the floor and were
    never judged; both default VADs (inference and the gate's segmenter) start at 8 dB."""
    from kws_edge.spotter import SpotterOptions

    audio = noise(6.0, amp=0.01, seed=2)
    audio[3 * SAMPLE_RATE:int(3.6 * SAMPLE_RATE)] += tone(300, 0.6, amp=0.034)  # ~8.7 dB over the floor
    for opts in (VadOptions(), SpotterOptions().segment_vad):
        flags = _flags(EnergyVad(opts), audio, 320)
        assert flags[_frames_of(3.0):_frames_of(3.6)].any()
        assert not flags[:_frames_of(2.9)].any()


def test_a_percentile_floor_sits_at_background_talk():
    """Talk in the background dips between syllables: over the minimum floor most of it is speech,
    over the 20th percentile of the last 5 s almost none; a sound 12 dB over it still is."""
    talk = babble(10.0, seed=1)
    by_min = _flags(EnergyVad(VadOptions(start_db=8.0, keep_db=7.0)), talk, 320)
    by_pct = _flags(EnergyVad(VadOptions(start_db=8.0, keep_db=7.0, floor_percentile=20.0)), talk, 320)
    assert by_min.mean() > 0.5
    assert by_pct.mean() < 0.05
    louder = talk.copy()
    louder[6 * SAMPLE_RATE:int(6.5 * SAMPLE_RATE)] += tone(1000, 0.5, amp=0.1)
    flags = _flags(EnergyVad(VadOptions(start_db=8.0, keep_db=7.0, floor_percentile=20.0)), louder, 320)
    assert flags[_frames_of(6.0):_frames_of(6.5)].mean() > 0.8


@pytest.mark.parametrize("bad", [{"floor_percentile": -1.0}, {"floor_percentile": 100.0},
                                 {"floor_percentile": 20.0, "percentile_seconds": 0.2}])
def test_percentile_floor_settings_are_checked(bad):
    with pytest.raises(KwsError, match="floor_percentile|percentile_seconds"):
        VadOptions(**bad)


def test_pause_under_the_segment_peak_ends_speech():
    """A word, 0.6 s of a noise burst ~10 dB over the floor but ~17 dB under the word, a word:
    one segment by the floor alone; two with pause_db, which judges the pause against the word."""
    audio = noise(6.0, amp=0.01, seed=6)
    audio[2 * SAMPLE_RATE:int(2.4 * SAMPLE_RATE)] += tone(300, 0.4, amp=0.3)
    audio[int(2.4 * SAMPLE_RATE):int(3.0 * SAMPLE_RATE)] += noise(0.6, amp=0.03, seed=7)
    audio[3 * SAMPLE_RATE:int(3.4 * SAMPLE_RATE)] += tone(300, 0.4, amp=0.3)

    def segments(opts):
        flags = _flags(EnergyVad(opts), audio, 640)
        return int((flags[1:] & ~flags[:-1]).sum() + flags[0])

    assert segments(VadOptions(start_db=10.0, keep_db=7.0, hangover_ms=300)) == 1
    assert segments(VadOptions(start_db=10.0, keep_db=7.0, hangover_ms=300, pause_db=15.0)) == 2


def test_floor_adapts_to_louder_noise():
    audio = np.concatenate([noise(3.0, amp=0.005, seed=4), noise(8.0, amp=0.05, seed=5)])
    flags = _flags(EnergyVad(VadOptions(floor_seconds=3.0)), audio, 1600)
    assert flags[_frames_of(3.0):_frames_of(3.3)].any()        # the step is heard at first ...
    assert not flags[_frames_of(7.5):].any()                    # ... and becomes the new floor


@pytest.mark.parametrize("kind", ["energy", "webrtc", "energy-percentile"])
def test_decisions_do_not_depend_on_chunking(kind):
    if kind == "webrtc" and importlib.util.find_spec("webrtcvad") is None:
        pytest.skip("webrtcvad not installed (optional: pip install webrtcvad-wheels)")
    opts = {"energy": VadOptions(), "webrtc": VadOptions(kind="webrtc"),
            "energy-percentile": VadOptions(floor_percentile=20.0, percentile_seconds=2.0)}[kind]
    audio = np.concatenate([noise(2.0, 0.01, 1), tone(500, 0.4, 0.2), babble(7.0, seed=3) * 0.5,
                            tone(700, 0.4, 0.2), noise(2.0, 0.01, 2)])
    ref = _flags(make_vad(opts), audio, len(audio))
    for chunk in (1, 160, 333, 4096):
        if chunk == 1:
            audio_part = audio[:8000]
            small = _flags(make_vad(opts), audio_part, chunk)
            assert np.array_equal(small, ref[:len(small)])
            continue
        vad = make_vad(opts)
        assert np.array_equal(_flags(vad, audio, chunk), ref)
        assert vad.samples_consumed == len(audio) and vad.frames_done == len(audio) // FRAME


def test_off_means_no_vad():
    assert make_vad(VadOptions(kind="off")) is None


def test_reset_forgets_state():
    vad = EnergyVad()
    audio = np.concatenate([noise(1.0, 0.01, 1), tone(500, 0.5, 0.3)])
    first = _flags(vad, audio, 1600)
    assert vad.in_speech and vad.samples_consumed == len(audio)
    vad.reset()
    assert not vad.in_speech and vad.samples_consumed == 0 and vad.last_speech_end == -1
    assert np.array_equal(_flags(vad, audio, 1600), first)


@requires_espeak
def test_spoken_words_are_found():
    word = espeak("seven", speed=150)
    audio = np.concatenate([noise(2.0, 0.003, 1), word + noise(len(word) / SAMPLE_RATE, 0.003, 2),
                            noise(2.0, 0.003, 3)])
    flags = _flags(EnergyVad(), audio, 1600)
    start = _frames_of(2.0)
    span = slice(start, start + len(word) // FRAME)
    assert flags[span].mean() > 0.5
    assert not flags[:start - 2].any()


def test_webrtc_missing_package_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "webrtcvad", None)
    from kws_edge.errors import KwsError

    with pytest.raises(KwsError, match="pip install webrtcvad-wheels"):
        WebRtcVad()


def test_smoothed_levels_are_bit_identical_across_chunkings():
    """The level the decisions use: a causal mean power over 5 frames, exact whatever the chunking."""
    rng = np.random.default_rng(0)
    audio = np.concatenate([rng.normal(0, 0.01, 8000), rng.normal(0, 0.3, 3200),
                            rng.normal(0, 0.01, 8000)]).astype(np.float32)

    class Recording(EnergyVad):
        def _levels(self, frames):
            levels = super()._levels(frames)
            self.seen.append(levels)
            return levels

    def levels(chunk):
        vad = Recording()
        vad.seen = []
        for i in range(0, len(audio), chunk):
            vad.process(audio[i:i + chunk])
        return np.concatenate(vad.seen)

    whole = levels(len(audio))
    power = np.square(audio[:len(audio) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)).mean(axis=1)
    expect = np.array([power[max(0, i - 4):i + 1].mean() for i in range(len(power))])
    np.testing.assert_allclose(10 ** (whole / 10), expect + 1e-12, rtol=1e-9)
    for chunk in (1, 160, 500, 1600, 3000):
        assert np.array_equal(levels(chunk), whole), chunk


@pytest.mark.parametrize("chunk", [160, 999, 16000])
def test_a_follower_decides_as_if_it_measured_itself(chunk):
    """The gate's segmenter reuses the inference VAD's levels and floors: same decisions as its own
    measurement, whatever the chunking."""
    audio = noise(8.0, amp=0.01, seed=11)
    for start in (1.0, 2.2, 4.0, 6.5):
        s = int(start * SAMPLE_RATE)
        audio[s:s + 8000] += tone(300, 0.5, amp=0.2)
    strict = VadOptions(start_db=10.0, keep_db=7.0, hangover_ms=300, pause_db=15.0)
    alone = _flags(EnergyVad(strict), audio, chunk)
    leader, follower = EnergyVad(), EnergyVad(strict)
    follower.follow(leader)
    out = []
    for i in range(0, len(audio), chunk):
        leader.process(audio[i:i + chunk])
        out.append(follower.process(audio[i:i + chunk]))
    assert np.array_equal(np.concatenate(out), alone) and alone.any()


def test_only_a_vad_measuring_the_same_way_can_be_followed():
    with pytest.raises(ValueError):
        EnergyVad(VadOptions(smooth_frames=3)).follow(EnergyVad())

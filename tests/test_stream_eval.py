"""Stream evaluation: truth CSV reading, the matching rule, and numbers on a constructed stream."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from audiogen import espeak, noise, tone
from conftest import requires_espeak
from onnx_tiny import tone_model

from kws_edge.detection import Detection
from kws_edge.errors import KwsError
from kws_edge.labelled_stream import Piece, TruthRow, active_span, build_stream, silence, write_stream
from kws_edge.labels import SAMPLE_RATE
from kws_edge.stream_eval import evaluate_stream_file, read_truth_csv, score_detections


def _det(t: float, label: str) -> Detection:
    return Detection(time=t, label=label, score=0.9, start=t - 1.0, end=t)


def test_matching_rule_by_hand():
    truth = [TruthRow(1.0, 1.5, "yes"), TruthRow(4.0, 4.4, "no"), TruthRow(7.0, 7.6, "other"),
             TruthRow(10.0, 10.5, "yes")]
    dets = [_det(1.6, "yes"),   # hit, latency 0.1
            _det(2.3, "yes"),   # second event for the same word -> false alarm
            _det(4.9, "yes"),   # overlaps 'no' -> wrong word
            _det(7.5, "no"),    # 'other' speech -> false alarm
            _det(10.4, "yes"),  # hit before the word ended: latency -0.1
            _det(20.0, "no")]   # nothing there -> false alarm
    r = score_detections(dets, truth, duration_s=1800.0)
    assert r["keyword_segments"] == 3 and r["other_segments"] == 1
    assert r["hits"] == 2 and r["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert r["wrong_word"] == 1 and r["wrong_word_events"][0]["truth"] == "no"
    assert r["false_alarms"] == 3 and r["false_alarms_per_hour"] == 6.0
    assert r["latency_median_s"] == pytest.approx(0.0, abs=1e-9)
    assert r["latency_p90_s"] == pytest.approx(0.08, abs=1e-6)
    assert r["per_label"] == {"yes": {"segments": 2, "hits": 2}, "no": {"segments": 1, "hits": 0}}


def test_window_tolerance_after_word_end():
    truth = [TruthRow(1.0, 1.5, "yes")]
    assert score_detections([_det(2.49, "yes")], truth, 10.0)["hits"] == 1
    late = score_detections([_det(2.51, "yes")], truth, 10.0)
    assert late["hits"] == 0 and late["false_alarms"] == 1
    assert score_detections([], truth, 10.0)["latency_median_s"] is None


@pytest.mark.parametrize("text,message", [
    ("start,end,label\n1,2,yes\n", "header must start"),
    ("start_s,end_s,label\n1,x,yes\n", r":2: start_s/end_s must be numbers"),
    ("start_s,end_s,label\n1,2,yes\n3,2,no\n", r":3: need 0 <= start_s < end_s"),
    ("start_s,end_s,label\n1,2\n", r":2: expected 3 fields"),
    ("start_s,end_s,label\n1,2, \n", r":2: empty label"),
    ("", "header must start"),
    ("start_s,end_s,label,note\n1,2,yes\n", r":2: expected 4 fields"),
    ("start_s,end_s,label\n1,2,yes\n1,2,yes\n", r"keyword rows overlap \(1-2 s yes, 1-2 s yes\)"),
    ("start_s,end_s,label\n1,2,yes\n1.5,2.5,no\n", "keyword rows overlap"),
])
def test_bad_truth_csv(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(KwsError, match=message) as err:
        read_truth_csv(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_truth_csv_columns_after_the_three_are_the_users_own(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("start_s,end_s,label,note\n1,2,yes,said fast\n3,4,other,a cough\n")
    assert [(r.start_s, r.label) for r in read_truth_csv(path)] == [(1.0, "yes"), (3.0, "other")]


def test_truth_csv_as_spreadsheets_save_it(tmp_path):
    # Excel's "CSV UTF-8" starts with a byte-order mark; Windows ends lines with CRLF. Talk may
    # overlap a keyword (someone speaking over it); only keywords must not overlap each other.
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffstart_s,end_s,label\r\n1,2,yes\r\n1.5,3,other\r\n".encode())
    assert read_truth_csv(path) == [TruthRow(1.0, 2.0, "yes"), TruthRow(1.5, 3.0, "other")]
    path.write_text("START_S, End_s, Label\n1,2,yes\n")  # a header in any case
    assert read_truth_csv(path) == [TruthRow(1.0, 2.0, "yes")]


def test_truth_csv_round_trip(tmp_path):
    rows = [TruthRow(3.0, 3.5, "no"), TruthRow(1.0, 1.25, "yes")]
    audio = np.zeros(5 * SAMPLE_RATE, np.float32)
    wav, csv_path = write_stream(audio, rows, tmp_path / "s.wav", tmp_path / "s.csv")
    assert read_truth_csv(csv_path) == sorted(rows, key=lambda r: r.start_s)
    assert sf.info(str(wav)).frames == len(audio)
    assert not list(tmp_path.glob(".*"))  # no temp files left behind
    with pytest.raises(KwsError, match="no such truth CSV"):
        read_truth_csv(tmp_path / "absent.csv")
    with pytest.raises(KwsError, match="is a folder, not a truth CSV"):
        read_truth_csv(tmp_path)


def test_active_span_trims_padding():
    clip = np.concatenate([np.zeros(4000, np.float32), tone(500, 0.3), np.zeros(3000, np.float32)])
    start, end = active_span(clip)
    assert abs(start - 4000) <= 160 and abs(end - (4000 + 4800)) <= 160


def test_build_stream_rows_and_background():
    pieces = [silence(1.0), Piece(tone(1000, 0.5), "yes"), Piece(tone(300, 0.4), None),
              Piece(tone(2000, 0.5), "no")]
    audio, rows = build_stream(pieces, background=noise(0.7, 0.1), background_dbfs=-40.0,
                               gap_s=(0.2, 0.4), seed=3)
    assert [r.label for r in rows] == ["yes", "no"]
    assert 1.4 <= rows[0].start_s <= 1.8 and rows[0].end_s - rows[0].start_s == pytest.approx(0.5, abs=0.02)
    quiet = audio[:SAMPLE_RATE // 2]
    assert 10 * np.log10(np.mean(quiet.astype(np.float64) ** 2)) == pytest.approx(-40.0, abs=1.0)
    again, rows2 = build_stream(pieces, background=noise(0.7, 0.1), background_dbfs=-40.0,
                                gap_s=(0.2, 0.4), seed=3)
    assert rows2 == rows and np.array_equal(again, audio)


@pytest.fixture(scope="module")
def constructed(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    model = tone_model(d / "tone.onnx")
    other = espeak("the weather is nice today") if _have_espeak() else noise(1.2, 0.2, seed=9)
    pieces = [silence(1.0), Piece(tone(1000, 0.6), "yes"), silence(1.5), Piece(other, "other"), silence(1.5),
              Piece(tone(2000, 0.6), "no"), silence(1.5), Piece(tone(1000, 0.6), "yes"), silence(1.5),
              Piece(tone(2000, 0.6), None), silence(1.5)]
    audio, rows = build_stream(pieces, background=noise(2.0, 0.05, seed=4), background_dbfs=-50.0)
    wav, csv_path = write_stream(audio, rows, d / "stream.wav", d / "stream.csv")
    return model, wav, csv_path, rows, d


def _have_espeak() -> bool:
    from audiogen import have_espeak

    return have_espeak()


@requires_espeak
def test_evaluate_stream_file_numbers(constructed):
    model, wav, csv_path, rows, _ = constructed
    r = evaluate_stream_file(model, wav, csv_path)
    assert r["keyword_segments"] == 3 and r["other_segments"] == 1
    assert r["hits"] == 3 and r["recall"] == 1.0 and r["wrong_word"] == 0
    # The unlabelled 'no' tone is a false alarm: one per stream duration.
    assert r["false_alarms"] == 1
    assert r["false_alarms_per_hour"] == pytest.approx(3600 / r["duration_s"], rel=1e-3)
    assert 0.0 <= r["latency_median_s"] <= 1.0 and r["latency_p90_s"] >= r["latency_median_s"]
    assert r["windows_scored"] < r["hops"]
    # Same numbers with a different hop / without VAD gating.
    r_off = evaluate_stream_file(model, wav, csv_path, vad="off", batch_windows=1)
    assert (r_off["hits"], r_off["false_alarms"], r_off["wrong_word"]) == (3, 1, 0)
    assert r_off["windows_scored"] == r_off["hops"]


def test_evaluate_stream_file_wrong_words(constructed):
    model, wav, _, rows, d = constructed
    swapped = [TruthRow(r.start_s, r.end_s, {"yes": "no", "no": "yes"}.get(r.label, r.label)) for r in rows]
    from kws_edge.labelled_stream import write_truth_csv

    csv_path = write_truth_csv(swapped, d / "swapped.csv")
    r = evaluate_stream_file(model, wav, csv_path)
    assert r["hits"] == 0 and r["wrong_word"] == 3 and r["recall"] == 0.0


def test_a_truth_csv_a_second_off_is_suspected(constructed, caplog):
    """Rows shifted by 2 s (labelled by ear, or for another take): every detection misses every
    row, and the warning points at the CSV rather than leaving a 'deaf' model."""
    model, wav, csv_path, rows, d = constructed
    assert "fell outside every keyword's span" not in caplog.text
    evaluate_stream_file(model, wav, csv_path)
    assert "fell outside every keyword's span" not in caplog.text
    from kws_edge.labelled_stream import write_truth_csv

    late = write_truth_csv([TruthRow(r.start_s + 2.0, r.end_s + 2.0, r.label) for r in rows], d / "late.csv")
    r = evaluate_stream_file(model, wav, late)
    assert r["hits"] == 0 and "late.csv: 2 of 4 detections fell outside every keyword's span" in caplog.text
    assert "0 of 3 keywords were heard" in caplog.text


def test_evaluate_stream_file_errors(constructed):
    model, wav, csv_path, rows, d = constructed
    with pytest.raises(KwsError, match="unknown stream option"):
        evaluate_stream_file(model, wav, csv_path, hopms=100)
    bad_label = d / "bad_label.csv"
    bad_label.write_text("start_s,end_s,label\n1.0,1.5,sevne\n")
    with pytest.raises(KwsError, match=r"\['sevne'\] are neither 'other'"):
        evaluate_stream_file(model, wav, bad_label)
    # A label in another case is the model's word ("YES" typed by hand).
    upper = d / "upper.csv"
    upper.write_text("start_s,end_s,label\n" + "".join(f"{r.start_s},{r.end_s},{r.label.upper()}\n"
                                                      for r in rows))
    hits = evaluate_stream_file(model, wav, csv_path)["hits"]
    assert hits > 0 and evaluate_stream_file(model, wav, upper)["hits"] == hits
    # One of the 35 words that this model (yes, no) does not know is speech it must not report.
    not_its = d / "not_its.csv"
    not_its.write_text("start_s,end_s,label\n0.1,0.5,seven\n")
    r = evaluate_stream_file(model, wav, not_its)
    assert r["keyword_segments"] == 0 and r["other_segments"] == 1
    too_late = d / "late.csv"
    too_late.write_text("start_s,end_s,label\n100.0,101.0,yes\n")
    with pytest.raises(KwsError, match="past the end"):
        evaluate_stream_file(model, wav, too_late)
    # Times written in milliseconds: refused from the file's header, before the scan, with the hint.
    in_ms = d / "ms.csv"
    in_ms.write_text("start_s,end_s,label\n1500,2100,yes\n")
    with pytest.raises(KwsError, match="are its times milliseconds"):
        evaluate_stream_file(model, wav, in_ms)
    # A hand-written "Yes" or "OTHER" is the word, whatever its case.
    capitals = d / "capitals.csv"
    capitals.write_text(csv_path.read_text().replace(",yes", ",Yes").replace(",other", ",OTHER"))
    plain = evaluate_stream_file(model, wav, csv_path)
    assert evaluate_stream_file(model, wav, capitals)["recall"] == plain["recall"]

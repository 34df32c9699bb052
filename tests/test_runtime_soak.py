"""Memory stays flat over an hour of audio in file mode (a fresh process, real files on disk)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from audiogen import noise, tone
from onnx_tiny import tone_model

from kws_edge.labels import SAMPLE_RATE

MINUTES = 60
TONE_EVERY_S = 30

CHILD = """
import json, sys
from kws_edge.sources import FileSource
from kws_edge.spotter import KeywordSpotter, SpotterOptions

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

spotter = KeywordSpotter(sys.argv[1], SpotterOptions(batch_windows=16))
events, marks = 0, {}
with FileSource(sys.argv[2], spotter.sample_rate) as source:
    for chunk in source:
        events += len(spotter.process(chunk))
        minute = int(spotter.seconds // 60)
        if minute in (5, 30) and minute not in marks:
            marks[minute] = rss_mb()
events += len(spotter.flush())
print(json.dumps({"events": events, "rss5": marks[5], "rss30": marks[30], "rss_end": rss_mb(),
                  "seconds": spotter.seconds, "scored": spotter.stats.windows_scored}))
"""


@pytest.mark.slow
def test_memory_flat_over_an_hour(tmp_path):
    model = tone_model(tmp_path / "tone.onnx")
    wav = tmp_path / "hour.wav"
    block = 60 * SAMPLE_RATE
    tones = 0
    with sf.SoundFile(str(wav), "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16") as f:
        for minute in range(MINUTES):
            audio = noise(60.0, amp=0.01, seed=minute)
            for at in range(5, 60, TONE_EVERY_S):
                audio[at * SAMPLE_RATE:at * SAMPLE_RATE + 9600] += tone(1000, 0.6)
                tones += 1
            f.write(audio)
    assert sf.info(str(wav)).frames == MINUTES * block
    res = subprocess.run([sys.executable, "-c", CHILD, str(model), str(wav)], capture_output=True, text=True,
                         check=True, timeout=900)
    report = json.loads(res.stdout)
    assert report["seconds"] == pytest.approx(MINUTES * 60)
    assert report["events"] == tones
    assert report["scored"] < 0.5 * MINUTES * 600  # the VAD skipped most of the steady noise
    growth = report["rss_end"] - report["rss5"]
    assert growth < 4.0, f"RSS grew {growth:.1f} MB over 55 min of audio: {report}"
    assert np.isfinite(report["rss30"])

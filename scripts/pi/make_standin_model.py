"""A stand-in int8 model and stream for scripts/pi_check.sh: a model other than the shipped one.

Development aid only (needs the `train` extra: torch + onnx). The check's point is that the aarch64
runtime reproduces the x86-64 detections, so it needs a model that actually *fires* on a recording:
a random-init M5 gives near-uniform scores, no detections, and an empty comparison that proves
nothing. This overfits M5 to the 300 real clips in ../shared/data for a minute, exports it with the
ONNX contract of DESIGN.md (input `audio`, output `probs`, labels in metadata), quantizes it to
static QDQ int8 (the shipped model's format) and writes a stream of some of those clips in noise.

    .venv/bin/python scripts/pi/make_standin_model.py --out .pi/standin
    bash scripts/pi_check.sh --model .pi/standin/export_int8.onnx --input .pi/standin/stream.wav

It also writes the checkpoint (model.pt, DESIGN.md's contract) and, when the project's own
`kws-export` is installed next to this Python, exports it the way the shipped model is made
(folded front end, static int8 QDQ): export_int8.onnx and export_fp32.onnx.

Never ship this model: it has heard only the clips it is tested on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
STREAM_WORDS = ("yes", "stop", "seven", "marvin", "left", "go")


def load_clips(rate: int, window: int) -> tuple[list[np.ndarray], list[str]]:
    import soundfile as sf

    clips, words = [], []
    for wav in sorted((DATA / "speech_real").glob("*/*.wav")):
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
        if sr != rate:
            raise SystemExit(f"{wav}: expected {rate} Hz, got {sr}")
        clips.append(audio.mean(axis=1)[:window])
        words.append(wav.parent.name)
    return clips, words


def noise_bank(rate: int) -> np.ndarray:
    import soundfile as sf

    parts = [sf.read(p, dtype="float32", always_2d=True)[0].mean(axis=1)
             for p in sorted((DATA / "background_noise").glob("*.wav"))]
    return np.concatenate(parts)


def place(clip: np.ndarray, window: int, rng: np.random.Generator) -> np.ndarray:
    """The clip at a random offset in a 1-s window: streaming windows never see it centred."""
    out = np.zeros(window, dtype=np.float32)
    offset = int(rng.integers(0, window - len(clip) + 1))
    out[offset:offset + len(clip)] = clip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / ".pi" / "standin")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA}: real data not found")

    import onnx
    import soundfile as sf
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from kws_edge.labels import DEFAULT_LABELS, SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES
    from kws_edge.training.model import build_m5

    # The machine is shared; one thread keeps this from starving the others.
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    clips, words = load_clips(SAMPLE_RATE, WINDOW_SAMPLES)
    noise = noise_bank(SAMPLE_RATE)
    labels = list(DEFAULT_LABELS)
    index = {w: i for i, w in enumerate(labels)}
    unknown = index[UNKNOWN_LABEL]

    model = build_m5(labels)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    n_noise = 120
    for epoch in range(args.epochs):
        batch_x = [place(c, WINDOW_SAMPLES, rng) + 0.003 * rng.standard_normal(WINDOW_SAMPLES) for c in clips]
        batch_y = [index[w] for w in words]
        for _ in range(n_noise):
            start = int(rng.integers(0, len(noise) - WINDOW_SAMPLES))
            gain = float(10 ** rng.uniform(-2.5, 0))
            batch_x.append(noise[start:start + WINDOW_SAMPLES] * gain)
            batch_y.append(unknown)
        x = torch.from_numpy(np.stack(batch_x).astype(np.float32))
        y = torch.tensor(batch_y)
        perm = torch.randperm(len(y))
        model.train()
        total = 0.0
        for i in range(0, len(y), 64):
            sel = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(model(x[sel]), y[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(sel)
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / len(y):.3f}", file=sys.stderr)

    class WithSoftmax(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, audio: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.inner(audio), dim=-1)

    model.eval()
    fp32 = args.out / "model_fp32.onnx"
    torch.onnx.export(WithSoftmax(model), torch.zeros(1, WINDOW_SAMPLES), str(fp32), input_names=["audio"],
                      output_names=["probs"], dynamic_axes={"audio": {0: "N"}, "probs": {0: "N"}},
                      opset_version=17, dynamo=False)
    meta = {"labels": json.dumps(labels), "sample_rate": str(SAMPLE_RATE),
            "window_samples": str(WINDOW_SAMPLES), "unknown_label": UNKNOWN_LABEL, "model": "M5",
            "version": "0.0.0-standin", "quantization": "none"}

    def set_meta(path: Path, **extra: str) -> None:
        proto = onnx.load(str(path))
        del proto.metadata_props[:]
        for key, value in {**meta, **extra}.items():
            prop = proto.metadata_props.add()
            prop.key, prop.value = key, value
        onnx.save(proto, str(path))

    set_meta(fp32)

    calib = iter([{"audio": place(clips[i], WINDOW_SAMPLES, rng)[None, :]} for i in range(0, len(clips), 5)])

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict | None:
            return next(calib, None)

    int8 = args.out / "model_int8.onnx"
    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    set_meta(int8, quantization="int8-static-qdq")

    # The stream: chosen words 2 s apart in low background noise, 16-bit like a real recording.
    first = {w: c for c, w in zip(clips, words, strict=True) if w in STREAM_WORDS}
    seconds = 2 * len(STREAM_WORDS) + 1
    stream = 0.003 * noise[: seconds * SAMPLE_RATE].copy()
    truth = []
    for i, word in enumerate(STREAM_WORDS):
        start = (1 + 2 * i) * SAMPLE_RATE
        stream[start:start + len(first[word])] += first[word]
        truth.append((start / SAMPLE_RATE, (start + len(first[word])) / SAMPLE_RATE, word))
    sf.write(args.out / "stream.wav", np.clip(stream, -1, 1), SAMPLE_RATE, subtype="PCM_16")
    with open(args.out / "stream.csv", "w") as fh:
        fh.write("start_s,end_s,label\n")
        for s, e, w in truth:
            fh.write(f"{s:.3f},{e:.3f},{w}\n")
    print(f"wrote {fp32}, {int8}, {args.out / 'stream.wav'} ({seconds} s)")

    from kws_edge.training.checkpoint import atomic_save, make_checkpoint

    ckpt = args.out / "model.pt"
    atomic_save(make_checkpoint(model, labels, train_config={"standin": True, "epochs": args.epochs},
                                metrics={}, split={"note": "stand-in: trained on every clip"}), ckpt)
    exporter = Path(sys.executable).parent / "kws-export"
    if exporter.is_file():
        import subprocess

        # The stand-in has seen every clip, so the exporter's accuracy gate means nothing here.
        common = [str(exporter), str(ckpt), "--calibration-data", str(DATA / "speech_real")]
        subprocess.run([*common[:2], "-o", str(args.out / "export_fp32.onnx")], check=True)
        subprocess.run([*common, "-o", str(args.out / "export_int8.onnx"), "--quantize",
                        "--max-accuracy-drop", "100"], check=True)
        print(f"wrote {ckpt}, {args.out / 'export_fp32.onnx'}, {args.out / 'export_int8.onnx'} (kws-export)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`kws-export`'s flags, apart from the export itself, so that `kws-export --help` works where
only the runtime is installed (the export needs torch and onnx)."""

from __future__ import annotations

import argparse

from kws_edge.cli_args import Once, Parser

# Max |p_torch - p_onnx| over real clips. fp32 reorderings (the folded front end, fused convs)
# move probabilities by ~1e-6; 1e-4 leaves room for that and nothing else.
PARITY_TOLERANCE = 1e-4

PROG = "kws-export"
DEFAULT_MAX_DROP = 1.0

EPILOG = """\
examples:
  kws-export runs/model.pt -o model.onnx
      fp32 ONNX; parity with PyTorch checked on the checkpoint's training clips if still reachable,
      else on synthetic test signals.
  kws-export runs/model.pt -o model.onnx --quantize --calibration-data my_words/ --report q.json
      static int8 (QDQ, per-channel), calibrated on half of my_words/ and checked on the other half
      (or on the checkpoint's test split when my_words/ is its training data).
  kws-export base -o base.onnx --quantize --calibration-data speech.zip
  kws-export runs/me/model.pt runs/me-b/model.pt -o me.onnx --quantize --calibration-data my_words/
      a pair (fine-tunes of 'base' and 'base-b' on the same clips) as one model: the mean of their
      probabilities. Twice the work per window; about half the false alarms (docs/export.md).
  kws-export runs/model.pt -o model.onnx --quantize --keyword-free room.wav --keyword-free tv.flac
      as above, then per-word thresholds: every word that fires on these recordings (which must
      hold no keyword: your room, your talk, the TV) gets its threshold raised above its score.
  kws-export base base-b -o base_fp32.onnx
      the shipped pair as fp32, with the boost its checkpoints carry: the words they heard only from
      synthetic voices get four times their odds, which real voices need (--boost; docs/export.md).

what the file carries (read by kws-listen / kws-eval, no sidecar files): input 'audio' float32
[N, 16000] at 16 kHz, output 'probs' float32 [N, C] (softmax inside), and metadata labels,
sample_rate, window_samples, unknown_label, model, version, quantization, metrics, test_accuracy,
thresholds (from --keyword-free, or when the checkpoint has calibrated ones), boost (from
--boost) and source (checkpoint file name + sha256).

refusal: with --quantize, when int8 accuracy on the held-out clips is more than
--max-accuracy-drop points below fp32 and chance cannot explain the loss (an exact one-sided
sign test on the clips the two disagree on, p < 0.05: on 20 clips one flipped clip is 5 points
and never enough), nothing is written at OUT; the fp32 model is written BESIDE
it as OUT with '.fp32.onnx' (model.onnx -> model.fp32.onnx), the report (if asked) is written, and
the exit status is 2. Any other failure leaves no output file at all.
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Export a trained kws-edge M5 checkpoint to ONNX for the streaming runtime; "
                    "optionally quantize it to int8 and prove it lost no accuracy.")
    p.add_argument("checkpoint", metavar="CKPT", nargs="+",
                   help="checkpoint .pt written by kws-train, or 'base' / 'base-b' for a shipped one; "
                        "several (same labels) become one model that averages their probabilities")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx", action=Once,
                   help="ONNX file to write (its folder is made if missing; written atomically)")
    p.add_argument("--quantize", action="store_true",
                   help="write a static int8 model (onnxruntime QDQ) instead of fp32")
    p.add_argument("--calibration-data", metavar="PATH", action=Once,
                   help="folder or .zip of <word>/*.wav used to calibrate int8 ranges and to check "
                        "accuracy (default: the checkpoint's training data, if still on disk)")
    p.add_argument("--report", metavar="FILE.json", action=Once,
                   help="with --quantize: write the fp32-vs-int8 comparison as JSON")
    p.add_argument("--max-accuracy-drop", type=float, default=DEFAULT_MAX_DROP, metavar="POINTS",
                   help=f"refuse int8 when it is more than this many accuracy points below fp32 on "
                        f"held-out clips, beyond chance (default {DEFAULT_MAX_DROP})")
    p.add_argument("--per-tensor", action="store_true",
                   help="one int8 scale per weight tensor instead of per output channel")
    # No "entropy": onnxruntime's quantize_static gives its entropy calibrator as many histogram
    # bins as quantized bins (128), so its search has one candidate, the full range: minmax again.
    p.add_argument("--calibrate-method", choices=("minmax", "percentile"), default="percentile",
                   help="how activation ranges are chosen from the calibration clips (default percentile)")
    p.add_argument("--no-fold", action="store_true",
                   help="keep the resampler as its own conv instead of folding it into conv1 "
                        "(slower; for debugging the export)")
    p.add_argument("--parity-tolerance", type=float, default=PARITY_TOLERANCE, metavar="DP",
                   help=f"max |p_torch - p_onnx| allowed for the fp32 export (default {PARITY_TOLERANCE:g})")
    p.add_argument("--keyword-free", action="append", default=[], metavar="REC",
                   help="a recording with no keyword in it (repeatable; any format soundfile reads): "
                        "words the detector fires on there get raised per-word thresholds, stored "
                        "in the model")
    p.add_argument("--boost", action="append", default=[], metavar="WORD[,WORD...]=F|none",
                   help="multiply these words' odds by F inside the model (repeatable): a prior "
                        "correction for words the checkpoint learnt from synthetic voices only, which "
                        "it under-calls in real voices. Default: the boost the checkpoint carries (the "
                        "shipped base's: docs/export.md); 'none' = no boost")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p

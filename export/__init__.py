"""Export: ONNX export, int8 quantization, parity checks and `kws-export` (needs the `train` extra)."""

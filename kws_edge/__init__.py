"""kws-edge: torch-free keyword-spotting runtime (numpy + onnxruntime + sounddevice)."""

from .labels import DEFAULT_LABELS, KEYWORDS, SAMPLE_RATE, UNKNOWN_LABEL, WINDOW_SAMPLES

__version__ = "0.1.0"

__all__ = ["DEFAULT_LABELS", "KEYWORDS", "SAMPLE_RATE", "UNKNOWN_LABEL", "WINDOW_SAMPLES", "__version__"]

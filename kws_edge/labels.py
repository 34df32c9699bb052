"""Audio conventions and the label set shared by training, export and the runtime."""

from __future__ import annotations

import unicodedata

SAMPLE_RATE = 16000
WINDOW_SECONDS = 1.0
WINDOW_SAMPLES = int(SAMPLE_RATE * WINDOW_SECONDS)

UNKNOWN_LABEL = "_unknown_"

# The 35 Speech Commands v2 words, sorted. The reject class is appended after them.
KEYWORDS: tuple[str, ...] = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on",
    "one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual",
    "wow", "yes", "zero",
)

DEFAULT_LABELS: tuple[str, ...] = (*KEYWORDS, UNKNOWN_LABEL)


def label_key(name: str) -> str:
    """How a label a user types or a folder name is compared with a model's labels: without
    surrounding spaces, in NFC (macOS writes file names decomposed) and case-folded, so "Yes",
    "lumière" typed on a Mac and "LUMIÈRE" all name one word."""
    return unicodedata.normalize("NFC", name.strip()).casefold()

"""Removing a microphone's DC offset from the stream before the VAD and the model see it.

Many cheap USB microphones and sound cards add a constant offset. The model normalises each
window by its RMS, which an offset inflates, and the VAD's noise floor rises with it: on a
fine-tuned model's benchmark stream an offset of 0.02 (-34 dBFS) cut keyword recall from 0.96 to
0.74 and 0.05 to 0.34 (docs/listening.md, "Microphones"). The offset is estimated as the mean of the
previous block of the stream, on a fixed grid of stream time, so the output does not depend on
how the stream is cut into chunks (the first block is passed through: nothing is known yet).
"""

from __future__ import annotations

import numpy as np


class DcRemover:
    """`process(chunk) -> chunk minus the mean of the last complete `block` samples`."""

    def __init__(self, block: int) -> None:
        if block < 1:
            raise ValueError(f"block must be at least 1 sample, got {block}")
        self.block = block
        self._buf = np.zeros(block, dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        self._fill = 0
        self._dc = np.float32(0.0)

    @property
    def offset(self) -> float:
        """The offset being subtracted now."""
        return float(self._dc)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        out = np.empty_like(chunk, dtype=np.float32)
        i, n = 0, len(chunk)
        while i < n:
            take = min(self.block - self._fill, n - i)
            part = chunk[i:i + take]
            np.subtract(part, self._dc, out=out[i:i + take])
            self._buf[self._fill:self._fill + take] = part
            self._fill += take
            i += take
            if self._fill == self.block:
                # The mean of one whole block, always summed the same way: chunking cannot change it.
                self._dc = np.float32(self._buf.mean(dtype=np.float64))
                self._fill = 0
        return out

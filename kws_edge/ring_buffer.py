"""A preallocated float32 ring buffer holding the most recent samples of a stream."""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Keeps the last `capacity` samples; writing never allocates, reading copies into `out`.

    Starts full of zeros, so the first windows of a stream are zero-padded on the left.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self._data = np.zeros(self.capacity, dtype=np.float32)
        self._pos = 0  # index of the oldest sample == where the next write goes
        self.total_written = 0

    def reset(self) -> None:
        self._data.fill(0.0)
        self._pos = 0
        self.total_written = 0

    def write(self, samples: np.ndarray) -> None:
        n = len(samples)
        if n == 0:
            return
        self.total_written += n
        if n >= self.capacity:
            self._data[:] = samples[-self.capacity:]
            self._pos = 0
            return
        first = min(n, self.capacity - self._pos)
        self._data[self._pos:self._pos + first] = samples[:first]
        rest = n - first
        if rest:
            self._data[:rest] = samples[first:]
        self._pos = (self._pos + n) % self.capacity

    def latest(self, n: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """The last `n` samples (default: all), oldest first, copied into `out` if given."""
        n = self.capacity if n is None else int(n)
        if not 0 < n <= self.capacity:
            raise ValueError(f"n must be in 1..{self.capacity}, got {n}")
        if out is None:
            out = np.empty(n, dtype=np.float32)
        start = (self._pos - n) % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._data[start:start + first]
        if first < n:
            out[first:n] = self._data[:n - first]
        return out

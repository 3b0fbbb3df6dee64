"""A single-producer single-consumer ring buffer for audio samples.

The producer is the audio callback: `write` copies a block and advances the write
counter; it never waits and never allocates. When the consumer falls behind and the
buffer is full, the samples that do not fit are dropped and counted (`overflowed`):
an overflow is reported by the engine, never silent.

Correctness without locks rests on two facts: each counter is written by one thread
only, and a Python int assignment is atomic under the GIL. The producer publishes
`_written` only after the samples are in place; the consumer publishes `_read` only
after it has copied them out.
"""
from __future__ import annotations

import time

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int, dtype=np.float32):
        if capacity <= 0:
            raise ValueError(f"ring buffer capacity must be positive, got {capacity}")
        self._data = np.zeros(capacity, dtype=dtype)
        self.capacity = capacity
        self._written = 0  # total samples ever written (producer only)
        self._read = 0  # total samples ever read (consumer only)
        self.overflowed = 0  # samples dropped because the buffer was full (producer only)
        self.overflow_events = 0  # callbacks that had to drop samples

    @property
    def available(self) -> int:
        return self._written - self._read

    @property
    def free(self) -> int:
        return self.capacity - (self._written - self._read)

    def write(self, block: np.ndarray) -> int:
        """Copy as much of a 1-D block as fits; return the number of samples written."""
        n = len(block)
        free = self.capacity - (self._written - self._read)
        if n > free:
            self.overflowed += n - free
            self.overflow_events += 1
            n = free
        if n == 0:
            return 0
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._data[start:start + first] = block[:first]
        if first < n:
            self._data[:n - first] = block[first:n]
        self._written += n
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Copy up to len(out) available samples into out; return how many."""
        n = min(len(out), self._written - self._read)
        if n == 0:
            return 0
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._data[start:start + first]
        if first < n:
            out[first:n] = self._data[:n - first]
        self._read += n
        return n

    def read(self, max_samples: int) -> np.ndarray:
        out = np.empty(min(max_samples, self.available), dtype=self._data.dtype)
        n = self.read_into(out)
        return out[:n]

    def wait(self, min_samples: int, timeout: float, poll: float = 0.002) -> bool:
        """Consumer side: sleep until at least min_samples are available or timeout passes.

        Polling keeps the producer free of any lock or condition variable.
        """
        deadline = time.monotonic() + timeout
        while self.available < min_samples:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True

"""Rolling timing statistics for diagnostics and the benchmark (thread-safe, bounded memory)."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np


class Rolling:
    """The last `size` samples of a quantity (seconds); percentiles in milliseconds."""

    def __init__(self, size: int = 500):
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(value)

    def percentile_ms(self, q: float) -> float:
        with self._lock:
            if not self._values:
                return float("nan")
            return float(np.percentile(np.fromiter(self._values, float), q) * 1e3)

    def values(self) -> list[float]:
        with self._lock:
            return list(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


class RateMeter:
    """Events per second over a sliding window of event times."""

    def __init__(self, window_s: float = 2.0):
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float) -> None:
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self.window_s:
                self._times.popleft()

    def rate(self, now: float) -> float:
        with self._lock:
            while self._times and now - self._times[0] > self.window_s:
                self._times.popleft()
            if len(self._times) < 2:
                return 0.0
            return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-9)

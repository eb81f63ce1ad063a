"""The inference worker: one thread that turns observation snapshots into action chunks.

It runs off the ROS executor and off the control thread, so neither subscriptions nor the command
rate ever wait for the model. Requests are single-slot: a newer request replaces one not yet started.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np


class InferenceWorker:
    def __init__(
        self,
        infer: Callable[[dict[str, Any]], np.ndarray],
        on_chunk: Callable[[np.ndarray, int, int, float, Any], None],
        on_error: Callable[[str], None],
    ):
        """`infer(obs) -> (H, A)`; `on_chunk(chunk, step, epoch, latency_s, tag)`; `on_error(reason)`."""
        self._infer, self._on_chunk, self._on_error = infer, on_chunk, on_error
        self._cond = threading.Condition()
        self._request: tuple[dict[str, Any], int, int, Any] | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="vla-inference", daemon=True)
        self.computed = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, obs: dict[str, Any], step: int, epoch: int, tag: Any = None) -> None:
        """Queue `obs` (replacing a request not yet started); `tag` is handed back with the chunk."""
        with self._cond:
            self._request = (obs, step, epoch, tag)
            self._cond.notify()

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._request is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                (obs, step, epoch, tag), self._request = self._request, None
            t0 = time.perf_counter()
            try:
                chunk = np.asarray(self._infer(obs), dtype=np.float64)
            except Exception as e:  # a model failure must not kill the node; the control loop holds
                self._on_error(f"inference failed: {type(e).__name__}: {e}")
                continue
            self.computed += 1
            self._on_chunk(chunk, step, epoch, time.perf_counter() - t0, tag)

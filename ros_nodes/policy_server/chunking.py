"""Asynchronous action chunking: control keeps executing the current chunk while the next is computed.

Timeline (one tick = one control period). The control loop calls `pop()` every tick. When the actions
left in the current chunk drop to `min_remaining`, `should_request()` says so; the caller snapshots the
observation and hands it to the inference worker together with `step` (the tick counter at that moment).
When the chunk arrives `d` ticks later, its first `d` actions belong to ticks already executed, so
`offer()` drops them and the rest replaces the current chunk. Control never waits for the model; if
the current chunk runs out before the next arrives, `pop()` returns None and the caller holds.
Thread-safe: `pop`/`should_request` run on the control thread, `offer` on the inference thread.
"""

from __future__ import annotations

import threading

import numpy as np

from .shared_command import STEP, SharedCommand


class _ChunkRequests:
    """What both chunkers share: one request in flight at a time, epochs that void older requests, and
    installing a finished chunk minus the actions of the ticks that elapsed during inference."""

    def __init__(self, min_remaining: int):
        self.min_remaining = min_remaining
        self._lock = threading.Lock()
        self._pending = False  # a request is with the worker
        self._epoch = 0  # bumped by reset(); results of older requests are ignored
        self.discarded = 0  # chunks that arrived too late (all their actions were in the past) or after a reset

    # subclasses: the current step, the actions left (lock held), installing and forgetting a chunk
    @property
    def step(self) -> int:
        raise NotImplementedError

    def _left(self) -> int:
        raise NotImplementedError

    def _install(self, chunk: np.ndarray, requested_at_step: int, elapsed: int, obs_time: float) -> None:
        raise NotImplementedError

    def _forget(self) -> None:
        raise NotImplementedError

    @property
    def epoch(self) -> int:
        return self._epoch

    def remaining(self) -> int:
        with self._lock:
            return self._left()

    def should_request(self) -> bool:
        """True (and marks a request pending) when a new chunk should be computed now."""
        with self._lock:
            if self._pending or self._left() > self.min_remaining:
                return False
            self._pending = True
            return True

    def cancel_request(self) -> None:
        """The requested inference failed or produced unusable output; allow a new request."""
        with self._lock:
            self._pending = False

    def offer(self, chunk: np.ndarray, requested_at_step: int, epoch: int, obs_time: float = 0.0) -> int:
        """Install a finished chunk, skipping the actions of ticks that elapsed during inference.

        Returns the number of skipped actions (-1 when the chunk was discarded).
        """
        with self._lock:
            if epoch != self._epoch:
                self.discarded += 1
                return -1
            self._pending = False
            elapsed = self.step - requested_at_step
            if elapsed >= len(chunk):
                self.discarded += 1
                return -1
            self._install(chunk, requested_at_step, elapsed, obs_time)
            return elapsed

    def reset(self) -> None:
        """Forget the current chunk and any in-flight request (after a hold: old plans are void)."""
        with self._lock:
            self._pending = False
            self._epoch += 1
            self._forget()


class AsyncChunker(_ChunkRequests):
    """Chunks executed by `pop()` on the control thread of this process."""

    def __init__(self, min_remaining: int):
        super().__init__(min_remaining)
        self._chunk: np.ndarray | None = None  # (H, A)
        self._index = 0  # next action of _chunk to execute
        self._step = 0  # ticks executed since reset

    @property
    def step(self) -> int:
        return self._step

    def _left(self) -> int:
        return 0 if self._chunk is None else len(self._chunk) - self._index

    def _install(self, chunk: np.ndarray, requested_at_step: int, elapsed: int, obs_time: float) -> None:
        self._chunk, self._index = chunk, elapsed

    def _forget(self) -> None:
        self._chunk, self._index = None, 0

    def pop(self) -> np.ndarray | None:
        """The action for this tick (advances time), or None when no chunk covers it."""
        with self._lock:
            self._step += 1
            if self._chunk is None or self._index >= len(self._chunk):
                return None
            action = self._chunk[self._index]
            self._index += 1
            return action


class SharedChunker(_ChunkRequests):
    """AsyncChunker's server half when the control process executes the chunks (control_process.py).

    The control process owns the step counter (ticks executed since it started) and executes, at step k,
    action k - start of the chunk in shared memory. Here the server decides when to request the next chunk
    and installs finished ones with `start` = the step they were requested at, which skips the actions
    of the ticks that elapsed during inference exactly as `AsyncChunker.offer` does.
    """

    def __init__(self, min_remaining: int, shared: SharedCommand):
        super().__init__(min_remaining)
        self.shared = shared
        self._start, self._length, self._chunk_id = 0, 0, 0

    @property
    def step(self) -> int:
        return int(self.shared.counters[STEP])

    def _left(self) -> int:
        return max(0, self._start + self._length - self.step)

    def _install(self, chunk: np.ndarray, requested_at_step: int, elapsed: int, obs_time: float) -> None:
        self._chunk_id += 1
        self._start, self._length = requested_at_step, len(chunk)
        self.shared.write_chunk(chunk, requested_at_step, self._chunk_id, obs_time)

    def _forget(self) -> None:
        self._length = 0
        self.shared.clear_chunk()

"""The shared memory between the policy server (writer) and its control process (reader).

The server writes the *plan*: the current action chunk with the control step its first action belongs
to, until when the inputs behind it are valid (`valid_until`, monotonic clock, shared by all processes),
the tool position and the limits. The plan is guarded by a seqlock: the writer makes the sequence
number odd, writes, makes it even; a reader copies the plan and keeps the copy only if the number was
even and unchanged around it. The reader never waits: when a write is in progress (the writer may be
preempted or waiting for its GIL in the middle of one) it uses the last consistent copy, whose
`valid_until` and chunk coverage still bound how long it can be acted on.
Flags (active, e-stop, exit) and the control process's counters and timing rings are single aligned
8-byte words written by one side only, so they need no lock.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from .safety import Limits

RING = 1024  # samples kept per timing ring (periods, obs-to-command)

# int64 words written by the server
ACTIVE, ESTOP, EXIT = range(3)
# int64 words written by the control process
READY, ACK_ACTIVE, STEP, TICKS, MISSED, PUBLISHED, HOLDS, STALE_HOLDS, PERIODS_N, O2C_N = range(10)

_FENCE = threading.Lock()


def _fence() -> None:
    """A full memory barrier (a lock's acquire + release). x86 orders these stores and loads anyway;
    weakly ordered CPUs (aarch64 robot computers) need it between the sequence number and the data."""
    with _FENCE:
        pass


@dataclass(frozen=True)
class Layout:
    chunk_size: int
    action_dim: int
    n_joints: int  # joint limits (joint_trajectory output)

    def fields(self) -> list[tuple[str, str, tuple[int, ...]]]:
        h, a, j = self.chunk_size, self.action_dim, self.n_joints
        return [
            ("seq", "i8", (1,)),
            ("plan_i", "i8", (4,)),  # start step, length, chunk id, has tool
            ("plan_f", "f8", (2,)),  # valid_until, obs_time of the chunk
            ("tool", "f8", (3,)),
            ("speeds", "f8", (2,)),  # max linear, max angular
            ("workspace", "f8", (2, 3)),
            ("joints", "f8", (2, j)),
            ("chunk", "f8", (h, a)),
            ("flags", "i8", (4,)),
            ("period", "f8", (1,)),
            ("counters", "i8", (12,)),
            ("last_tick", "f8", (1,)),
            ("periods", "f8", (RING,)),
            ("o2c", "f8", (RING,)),
        ]

    def nbytes(self) -> int:
        return sum(int(np.prod(shape)) * 8 for _, _, shape in self.fields())


@dataclass
class Plan:
    """A consistent copy of the plan (control process side)."""

    start: int = 0
    length: int = 0
    chunk_id: int = 0
    has_tool: bool = False
    valid_until: float = 0.0
    obs_time: float = 0.0
    tool: np.ndarray | None = None
    limits: Limits | None = None
    chunk: np.ndarray | None = None

    def action(self, step: int) -> np.ndarray | None:
        i = step - self.start
        return self.chunk[i] if self.chunk is not None and 0 <= i < self.length else None


class SharedCommand:
    """Numpy views on one shared memory block; `create` in the server, `attach` in the control process."""

    def __init__(self, shm: shared_memory.SharedMemory, layout: Layout, owner: bool):
        self.shm, self.layout, self.owner = shm, layout, owner
        offset = 0
        for name, dtype, shape in layout.fields():
            setattr(self, name, np.ndarray(shape, dtype, shm.buf, offset))
            offset += int(np.prod(shape)) * 8
        self._write_lock = threading.Lock()  # writers (server threads) take turns; readers never lock
        self._cached = Plan()
        self._cached_seq = -1

    @classmethod
    def create(cls, layout: Layout) -> SharedCommand:
        shm = shared_memory.SharedMemory(create=True, size=layout.nbytes())
        np.ndarray((layout.nbytes(),), np.uint8, shm.buf)[:] = 0
        return cls(shm, layout, owner=True)

    @classmethod
    def attach(cls, name: str, layout: Layout) -> SharedCommand:
        """Attach without registering with the resource tracker: the server owns (and unlinks) the block."""
        if sys.version_info >= (3, 13):
            return cls(shared_memory.SharedMemory(name, track=False), layout, owner=False)
        from multiprocessing import resource_tracker

        register = resource_tracker.register
        resource_tracker.register = lambda *args, **kwargs: None
        try:
            return cls(shared_memory.SharedMemory(name), layout, owner=False)
        finally:
            resource_tracker.register = register

    @property
    def name(self) -> str:
        return self.shm.name

    def close(self) -> None:
        for name, _, _ in self.layout.fields():
            setattr(self, name, None)  # views must go before the buffer can be released
        self._cached = Plan()
        self.shm.close()
        if self.owner:
            self.shm.unlink()

    # ------------------------------------------------------------------ server side (writers)
    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._write_lock:
            seq = int(self.seq[0])
            self.seq[0] = seq + 1
            _fence()
            try:
                yield
            finally:
                _fence()
                self.seq[0] = seq + 2

    def write_chunk(self, chunk: np.ndarray, start: int, chunk_id: int, obs_time: float) -> None:
        chunk = np.asarray(chunk, np.float64)
        with self.writing():
            self.chunk[: len(chunk)] = chunk
            self.plan_i[0], self.plan_i[1], self.plan_i[2] = start, len(chunk), chunk_id
            self.plan_f[1] = obs_time

    def clear_chunk(self) -> None:
        with self.writing():
            self.plan_i[1] = 0

    def write_inputs(self, valid_until: float, tool: np.ndarray | None) -> None:
        """The inputs were checked now and stay usable until `valid_until` (0: they are not usable)."""
        with self.writing():
            self.plan_f[0] = valid_until
            self.plan_i[3] = tool is not None
            if tool is not None:
                self.tool[:] = tool

    def write_limits(self, limits: Limits) -> None:
        with self.writing():
            self.speeds[:] = limits.max_linear_speed, limits.max_angular_speed
            self.workspace[0], self.workspace[1] = limits.workspace_min, limits.workspace_max
            self.joints[0], self.joints[1] = limits.joint_min, limits.joint_max

    # ------------------------------------------------------------------ control process side (reader)
    def read_plan(self, tries: int = 3) -> tuple[Plan, bool]:
        """(latest consistent plan, whether it is the current one); never blocks."""
        for _ in range(tries):
            seq = int(self.seq[0])
            if seq & 1:
                continue
            if seq == self._cached_seq:
                return self._cached, True
            _fence()
            start, length, chunk_id, has_tool = (int(v) for v in self.plan_i)
            valid_until, obs_time = (float(v) for v in self.plan_f)
            tool, speeds = self.tool.copy(), self.speeds.copy()
            workspace, joints = self.workspace.copy(), self.joints.copy()
            chunk = self.chunk[: max(0, min(length, self.layout.chunk_size))].copy()
            _fence()
            if int(self.seq[0]) != seq:
                continue
            limits = Limits(float(speeds[0]), float(speeds[1]), workspace[0], workspace[1], joints[0], joints[1])
            self._cached = Plan(start, len(chunk), chunk_id, bool(has_tool), valid_until, obs_time, tool, limits, chunk)
            self._cached_seq = seq
            return self._cached, True
        return self._cached, False

    def add_sample(self, ring: str, count_index: int, value: float) -> None:
        n = int(self.counters[count_index])
        getattr(self, ring)[n % RING] = value
        self.counters[count_index] = n + 1


class SharedRing:
    """Rolling's read interface over a ring the control process fills (server side; milliseconds out)."""

    def __init__(self, shared: SharedCommand, ring: str, count_index: int, size: int = 500):
        self.shared, self.ring, self.count_index, self.size = shared, ring, count_index, min(size, RING)
        self._start = 0

    def clear(self) -> None:
        self._start = int(self.shared.counters[self.count_index])

    def values(self) -> list[float]:
        n = int(self.shared.counters[self.count_index])
        first = max(self._start, n - self.size)
        data = getattr(self.shared, self.ring)
        return [float(data[i % RING]) for i in range(first, n)]

    def percentile_ms(self, q: float) -> float:
        values = self.values()
        return float(np.percentile(values, q) * 1e3) if values else float("nan")

    def __len__(self) -> int:
        return len(self.values())

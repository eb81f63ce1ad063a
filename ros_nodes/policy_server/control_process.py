"""The control loop in its own process, so that nothing in the server's interpreter can delay a tick.

Why: a 50 Hz loop thread at SCHED_FIFO inside the server still waits for the GIL whenever another Python
thread of that process (the rclpy executor, the inference worker) holds it while preempted by other load
(bench/bench_gil_inversion.py: p99 lateness 12-171 ms, against 0.04-0.16 ms for a loop alone in its
process). Here the loop is alone in its interpreter: it owns a minimal node with the command publishers,
reads the plan the server writes into shared memory (shared_command.py) and at every period publishes the
plan's action for that step, or the hold command when e-stop is flagged, when no chunk covers the step or
when the inputs behind the plan are past their `valid_until`.

The server wakes the process through a pipe (e-stop: a zero command at once, not at the next tick;
activate, deactivate, exit). The pipe also reports the server's death (end of file), as does a changed
parent pid: the process then publishes a last hold and exits, so it is never orphaned. It ignores SIGINT
(a terminal's Ctrl-C reaches the whole process group; the server leads the shutdown) and exits after a
last hold on SIGTERM.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import select
import signal
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .shared_command import (
    ACK_ACTIVE,
    ACTIVE,
    ESTOP,
    EXIT,
    HOLDS,
    MISSED,
    O2C_N,
    PERIODS_N,
    PUBLISHED,
    READY,
    STALE_HOLDS,
    STEP,
    TICKS,
    Layout,
    SharedCommand,
)

IDLE_POLL_S = 0.1  # how often an inactive control process checks that its server is alive
START_TIMEOUT_S = 120.0  # importing rclpy and joining DDS on 2 loaded cores


@dataclass(frozen=True)
class ControlSpec:
    """What the control process needs to build its node and outputs (picklable, no rclpy types)."""

    shm_name: str
    layout: Layout
    parent_pid: int
    node_name: str
    namespace: str
    output_type: str
    topics: Any  # TopicNames with the server's resolved (remapped) output topics
    arm_joint_names: list[str]
    priority: int


# ---------------------------------------------------------------------------------------------- child
class _ToolObservation:
    """The part of an Observation the outputs read: the tool pose for the workspace clip."""

    def __init__(self, position: np.ndarray | None):
        self.tool = None if position is None else _Pose(position)


class _Pose:
    def __init__(self, position: np.ndarray):
        self.position = position


def _set_fifo(priority: int) -> str | None:
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return None
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # this thread only
    except OSError as e:
        return e.strerror
    return None


class _ControlLoop:
    def __init__(self, spec: ControlSpec, wake_fd: int, shared: SharedCommand, node: Any, output: Any):
        self.spec, self.wake_fd, self.shared, self.node, self.output = spec, wake_fd, shared, node, output
        self.active = False
        self.period = 0.1
        self.step = 0
        self.last_chunk_id = -1
        self.terminated = False

    def parent_alive(self) -> bool:
        return os.getppid() == self.spec.parent_pid and not self.terminated

    def wait(self, timeout: float) -> bool:
        """Sleep until `timeout` or a wake-up from the server; False when the server has gone."""
        if timeout > 0:
            try:
                ready, _, _ = select.select([self.wake_fd], [], [], timeout)
            except InterruptedError:
                ready = []
            if ready:
                try:
                    if not os.read(self.wake_fd, 4096):
                        return False  # end of file: the server closed its end (it exited)
                except BlockingIOError:
                    pass
        return self.parent_alive()

    def hold(self) -> None:
        self.output.hold()
        self.shared.counters[HOLDS] += 1

    def tick(self, now: float) -> None:
        step, self.step = self.step, self.step + 1
        self.shared.counters[STEP] = self.step
        flags = self.shared.flags
        if flags[ESTOP]:
            return self.hold()
        plan, _ = self.shared.read_plan()
        if plan.valid_until <= now:
            self.shared.counters[STALE_HOLDS] += plan.valid_until > 0  # a plan the server did not renew in time
            return self.hold()
        action = plan.action(step)
        if action is None or not np.all(np.isfinite(action)):
            return self.hold()
        tool = plan.tool if plan.has_tool else None
        self.output.publish(action, _ToolObservation(tool), self.period, plan.limits)
        self.shared.counters[PUBLISHED] += 1
        if plan.chunk_id != self.last_chunk_id:  # first command from a new chunk: age of its inputs
            self.last_chunk_id = plan.chunk_id
            self.shared.add_sample("o2c", O2C_N, time.monotonic() - plan.obs_time)

    def run(self) -> None:
        flags = self.shared.flags
        next_tick = last = 0.0
        estop_seen = False
        while True:
            if flags[EXIT] or not self.parent_alive():
                break
            if not flags[ACTIVE]:
                if self.active:
                    self.active = False
                    self.hold()  # leave the robot stopped, not coasting on the last velocity
                self.shared.counters[ACK_ACTIVE] = 0
                if not self.wait(IDLE_POLL_S):
                    break
                continue
            if not self.active:
                self.active, self.period = True, float(self.shared.period[0])
                next_tick, last, estop_seen = time.monotonic(), None, False
                self.shared.counters[ACK_ACTIVE] = 1
            now = time.monotonic()
            if now < next_tick:
                if not self.wait(next_tick - now):
                    break
                if flags[ESTOP] and not estop_seen and flags[ACTIVE]:
                    self.hold()  # e-stop: a zero command now, not at the next tick
                estop_seen = bool(flags[ESTOP])
                continue
            late = now - next_tick
            if late >= self.period:  # skip the periods slept through instead of bursting to catch up
                skipped = int(late // self.period)
                self.shared.counters[MISSED] += skipped
                next_tick += skipped * self.period
            if last is not None:
                self.shared.add_sample("periods", PERIODS_N, now - last)
            last = now
            self.shared.counters[TICKS] += 1
            self.shared.last_tick[0] = now
            try:
                self.tick(now)
            except Exception as e:  # never die silently while the robot moves: hold and report
                self.node.get_logger().error(f"control tick failed: {type(e).__name__}: {e}")
                self.hold()
            estop_seen = bool(flags[ESTOP])
            next_tick += self.period
        if self.active:
            self.hold()
            self.output.flush()  # the process exits next: do not lose the last hold with its publisher


def control_main(spec: ControlSpec, wake: Any) -> None:
    """Entry point of the control process (multiprocessing spawn context)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from .outputs import make_output

    shared = SharedCommand.attach(spec.shm_name, spec.layout)
    wake_fd = wake.fileno()
    os.set_blocking(wake_fd, False)
    context = rclpy.Context()
    rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node(spec.node_name, namespace=spec.namespace, context=context)
    try:
        output = make_output(spec.output_type, node, spec.topics, spec.arm_joint_names)
        loop = _ControlLoop(spec, wake_fd, shared, node, output)

        def on_term(*_: Any) -> None:
            loop.terminated = True

        signal.signal(signal.SIGTERM, on_term)
        error = _set_fifo(spec.priority)  # after rclpy.init: DDS's own threads keep their normal priority
        if error:
            node.get_logger().info(
                f"control process at normal priority (SCHED_FIFO {spec.priority} not permitted: {error}); allow "
                "it with CAP_SYS_NICE or an rtprio limit, or set control_priority 0 to silence this"
            )
        gc.collect()
        gc.freeze()  # the loop allocates little; keep collections of start-up objects out of its ticks
        shared.counters[READY] = 1
        loop.run()
    finally:
        shared.counters[READY] = 0
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        shared.close()


# ---------------------------------------------------------------------------------------------- parent
class ControlProcess:
    """The server's handle on its control process: start, activate/deactivate, e-stop, stop."""

    def __init__(self, spec: ControlSpec, shared: SharedCommand):
        self.shared = shared
        ctx = multiprocessing.get_context("spawn")  # never fork a process with rclpy and torch threads
        reader, self._wake = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=control_main, args=(spec, reader), name="vla-control", daemon=True)
        self.process.start()
        reader.close()
        os.set_blocking(self._wake.fileno(), False)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> str | None:
        """None once the process runs its loop, else why not."""
        deadline = time.monotonic() + timeout
        while not self.shared.counters[READY]:
            if not self.process.is_alive():
                return f"the control process exited during start-up (exit code {self.process.exitcode})"
            if time.monotonic() > deadline:
                return f"the control process did not start within {timeout:g} s"
            time.sleep(0.01)
        return None

    def wake(self) -> None:
        try:
            os.write(self._wake.fileno(), b"\0")
        except (BlockingIOError, BrokenPipeError, OSError):
            pass  # a full pipe already wakes it; a closed one means it has exited

    def activate(self, period_s: float) -> None:
        self.shared.period[0] = period_s
        self.shared.flags[ACTIVE] = 1
        self.wake()

    def deactivate(self, timeout: float = 2.0) -> bool:
        """Stop commands; True once the process has published its last hold and idles."""
        self.shared.flags[ACTIVE] = 0
        self.wake()
        deadline = time.monotonic() + timeout
        while self.shared.counters[ACK_ACTIVE] and self.process.is_alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def set_estop(self, engaged: bool) -> None:
        self.shared.flags[ESTOP] = int(engaged)
        if engaged:
            self.wake()

    def stop(self, timeout: float = 5.0) -> int | None:
        """Ask the process to exit (after a last hold if active); terminate/kill if it does not. Exit code."""
        self.shared.flags[EXIT] = 1
        self.wake()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)
        self._wake.close()
        return self.process.exitcode

    def counter(self, index: int) -> int:
        return int(self.shared.counters[index])

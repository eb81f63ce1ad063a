"""Synchronous mode (`sync_mode: true`): one command per new observation, for a lockstep simulator.

`vla sim-robot --lockstep` publishes an observation (both images, joint states, tool pose with one stamp),
then its /sim/episode status with the same stamp, and steps once when a command stamped with that
observation arrives. In sync mode the server answers exactly that: when every input and the status carry
a stamp it has not answered yet, it takes the action in-process `vla eval` would take for that observation
(the same chunk executor, `make_ensembler`: n_action_steps from a queue, or temporal/adaptive ensembling;
reset when /sim/episode reports a new episode) and publishes it stamped with the observation's stamp.
No wall clock, no latency hiding, no hold at the start of an episode: ROS 2 eval then reproduces
in-process eval step for step (tested). Plain Python + torch, no rclpy.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vla.policy.ensembling import make_ensembler


class SyncStepper:
    """`policy.select_action` for one unbatched observation, with its own executor and chunk timing."""

    def __init__(self, policy: Any, ensembling: str, n_action_steps: int):
        cfg = policy.config
        self.policy = policy
        self.executor = make_ensembler(
            ensembling, cfg.chunk_size, n_action_steps, cfg.temporal_ensemble_coeff, cfg.adaptive_ensemble_alpha
        )
        self.chunks = 0
        self.last_latency: float | None = None  # seconds of the last chunk computed (None: this step had none)

    def reset(self) -> None:
        """A new episode: forget queued actions / ensembling history and anything the policy holds per episode
        (an episode_start position estimate), as in-process eval does at reset."""
        self.executor.reset()
        if hasattr(self.policy, "reset"):
            self.policy.reset()

    def step(self, obs: dict[str, Any]) -> np.ndarray:
        """The action (A,) float32 for this observation, computing a chunk exactly when in-process eval would."""
        self.last_latency = None
        if hasattr(self.policy, "observe"):  # carried conditioning follows the gripper at every step
            self.policy.observe(obs)
        if self.executor.needs_chunk():
            t0 = time.perf_counter()
            self.executor.push(self.policy.predict_action_chunk(obs))
            self.last_latency = time.perf_counter() - t0
            self.chunks += 1
        return self.executor.pop()[0].cpu().numpy()


def common_stamp(stamps: list[int]) -> int | None:
    """The stamp shared by all inputs (an observation is complete), else None."""
    if not stamps or stamps[0] <= 0 or any(s != stamps[0] for s in stamps):
        return None
    return stamps[0]

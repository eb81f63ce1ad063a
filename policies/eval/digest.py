"""A short fingerprint of one episode: every env action (float32 bytes, in order) and the final state.

In-process eval and the ROS 2 sim robot compute it the same way, so equal digests mean the two transports
drove the env through exactly the same trajectory (numpy + hashlib only; the sim robot imports it).
"""

from __future__ import annotations

import hashlib

import numpy as np


class TrajectoryDigest:
    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add_action(self, action: np.ndarray) -> None:
        self._hash.update(np.ascontiguousarray(action, dtype=np.float32).tobytes())

    def final(self, state: np.ndarray) -> str:
        """16 hex digits over the actions so far and the state after the last step."""
        h = self._hash.copy()
        h.update(np.ascontiguousarray(state, dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

"""Object permanence from proprioception: where the target is once the gripper has moved it.

The target locator is most precise on the reset frame, where the arm is at home and hides nothing; once the
gripper reaches the target it covers it, and a locator that re-reads every frame loses it (README, "Policy
quality": 1.3-1.7 cm median mid-demonstration error, 30% success). But a prop only moves when the gripper
moves it, and the state says when that happens:

- **held**: the fingers stop closing part-way (gap between `grasp_gap` bounds, i.e. something is between
  them) with the tool centre within `grasp_radius` of the target in xy and no higher than `grasp_height`
  above it. From then on the prop moves rigidly with the tool centre, at the offset it had when the fingers
  closed. It is let go when the fingers open past the upper bound (released) or close past the lower bound
  (slipped out); either way it falls straight down to its starting height: onto the table, or into a bowl
  whose floor is at table height. (A prop let go on top of another has just finished a stack, and the
  episode ends on that success; one that falls off lands on the table, as the head then sees it.)
- **pushed**: with the fingers shut (gap below the lower bound) and the tool centre lower than `push_height`
  above the prop, a tool centre moving toward the prop keeps it `push_radius` ahead along its motion: a prop
  ahead, nearer than that and within `push_radius` sideways, moves forward to that distance. A flat pusher,
  which keeps the prop's sideways offset as a cube face does (a round pusher's radial shove drifted 3 cm
  sideways within a push); and only the part of a step past first contact moves the prop, so a gripper that
  touches down a few centimetres behind it does not shove it a whole step early (moving it by every step
  within `push_radius` put the tracker 1.9 cm ahead of the expert's props once the expert touched down
  6.5 cm behind them).

Measured on the suite's scripted demonstrations: a held prop stays within 1 mm (xy) of the tool centre plus
its grasp offset; a pushed one moves with the tool centre 3.1-4.0 cm ahead of it (cube faces, cylinders),
hence push_radius = 3.5 cm. Over whole expert episodes the tracker stays within 4 mm (xy) of a carried prop
and 1.3 cm of a pushed one (tests/policy/test_carry_tracker.py; 30 push episodes: worst error per episode
median 0.56 cm, at most 1.25 cm). Nothing here reads the simulator: the inputs
are the reset-frame estimate and the proprioceptive state (`gripper.gap`, `tcp.x/y/z`), as on a real robot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla.errors import VlaUserError

STATE_KEYS = ("gripper.gap", "tcp.x", "tcp.y", "tcp.z")


@dataclass(frozen=True)
class CarryRules:
    grasp_gap: tuple[float, float] = (0.01, 0.07)
    """Finger gap (m) strictly between these: something is held (fully open is 0.084, shut is 0)."""
    grasp_radius: float = 0.03
    """A grasp counts for the target when the tool centre is this close to it in xy (m)."""
    grasp_height: float = 0.04
    """... and no more than this above it (m)."""
    push_radius: float = 0.035
    """Tool-centre-to-prop distance in xy (m) that a push with shut fingers keeps."""
    push_height: float = 0.03
    """A shut gripper pushes when its tool centre is at most this far above the prop's centre (m)."""


def state_indices(state_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Indices of the gap and the tool centre's xyz in the state, or a one-line error naming what is missing."""
    missing = [k for k in STATE_KEYS if k not in state_names]
    if missing:
        raise VlaUserError(
            f"carried conditioning follows the target with the gripper's state, which lacks {missing}; "
            "train on a dataset whose observation.state names them (the tabletop suite's does) or use "
            "--conditioning-at tracked"
        )
    return np.array([list(state_names).index(k) for k in STATE_KEYS])


class CarryTracker:
    """Per-row target positions (rows: envs of a vector env, or a batch) carried along by the gripper."""

    def __init__(self, rows: int, indices: np.ndarray, rules: CarryRules | None = None):
        self.rules = rules or CarryRules()
        self.indices = np.asarray(indices)
        self.pos = np.full((rows, 3), np.nan)
        self.start_z = np.full(rows, np.nan)
        self.held = np.zeros(rows, dtype=bool)
        self.offset = np.zeros((rows, 3))
        self.prev_tcp = np.full((rows, 3), np.nan)

    def start(self, rows, target: np.ndarray) -> None:
        """Begin episodes: `target` (len(rows), 3) is each row's reset-frame estimate."""
        rows = np.atleast_1d(rows)
        self.pos[rows] = np.asarray(target, np.float64).reshape(len(rows), 3)
        self.start_z[rows] = self.pos[rows, 2]
        self.held[rows] = False
        self.offset[rows] = 0.0
        self.prev_tcp[rows] = np.nan

    def forget(self, rows) -> None:
        """End episodes: the rows ignore updates until start() gives them a new target."""
        self.pos[np.atleast_1d(rows)] = np.nan

    def update(self, rows, state: np.ndarray) -> None:
        """Advance `rows` by one observed state each ((len(rows), S) raw, dataset units)."""
        rows = np.atleast_1d(rows)
        s = np.asarray(state, np.float64).reshape(len(rows), -1)
        started = np.isfinite(self.pos[rows, 0])  # rows without a started episode stay as they are
        rows, s = rows[started], s[started]
        if not len(rows):
            return
        gap, tcp = s[:, self.indices[0]], s[:, self.indices[1:4]]
        r = self.rules
        pos, held = self.pos[rows], self.held[rows]
        between = (gap > r.grasp_gap[0]) & (gap < r.grasp_gap[1])
        near = np.linalg.norm(tcp[:, :2] - pos[:, :2], axis=1)
        grasp = ~held & between & (near < r.grasp_radius) & (tcp[:, 2] - pos[:, 2] < r.grasp_height)
        self.offset[rows[grasp]] = pos[grasp] - tcp[grasp]
        held = held | grasp
        slipped = held & (gap <= r.grasp_gap[0])
        released = held & (gap >= r.grasp_gap[1])
        carried = held & ~slipped & ~released
        pos[carried] = tcp[carried] + self.offset[rows[carried]]
        dropped = slipped | released
        pos[dropped, 2] = self.start_z[rows[dropped]]
        held = carried
        # Pushes (the module docstring's "pushed"): a prop ahead of the motion and nearer than push_radius moves
        # forward to push_radius along it, keeping its sideways offset.
        prev = self.prev_tcp[rows]
        step = tcp[:, :2] - np.where(np.isfinite(prev), prev, tcp)[:, :2]
        length = np.linalg.norm(step, axis=1)
        u = step / np.maximum(length, 1e-12)[:, None]  # the motion's direction
        d = pos[:, :2] - tcp[:, :2]
        ahead = (d * u).sum(1)
        sideways = np.abs(d[:, 0] * u[:, 1] - d[:, 1] * u[:, 0])
        push = ~held & (gap <= r.grasp_gap[0]) & (tcp[:, 2] - pos[:, 2] < r.push_height) & (length > 1e-6)
        push &= (ahead > 0) & (ahead < r.push_radius) & (sideways < r.push_radius)
        pos[push, :2] += (r.push_radius - ahead[push])[:, None] * u[push]
        self.pos[rows], self.held[rows], self.prev_tcp[rows] = pos, held, tcp

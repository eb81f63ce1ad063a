"""Why navigation episodes failed, in the three ways a Habitat agent fails.

- **early STOP**: the policy called STOP outside the success distance (the report gives how far out);
- **time-out, colliding**: the step limit ran out while the base kept pushing into something (at least
  `STUCK_COLLISION_FRACTION` of its steps collided): a missed obstacle;
- **time-out, other**: the step limit ran out without that (turning in place, dithering, wandering, or
  circling near a goal it never stopped at; the median final distance tells which).

Counts come from each episode's own `success`, STOP flag, collisions and steps, so they sum to the
failures and apply to every backend (MuJoCo houses, Habitat through an env server).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STUCK_COLLISION_FRACTION = 0.25  # a time-out with at least this share of colliding steps is "colliding"


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 3) if values else None


def _mostly_colliding(e) -> bool:
    return e.collisions >= STUCK_COLLISION_FRACTION * max(e.steps, 1)


MODES = (
    ("early_stop", "early STOPs"),
    ("timeout_colliding", "time-outs colliding"),
    ("timeout_other", "other time-outs"),
)
"""Report keys and console wording of the failure causes, in report order."""


def failure_modes(episodes: Sequence) -> dict:
    """Counts of failed episodes by cause, with median final distances to the goal (m)."""
    failed = [e for e in episodes if not e.success]
    groups: dict[str, list] = {mode: [] for mode, _ in MODES}
    for e in failed:
        mode = "early_stop" if e.stopped else "timeout_colliding" if _mostly_colliding(e) else "timeout_other"
        groups[mode].append(e)
    out: dict = {"failures": len(failed)}
    for mode, group in groups.items():
        out[mode] = len(group)
        out[f"{mode}_median_distance_m"] = _median([e.distance_to_goal for e in group])
    return out


def describe(modes: dict) -> str:
    """One line for the console: '13 failures: 2 early STOPs (median 0.22 m from the goal), ...'."""
    if not modes["failures"]:
        return "no failures"
    parts = []
    for mode, what in MODES:
        d = modes[f"{mode}_median_distance_m"]
        parts.append(f"{modes[mode]} {what}" + (f" (median {d:.2f} m from the goal)" if d is not None else ""))
    return f"{modes['failures']} failures: " + ", ".join(parts)

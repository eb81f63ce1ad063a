"""Failure modes in the navigation eval report, on hand-built episodes with known causes."""

from __future__ import annotations

import pytest

from vla.policies.eval.nav_failures import describe, failure_modes
from vla.policies.eval.navigation import NavEpisode, summarize


def episode(success: bool, stopped: bool, distance: float, collisions: int, steps: int) -> NavEpisode:
    return NavEpisode(
        seed=0, layout_seed=0, instruction="go", success=success, spl=0.9 * success, softspl=0.5,
        distance_to_goal=distance, start_distance=5.0, path_length=6.0, collisions=collisions, steps=steps,
        stopped=stopped,
    )  # fmt: skip


def test_failures_split_into_early_stops_colliding_and_other_time_outs():
    episodes = [
        episode(True, True, 0.1, 3, 40),  # success
        episode(True, True, 0.15, 0, 30),  # success
        episode(False, True, 0.22, 1, 50),  # STOP just outside 0.2 m
        episode(False, True, 1.5, 0, 20),  # STOP far out
        episode(False, False, 2.0, 250, 500),  # time-out, half the steps collided
        episode(False, False, 3.0, 125, 500),  # exactly 25%: still colliding
        episode(False, False, 0.4, 124, 500),  # just under 25%: other
        episode(False, False, 4.0, 0, 500),  # turning in place
        episode(False, False, 6.0, 10, 500),
    ]
    m = failure_modes(episodes)
    assert m["failures"] == 7
    assert (m["early_stop"], m["timeout_colliding"], m["timeout_other"]) == (2, 2, 3)
    assert m["early_stop_median_distance_m"] == pytest.approx((0.22 + 1.5) / 2)
    assert m["timeout_colliding_median_distance_m"] == pytest.approx(2.5)
    assert m["timeout_other_median_distance_m"] == pytest.approx(4.0)
    assert describe(m) == (
        "7 failures: 2 early STOPs (median 0.86 m from the goal), 2 time-outs colliding (median 2.50 m from the "
        "goal), 3 other time-outs (median 4.00 m from the goal)"
    )
    assert summarize(episodes)["failure_modes"] == m


def test_no_failures_has_empty_medians():
    m = failure_modes([episode(True, True, 0.1, 0, 30)])
    assert m["failures"] == m["early_stop"] == m["timeout_colliding"] == m["timeout_other"] == 0
    assert m["early_stop_median_distance_m"] is None and m["timeout_other_median_distance_m"] is None
    assert describe(m) == "no failures"

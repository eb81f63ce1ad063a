"""The clearance-keeping teacher (`vla collect --expert clearance`): its cost graph is the plain one at zero
cost and keeps paths off obstacles otherwise, and in real houses it still succeeds with SPL >= 0.9 while
staying further from furniture and colliding less than the shortest-path expert."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vla.envs import make_env
from vla.envs.navigation.geodesic import GeodesicGraph
from vla.envs.navigation.layout import Rect
from vla.envs.navigation.occupancy import ROBOT_RADIUS, occupancy_from_rects
from vla.errors import VlaUserError
from vla.policies.collect.command import collect
from vla.policies.collect.config import CollectConfig
from vla.policies.experts import make_nav_expert


def slack_along(grid, path: np.ndarray) -> np.ndarray:
    """Clearance beyond the robot radius (m) at each point of a (N, 2) path."""
    cells = [grid.to_cell(float(x), float(y)) for x, y in path]
    return np.array([grid.clearance[i, j] for i, j in cells]) - ROBOT_RADIUS


def test_cost_graph_is_the_plain_graph_at_zero_cost_and_keeps_clear_otherwise():
    # A 6 x 3 m room with a 0.2 m pillar just above the straight line from start to goal.
    grid = occupancy_from_rects([Rect(2.9, 0.95, 3.1, 1.35)], Rect(0.0, 0.0, 6.0, 3.0))
    plain, zero = GeodesicGraph(grid), GeodesicGraph(grid, clearance_cost=0.0)
    costly = GeodesicGraph(grid, clearance_cost=3.0, clearance_margin=0.25)
    goal = plain.point_goal(5.5, 0.8)
    assert np.array_equal(zero.same_goal(goal).dist, goal.dist)
    steer = costly.same_goal(goal)
    reach = np.isfinite(goal.dist)
    assert np.array_equal(np.isfinite(steer.dist), reach)
    assert np.all(steer.dist[reach] >= goal.dist[reach] - 1e-9), "costs are never below lengths"
    short, clear = goal.path(0.5, 0.8), steer.path(0.5, 0.8)
    # The shortest path grazes the pillar's inflated corner; the cost path passes it with room to spare.
    assert slack_along(grid, short).min() < 0.05 and slack_along(grid, clear).min() > 0.15
    length = lambda p: float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())  # noqa: E731
    assert length(clear) < 1.1 * length(short), "a small detour, not a long one"
    with pytest.raises(ValueError, match="clearance_cost"):
        GeodesicGraph(grid, clearance_cost=-1.0)


@pytest.mark.parametrize(
    ("task", "plain", "keeping"),
    [("pointnav", "shortest", "clearance"), ("objectnav", "shortest", "clearance"),
     ("objectnav", "explore", "explore-clearance")],
)  # fmt: skip
def test_clearance_teacher_succeeds_further_from_furniture(task, plain, keeping):
    stats = {}
    for kind in (plain, keeping):
        env = make_env(task, image_size=16, split="test")
        expert = make_nav_expert(env, kind)
        results, slack = [], []
        for seed in range(700, 710):
            obs, _ = env.reset(seed=seed)
            while True:
                obs, _, terminated, truncated, info = env.step(expert.act(obs))
                if terminated or truncated:
                    break
            results.append((info["success"], info["spl"], info["collisions"]))
            slack.extend(slack_along(env.unwrapped.grid, info["agent_path"]))
        env.close()
        r = np.array(results, float)
        stats[kind] = {"success": r[:, 0].mean(), "spl": r[:, 1].mean(), "collisions": r[:, 2].sum(),
                       "slack": float(np.mean(slack))}  # fmt: skip
    s, c = stats[plain], stats[keeping]
    assert c["success"] == 1.0 and c["spl"] >= (0.88 if plain == "shortest" else s["spl"] - 0.06), stats
    assert c["slack"] > s["slack"] + 0.03, stats
    assert c["collisions"] <= s["collisions"] / 2, stats


def test_collect_records_the_clearance_teacher_and_refuses_it_on_the_tabletop(tmp_path):
    data = tmp_path / "data"
    collect(CollectConfig(task="pointnav", out=data, episodes=2, image_size=16, seed=4, expert="clearance"),
            progress=False)  # fmt: skip
    record = json.loads((data / "meta" / "vla_collect.json").read_text())
    assert record["settings"]["expert"] == "clearance"
    with pytest.raises(VlaUserError, match="--expert clearance is a navigation teacher"):
        collect(CollectConfig(task="pick", out=tmp_path / "t", episodes=1, expert="clearance"), progress=False)
    assert not (tmp_path / "t").exists(), "nothing written"

"""Carried conditioning's two parts on the real tabletop: the proprioceptive carry tracker follows the scripted
experts' props, and the locator's least-squares table fit recovers a resting prop's position through the
jittered scene camera."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vla.errors import VlaUserError
from vla.policy.carry_tracker import CarryRules, CarryTracker, state_indices
from vla.policy.locator import LocatorConfig, TargetLocator
from vla.policy.table_fit import TableFit, num_terms, polynomial_terms


def _expert_episodes(task: str, seeds: range):
    """Yield (reset-frame true target, [(state after step, true target after step), ...]) per expert episode."""
    from vla.envs.manipulation.tabletop_env import TabletopEnv
    from vla.policies.experts.tabletop import TabletopExpert

    env = TabletopEnv(tasks=(task,), image_size=32)
    expert = TabletopExpert(env)
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            expert.reset()
            start, steps = env.privileged_state()[:3].copy(), []
            for _ in range(env.max_steps):
                obs, _, terminated, truncated, info = env.step(expert.act(obs))
                steps.append((obs["observation.state"].copy(), env.privileged_state()[:3].copy()))
                if terminated or truncated:
                    break
            assert info["is_success"], f"the {task} expert failed seed {seed}"
            yield start, steps, env.state_names
    finally:
        env.close()


@pytest.mark.parametrize("task,tolerance", [("pick", 0.004), ("place", 0.004), ("stack", 0.006), ("push", 0.012)])
def test_the_tracker_follows_the_experts_props_from_the_reset_position_and_the_state_alone(task, tolerance):
    worst, moved = [], []
    for start, steps, names in _expert_episodes(task, range(4)):
        tracker = CarryTracker(1, state_indices(names))
        tracker.start(0, start)
        errors = []
        for state, true in steps:
            tracker.update(0, state[None])
            tracker.update(0, state[None])  # a second look at the same frame changes nothing
            errors.append(np.linalg.norm(tracker.pos[0, :2] - true[:2]))
            if task == "pick":  # lifted 10 cm: the height follows too
                assert abs(tracker.pos[0, 2] - true[2]) < tolerance
        if task == "place":  # let go over the bowl, it drops to the bowl's floor: the tracker to its start height
            assert abs(tracker.pos[0, 2] - start[2]) < 1e-9 and abs(true[2] - start[2]) < 0.02
        worst.append(max(errors))
        moved.append(np.linalg.norm(steps[-1][1] - start))
    assert min(moved) > 0.05  # every expert moved its prop at least 5 cm (pick lifts it 10 cm)
    assert max(worst) < tolerance, worst  # ...and the tracker stayed on it the whole way


def test_a_prop_that_slips_or_is_let_go_drops_to_its_starting_height_and_an_idle_tracker_ignores_updates():
    names = ("gripper.gap", "tcp.x", "tcp.y", "tcp.z")
    tracker = CarryTracker(2, state_indices(names))
    tracker.start([0], np.array([[0.4, 0.0, 0.02]]))
    tracker.update([0, 1], np.array([[0.04, 0.4, 0.005, 0.025], [0.04, 0.4, 0.0, 0.025]]))  # closes on the prop
    assert tracker.held[0] and not tracker.held[1] and np.isnan(tracker.pos[1]).all()
    tracker.update([0], np.array([[0.04, 0.3, 0.105, 0.125]]))  # carried up and away
    np.testing.assert_allclose(tracker.pos[0], [0.3, 0.1, 0.12], atol=1e-9)
    tracker.update([0], np.array([[0.0, 0.3, 0.105, 0.125]]))  # the fingers shut: it slipped out
    np.testing.assert_allclose(tracker.pos[0], [0.3, 0.1, 0.02], atol=1e-9)
    assert not tracker.held[0]
    tracker.start([0], np.array([[0.4, 0.0, 0.02]]))
    tracker.update([0], np.array([[0.04, 0.4, 0.0, 0.025]]))
    tracker.update([0], np.array([[0.04, 0.3, 0.1, 0.125]]))
    tracker.update([0], np.array([[0.08, 0.3, 0.1, 0.125]]))  # let go in the air: it falls to the table
    np.testing.assert_allclose(tracker.pos[0], [0.3, 0.1, 0.02], atol=1e-9)
    tracker.forget(0)
    tracker.update([0], np.array([[0.04, 0.3, 0.1, 0.03]]))
    assert np.isnan(tracker.pos[0]).all()
    with pytest.raises(VlaUserError, match=r"lacks \['tcp.z'\]"):
        state_indices(("gripper.gap", "tcp.x", "tcp.y"))


def test_a_push_moves_the_prop_only_past_first_contact_and_keeps_its_sideways_offset():
    """A shut gripper touching down 6.5 cm behind a prop (the push expert's standoff) and advancing 2 cm a step:
    the prop stays put until the tool centre is within push_radius (3.5 cm) and then moves by what the step
    went past that distance, not by the whole step; sideways it keeps its offset; a gripper moving away, too
    high, too far sideways or with open fingers leaves it alone."""
    names = ("gripper.gap", "tcp.x", "tcp.y", "tcp.z")
    assert CarryRules().push_radius == 0.035  # the numbers below are worked out for it
    tracker = CarryTracker(1, state_indices(names))
    tracker.start([0], np.array([[0.40, 0.01, 0.02]]))
    xs = [0.335, 0.355, 0.375, 0.395, 0.415]  # 6.5, 4.5, 2.5 (-> 3.5: pushed 1 cm), then 2 cm a step
    expected = [0.40, 0.40, 0.41, 0.43, 0.45]
    for x, want in zip(xs, expected, strict=True):
        tracker.update([0], np.array([[0.0, x, 0.0, 0.03]]))
        np.testing.assert_allclose(tracker.pos[0], [want, 0.01, 0.02], atol=1e-9)
    tracker.update([0], np.array([[0.0, 0.405, 0.0, 0.03]]))  # backing off: it stays
    np.testing.assert_allclose(tracker.pos[0], [0.45, 0.01, 0.02], atol=1e-9)
    for state in ([0.0, 0.43, 0.0, 0.06], [0.0, 0.43, 0.05, 0.03], [0.08, 0.43, 0.0, 0.03]):  # high, aside, open
        tracker.start([0], np.array([[0.45, 0.01, 0.02]]))
        tracker.update([0], np.array([[state[0], 0.40, state[2], state[3]]]))
        tracker.update([0], np.array([state]))
        np.testing.assert_allclose(tracker.pos[0], [0.45, 0.01, 0.02], atol=1e-9)


def test_polynomial_terms_are_every_monomial_up_to_degree_three():
    x = torch.tensor([[2.0, 3.0]])
    # 1, a, b, a^2, ab, b^2, a^3, a^2 b, a b^2, b^3
    torch.testing.assert_close(polynomial_terms(x), torch.tensor([[1, 2, 3, 4, 6, 9, 8, 12, 18, 27.0]]))
    assert num_terms(11) == 364


def test_the_table_fit_finds_a_resting_prop_through_the_jittered_camera_to_a_few_millimetres():
    """True image points of the target and the landmarks on 400 reset frames (the scene camera jittered by up
    to 1.5 cm and 2 degrees per episode): the fit's held-out error is a few mm, where the target's image point
    alone (the same fit without the landmarks) is off by about a centimetre."""
    from vla.envs.manipulation.tabletop_env import TabletopEnv
    from vla.policies.train.scenes import SEMANTIC_CLASSES, point_colours

    env = TabletopEnv(tasks=("pick", "place", "push", "stack"), image_size=32)
    points, state, env_state, colours = [], [], [], []
    try:
        for seed in range(400):
            env.reset(seed=10_000 + seed)
            target_goal = env.privileged_state()
            world = np.concatenate([target_goal.reshape(2, 3), env.landmark_points()])
            points.append(env.scene.project("scene", world))
            state.append(env._state())
            env_state.append(target_goal)
            colours.append(point_colours(env.episode, 2))
    finally:
        env.close()
    points, state, env_state = (torch.as_tensor(np.stack(a), dtype=torch.float32) for a in (points, state, env_state))
    colours = torch.as_tensor(np.stack(colours))
    tcp = [list(env.state_names).index(k) for k in ("tcp.x", "tcp.y", "tcp.z")]
    config = LocatorConfig(table_fit=True, goal_table_fit=True, colour_vote=1.0, semantic_classes=SEMANTIC_CLASSES)
    locator = TargetLocator(config, 16, 2, state.shape[1], 6, tcp_index=tuple(tcp))
    fit = locator.fit_table(points, state, env_state, colours)
    assert fit["table_fit_rows"] >= 390 and bool(locator.table.fitted)  # a few resets put a landmark out of view
    assert fit["table_fit_heldout_median_m"] < 0.004, fit
    # The goal's fit: on the place and stack resets (a bowl's point at the table top, a base cube's centre 2 cm
    # up), from the goal's image point and its height, to about a millimetre.
    assert 150 <= fit["goal_table_fit_rows"] <= 250 and fit["goal_table_fit_terms"] == 455 and locator.goal_table.fitted
    assert fit["goal_table_fit_heldout_median_m"] < 0.002, fit
    prop_goal = colours[:4, 1] > 0
    assert 0 < int(prop_goal.sum()) < 4
    est = locator.estimate(points[:4], state[:4], torch.zeros(4, 16), on_table=True, goal_on_prop=prop_goal)
    mlp = locator.estimate(points[:4], state[:4], torch.zeros(4, 16))
    heights = mlp[:, 5]  # the goal's fit reads the geometry's own height estimate
    goal_xy = locator.goal_table(locator.table_inputs(points[:4], state[:4], point=1, height=heights))
    torch.testing.assert_close(est[:, 3:5], torch.where(prop_goal[:, None], goal_xy, mlp[:, 3:5]))
    torch.testing.assert_close(est[:, 5:], mlp[:, 5:])
    with pytest.raises(VlaUserError, match="goal table fit needs the scene bank's point colours"):
        locator.fit_table(points, state, env_state)
    with pytest.raises(VlaUserError, match="goal_table_fit needs table_fit and colour_vote"):
        LocatorConfig(goal_table_fit=True, table_fit=True)

    alone = TableFit(2)
    seen = torch.isfinite(points[:, 0]).all(-1)
    baseline = alone.fit(2 * points[seen, 0] - 1, env_state[seen, :2])
    assert baseline["table_fit_heldout_median_m"] > 2 * fit["table_fit_heldout_median_m"], (baseline, fit)

    # On the table, the estimate's x, y are the fit's; lifted targets never enter the fit.
    est = locator.estimate(points[:3], state[:3], torch.zeros(3, 16), on_table=True)
    torch.testing.assert_close(est[:, :2], locator.table(locator.table_inputs(points[:3], state[:3])))
    lifted = env_state.clone()
    lifted[:, 2] = 0.1
    with pytest.raises(VlaUserError, match="no scene-bank scene with the target on the table"):
        locator.fit_table(points, state, lifted)

"""The tabletop suite through gymnasium: API compliance, determinism, randomization, splits and controls."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vla.envs as E
from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE, TASK
from vla.envs.manipulation.instructions import TEMPLATES
from vla.envs.manipulation.props import is_heldout
from vla.errors import VlaUserError


@pytest.mark.parametrize("env_id", list(E.MANIPULATION_IDS))
def test_check_env_passes(env_id):
    env = gym.make(env_id, image_size=64)
    with _no_warnings():
        check_env(env.unwrapped, skip_render_check=True)
    env.close()


class _no_warnings:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        self.records = self._cm.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        messages = [str(r.message) for r in self.records if "gymnasium" in r.filename]
        assert not messages, messages


def test_observation_layout_and_sizes():
    env = E.make_env("pick", image_size=(48, 80))
    obs, info = env.reset(seed=0)
    assert obs[OBS_IMAGE_SCENE].shape == (48, 80, 3) and obs[OBS_IMAGE_SCENE].dtype == np.uint8
    assert obs[OBS_IMAGE_WRIST].shape == (48, 80, 3)
    assert obs[OBS_STATE].shape == (13,) and obs[OBS_STATE].dtype == np.float32
    assert isinstance(obs[TASK], str) and obs[TASK] == info["instruction"]
    assert env.metadata["render_fps"] == 10
    # Images are real renders: the scene has colour variation and the two cameras differ.
    assert (
        obs[OBS_IMAGE_SCENE].std() > 10 and np.abs(obs[OBS_IMAGE_SCENE].astype(int) - obs[OBS_IMAGE_WRIST]).mean() > 10
    )
    env.close()


def _rollout(env, seed, steps=8):
    obs, _ = env.reset(seed=seed)
    frames = [obs]
    rng = np.random.default_rng(123)
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32))
        frames.append(obs)
    return frames


def test_seed_reproduces_episode_exactly():
    a, b = E.make_env("all", image_size=64), E.make_env("all", image_size=64)
    ra, rb = _rollout(a, 11), _rollout(b, 11)
    for fa, fb in zip(ra, rb, strict=True):
        assert fa[TASK] == fb[TASK]
        np.testing.assert_array_equal(fa[OBS_STATE], fb[OBS_STATE])
        np.testing.assert_array_equal(fa[OBS_IMAGE_SCENE], fb[OBS_IMAGE_SCENE])
        np.testing.assert_array_equal(fa[OBS_IMAGE_WRIST], fb[OBS_IMAGE_WRIST])
    rc = _rollout(a, 12, steps=0)
    assert not np.array_equal(rc[0][OBS_IMAGE_SCENE], ra[0][OBS_IMAGE_SCENE])


@pytest.mark.parametrize("task", E.TASK_NAMES)
def test_distractors_make_the_instruction_necessary(task):
    env = E.make_env(task, image_size=32).unwrapped
    n_distractors = []
    for seed in range(25):
        env.reset(seed=seed)
        ep = env.episode
        small = [p for p in ep.layout.props if p.shape != "bowl"]
        target = ep.layout.by_body(ep.target)
        n_distractors.append(len([p for p in small if p.body not in (ep.target, ep.reference)]))
        kinds = [(p.colour, p.shape) for p in ep.layout.props]
        assert kinds.count((target.colour, target.shape)) == 1, "the target is unique by colour and shape"
        assert target.colour in env.instruction and (target.shape in env.instruction or "block" in env.instruction)
        # at least one distractor shares the target's shape or colour, so both words matter
        assert any(p.shape == target.shape or p.colour == target.colour for p in small if p.body != ep.target)
        xy = np.array([p.xy for p in ep.layout.props])
        d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy))
        assert d.min() >= 0.08, "props never overlap"
    assert min(n_distractors) >= 2


def test_layouts_lighting_and_camera_vary_with_seed():
    env = E.make_env("pick", image_size=32).unwrapped
    cams, lights, targets = [], [], set()
    for seed in range(10):
        env.reset(seed=seed)
        cams.append(env.scene.model.cam_pos[0].copy())
        lights.append(env.scene.model.light_diffuse[0, 0])
        t = env.episode.layout.by_body(env.episode.target)
        targets.add((t.colour, t.shape))
    assert np.ptp(np.array(cams), axis=0).max() > 0.005
    assert np.ptp(lights) > 0.05
    assert len(targets) >= 5


def test_train_and_heldout_splits_are_disjoint():
    train, held = (
        E.make_env("all", image_size=32).unwrapped,
        E.make_env("all", image_size=32, split="heldout").unwrapped,
    )
    for seed in range(40):
        train.reset(seed=seed)
        for p in train.episode.layout.props:
            if p.shape != "bowl":
                assert not is_heldout(p.colour, p.shape), "held-out combinations never appear in training scenes"
        assert any(train.instruction == t.format(**train.episode.fields) for t in TEMPLATES[train.task_name]["train"])
        held.reset(seed=seed)
        target = held.episode.layout.by_body(held.episode.target)
        assert is_heldout(target.colour, target.shape)
        assert any(held.instruction == t.format(**held.episode.fields) for t in TEMPLATES[held.task_name]["heldout"])


def test_user_supplied_instruction_and_template():
    env = E.make_env("place", image_size=32, instruction="toss the {colour} {object} into the {bowl_colour} bowl")
    obs, _ = env.reset(seed=3)
    ep = env.unwrapped.episode
    assert obs[TASK] == f"toss the {ep.fields['colour']} {ep.fields['object']} into the {ep.fields['bowl_colour']} bowl"
    obs, _ = env.reset(seed=3, options={"instruction": "do the thing"})
    assert obs[TASK] == "do the thing"
    with pytest.raises(VlaUserError, match="unknown field"):
        env.reset(seed=3, options={"instruction": "push it to the {direction}"})


def test_bad_configuration_is_a_user_error():
    with pytest.raises(VlaUserError, match="did you mean 'stack'"):
        E.make_env("stak")
    with pytest.raises(VlaUserError, match="out of range"):
        E.make_env("pick", image_size=4)
    with pytest.raises(VlaUserError, match="split"):
        E.make_env("pick", split="test")


def test_ee_delta_units():
    env = E.make_env("pick", image_size=32).unwrapped
    env.reset(seed=0)
    start = env.scene.tcp_pos()
    for _ in range(5):
        env.step(np.array([0.03, 0.0, -0.02, 0.1, -1.0], np.float32))
    for _ in range(3):
        env.step(np.array([0, 0, 0, 0, -1.0], np.float32))
    moved = env.scene.tcp_pos() - start
    np.testing.assert_allclose(moved, [0.15, 0.0, -0.10], atol=0.01)
    assert env.scene.tcp_yaw() == pytest.approx(0.5, abs=0.03)
    # out-of-bounds actions are clipped to the documented per-step limits
    p0 = env.scene.tcp_pos()
    env.step(np.array([1.0, 0, 0, 0, -1], np.float32))
    env.step(np.zeros(5, np.float32))
    assert env.scene.tcp_pos()[0] - p0[0] == pytest.approx(0.03, abs=0.006)


def test_advance_moves_like_step_without_observing_or_counting():
    stepped, advanced = (E.make_env("pick", image_size=32).unwrapped for _ in range(2))
    for env in (stepped, advanced):
        env.reset(seed=3)
    action = np.array([0.03, 0.0, -0.02, 0.1, -1.0], np.float32)
    for _ in range(4):
        obs, *_ = stepped.step(action)
        assert advanced.advance(action) is None
    # The same physics as step(), and the same observation once asked for; no step counted.
    np.testing.assert_array_equal(advanced.scene.tcp_pos(), stepped.scene.tcp_pos())
    np.testing.assert_allclose(advanced.scene.tcp_pos() - obs[OBS_STATE][6:9], 0, atol=1e-6)
    np.testing.assert_array_equal(advanced.observe()[OBS_STATE], obs[OBS_STATE])
    assert stepped._steps == 4 and advanced._steps == 0


def test_gripper_command_sets_finger_gap():
    env = E.make_env("pick", image_size=32).unwrapped
    env.reset(seed=0)
    env.step(np.array([0, 0, 0, 0, -1.0], np.float32))
    env.step(np.array([0, 0, 0, 0, -1.0], np.float32))
    assert env.scene.finger_opening() == pytest.approx(0.084, abs=0.004)
    for _ in range(3):
        env.step(np.array([0, 0, 0, 0, 1.0], np.float32))
    assert env.scene.finger_opening() < 0.005


def test_joint_position_control():
    env = E.make_env("pick", image_size=32, control="joint").unwrapped
    assert env.action_space.shape == (6,)
    obs, _ = env.reset(seed=0)
    target = obs[OBS_STATE][:5].astype(np.float64) + np.array([0.3, 0.1, -0.2, 0.1, 0.5])
    for _ in range(10):
        obs, *_ = env.step(np.array([*target, -1.0], np.float32))
    np.testing.assert_allclose(obs[OBS_STATE][:5], target, atol=0.02)


def test_nan_action_rejected():
    env = E.make_env("pick", image_size=32)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0, 0, 0, 0], np.float32))


def test_renderers_close_cleanly_at_exit():
    code = (
        "import vla.envs as E\n"
        "env = E.make_env('all', image_size=64, render_mode='rgb_array')\n"
        "env.reset(seed=0); env.render()\n"
        "env2 = E.make_env('pick'); env2.reset(seed=1); env2.close()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr


def test_instruction_file_formats(tmp_path):
    from vla.envs.manipulation.instructions import load_instruction_file

    txt = tmp_path / "wordings.txt"
    txt.write_text("# eval wordings\npick: grab the {colour} {object}\npush: move the {colour} {object} {direction}\n")
    assert load_instruction_file(txt) == {
        "pick": ["grab the {colour} {object}"],
        "push": ["move the {colour} {object} {direction}"],
    }
    js = tmp_path / "wordings.json"
    js.write_text('{"stack": ["tower: {colour} on {base_colour}"]}')
    wordings = load_instruction_file(js)
    env = E.make_env("stack", image_size=32, instruction=wordings["stack"][0])
    obs, _ = env.reset(seed=0)
    f = env.unwrapped.episode.fields
    assert obs[TASK] == f"tower: {f['colour']} on {f['base_colour']}"
    bad = tmp_path / "bad.txt"
    bad.write_text("pik: grab the {colour} {object}\n")
    with pytest.raises(VlaUserError, match="did you mean 'pick'"):
        load_instruction_file(bad)
    bad.write_text("pick: grab the {color} {object}\n")
    with pytest.raises(VlaUserError, match="unknown field"):
        load_instruction_file(bad)


def test_privileged_state_is_target_and_goal_position():
    """observation.environment_state for auxiliary losses: the named prop's position and its destination."""
    env = E.make_env("place")
    env.reset(seed=4)
    u = env.unwrapped
    s = u.privileged_state()
    assert s.shape == (6,) and s.dtype == np.float32 and len(u.privileged_state_names) == 6
    np.testing.assert_allclose(s[:3], u.scene.prop_pos(u.episode.target), atol=1e-6)
    np.testing.assert_allclose(s[3:], u.scene.prop_pos(u.episode.reference), atol=1e-6)

    env = E.make_env("pick")
    env.reset(seed=4)
    u = env.unwrapped
    s = u.privileged_state()
    shape = u.episode.layout.by_body(u.episode.target).shape
    np.testing.assert_allclose(s[3:5], u.episode.layout.by_body(u.episode.target).xy, atol=1e-6)
    assert s[5] == pytest.approx(u.scene.rest_height(shape) + 0.10, abs=1e-6)

    env = E.make_env("push")
    for seed in range(6):
        env.reset(seed=seed)
        u = env.unwrapped
        goal = u.privileged_state()[3:5]
        from vla.envs.manipulation.tasks.push import in_goal

        assert in_goal(goal, u.episode.direction), (seed, u.episode.direction, goal)

"""`vla collect` for the navigation tasks: LeRobotDataset v3 with RGB and depth video, read back by lerobot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from vla.cli.main import main
from vla.constants import ACTION, NEXT_DONE, NEXT_SUCCESS, OBS_STATE
from vla.envs.navigation.depth import decode_depth
from vla.envs.navigation.nav_env import OBS_IMAGE_DEPTH, OBS_IMAGE_RGB
from vla.policies.collect.command import collect
from vla.policies.collect.config import CollectConfig
from vla.policies.collect.plan import attempt_seed
from vla.policies.collect.recorder import record_attempt  # noqa: F401  (the code path under test)

IMAGE = 32


def load(root: Path) -> LeRobotDataset:
    return LeRobotDataset(f"local/{root.name}", root=root, video_backend="pyav")


@pytest.mark.parametrize(
    ("task", "action_type", "state_dim", "action_dim"),
    [("pointnav", "discrete", 5, 1), ("objectnav,instructnav", "velocity", 3, 2)],
)
def test_navigation_collection_loads_with_lerobot(tmp_path, task, action_type, state_dim, action_dim):
    out = tmp_path / "nav"
    cfg = CollectConfig(task=task, out=out, episodes=1, image_size=IMAGE, seed=4, action_type=action_type)
    summary = collect(cfg, progress=False)
    tasks = task.split(",")
    assert summary.new_episodes == len(tasks)
    ds = load(out)
    record = json.loads((out / "meta" / "vla_collect.json").read_text())
    assert ds.fps == 4 and ds.meta.robot_type == "vla_nav_base"
    assert record["settings"]["action_type"] == action_type and record["settings"]["split"] == "train"
    for key in (OBS_IMAGE_RGB, OBS_IMAGE_DEPTH):
        assert ds.features[key]["dtype"] == "video" and tuple(ds.features[key]["shape"]) == (IMAGE, IMAGE, 3)
    assert ds.features[OBS_STATE]["shape"] == (state_dim,) and ds.features[ACTION]["shape"] == (action_dim,)
    assert ds.features[OBS_STATE]["names"][-1] == "compass"
    for e in record["episodes"]:
        assert e["seed"] == attempt_seed(4, e["task"], e["attempt"])
        meta = ds.meta.episodes[e["episode_index"]]
        first, last = meta["dataset_from_index"], meta["dataset_to_index"] - 1
        start, end = ds[first], ds[last]
        assert start["task"] == e["instruction"]
        assert start[OBS_IMAGE_RGB].shape == start[OBS_IMAGE_DEPTH].shape == (3, IMAGE, IMAGE)
        assert start[OBS_STATE].dtype == start[ACTION].dtype == torch.float32
        assert bool(end[NEXT_SUCCESS]) and bool(end[NEXT_DONE])
        if action_type == "discrete":
            # lerobot stores a (1,) feature as a scalar column: the action id comes back 0-dimensional.
            actions = np.array([float(ds[i][ACTION].reshape(-1)[0]) for i in range(first, last + 1)])
            assert set(actions) <= {0.0, 1.0, 2.0, 3.0} and actions[-1] == 0.0, "ends with STOP"
        else:
            assert torch.all(end[ACTION].abs() < 1e-6), "zero velocity is STOP"


def test_depth_survives_video_encoding(tmp_path):
    """The grey depth encoding comes back from h264 within a few levels of what the env rendered."""
    import vla.envs as E

    out = tmp_path / "depth"
    collect(CollectConfig(task="pointnav", out=out, episodes=1, image_size=IMAGE, seed=1), progress=False)
    ds = load(out)
    record = json.loads((out / "meta" / "vla_collect.json").read_text())
    env = E.make_env("pointnav", image_size=IMAGE)
    obs, _ = env.reset(seed=record["episodes"][0]["seed"])
    decoded = (ds[0][OBS_IMAGE_DEPTH].permute(1, 2, 0).numpy() * 255).round()
    err = np.abs(decode_depth(decoded, 10.0) - decode_depth(obs[OBS_IMAGE_DEPTH], 10.0))
    assert np.median(err) <= 0.08 and np.mean(err) <= 0.15, (np.median(err), np.mean(err))
    env.close()


def test_mixing_suites_is_one_line_error(tmp_path, capsys):
    code = main(["collect", "--task", "pick,pointnav", "--out", str(tmp_path / "x"), "--episodes", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "mixes tabletop and navigation" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_expert_noise_executes_random_steps_and_records_the_experts_labels(tmp_path):
    """DART: replaying a noisy collection in the real env, every recorded action is what the expert says in
    the recorded state, the states follow the perturbed actions, and some steps were perturbed."""
    import vla.envs as E
    from vla.policies.experts.navigation import NavigationExpert
    from vla.policies.experts.perturbation import ExecutionNoise

    out = tmp_path / "dart"
    cfg = CollectConfig(task="pointnav", out=out, episodes=2, image_size=16, seed=3, expert_noise=0.3)
    collect(cfg, progress=False)
    ds = load(out)
    record = json.loads((out / "meta" / "vla_collect.json").read_text())
    assert record["settings"]["expert_noise"] == 0.3
    env = E.make_env("pointnav", image_size=16)
    expert, noise = NavigationExpert(env), ExecutionNoise(env.action_space, 0.3)
    perturbed = 0
    for e in record["episodes"]:
        meta = ds.meta.episodes[e["episode_index"]]
        rows = ds.hf_dataset.select(range(meta["dataset_from_index"], meta["dataset_to_index"]))
        states = np.stack([np.asarray(s) for s in rows[OBS_STATE]])
        labels = np.array([float(np.asarray(a).reshape(-1)[0]) for a in rows[ACTION]])
        obs, _ = env.reset(seed=e["seed"])
        expert.reset()
        noise.reset(e["seed"])
        for t, label in enumerate(labels):
            np.testing.assert_allclose(obs[OBS_STATE], states[t], atol=1e-5)
            assert expert.act(obs) == label, f"episode {e['episode_index']} step {t}"
            executed = noise(np.array([label], dtype=np.float32))
            perturbed += executed[0] != label
            obs, *_ = env.step(executed)
        assert labels[-1] == 0.0, "the expert still ends with STOP"
    env.close()
    assert perturbed >= 3, perturbed


def test_expert_noise_on_tabletop_is_one_line_error(tmp_path, capsys):
    code = main(["collect", "--task", "pick", "--out", str(tmp_path / "x"), "--episodes", "1", "--expert-noise", "0.2"])
    err = capsys.readouterr().err
    assert code == 2 and "--expert-noise is for navigation tasks only" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()

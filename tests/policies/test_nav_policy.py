"""VLA policies on the navigation suite: training on `vla collect` nav datasets (RGB-D cameras from the
dataset, discrete actions through the categorical head, body velocity) and `vla eval --task pointnav` with
SR/SPL/SoftSPL."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from vla.constants import ACTION, OBS_STATE
from vla.envs import make_env
from vla.envs.navigation.nav_env import MOVE_FORWARD, OBS_IMAGE_DEPTH, OBS_IMAGE_RGB, STOP, TURN_LEFT, TURN_RIGHT
from vla.errors import VlaUserError
from vla.policies.collect.command import collect
from vla.policies.collect.config import CollectConfig
from vla.policies.eval.decoding import apply_decoding
from vla.policies.eval.navigation import rollout_nav_task, summarize
from vla.policies.train.command import run_train
from vla.policies.train.config import TrainConfig
from vla.policies.train.data import demos_discrete_actions, load_demos
from vla.policy.checkpoint import load_policy
from vla.policy.configuration_vla import make_config
from vla.policy.modeling_vla import ACTION_IS_PAD, VLAPolicy

IMAGE = 32


def train_on(tmp_path_factory, task: str, action_type: str, policy: str) -> Path:
    root = tmp_path_factory.mktemp(f"nav_{task}_{action_type}")
    data = root / "data"
    collect(
        CollectConfig(task=task, out=data, episodes=2, image_size=IMAGE, seed=5, action_type=action_type),
        progress=False,
    )
    run_train(TrainConfig(dataset=str(data), out=root / "run", policy=policy, steps=3, batch_size=8, threads=1))
    return root / "run" / "checkpoints" / "last" / "pretrained_model"


@pytest.fixture(scope="module")
def pointnav_checkpoint(tmp_path_factory) -> Path:
    return train_on(tmp_path_factory, "pointnav", "discrete", "tiny-categorical")


def test_discrete_pointnav_checkpoint_uses_nav_cameras_and_returns_action_ids(pointnav_checkpoint):
    config = json.loads((pointnav_checkpoint / "config.json").read_text())
    assert config["action_space"] == "discrete(4)" and config["action_dim"] == 4 and config["ensembling"] == "none"
    assert config["head"]["type"] == "categorical" and config["n_action_steps"] == 1  # closed loop by default
    assert set(config["camera_keys"]) == {OBS_IMAGE_RGB, OBS_IMAGE_DEPTH} and config["state_dim"] == 5
    stats = json.loads((pointnav_checkpoint / "normalization.json").read_text())
    assert stats["action_min"] == [0.0] * 4 and stats["action_max"] == [1.0] * 4  # one-hot range
    assert max(stats["state_std"]) > 0.1  # real GPS/pointgoal statistics, not the identity
    policy = load_policy(pointnav_checkpoint)
    env = make_env("pointnav", image_size=IMAGE, split="test")
    obs, _ = env.reset(seed=1)
    chunk = policy.predict_action_chunk(obs)  # unbatched env observation
    assert chunk.shape == (1, policy.config.chunk_size, 1)
    assert set(chunk.flatten().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    env.step(chunk[0, 0].numpy())  # the env takes the policy's (1,) action as is
    env.close()
    # training targets: ids of any lerobot shape -> one-hot
    assert torch.equal(policy.one_hot(torch.tensor([[2.0], [0.0]])), torch.eye(4)[[2, 0]][:, None])
    assert policy.one_hot(torch.tensor([[1.0, 3.0]])).shape == (1, 2, 4)


def test_categorical_policy_overfits_pointnav_demo_steps(pointnav_checkpoint):
    """The whole policy (backbone + categorical head) fits 24 demonstration frames, the STOP frames included,
    from RGB-D + (rho, phi, GPS, compass): accuracy of the decoded first action > 0.9."""
    data = pointnav_checkpoint.parents[3] / "data"
    demos = load_demos(str(data), (OBS_IMAGE_DEPTH, OBS_IMAGE_RGB), (IMAGE, IMAGE))
    demos_discrete_actions(demos)
    stops = (demos.action[:, 0] == STOP).nonzero()[:, 0]
    assert len(stops) == 2  # one per episode, at its end
    idx = torch.cat([stops, torch.arange(0, len(demos), max(1, len(demos) // 22))[:22]]).unique()
    config = make_config(
        "tiny-categorical", camera_keys=demos.camera_keys, image_size=(IMAGE, IMAGE), state_dim=5, action_dim=4,
        action_space="discrete(4)", chunk_size=2, n_action_steps=1,
    )  # fmt: skip
    torch.manual_seed(0)
    policy = VLAPolicy(config)
    policy.normalizer.set_stats(demos.stats, OBS_STATE, ACTION)
    batch = demos.batch(idx, config.chunk_size)
    labels = demos.action[idx, 0].long()
    opt = torch.optim.Adam(policy.parameters(), lr=2e-3)
    losses = []
    for _ in range(80):
        loss, info = policy(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses[::10]
    policy.eval()
    obs = {k: v for k, v in batch.items() if k not in (ACTION, ACTION_IS_PAD)}
    decoded = policy.predict_action_chunk(obs)[:, 0, 0].long()
    assert (decoded == labels).float().mean() > 0.9, (decoded.tolist(), labels.tolist())
    assert bool((decoded[labels == STOP] == STOP).all()), "STOP, 2 frames of the demos, is predicted"


def test_categorical_head_needs_a_discrete_action_space():
    with pytest.raises(VlaUserError, match="classifies discrete actions"):
        make_config("tiny-categorical", action_dim=2)


def test_velocity_objectnav_trains_with_continuous_actions(tmp_path_factory):
    ckpt = train_on(tmp_path_factory, "objectnav", "velocity", "tiny-diffusion")
    policy = load_policy(ckpt)
    assert policy.config.action_space == "continuous" and policy.config.action_dim == 2
    assert policy.config.state_dim == 3 and OBS_IMAGE_DEPTH in policy.config.camera_keys
    env = make_env("objectnav", image_size=IMAGE, action_type="velocity", split="test")
    obs, _ = env.reset(seed=2)
    chunk = policy.predict_action_chunk(obs)
    assert chunk.shape == (1, policy.config.chunk_size, 2)
    assert env.action_space.contains(chunk[0, 0].numpy().clip(env.action_space.low, env.action_space.high))
    env.close()


def test_vla_eval_pointnav_report(pointnav_checkpoint, tmp_path):
    out = tmp_path / "eval"
    r = subprocess.run(
        [sys.executable, "-m", "vla.cli.main", "eval", "--checkpoint", str(pointnav_checkpoint), "--task",
         "pointnav", "--episodes", "3", "--split", "test", "--num-envs", "2", "--videos", "1", "--out", str(out),
         "--threads", "1", "--n-action-steps", "8"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["split"] == "test" and report["action_type"] == "discrete" and "bootstrap" in report["intervals"]
    t = report["tasks"]["pointnav"]
    assert t["episodes"] == 3 and len(t["per_episode"]) == 3
    assert all(2_000_000 <= e["layout_seed"] < 2_001_000 for e in t["per_episode"]), "unseen (test) houses"
    assert t["success_rate"] == pytest.approx(t["successes"] / 3)
    lo, hi = t["success_ci95"]
    assert 0 <= lo <= t["success_rate"] <= hi <= 1
    for name in ("spl", "softspl", "distance_to_goal"):
        assert t[name] == pytest.approx(np.mean([e[name] for e in t["per_episode"]]))
        lo, hi = t[f"{name}_ci95"]
        assert lo <= t[name] + 1e-9 and t[name] <= hi + 1e-9
    assert t["distance_to_goal"] > 0
    m = t["failure_modes"]
    assert m["failures"] == 3 - t["successes"] == m["early_stop"] + m["timeout_colliding"] + m["timeout_other"]
    assert m["early_stop"] == sum(e["stopped"] and not e["success"] for e in t["per_episode"])
    assert f"pointnav: {m['failures']} failures" in r.stdout or (m["failures"] == 0 and "no failures" in r.stdout)
    assert t["latency_ms_batch1"]["p50"] > 0 and t["latency_ms_per_call"]["n"] >= 1
    assert (out / "topdown_pointnav.png").stat().st_size > 5000
    videos = list((out / "videos" / "pointnav").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


def eval_cli(checkpoint: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vla.cli.main", "eval", "--checkpoint", str(checkpoint), "--task", "pointnav",
         "--episodes", "4", "--split", "test", "--num-envs", "2", "--videos", "0", "--out", str(out),
         "--threads", "1", *extra],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_sampled_actions_are_reproducible_and_reported(pointnav_checkpoint, tmp_path):
    """--decoding sample draws actions from the class probabilities, seeded by --seed: two runs give the same
    episodes; the report says which decoding (and temperature) ran."""
    reports = []
    for name in ("a", "b"):
        r = eval_cli(pointnav_checkpoint, tmp_path / name, "--decoding", "sample", "--temperature", "0.5")
        assert r.returncode == 0, r.stderr[-2000:]
        reports.append(json.loads((tmp_path / name / "report.json").read_text()))
    assert reports[0]["decoding"] == "sample (temperature 0.5, top_p 1)"
    a, b = (rep["tasks"]["pointnav"]["per_episode"] for rep in reports)
    assert [(e["seed"], e["steps"], e["path_length"]) for e in a] == [
        (e["seed"], e["steps"], e["path_length"]) for e in b
    ]
    r = eval_cli(pointnav_checkpoint, tmp_path / "argmax", "--decoding", "argmax")
    assert r.returncode == 0 and json.loads((tmp_path / "argmax" / "report.json").read_text())["decoding"] == "argmax"


def test_decoding_override_on_a_continuous_head_is_one_line_error(tmp_path_factory, tmp_path):
    ckpt = train_on(tmp_path_factory, "pointnav", "velocity", "tiny-l1")
    r = eval_cli(ckpt, tmp_path / "eval", "--decoding", "sample")
    assert r.returncode == 2 and "apply to the categorical head" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "eval").exists()
    for rule in (["--no-turn-reversal"], ["--stop-threshold", "0.3"], ["--stuck-recovery"]):
        r = eval_cli(ckpt, tmp_path / "eval", *rule)
        assert r.returncode == 2 and "discrete-action categorical head" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "eval").exists()


def reversals(actions: list[int]) -> int:
    return sum({a, b} == {TURN_LEFT, TURN_RIGHT} for a, b in zip(actions, actions[1:], strict=False))


class RecordActions(gym.Wrapper):
    def __init__(self, env):
        super().__init__(env)
        self.episodes: list[list[int]] = []

    def reset(self, **kwargs):
        self.episodes.append([])
        return self.env.reset(**kwargs)

    def step(self, action):
        self.episodes[-1].append(int(action))
        return self.env.step(action)


def test_no_turn_reversal_never_turns_straight_back(pointnav_checkpoint, tmp_path):
    """With the rule, TURN_RIGHT never follows TURN_LEFT nor the reverse; without it, a near-uniform sampler
    turns back often. The rule only removes that class: an all-forbidden row decodes as if unmasked."""
    policy = load_policy(pointnav_checkpoint)
    apply_decoding(policy, "sample", 3.0)  # close to uniform over the 4 actions
    counts, steps = {}, {}
    for allowed in (True, False):
        torch.manual_seed(0)
        envs = [RecordActions(make_env("pointnav", image_size=IMAGE, split="test", max_steps=60)) for _ in range(2)]
        rollout_nav_task(policy, envs, list(range(21, 61)), n_action_steps=1, videos=0, turn_reversal=allowed)
        episodes = [e for env in envs for e in env.episodes if e]
        counts[allowed], steps[allowed] = sum(map(reversals, episodes)), sum(map(len, episodes))
    assert counts[False] == 0 and steps[False] >= 60, (counts, steps)
    assert counts[True] >= 5, (counts, steps)  # chance reversals (near-uniform: STOP ends episodes early)

    apply_decoding(policy, "argmax", None)
    env = make_env("pointnav", image_size=IMAGE, split="test")
    obs, _ = env.reset(seed=3)
    best = int(policy.predict_action_chunk(obs)[0, 0, 0])
    only_best = torch.zeros(1, 4, dtype=torch.bool)
    only_best[0, best] = True
    assert int(policy.predict_action_chunk(obs, forbid=only_best)[0, 0, 0]) != best
    every = torch.ones(1, 4, dtype=torch.bool)
    assert int(policy.predict_action_chunk(obs, forbid=every)[0, 0, 0]) == best
    with pytest.raises(VlaUserError, match="forbid has shape"):
        policy.predict_action_chunk(obs, forbid=torch.zeros(1, 3, dtype=torch.bool))
    r = eval_cli(pointnav_checkpoint, tmp_path / "rule", "--no-turn-reversal")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "rule" / "report.json").read_text())["turn_reversal"].startswith("ruled out")


class RecordStops(gym.Wrapper):
    """Keeps the observation every STOP was decoded from."""

    def __init__(self, env):
        super().__init__(env)
        self.stop_obs: list[dict] = []
        self.last: dict | None = None

    def reset(self, **kwargs):
        self.last, info = self.env.reset(**kwargs)
        return self.last, info

    def step(self, action):
        if int(action) == STOP:
            self.stop_obs.append(self.last)
        out = self.env.step(action)
        self.last = out[0]
        return out


def stop_probability(policy, obs: dict) -> float:
    """The policy's probability of STOP for the next action (softmax at temperature 1)."""
    with torch.inference_mode():
        return float(policy.head.logits(policy.encode(obs))[0, 0].float().softmax(-1)[STOP])


def test_stop_threshold_only_stops_where_stop_is_likely(pointnav_checkpoint, tmp_path):
    """--stop-threshold t: every executed STOP had probability >= t; without it, a near-uniform sampler stops
    where STOP is less likely than t. A floor no class meets decodes as if unmasked."""
    policy = load_policy(pointnav_checkpoint)
    apply_decoding(policy, "sample", 3.0)
    env = make_env("pointnav", image_size=IMAGE, split="test")
    t = float(np.median([stop_probability(policy, env.reset(seed=s)[0]) for s in range(30, 40)]))
    stops = {}
    for threshold in (0.0, t):
        torch.manual_seed(0)
        envs = [RecordStops(make_env("pointnav", image_size=IMAGE, split="test", max_steps=40)) for _ in range(2)]
        rollout_nav_task(policy, envs, list(range(21, 41)), n_action_steps=1, videos=0, stop_threshold=threshold)
        stops[threshold] = [stop_probability(policy, o) for e in envs for o in e.stop_obs]
    assert sum(p < t for p in stops[0.0]) >= 3, (t, stops[0.0])
    assert len(stops[t]) >= 1 and min(stops[t]) >= t - 1e-5, (t, stops[t])

    apply_decoding(policy, "argmax", None)
    obs, _ = env.reset(seed=3)
    best = int(policy.predict_action_chunk(obs)[0, 0, 0])
    floor = torch.zeros(4)
    floor[best] = 1.0
    assert int(policy.predict_action_chunk(obs, min_prob=floor)[0, 0, 0]) != best
    assert int(policy.predict_action_chunk(obs, min_prob=torch.ones(4))[0, 0, 0]) == best
    with pytest.raises(VlaUserError, match="min_prob has shape"):
        policy.predict_action_chunk(obs, min_prob=torch.zeros(3))
    r = eval_cli(pointnav_checkpoint, tmp_path / "rule", "--stop-threshold", "0.3")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "rule" / "report.json").read_text())["stop_threshold"] == 0.3
    r = eval_cli(pointnav_checkpoint, tmp_path / "bad", "--stop-threshold", "1.5")
    assert r.returncode == 2 and "--stop-threshold must be in [0, 1)" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()


class ForwardUnlessForbidden:
    """A stand-in categorical policy: MOVE_FORWARD always, TURN_LEFT where the rollout rules FORWARD out."""

    class config:  # noqa: N801 (the attribute the rollout reads)
        num_discrete_actions = 4

    def predict_action_chunk(self, obs: dict, forbid=None, min_prob=None) -> torch.Tensor:
        n = len(obs[OBS_STATE])
        blocked = forbid[:, MOVE_FORWARD] if forbid is not None else torch.zeros(n, dtype=torch.bool)
        return torch.where(blocked, float(TURN_LEFT), float(MOVE_FORWARD)).view(n, 1, 1)


class RecordGps(gym.Wrapper):
    """Per episode: (action, metres the GPS moved) for every step."""

    def __init__(self, env):
        super().__init__(env)
        self.episodes: list[list[tuple[int, float]]] = []

    def reset(self, **kwargs):
        self.last, info = self.env.reset(**kwargs)
        self.episodes.append([])
        return self.last, info

    def step(self, action):
        out = self.env.step(action)
        moved = float(np.hypot(*(out[0][OBS_STATE][-3:-1] - self.last[OBS_STATE][-3:-1])))
        self.episodes[-1].append((int(action), moved))
        self.last = out[0]
        return out


def test_stuck_recovery_turns_away_after_a_blocked_forward(pointnav_checkpoint, tmp_path):
    """A policy that only drives forward pins itself against the first wall; with --stuck-recovery every
    MOVE_FORWARD that left it in place (GPS < 5 cm) is followed by a turn, and it covers far more ground."""
    paths, pinned_then_forward = {}, {}
    for recovery in (False, True):
        envs = [RecordGps(make_env("pointnav", image_size=16, split="test", max_steps=120)) for _ in range(2)]
        r = rollout_nav_task(ForwardUnlessForbidden(), envs, [31, 32, 33, 34], 1, 0, stuck_recovery=recovery)
        paths[recovery] = sum(e.path_length for e in r.episodes)
        steps = [s for env in envs for ep in env.episodes for s in zip(ep, ep[1:], strict=False)]
        pinned_then_forward[recovery] = sum(
            a == MOVE_FORWARD and d < 0.05 and b == MOVE_FORWARD for (a, d), (b, _) in steps
        )
    assert pinned_then_forward[False] >= 100, pinned_then_forward  # pushes against the wall to the time limit
    assert pinned_then_forward[True] == 0, pinned_then_forward
    assert paths[True] > 2 * paths[False], paths
    r = eval_cli(pointnav_checkpoint, tmp_path / "rule", "--stuck-recovery")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "moved < 0.05 m" in json.loads((tmp_path / "rule" / "report.json").read_text())["stuck_recovery"]


class GreedyPointGoal:
    """A stand-in policy: turn towards the point goal, walk, STOP near it (a pure function of the observation)."""

    def predict_action_chunk(self, obs: dict) -> torch.Tensor:
        return torch.tensor([[[float(greedy(s))]] for s in obs[OBS_STATE]])


def greedy(state: np.ndarray) -> int:
    rho, phi = float(state[0]), float(state[1])
    if rho < 0.15:
        return STOP
    if abs(phi) > math.radians(20):
        return TURN_LEFT if phi > 0 else TURN_RIGHT
    return MOVE_FORWARD


def test_spl_and_softspl_aggregates_equal_the_envs_per_episode_info():
    seeds = [11, 12, 13, 14]
    envs = [make_env("pointnav", image_size=16, split="test", max_steps=60) for _ in range(2)]
    r = rollout_nav_task(GreedyPointGoal(), envs, seeds, n_action_steps=1, videos=0)
    infos, stops = [], []
    env = make_env("pointnav", image_size=16, split="test", max_steps=60)
    for seed in seeds:  # replay each episode alone and keep the env's own end-of-episode info
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(np.array([greedy(obs[OBS_STATE])], np.float32))
            done = terminated or truncated
        infos.append(info)
        stops.append(terminated)
    assert [e.seed for e in r.episodes] == seeds
    for e, info, stopped in zip(r.episodes, infos, stops, strict=True):
        for name in ("success", "spl", "softspl", "distance_to_goal", "collisions"):
            assert getattr(e, name) == info[name], name
        assert e.stopped == stopped
    s = summarize(r.episodes)
    modes = s["failure_modes"]
    assert modes["failures"] == len(seeds) - sum(i["success"] for i in infos)
    assert modes["early_stop"] == sum(st and not i["success"] for st, i in zip(stops, infos, strict=True))
    assert s["spl"] == pytest.approx(np.mean([i["spl"] for i in infos]), abs=1e-12)
    assert s["softspl"] == pytest.approx(np.mean([i["softspl"] for i in infos]), abs=1e-12)
    assert s["success_rate"] == np.mean([i["success"] for i in infos])
    assert s["softspl"] > 0 and any(i["spl"] > 0 for i in infos), "the check needs non-trivial SPLs"


def test_vla_eval_against_env_servers_matches_in_process(pointnav_checkpoint, tmp_path):
    """`vla eval --env-address` with two `vla env-server` processes (the route to Habitat): the same
    episodes, metric for metric, as in-process eval on the same seeds."""
    from vla.envs.server.launch import start_server_process

    common = ["--checkpoint", str(pointnav_checkpoint), "--task", "pointnav", "--episodes", "3", "--videos", "0",
              "--threads", "1", "--n-action-steps", "4", "--seed", "300"]  # fmt: skip
    local = tmp_path / "local"
    r = subprocess.run(
        [sys.executable, "-m", "vla.cli.main", "eval", *common, "--split", "test", "--out", str(local)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    kwargs = {"image_size": IMAGE, "split": "test"}
    with (
        start_server_process("vla/PointNav-v0", env_kwargs=kwargs) as a,
        start_server_process("vla/PointNav-v0", env_kwargs=kwargs) as b,
    ):
        remote = tmp_path / "remote"
        r = subprocess.run(
            [sys.executable, "-m", "vla.cli.main", "eval", *common, "--env-address", f"{a.address},{b.address}",
             "--out", str(remote)],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        wrong = subprocess.run(
            [sys.executable, "-m", "vla.cli.main", "eval", *common, "--env-address", a.address, "--task",
             "pointnav,objectnav", "--out", str(tmp_path / "x")],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    here = json.loads((local / "report.json").read_text())
    there = json.loads((remote / "report.json").read_text())
    assert there["split"] == "server" and there["env_servers"] == [a.address, b.address]
    assert here["tasks"]["pointnav"]["per_episode"] == there["tasks"]["pointnav"]["per_episode"]
    for key in ("success_rate", "spl", "softspl", "distance_to_goal", "collisions_per_episode", "mean_steps"):
        assert here["tasks"]["pointnav"][key] == there["tasks"]["pointnav"][key], key
    assert (local / "topdown_pointnav.png").exists() and not (remote / "topdown_pointnav.png").exists()
    assert wrong.returncode == 2 and "names several" in wrong.stderr and not (tmp_path / "x").exists()


def test_vla_eval_env_server_with_other_image_size_is_one_line_error(pointnav_checkpoint, tmp_path):
    from vla.envs.server.launch import start_server_process

    with start_server_process("vla/PointNav-v0", env_kwargs={"image_size": 2 * IMAGE}) as server:
        r = subprocess.run(
            [sys.executable, "-m", "vla.cli.main", "eval", "--checkpoint", str(pointnav_checkpoint), "--task",
             "pointnav", "--episodes", "1", "--env-address", server.address, "--out", str(tmp_path / "e")],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"renders {2 * IMAGE}x{2 * IMAGE} images" in r.stderr and '"image_size": 32' in r.stderr

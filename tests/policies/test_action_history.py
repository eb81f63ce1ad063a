"""`action_history`: a discrete-action policy fed its last k executed actions. Training reads them from
the dataset (DAgger's executed actions, not its labels), select_action remembers its own, and the batched
navigation rollout keeps one history per env. Real MuJoCo houses, real `vla collect` datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vla.constants import OBS_PREV_ACTIONS, OBS_STATE
from vla.envs import make_env
from vla.envs.navigation.nav_env import OBS_IMAGE_DEPTH, OBS_IMAGE_RGB
from vla.errors import VlaUserError
from vla.policies.collect.command import collect
from vla.policies.collect.config import CollectConfig
from vla.policies.eval.navigation import rollout_nav_task
from vla.policies.train.dagger import extend_demos, rollout_with_expert
from vla.policies.train.data import demos_discrete_actions, load_demos
from vla.policy.checkpoint import load_policy, save_policy
from vla.policy.configuration_vla import make_config
from vla.policy.modeling_vla import VLAPolicy

IMAGE = 32
K = 3


@pytest.fixture(scope="module")
def nav_data(pointnav_demos) -> Path:
    return pointnav_demos  # conftest: 2 PointNav episodes at IMAGE px


def history_policy(k: int = K, seed: int = 0) -> VLAPolicy:
    config = make_config(
        "tiny-categorical", camera_keys=(OBS_IMAGE_DEPTH, OBS_IMAGE_RGB), image_size=(IMAGE, IMAGE), state_dim=5,
        action_dim=4, action_space="discrete(4)", chunk_size=2, n_action_steps=1, action_history=k,
    )  # fmt: skip
    torch.manual_seed(seed)
    return VLAPolicy(config).eval()


def expected_history(executed: list[int], t: int, k: int = K) -> list[int]:
    """The k actions executed before step t, oldest first, -1 before the first step."""
    return ([-1] * k + executed[:t])[-k:]


class RecordingPolicy(VLAPolicy):
    """The real policy; it also keeps the previous-action rows of every batch it was asked about."""

    def __init__(self, config):
        super().__init__(config)
        self.seen: list[torch.Tensor] = []

    def predict_action_chunk(self, obs, noise=None):
        if OBS_PREV_ACTIONS in obs:
            self.seen.append(torch.as_tensor(obs[OBS_PREV_ACTIONS]).clone())
        return super().predict_action_chunk(obs, noise)


def test_training_history_is_the_previous_executed_actions_of_the_same_episode(nav_data):
    demos = load_demos(str(nav_data), (OBS_IMAGE_DEPTH, OBS_IMAGE_RGB), (IMAGE, IMAGE))
    demos_discrete_actions(demos)
    ends = sorted(set(demos.episode_end.tolist()))
    assert len(ends) == 2
    prev = demos.previous_actions(torch.arange(len(demos)), K)
    start = 0
    for end in ends:
        actions = demos.action[start : end + 1, 0].long().tolist()
        for t in range(len(actions)):
            assert prev[start + t].tolist() == expected_history(actions, t), (start, t)
        start = end + 1
    batch = demos.batch(torch.tensor([0, ends[0] + 1, ends[0] + 3]), chunk_size=2, action_history=K)
    assert batch[OBS_PREV_ACTIONS].tolist()[:2] == [[-1] * K, [-1] * K]  # each episode starts with none

    # A DAgger round: the history is what the env executed (often the policy's), not the expert's label.
    policy = RecordingPolicy(history_policy().config)
    policy.normalizer.set_stats(demos.stats, OBS_STATE, "action")
    settings = json.loads((nav_data / "meta" / "vla_collect.json").read_text())["settings"]
    r = rollout_with_expert(policy.eval(), settings, [7, 8], beta=0.3, max_steps=12, image_size=(IMAGE, IMAGE))
    assert bool((r.executed != r.action).any()), "the policy drove some steps"
    n_before = len(demos)
    extend_demos(demos, r)
    prev = demos.previous_actions(torch.arange(n_before, len(demos)), K)
    start = 0
    for n in r.lengths:
        executed = r.executed[start : start + n, 0].long().tolist()
        for t in range(n):
            assert prev[start + t].tolist() == expected_history(executed, t)
        start += n
    # and the policy itself was shown those same executed actions while it drove
    shown = [row.tolist() for rows in policy.seen for row in rows]
    assert shown.count([-1] * K) >= 2 and any(-1 not in row for row in shown)


def test_select_action_feeds_back_its_own_actions_and_history_changes_the_decision():
    policy = RecordingPolicy(history_policy().config)
    env = make_env("pointnav", image_size=IMAGE, split="test")
    obs, _ = env.reset(seed=3)
    executed = []
    for t in range(6):
        a = int(policy.select_action(obs)[0, 0])
        assert policy.seen[t][0].tolist() == expected_history(executed, t)
        executed.append(a)
        obs, *_ = env.step(a)
    policy.reset()
    policy.select_action(obs)
    assert policy.seen[-1][0].tolist() == [-1] * K  # reset() forgets the episode
    env.close()

    # The history is an input that matters: the same frame with other previous actions encodes differently.
    batch = {k: torch.as_tensor(v)[None] for k, v in obs.items() if k != "task"} | {"task": [obs["task"]]}
    with torch.no_grad():
        a = policy.encode({**batch, OBS_PREV_ACTIONS: torch.tensor([[-1, -1, -1]])}).cognition
        b = policy.encode({**batch, OBS_PREV_ACTIONS: torch.tensor([[2, 2, 2]])}).cognition
    assert float((a - b).abs().max()) > 1e-4
    with pytest.raises(VlaUserError, match="observation.previous_actions"):
        policy.predict_action_chunk(batch)
    with pytest.raises(VlaUserError, match="ids in -1..3"):
        policy.predict_action_chunk({**batch, OBS_PREV_ACTIONS: torch.tensor([[0, 4, 1]])})


def test_nav_rollout_keeps_one_history_per_env():
    policy = RecordingPolicy(history_policy(seed=1).config)
    envs = [make_env("pointnav", image_size=IMAGE, split="test", max_steps=9) for _ in range(2)]
    taken: list[list[list[int]]] = [[], []]  # env -> episodes -> actions
    for i, env in enumerate(envs):
        step, reset = env.step, env.reset

        def logged_step(a, i=i, step=step):
            taken[i][-1].append(int(a))
            return step(a)

        def logged_reset(*args, i=i, reset=reset, **kw):
            taken[i].append([])
            return reset(*args, **kw)

        env.step, env.reset = logged_step, logged_reset
    result = rollout_nav_task(policy, envs, seeds=[1, 2], n_action_steps=1, videos=0)
    assert len(result.episodes) == 2
    # Lockstep: call c asks every env whose episode is still running, in env order.
    lengths = [len(taken[i][0]) for i in range(2)]
    for c, rows in enumerate(policy.seen):
        active = [i for i in range(2) if c < lengths[i]]
        assert [r.tolist() for r in rows] == [expected_history(taken[i][0], c) for i in active]
    assert len(policy.seen) == max(lengths)
    for env in envs:
        env.close()


def test_checkpoint_round_trip_and_config_errors(tmp_path):
    policy = history_policy(k=8)
    save_policy(policy, tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt")
    assert loaded.config.action_history == 8 and loaded.config.input_state_dim == 5 + 8 * 4
    for (name, p), q in zip(policy.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    with pytest.raises(VlaUserError, match="continuous"):
        make_config("tiny-l1", action_dim=2, action_history=2)
    with pytest.raises(VlaUserError, match="0..64"):
        history_policy(k=-1)


def cli_train(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vla.cli.main", "train", "--dataset", str(data), "--policy", "tiny-categorical",
         "--out", str(out), "--steps", "2", "--batch-size", "4", "--threads", "1", *extra],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_action_history_on_datasets_without_executed_discrete_actions_is_a_one_line_error(tmp_path):
    velocity = tmp_path / "velocity"
    collect(
        CollectConfig(task="pointnav", out=velocity, episodes=1, image_size=IMAGE, seed=2, action_type="velocity"),
        progress=False,
    )
    noisy = tmp_path / "noisy"
    collect(CollectConfig(task="pointnav", out=noisy, episodes=1, image_size=IMAGE, seed=2, expert_noise=0.3),
            progress=False)  # fmt: skip
    for data, message in ((velocity, "not a discrete-action navigation dataset"), (noisy, "--expert-noise")):
        out = tmp_path / f"run_{data.name}"
        proc = cli_train(data, out, "--action-history", "4")
        assert proc.returncode != 0
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert message in proc.stderr
        assert not (out / "checkpoints").exists()

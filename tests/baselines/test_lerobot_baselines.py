"""lerobot's DiffusionPolicy and ACT behind our policy surface: they build from a DemoDataset, train
(finite loss, weights move, loss falls on a fixed batch), return (B, H, A) actions inside the
dataset's action range from env-format observations, and run through our rollout code."""

import numpy as np
import pytest
import torch

from vla.baselines import BASELINE_PRESETS, LeRobotBaseline, LeRobotBaselineConfig, train_baseline
from vla.constants import ACTION, OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE, TASK
from vla.errors import VlaUserError
from vla.policies.train.config import TrainConfig
from vla.policies.train.data import DemoDataset

PRESETS = sorted(BASELINE_PRESETS)
IMAGE = 48  # small frames keep resnet18 fast; the presets do not depend on the resolution
ACTION_LOW = np.array([-0.03, -0.03, -0.03, -0.25, -1.0], dtype=np.float32)
ACTION_HIGH = np.array([0.03, 0.03, 0.03, 0.25, 1.0], dtype=np.float32)


def fake_demos(episodes: int = 2, length: int = 20, seed: int = 0) -> DemoDataset:
    """A DemoDataset with the suite's layout (2 cameras, 13-d state, 5-d action) and random contents."""
    g = torch.Generator().manual_seed(seed)
    n = episodes * length
    state = torch.randn(n, 13, generator=g)
    low, high = torch.from_numpy(ACTION_LOW), torch.from_numpy(ACTION_HIGH)
    action = low + (high - low) * torch.rand(n, 5, generator=g)
    ends = torch.arange(episodes).repeat_interleave(length) * length + length - 1

    def stats(x: torch.Tensor) -> dict:
        return {
            "mean": x.mean(0).numpy(),
            "std": x.std(0).numpy(),
            "min": x.amin(0).numpy(),
            "max": x.amax(0).numpy(),
        }

    return DemoDataset(
        images={
            k: torch.randint(0, 256, (n, 3, IMAGE, IMAGE), generator=g, dtype=torch.uint8)
            for k in (OBS_IMAGE_SCENE, OBS_IMAGE_WRIST)
        },
        state=state,
        action=action,
        episode_end=ends,
        task_index=torch.arange(episodes).repeat_interleave(length) % 2,
        tasks=["lift the red cube", "push the blue cube to the left"],
        stats={OBS_STATE: stats(state), ACTION: stats(action)},
        fps=10,
        num_episodes=episodes,
        image_size=(IMAGE, IMAGE),
        state_names=[],
        action_names=[],
    )


def env_obs(demos: DemoDataset, batch: int) -> dict:
    """What a vector env returns: uint8 (B, H, W, 3) images, float32 state, a tuple of instructions."""
    obs = {k: v[:batch].permute(0, 2, 3, 1).numpy() for k, v in demos.images.items()}
    obs[OBS_STATE] = demos.state[:batch].numpy()
    obs[TASK] = tuple(demos.tasks[i] for i in demos.task_index[:batch].tolist())
    return obs


@pytest.fixture(scope="module")
def demos() -> DemoDataset:
    return fake_demos()


@pytest.mark.parametrize("preset", PRESETS)
def test_train_step_finite_loss_and_weights_move(demos, preset):
    torch.manual_seed(0)
    policy = LeRobotBaseline.from_demos(demos, preset, chunk_size=8)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    summary = train_baseline(
        policy, demos, TrainConfig(dataset="-", steps=2, batch_size=4, ema_decay=0.0, log_every=1), progress=False
    )
    assert summary["steps"] == 2 and summary["stopped_by"] == "steps"
    assert all(np.isfinite(loss) for _, loss in summary["loss_curve"])
    moved = [n for n, p in policy.named_parameters() if not torch.equal(p, before[n])]
    trainable = [n for n, p in policy.named_parameters() if p.requires_grad]
    # Both the vision backbone and the action decoder learn.
    assert any(".backbone." in n for n in moved) and len(moved) > 0.8 * len(trainable)


@pytest.mark.parametrize("preset", PRESETS)
def test_loss_falls_on_a_fixed_problem(demos, preset):
    """Same batch, and the same diffusion noise / timesteps every step (reseeded): the loss must drop."""
    torch.manual_seed(0)
    policy = LeRobotBaseline.from_demos(demos, preset, chunk_size=8, lr=1e-3)
    optimizer = policy.make_optimizer()
    batch = demos.batch(torch.arange(0, 40, 10), policy.train_chunk_size)
    losses = []
    policy.train()
    for _ in range(8):
        torch.manual_seed(0)
        loss, _ = policy(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("chunk_size", [8, 6])
def test_predict_action_chunk_shape_and_range(demos, preset, chunk_size):
    torch.manual_seed(0)
    policy = LeRobotBaseline.from_demos(demos, preset, chunk_size=chunk_size).eval()
    actions = policy.predict_action_chunk(env_obs(demos, 3))
    assert actions.shape == (3, chunk_size, 5) and actions.dtype == torch.float32
    assert torch.isfinite(actions).all()
    low, high = demos.stats[ACTION]["min"], demos.stats[ACTION]["max"]
    assert (actions.numpy() >= low - 1e-6).all() and (actions.numpy() <= high + 1e-6).all()
    # A single unbatched observation works too (what a ROS node passes).
    single = {k: (v[0] if k != TASK else v[0]) for k, v in env_obs(demos, 1).items()}
    assert policy.infer(single).shape == (chunk_size, 5)


def test_diffusion_is_deterministic_given_noise(demos):
    torch.manual_seed(0)
    policy = LeRobotBaseline.from_demos(demos, "lerobot-diffusion", chunk_size=8).eval()
    obs = env_obs(demos, 2)
    noise = torch.randn(2, 8, 5)
    a, b = policy.predict_action_chunk(obs, noise=noise), policy.predict_action_chunk(obs, noise=noise)
    assert torch.equal(a, b)
    assert not torch.equal(a, policy.predict_action_chunk(obs, noise=torch.randn(2, 8, 5)))


def test_diffusion_horizon_rounds_up_to_the_unet_factor():
    config = LeRobotBaselineConfig(preset="lerobot-diffusion", chunk_size=6)
    assert config.horizon == 8  # two down-sampling stages: multiple of 4
    assert LeRobotBaselineConfig(preset="lerobot-act", chunk_size=6).horizon == 6


def test_config_errors_name_the_fix(demos):
    with pytest.raises(VlaUserError, match="did you mean 'lerobot-act'"):
        LeRobotBaselineConfig(preset="lerobot-akt")
    with pytest.raises(VlaUserError, match="invalid lerobot config override"):
        LeRobotBaseline.from_demos(demos, "lerobot-act", lerobot_overrides={"no_such_field": 1})
    with pytest.raises(VlaUserError, match="statistics lack"):
        LeRobotBaseline(LeRobotBaselineConfig(preset="lerobot-act", image_size=(IMAGE, IMAGE)), demos.stats)


@pytest.mark.parametrize("preset", PRESETS)
def test_runs_through_our_rollout_code(demos, preset):
    from vla.policies.eval.rollout import batch1_latency_ms, make_vector_env, rollout_task

    torch.manual_seed(0)
    policy = LeRobotBaseline.from_demos(demos, preset, chunk_size=8).eval()
    envs = make_vector_env("pick", 1, "sync", (IMAGE, IMAGE), "train")
    try:
        result = rollout_task(policy, envs, [100_000], None, 0, "none", 4)
        obs, infos = envs.reset(seed=[7])
        latency = batch1_latency_ms(policy, obs, str(infos["instruction"][0]), repeats=2)
    finally:
        envs.close()
    assert len(result.episodes) == 1 and result.episodes[0].length > 0
    assert len(result.chunk_latency_ms) == -(-result.episodes[0].length // 4)
    assert len(latency) == 2 and all(t > 0 for t in latency)

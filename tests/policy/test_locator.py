"""The target locator (`vla.policy.locator`) on real scene-bank scenes: shapes, learning, checkpoints, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vla.constants import OBS_IMAGE_SCENE
from vla.errors import VlaUserError
from vla.policy.checkpoint import load_policy, save_policy
from vla.policy.configuration_vla import make_config
from vla.policy.grounding import AUX_PIXELS
from vla.policy.locator import LocatorConfig
from vla.policy.modeling_vla import VLAPolicy

SIZE = 48


@pytest.fixture(scope="module")
def bank():
    from vla.policies.train.scenes import generate_scene_bank

    return generate_scene_bank(
        12, ["pick", "place"], "train", SIZE, (OBS_IMAGE_SCENE,), seed=4, workers=1, chunk=6, semantics=True,
        posed_fraction=0.5,
    )  # fmt: skip


def locator_policy(bank, **locator) -> VLAPolicy:
    from vla.policies.train.scenes import SEMANTIC_CLASSES

    config = make_config(
        "tiny-diffusion",
        image_size=(SIZE, SIZE),
        env_state_dim=6,
        env_state_conditioning=True,
        env_state_source="locator",
        env_state_at="episode_start",
        locator=LocatorConfig(semantic_classes=SEMANTIC_CLASSES, **locator),
    )
    torch.manual_seed(0)
    policy = VLAPolicy(config)
    state = bank.state.numpy()
    policy.normalizer.set_stats(
        {
            "observation.state": {"mean": state.mean(0), "std": state.std(0) + 1e-3},
            "action": {"mean": np.zeros(5), "std": np.ones(5), "min": -np.ones(5), "max": np.ones(5)},
        },
        "observation.state",
        "action",
    )
    env = bank.env_state.numpy()
    policy.locator.geometry.set_stats({"mean": env.mean(0), "std": env.std(0)})
    return policy


def test_the_locator_learns_target_goal_and_landmarks_on_real_scenes(bank, tmp_path):
    # The bank labels the target, the goal and the env's 3 landmarks in the scene camera.
    assert bank.pixels.shape == (12, 1, 5, 2) and set(bank.images) == {OBS_IMAGE_SCENE}
    policy = locator_policy(bank)
    assert policy.config.reads_locator and policy.locator.num_maps == 5
    few = bank.batch(torch.arange(6))
    logits, semantics, _, _ = policy._locator_heatmaps(few)
    assert logits.shape == (6, 5, SIZE // 2, SIZE // 2) and semantics.shape == (6, 9 + 5, SIZE // 2, SIZE // 2)

    # Overfitting six scenes: the heatmap loss falls by a large factor and every point lands within a few
    # pixels of its label; the geometry MLP fits the true positions from the true image points.
    opt = torch.optim.AdamW(policy.locator.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss, info = policy._locator_loss(few, few)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or info
    assert info["locator_loss"] < first["locator_loss"] / 3
    assert info["locator_geometry_loss"] < first["locator_geometry_loss"] / 10
    with torch.no_grad():
        logits, _, sentence, state = policy._locator_heatmaps(few)
        points = policy.locator.image_points(logits)
        err_px = (points - few[AUX_PIXELS][:, 0]).norm(dim=-1) * SIZE
        assert float(err_px.median()) < 2.0, err_px
        from_labels = policy.locator.estimate(few[AUX_PIXELS][:, 0], state, sentence)
    xy_err = (from_labels - few["observation.environment_state"])[:, [0, 1, 3, 4]].abs()
    assert float(xy_err.max()) < 0.03, xy_err  # metres: the geometry maps image points to the table

    # The estimate is what the head reads: held from the first frame, until reset().
    policy.eval()
    wrist = "observation.images.wrist"  # the one-camera bank has no wrist view; the backbone needs one
    inputs = (OBS_IMAGE_SCENE, "observation.state")  # no environment_state: the policy estimates it
    obs = {k: few[k][:1] for k in inputs} | {"task": few["task"][0]}
    obs[wrist] = obs[OBS_IMAGE_SCENE]
    est = policy.estimate_env_state(obs)
    assert est.shape == (1, 6) and torch.isfinite(est).all()
    policy.reset()
    policy.predict_action_chunk(obs)
    torch.testing.assert_close(policy._held_env_state, est)
    other = {k: few[k][1:2] for k in inputs} | {"task": few["task"][1]}
    other[wrist] = other[OBS_IMAGE_SCENE]
    policy.predict_action_chunk(other)
    torch.testing.assert_close(policy._held_env_state, est)

    # A checkpoint round trip keeps the locator bit-exactly.
    save_policy(policy, tmp_path / "ckpt")
    back = load_policy(tmp_path / "ckpt")
    assert back.config.locator == policy.config.locator
    assert torch.equal(back.estimate_env_state(obs), est)


def test_locator_heatmap_loss_counts_only_visible_points(bank):
    policy = locator_policy(bank)
    b = bank.batch(torch.arange(4))
    logits, *_ = policy._locator_heatmaps(b)
    pixels = b[AUX_PIXELS][:, 0].clone()
    full, _ = policy.locator.heatmap_loss(logits.detach(), pixels)
    pixels[:, 1] = float("nan")  # the goal out of view in every scene: its map carries no loss
    part, err = policy.locator.heatmap_loss(logits.detach(), pixels)
    assert math.isfinite(float(part)) and float(part) != float(full)
    assert float(err[1]) == 0.0 and float(err[0]) > 0.0
    with pytest.raises(VlaUserError, match="re-render the bank"):
        policy.locator.heatmap_loss(logits, pixels[:, :3])


def test_locator_config_errors():
    with pytest.raises(VlaUserError, match="multiples of groups"):
        LocatorConfig(channels=(12, 24, 48))
    with pytest.raises(VlaUserError, match="camera 'observation.images.top'"):
        make_config(
            "tiny-diffusion", env_state_dim=6, env_state_conditioning=True, env_state_source="locator",
            locator=LocatorConfig(camera="observation.images.top"),
        )  # fmt: skip
    with pytest.raises(VlaUserError, match="use estimate, locator or privileged"):
        make_config("tiny-diffusion", env_state_dim=6, env_state_conditioning=True, env_state_source="magic")

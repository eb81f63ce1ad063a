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


def fit_point_head(head, point_loss, words, mask, labels, steps: int = 200) -> tuple[float, float]:
    """Train one of the votes' heads (what the instruction says each point's prop is) alone; -> first, last loss."""
    opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
    first = float(point_loss(words, mask, labels).detach())
    for _ in range(steps):
        loss = point_loss(words, mask, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return first, float(loss.detach())


@pytest.mark.parametrize("geometry_phrases", [False, True])
def test_the_locator_learns_target_goal_and_landmarks_on_real_scenes(bank, tmp_path, geometry_phrases):
    # The bank labels the target, the goal and the env's 3 landmarks in the scene camera.
    assert bank.pixels.shape == (12, 1, 5, 2) and set(bank.images) == {OBS_IMAGE_SCENE}
    policy = locator_policy(bank, geometry_phrases=geometry_phrases)
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
        assert float(err_px.nanmedian()) < 2.0, err_px  # NaN: a point out of view (no label)
        words, mask, _, _ = policy._locator_text(few)
        phrases = policy.locator.geometry_phrases(words, mask)
        assert (phrases is not None) == geometry_phrases
        from_labels = policy.locator.estimate(few[AUX_PIXELS][:, 0], state, sentence, phrases=phrases)
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


def test_mid_demonstration_scenes_show_the_target_moved_and_leave_relative_goals_unlabelled(tmp_path):
    from vla.policies.train.scenes import SceneBank, generate_scene_bank

    bank = generate_scene_bank(
        16, ["pick", "place"], "train", SIZE, (OBS_IMAGE_SCENE,), seed=5, workers=1, chunk=8, demo_fraction=1.0
    )
    goal_seen = torch.isfinite(bank.pixels[:, 0, 1]).all(-1)
    # Place's goal is the bowl, a prop in view: labelled. Pick's is a point above where the target *started*,
    # which no mid-demonstration image shows once the target has moved: unlabelled.
    assert bool(goal_seen.any()) and bool((~goal_seen).any())
    # The target and the landmarks are labelled in almost every scene (a target lifted at the table's side,
    # with the tool point, can leave the scene camera's frame).
    assert int(torch.isfinite(bank.pixels[:, 0, [0, 2, 3, 4]]).all(-1).all(-1).sum()) >= 13
    # The expert played into its episodes: some targets are off the table, in the closed gripper at the tool
    # point (a pick or place lifts the target within its first ~35 of 60-100 steps).
    target, tcp = bank.env_state[:, :3], bank.state[:, 6:9]
    lifted = target[:, 2] > 0.05
    assert 0 < int(lifted.sum()) < len(bank)
    assert float((target[lifted] - tcp[lifted]).norm(dim=1).max()) < 0.05
    bank.save(tmp_path / "bank.safetensors")
    assert SceneBank.load(tmp_path / "bank.safetensors").demo_fraction == 1.0


def test_tracked_conditioning_reads_the_target_now_and_the_goal_from_the_first_frame(bank):
    from vla.constants import OBS_ENV_STATE, OBS_ENV_STATE_START

    policy = locator_policy(bank)
    policy.config.env_state_at = "tracked"
    assert policy.config.tracks_target and not policy.config.holds_episode_start_state
    # Training: the dataset's true target of this frame, the goal of the episode's first frame.
    now, start = torch.randn(3, 6), torch.randn(3, 6)
    teacher = policy._conditioning_positions({OBS_ENV_STATE: now, OBS_ENV_STATE_START: start}, None, 3, True)
    torch.testing.assert_close(teacher, torch.cat([now[:, :3], start[:, 3:]], 1))

    # Inference: the locator's target from every frame, its goal from the first frame until reset().
    policy.eval()
    frames = []
    for i in range(2):
        obs = {k: bank.batch(torch.tensor([i]))[k] for k in (OBS_IMAGE_SCENE, "observation.state")}
        obs["observation.images.wrist"] = obs[OBS_IMAGE_SCENE]
        frames.append(obs | {"task": bank.instructions[i]})
    est = [policy.estimate_env_state(f) for f in frames]
    assert float((est[0] - est[1]).abs().max()) > 1e-3  # two different scenes
    policy.reset()
    with torch.inference_mode():
        first = policy._conditioning_positions(frames[0], None, 1, False)
        second = policy._conditioning_positions(frames[1], None, 1, False)
        held = torch.full((1, 6), 0.25)  # vla eval passes each env's first-frame estimate
        given = policy._conditioning_positions(frames[1] | {OBS_ENV_STATE_START: held}, None, 1, False)
    torch.testing.assert_close(first, est[0])
    torch.testing.assert_close(second, torch.cat([est[1][:, :3], est[0][:, 3:]], 1))
    torch.testing.assert_close(given, torch.cat([est[1][:, :3], held[:, 3:]], 1))


def test_the_geometry_reads_each_points_own_phrases_and_needs_them(bank):
    policy = locator_policy(bank, geometry_phrases=True)
    loc = policy.locator
    b = bank.batch(torch.arange(4))
    words, mask, sentence, state = policy._locator_text(b)
    points = b[AUX_PIXELS][:, 0]
    phrases = loc.phrases(words, mask)
    assert phrases.shape == (4, 2, 4 * words.shape[-1])
    with torch.no_grad():
        loc.geometry_text.weight.normal_()  # a trained projection: the phrases then move the estimate
        est = loc.estimate(points, state, sentence, phrases=phrases)
        # The same image points, state and sentence with the goal's phrases swapped for another scene's: only
        # what the geometry reads through the phrases differs, and the goal's estimate moves.
        swapped = phrases.clone()
        swapped[:, 1] = phrases.roll(1, 0)[:, 1]
        moved = loc.estimate(points, state, sentence, phrases=swapped)
    assert float((moved - est)[:, 3:].abs().max()) > 1e-3 and torch.equal(moved[:, :3], est[:, :3])
    with pytest.raises(VlaUserError, match="phrases"):
        loc.estimate(points, state, sentence)


def test_locator_geometry_loss_from_its_own_points_counts_only_labelled_points(bank):
    policy = locator_policy(bank)
    b = bank.batch(torch.arange(4))
    logits, _, sentence, state = policy._locator_heatmaps(b)
    own = policy.locator.image_points(logits.detach())
    env_state = b["observation.environment_state"]
    everything = torch.ones(4, 2, dtype=torch.bool)
    with torch.no_grad():
        full = policy.locator.geometry_loss(own, state, sentence, env_state, valid=everything)
        target = torch.tensor([[True, False]]).expand(4, 2)
        target_only = policy.locator.geometry_loss(own, state, sentence, env_state, valid=target)
        none = policy.locator.geometry_loss(own, state, sentence, env_state, valid=~everything)
    assert float(full) > 0 and float(target_only) > 0 and float(target_only) != float(full) and float(none) == 0.0
    # The scene batch's own-points loss is part of the locator's training loss.
    _, info = policy._locator_loss(b, b)
    assert info["locator_geometry_own_loss"] > 0


def test_the_colour_vote_names_the_props_colour_and_moves_the_peak_onto_it(bank):
    from vla.policy.grounding import AUX_COLOURS

    policy = locator_policy(bank, colour_vote=5.0)
    loc = policy.locator
    rows = bank.labels(torch.arange(len(bank)))
    labels = rows[AUX_COLOURS]  # (12, 2): the target's colour; a place goal's bowl's; 0 for pick's lift point
    assert labels.shape == (12, 2) and (labels[:, 0] > 0).all() and (labels[:, 1] == 0).any()
    assert (labels[:, 1] > 0).any()
    words, mask, _, _ = policy._locator_text(rows)
    first, last = fit_point_head(loc.point_colour, loc.colour_loss, words, mask, labels)
    assert last < first / 10
    with torch.no_grad():
        named = loc.colour_logits(words, mask).argmax(-1)
    assert torch.equal(named, labels.long())  # every point's colour, "on no prop" included

    # The vote: a brighter heatmap peak on a prop of another colour loses to the named colour's prop.
    h = w = SIZE // 2
    target = int(labels[0, 0])
    other = 1 + target % 8  # another colour class in 1..8
    semantics = torch.full((1, 9 + 5, h, w), -8.0)
    semantics[0, 0] = 8.0  # background everywhere ...
    semantics[0, 0, 4:7, 4:7], semantics[0, other, 4:7, 4:7] = -8.0, 8.0  # ... but a distractor here
    semantics[0, 0, 15:18, 15:18], semantics[0, target, 15:18, 15:18] = -8.0, 8.0  # and the named prop here
    logits = torch.zeros(1, loc.num_maps, h, w)
    logits[0, :, 5, 5], logits[0, :, 16, 16] = 10.0, 7.0
    with torch.no_grad():
        prior = loc.colour_prior(words[:1], mask[:1], semantics)
    assert prior.shape == logits.shape and float(prior[0, 2:].abs().max()) == 0  # landmarks get no vote
    cell = 1 / (2 * h)  # half a cell, in image fractions
    plain = loc.image_points(logits)[0, 0]
    voted = loc.image_points(logits, prior)[0, 0]
    assert abs(float(plain[0]) - 5.5 / w) < cell and abs(float(voted[0]) - 16.5 / w) < cell
    # A goal on no prop (pick's lift point) gets almost no vote: its peak stays where the heatmap puts it.
    pick = int(torch.nonzero(labels[:, 1] == 0)[0])
    with torch.no_grad():
        prior = loc.colour_prior(words[pick : pick + 1], mask[pick : pick + 1], semantics)
    assert float(prior[0, 1].abs().max()) < 0.5
    assert abs(float(loc.image_points(logits, prior)[0, 1, 0]) - 5.5 / w) < cell

    # window_vote: a broad heatmap leaning off the named prop (centred on column 14.5; the prop's coloured cells
    # are columns 15-17, centre 16.5) commits to the prop's cells when the vote also weights the peak's window.
    with torch.no_grad():
        prior = loc.colour_prior(words[:1], mask[:1], semantics)
    rows_, cols_ = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    lean = (-((cols_ - 14.5) ** 2 + (rows_ - 16.5) ** 2) / (2 * 2.0**2)).expand(1, loc.num_maps, h, w)
    windowed = locator_policy(bank, colour_vote=5.0, window_vote=True).locator
    peak_only = loc.image_points(lean, prior)[0] * w
    in_window = windowed.image_points(lean, prior)[0] * w
    assert float(peak_only[0, 0]) < 15.3 and 15.8 < float(in_window[0, 0]) < 17.0  # columns, in cells
    assert torch.equal(in_window[2:], peak_only[2:])  # landmarks get no vote
    with pytest.raises(VlaUserError, match="window_vote needs colour_vote"):
        LocatorConfig(semantic_classes=(9, 5), window_vote=True)


def test_the_shape_vote_names_the_props_shape_and_moves_the_peak_off_a_same_coloured_distractor(bank, tmp_path):
    from vla.envs.manipulation.scene import SEMANTIC_SHAPES
    from vla.policies.train.augment import channel_permuted
    from vla.policy.grounding import AUX_SEMANTICS, AUX_SHAPE_VIEW, AUX_SHAPES

    policy = locator_policy(bank, colour_vote=5.0, shape_vote=5.0)
    loc = policy.locator
    rows = bank.labels(torch.arange(len(bank)))
    labels = rows[AUX_SHAPES]  # (12, 2): the target's shape; a place goal's bowl; 0 for pick's lift point
    bowl = 1 + SEMANTIC_SHAPES.index("bowl")
    assert labels.shape == (12, 2) and (labels[:, 0] > 0).all() and (labels[:, 0] != bowl).all()
    assert set(labels[:, 1].tolist()) == {0, bowl}
    words, mask, _, _ = policy._locator_text(rows)
    first, last = fit_point_head(loc.point_shape, loc.shape_loss, words, mask, labels)
    assert last < first / 10
    with torch.no_grad():
        assert torch.equal(loc.shape_logits(words, mask).argmax(-1), labels.long())

    # Two props of the named colour, the brighter heatmap peak on the one of another shape: the colour vote
    # cannot tell them apart, the shape vote can.
    from vla.policy.grounding import AUX_COLOURS

    fit_point_head(loc.point_colour, loc.colour_loss, words, mask, rows[AUX_COLOURS])
    h = w = SIZE // 2
    colour, shape = int(rows[AUX_COLOURS][0, 0]), int(labels[0, 0])
    other = 1 + shape % 3  # another graspable shape class in 1..3
    semantics = torch.full((1, 9 + 5, h, w), -8.0)
    semantics[0, 0], semantics[0, 9] = 8.0, 8.0  # background everywhere ...
    for (r, c), s in (((5, 5), other), ((16, 16), shape)):  # ... but for two props of the named colour
        semantics[0, [0, 9], r - 1 : r + 2, c - 1 : c + 2] = -8.0
        semantics[0, colour, r - 1 : r + 2, c - 1 : c + 2] = 8.0
        semantics[0, 9 + s, r - 1 : r + 2, c - 1 : c + 2] = 8.0
    logits = torch.zeros(1, loc.num_maps, h, w)
    logits[0, :, 5, 5], logits[0, :, 16, 16] = 10.0, 7.0
    cell = 1 / (2 * h)
    with torch.no_grad():
        both = loc.vote_terms(words[:1], mask[:1], semantics)[0]
        loc.config.shape_vote = 0.0
        colour_only = loc.vote_terms(words[:1], mask[:1], semantics)[0]
        loc.config.shape_vote = 5.0
    assert float(both[0, 2:].abs().max()) == 0  # landmarks get no vote
    assert abs(float(loc.image_points(logits, colour_only)[0, 0, 0]) - 5.5 / w) < cell
    assert abs(float(loc.image_points(logits, both)[0, 0, 0]) - 16.5 / w) < cell

    # The per-pixel shape head's loss on colour-permuted views: real scenes, finite, with a gradient into the
    # locator's encoder; the scene batch must carry the view.
    scenes = bank.batch(torch.arange(4))
    scenes[AUX_SHAPE_VIEW] = channel_permuted(scenes[OBS_IMAGE_SCENE], torch.Generator().manual_seed(0))
    loss = policy._shape_view_loss(scenes)
    assert math.isfinite(float(loss)) and float(loss) > 0
    loss.backward()
    assert float(loc.down[0].conv.weight.grad.abs().sum()) > 0
    loss, info = policy._locator_loss(scenes, None)  # the whole locator loss counts the view's
    assert info["locator_shape_view_loss"] > 0 and info["locator_shape_loss"] > 0
    old_bank_rows = {k: v for k, v in bank.labels(torch.arange(4)).items() if k != AUX_SHAPES}
    with pytest.raises(VlaUserError, match="point shapes, which this bank lacks; re-render it"):
        policy._locator_loss(scenes, old_bank_rows)
    del scenes[AUX_SHAPE_VIEW]
    with pytest.raises(VlaUserError, match=f"needs '{AUX_SHAPE_VIEW}'"):
        policy._shape_view_loss(scenes)
    assert AUX_SEMANTICS in scenes

    # The heads and the vote's weight survive a checkpoint bit-exactly.
    save_policy(policy, tmp_path / "ckpt")
    back = load_policy(tmp_path / "ckpt")
    assert back.locator.config.shape_vote == 5.0
    assert torch.equal(back.locator.point_shape.weight, loc.point_shape.weight)
    with pytest.raises(VlaUserError, match="shape_vote needs colour_vote"):
        LocatorConfig(semantic_classes=(9, 5), shape_vote=1.0)
    with pytest.raises(VlaUserError, match="shape_vote needs colour_vote"):
        LocatorConfig(semantic_classes=(9,), colour_vote=5.0, shape_vote=1.0)


def test_the_committed_point_reads_a_peak_between_cells_to_a_tenth_of_a_cell(bank):
    """A heatmap shaped like its training labels (a Gaussian of label_sigma cells), peaked between two cells: the
    default 5x5 window recovers the peak; a 3x3 window's truncated Gaussian pulls it toward the peak cell."""
    h = w = 24
    near = locator_policy(bank, peak_radius=1).locator
    wide = locator_policy(bank).locator
    assert wide.config.peak_radius == 2
    rows, cols = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    for offset in (0.1, 0.25, 0.4):
        x, y = 11.5 + offset, 9.5 - offset  # cell-centre units
        logits = -((cols - x) ** 2 + (rows - y) ** 2) / (2 * wide.config.label_sigma**2)
        logits = logits.expand(1, wide.num_maps, h, w)
        for loc, bound in ((wide, 0.05), (near, 0.5)):
            px, py = (loc.image_points(logits)[0, 0] * torch.tensor([w, h])).tolist()
            assert abs(px - x) < bound and abs(py - y) < bound
        if offset == 0.4:  # the 3x3 window's bias, about 0.18 cells here, is what the wider one removes
            assert abs(near.image_points(logits)[0, 0, 0] * w - x) > 0.15

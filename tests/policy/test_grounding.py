"""Grounding heatmaps: camera projection labels, the KL loss, label shifts under augmentation, and that
the embedded backbone learns to point at the named object from a real scene bank."""

import dataclasses

import mujoco
import numpy as np
import pytest
import torch

from vla.backbones.embedded.configuration_embedded import EmbeddedBackboneConfig
from vla.backbones.embedded.modeling_embedded import EmbeddedBackbone
from vla.policies.train.augment import augment_images
from vla.policy.grounding import (
    AUX_PIXELS,
    AUX_SEMANTICS,
    grounding_error,
    grounding_labels,
    grounding_loss,
    semantic_loss,
)


def segmentation(scene, camera: str) -> np.ndarray:
    r = mujoco.Renderer(scene.model, *scene.image_size)
    try:
        r.enable_segmentation_rendering()
        r.update_scene(scene.data, camera=camera)
        return r.render()[..., 0].copy()  # geom id per pixel, -1 for background
    finally:
        r.close()


@pytest.mark.parametrize("task", ["pick", "place"])
def test_projection_lands_on_the_named_prop_in_the_rendered_image(task):
    import vla.envs as E

    env = E.make_env(task, image_size=96)
    hits, visible = 0, 0
    try:
        for seed in range(8):
            env.reset(seed=seed)
            u = env.unwrapped
            points = u.privileged_state().reshape(2, 3)
            bodies = [u.episode.target, u.episode.reference]
            uv = u.scene.project("scene", points)
            seg = segmentation(u.scene, "scene")
            for (x, y), body in zip(uv, bodies, strict=True):
                if body is None or not np.isfinite(x):
                    continue
                visible += 1
                g = seg[int(y * 96), int(x * 96)]
                hits += g >= 0 and u.scene.model.body(u.scene.model.geom_bodyid[g]).name == body
        # The scene camera sees the whole workspace: every target and bowl projects inside it ...
        assert visible == (8 if task == "pick" else 16)
        # ... onto the right prop's pixels (the prop's centre; a finger may hide one now and then).
        assert hits >= visible - 1
        # A point behind the camera has no image position.
        cam = u.scene.data.cam_xpos[u.scene.model.camera("scene").id]
        behind = cam + (cam - points[0])
        assert np.isnan(u.scene.project("scene", behind[None])).all()
    finally:
        env.close()


def test_loss_is_zero_at_the_label_and_grows_with_distance():
    h = w = 12
    pixels = torch.tensor([[[[0.30, 0.60], [0.8, 0.2]]]])  # (B=1, C=1, P=2, 2)
    labels, valid = grounding_labels(pixels, h, w)
    assert valid.all() and torch.allclose(labels.sum(-1), torch.ones(1, 1, 2))
    perfect = labels.clamp_min(1e-30).log().reshape(1, 1, 2, h, w)
    assert grounding_loss(perfect, pixels).item() == pytest.approx(0.0, abs=1e-5)
    # The soft-argmax of the label itself is within a tenth of a cell of the point.
    assert (grounding_error(perfect, pixels) < 0.1 / 12).all()
    far = torch.roll(perfect, shifts=4, dims=-1)  # the same heatmap 4 cells to the right
    near = torch.roll(perfect, shifts=1, dims=-1)
    assert grounding_loss(far, pixels) > grounding_loss(near, pixels) > 0.5
    assert grounding_error(far, pixels)[0].item() == pytest.approx(4 / 12, abs=0.02)
    # Unseen points carry no loss, and with none visible the loss is 0 with a gradient path.
    hidden = pixels.clone()
    hidden[0, 0, 1] = float("nan")
    assert grounding_loss(far, hidden).item() == pytest.approx(grounding_loss(far[:, :, :1], pixels[:, :, :1]).item())
    logits = far.clone().requires_grad_()
    none = grounding_loss(logits, torch.full_like(pixels, float("nan")))
    none.backward()
    assert none.item() == 0.0 and logits.grad is not None


def test_prop_semantics_label_every_visible_prop_by_colour_and_shape():
    import vla.envs as E
    from vla.envs.manipulation.props import COLOURS
    from vla.envs.manipulation.scene import SEMANTIC_SHAPES

    env = E.make_env("place", image_size=96)
    try:
        env.reset(seed=3)
        scene = env.unwrapped.scene
        colour, shape = scene.prop_semantics("scene")
        assert colour.shape == shape.shape == (96, 96) and colour.dtype == np.uint8
        assert ((colour > 0) == (shape > 0)).all()  # a pixel is a prop in both maps or in neither
        seen = {
            (list(COLOURS)[c - 1], SEMANTIC_SHAPES[s - 1])
            for c, s in zip(colour.ravel(), shape.ravel(), strict=True)
            if c
        }
        assert seen == {(p.colour, p.shape) for p in scene.layout.props}  # every prop, nothing else
        # The named target's pixels carry its classes, at its projected centre.
        target = scene.layout.by_body(env.unwrapped.episode.target)
        x, y = scene.project("scene", scene.prop_pos(target.body)[None])[0]
        cy, cx = int(y * 96), int(x * 96)
        assert list(COLOURS)[colour[cy, cx] - 1] == target.colour and SEMANTIC_SHAPES[shape[cy, cx] - 1] == target.shape
        # The plain RGB render is unaffected by the segmentation pass.
        assert scene.render("scene").shape == (96, 96, 3) and scene.render("scene").std() > 10
    finally:
        env.close()


def test_semantic_loss_is_lowest_for_the_true_class_fractions():
    labels = torch.zeros(1, 1, 2, 8, 8, dtype=torch.uint8)
    labels[0, 0, 0, :4, :4] = 3  # top-left cell (of 2x2 cells): colour class 3; shape class 1 everywhere
    labels[0, 0, 1] = 1
    classes = (5, 2)
    exact = torch.full((1, 1, 7, 2, 2), -30.0)
    exact[0, 0, 3, 0, 0] = exact[0, 0, 0, 0, 1] = exact[0, 0, 0, 1, :] = 0.0  # colour: 3 top-left, else 0
    exact[0, 0, 5 + 1] = 0.0  # shape: class 1 everywhere
    wrong = exact.clone()
    wrong[0, 0, :5] = exact[0, 0, :5].flip(-1)  # colour maps mirrored
    assert semantic_loss(exact, labels, classes).item() == pytest.approx(0.0, abs=1e-6)
    assert semantic_loss(wrong, labels, classes).item() > 5
    with pytest.raises(ValueError, match="do not fit"):
        semantic_loss(exact, labels[:, :, :1], classes)


def test_augmentation_moves_the_labels_with_the_image():
    b, size = 16, 32
    rng = np.random.default_rng(0)
    pixels = torch.tensor(rng.uniform(0.2, 0.8, (b, 2, 1, 2)), dtype=torch.float32)
    images = {}
    for i, cam in enumerate(("a", "b")):
        img = torch.zeros(b, 3, size, size)
        cols, rows = (pixels[:, i, 0] * size).long().unbind(-1)
        img[torch.arange(b), :, rows, cols] = 1.0  # one white pixel where the label is
        images[cam] = img
    semantics = torch.stack([(images[c][:, :1] * 7).to(torch.uint8) for c in ("a", "b")], 1)  # class 7 at the dot
    out = augment_images(
        images, torch.Generator().manual_seed(3), pad=4, strength=0.0, pixels=pixels, semantics=semantics
    )
    moved = out[AUX_PIXELS]
    # Class maps move with their images: class 7 sits exactly on the shifted white pixel.
    for i, cam in enumerate(("a", "b")):
        assert torch.equal(out[AUX_SEMANTICS][:, i, 0] == 7, out[cam][:, 0] > 0.5)
    assert not torch.equal(moved, pixels)  # most images did move
    for i, cam in enumerate(("a", "b")):
        for j in range(b):
            peak = out[cam][j, 0].flatten().argmax().item()
            assert (peak % size, peak // size) == tuple((moved[j, i, 0] * size).long().tolist())
    # A label shifted off the image becomes NaN.
    edge = torch.full((b, 2, 1, 2), 0.995)
    shifted = augment_images(images, torch.Generator().manual_seed(3), pad=4, pixels=edge)[AUX_PIXELS]
    assert torch.isnan(shifted).any() and torch.isfinite(shifted).any()


def test_channel_permuted_views_reorder_each_images_colours_and_keep_grey_grey():
    from vla.policies.train.augment import CHANNEL_ORDERS, channel_permuted

    images = torch.rand(64, 3, 8, 8)
    images[:, :, :2] = 0.5  # a grey band (the table)
    out = channel_permuted(images, torch.Generator().manual_seed(0))
    again = channel_permuted(images, torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and out.shape == images.shape
    seen = set()
    for src, dst in zip(images, out, strict=True):
        seen.add(next(o for o in CHANNEL_ORDERS if torch.equal(dst, src[list(o)])))
    assert seen == set(CHANNEL_ORDERS) and (0, 1, 2) not in seen  # all five other orders are drawn
    assert torch.equal(out[:, :, :2], images[:, :, :2])
    with pytest.raises(ValueError, match=r"expects \(B, 3, H, W\)"):
        channel_permuted(torch.rand(2, 1, 8, 8), torch.Generator())


def test_backbone_with_grounding_maps_returns_one_map_per_camera_and_point():
    cfg = dataclasses.replace(EmbeddedBackboneConfig.tiny(), vision_grounding_maps=2, vision_semantic_classes=(9, 5))
    bb = EmbeddedBackbone(cfg, ["scene", "wrist"], state_dim=4)
    images = {c: torch.rand(3, 3, 48, 48) for c in ("scene", "wrist")}
    out = bb(images, ["pick up the red cube"] * 3, torch.zeros(3, 4))
    assert out.grounding.shape == (3, 2, 2, 12, 12)  # (B, cameras, maps, h, w) at the 12x12 keypoint stage
    assert out.semantics.shape == (3, 2, 14, 12, 12)  # 9 colour + 5 shape classes per cell
    # The maps are text queries: another instruction moves them on the same images.
    other = bb(images, ["put the blue sphere in the green bowl"] * 3, torch.zeros(3, 4))
    assert not torch.allclose(out.grounding, other.grounding)
    plain = EmbeddedBackbone(EmbeddedBackboneConfig.tiny(), ["scene"], state_dim=4)
    assert plain({"scene": images["scene"]}, ["x"] * 3, torch.zeros(3, 4)).grounding is None


def test_grounding_maps_learn_to_find_the_named_object_on_new_layouts():
    """A tiny backbone trained only on the grounding loss of a real scene bank points at the named object in
    layouts it never saw better than any constant guess."""
    from vla.constants import OBS_IMAGE_SCENE
    from vla.policies.train.scenes import generate_scene_bank

    torch.manual_seed(0)
    cams = (OBS_IMAGE_SCENE,)
    train = generate_scene_bank(256, ["pick"], "train", 48, cams, seed=0, workers=2)
    test = generate_scene_bank(64, ["pick"], "train", 48, cams, seed=9, workers=2)
    cfg = dataclasses.replace(EmbeddedBackboneConfig.tiny(), vision_grounding_maps=1)
    bb = EmbeddedBackbone(cfg, list(cams), state_dim=0)
    opt = torch.optim.AdamW([p for p in bb.parameters() if p.requires_grad], lr=3e-3)

    def error(bank) -> float:
        with torch.no_grad():
            b = bank.batch(torch.arange(len(bank)))
            out = bb({OBS_IMAGE_SCENE: b[OBS_IMAGE_SCENE]}, b["task"], None)
            return grounding_error(out.grounding, b[AUX_PIXELS])[0].item()

    before = error(test)
    g = torch.Generator().manual_seed(0)
    for _ in range(600):  # pick's targets are any colour and any of three shapes, among distractors
        b = train.batch(torch.randint(len(train), (32,), generator=g))
        out = bb({OBS_IMAGE_SCENE: b[OBS_IMAGE_SCENE]}, b["task"], None)
        loss = grounding_loss(out.grounding, b[AUX_PIXELS])
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = error(test)
    # Untrained, the heatmap is flat: its soft-argmax sits near the image centre, ~0.28 of the side away.
    # Trained, it beats the best constant guess (the training targets' mean image point) by a fifth: it reads
    # the image and the instruction, not where pick targets usually stand.
    constant = torch.nanmean(train.pixels[:, 0, 0], 0)
    baseline = float(torch.nanmean((test.pixels[:, 0, 0] - constant).norm(dim=-1)))
    assert before > 0.2 and baseline > 0.2
    assert after < 0.8 * baseline and after < 0.75 * before, (before, baseline, after)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"vision_grounding_maps": -1}, "vision_grounding_maps=-1 must be >= 0"),
        ({"vision_grounding_maps": 2, "vision_grounding_stage": 7}, "vision_grounding_stage=7 is not a stage"),
        ({"vision_semantic_classes": (9, 5)}, "needs grounding maps"),
        ({"vision_grounding_maps": 2, "vision_semantic_classes": (9, 1)}, ">= 2 classes per head"),
    ],
)
def test_bad_grounding_config_is_one_line_error(fields, message):
    from vla.errors import VlaUserError

    with pytest.raises(VlaUserError, match=message):
        dataclasses.replace(EmbeddedBackboneConfig.tiny(), **fields)

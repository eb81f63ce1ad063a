"""Every registered backbone x head builds, trains a step, samples deterministically, and round-trips
through a checkpoint directory bit-exactly. Bad checkpoints fail with one clear error."""

import json
import pickle

import numpy as np
import pytest
import torch

from vla.backbones import BACKBONES
from vla.constants import ACTION, OBS_ENV_STATE, OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE, TASK
from vla.errors import VlaUserError
from vla.heads import HEADS
from vla.policy.checkpoint import load_policy, save_policy
from vla.policy.configuration_vla import VLAConfig, make_config
from vla.policy.modeling_vla import ACTION_IS_PAD, VLAPolicy

HF_FAMILIES = ["smolvlm", "paligemma", "qwen2_vl"]


def backbone_config(name: str, family: str | None = None):
    cls = BACKBONES.get(name).config_class
    if name == "hf_vlm":  # the default needs a real checkpoint; tests build tiny random models of the real classes
        return cls.tiny(family) if family else cls.tiny()
    return cls()


def combos():
    for b in BACKBONES.names():
        for h in HEADS.names():
            if b == "hf_vlm":
                for fam in HF_FAMILIES:
                    yield pytest.param(b, h, fam, id=f"{b}-{fam}-{h}")
            else:
                yield pytest.param(b, h, None, id=f"{b}-{h}")


def fake_batch(config: VLAConfig, batch_size: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    h, w = config.image_size
    return {
        OBS_IMAGE_SCENE: rng.integers(0, 255, (batch_size, h, w, 3), dtype=np.uint8),
        OBS_IMAGE_WRIST: rng.integers(0, 255, (batch_size, h, w, 3), dtype=np.uint8),
        OBS_STATE: rng.normal(size=(batch_size, config.state_dim)).astype(np.float32),
        ACTION: rng.uniform(-0.02, 0.02, (batch_size, config.chunk_size, config.action_dim)).astype(np.float32),
        ACTION_IS_PAD: np.zeros((batch_size, config.chunk_size), dtype=bool),
        TASK: ["pick up the red cube", "put the blue sphere in the green bowl"][:batch_size],
    }


@pytest.mark.parametrize("backbone,head,family", list(combos()))
def test_build_train_step_and_roundtrip(tmp_path, backbone, head, family):
    torch.manual_seed(0)
    head_cls = HEADS.get(head).config_class
    # A classifier head needs a discrete action space: 5 classes, one index per chunk step in the batch.
    discrete = {"action_space": "discrete(5)"} if head_cls.discrete_actions_only else {}
    config = VLAConfig(
        backbone=backbone_config(backbone, family),
        head=head_cls.tiny() if backbone == "hf_vlm" else head_cls(),
        chunk_size=4,
        **discrete,
    )
    policy = VLAPolicy(config)
    batch = fake_batch(config)
    if discrete:
        batch[ACTION] = np.random.default_rng(0).integers(0, 5, (2, config.chunk_size)).astype(np.float32)
    loss, info = policy(batch)
    assert torch.isfinite(loss)
    loss.backward()
    trainable = [p for p in policy.parameters() if p.requires_grad]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)

    policy.eval()
    noise = torch.randn(1, config.chunk_size, config.action_dim, generator=torch.Generator().manual_seed(1))
    obs = {k: v[:1] for k, v in batch.items() if k not in (ACTION, ACTION_IS_PAD)}
    obs[TASK] = batch[TASK][:1]
    a1 = policy.predict_action_chunk(obs, noise=noise)
    a2 = policy.predict_action_chunk(obs, noise=noise)
    assert a1.shape == (1, config.chunk_size, 1 if discrete else config.action_dim)
    torch.testing.assert_close(a1, a2, rtol=0, atol=0)

    save_policy(policy, tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt")
    for (k, v), (k2, v2) in zip(policy.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k
    torch.testing.assert_close(loaded.predict_action_chunk(obs, noise=noise), a1, rtol=0, atol=0)
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["head"]["type"] == head


def test_presets_and_unknown_policy():
    for name in ("vla-diffusion", "vla-flow", "vla-tokens", "vla-l1"):
        assert make_config(name).head_name in HEADS
    assert make_config("vla-categorical", action_space="discrete(4)", action_dim=4).head_name == "categorical"
    with pytest.raises(VlaUserError, match="did you mean 'vla-diffusion'"):
        make_config("vla-difusion")


def test_select_action_executes_chunks_and_ensembles():
    config = make_config("tiny-l1", chunk_size=4, n_action_steps=2)
    policy = VLAPolicy(config).eval()
    obs = {k: v[:1] for k, v in fake_batch(config).items() if k not in (ACTION, ACTION_IS_PAD)}
    chunk = policy.predict_action_chunk(obs)
    policy.reset()
    a = [policy.select_action(obs) for _ in range(2)]
    torch.testing.assert_close(torch.stack(a, 1), chunk[:, :2])
    for kind in ("temporal", "adaptive"):
        config = make_config("tiny-l1", chunk_size=4, ensembling=kind)
        policy = VLAPolicy(config).eval()
        policy.reset()
        first = policy.select_action(obs)
        torch.testing.assert_close(first, policy.predict_action_chunk(obs)[:, 0])  # one prediction: itself


def test_bad_checkpoints(tmp_path):
    config = make_config("tiny-l1")
    policy = VLAPolicy(config)
    ckpt = save_policy(policy, tmp_path / "ok")
    bad = tmp_path / "weights.pt"
    bad.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(VlaUserError, match="never unpickles"):
        load_policy(bad)
    newer = tmp_path / "newer"
    newer.mkdir()
    cfg = json.loads((ckpt / "config.json").read_text())
    (newer / "config.json").write_text(json.dumps({**cfg, "version": 99}))
    (newer / "model.safetensors").write_bytes((ckpt / "model.safetensors").read_bytes())
    with pytest.raises(VlaUserError, match="newer than this vla"):
        load_policy(newer)
    other = tmp_path / "other"
    save_policy(VLAPolicy(make_config("tiny-diffusion")), other)
    (other / "config.json").write_text((ckpt / "config.json").read_text())
    with pytest.raises(VlaUserError, match="does not match its config"):
        load_policy(other)
    only_pickle = tmp_path / "only_pickle"
    only_pickle.mkdir()
    (only_pickle / "pytorch_model.bin").write_bytes(pickle.dumps(1))
    with pytest.raises(VlaUserError, match="pickle"):
        load_policy(only_pickle)


def test_version_1_embedded_checkpoint_loads_without_keypoint_tokens(tmp_path):
    """v1 checkpoints predate the keypoint tokens; migration builds them without, and the weights load exactly."""
    cfg = make_config("tiny-l1")
    cfg.backbone.vision_keypoints = 0
    policy = VLAPolicy(cfg)
    ckpt = save_policy(policy, tmp_path / "v1")
    d = json.loads((ckpt / "config.json").read_text())
    d["version"] = 1
    del d["backbone"]["vision_keypoints"], d["backbone"]["vision_keypoint_stage"]
    (ckpt / "config.json").write_text(json.dumps(d))
    loaded = load_policy(ckpt)
    assert loaded.config.backbone.vision_keypoints == 0
    for (k, a), (_, b) in zip(policy.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_auxiliary_environment_state_loss_trains_the_backbone_only_when_given():
    torch.manual_seed(0)
    config = make_config("tiny-diffusion", env_state_dim=6, aux_loss_weight=0.5)
    policy = VLAPolicy(config)
    batch = fake_batch(config)
    base_loss, base_info = policy(batch)
    assert "aux_loss" not in base_info  # a dataset without environment_state trains as before

    batch[OBS_ENV_STATE] = np.random.default_rng(1).normal(size=(2, 6)).astype(np.float32)
    torch.manual_seed(0)
    loss, info = policy(batch)
    assert info["aux_loss"] > 0
    assert loss.item() == pytest.approx(base_loss.item() + 0.5 * info["aux_loss"], rel=1e-4)
    loss.backward()
    assert policy.aux.mlp[0].weight.grad.abs().sum() > 0
    assert policy.backbone.vision.convs[0].conv.weight.grad.abs().sum() > 0

    policy.eval()  # inference never needs (or reads) the privileged state
    obs = {k: v[:1] for k, v in batch.items() if k not in (ACTION, ACTION_IS_PAD, OBS_ENV_STATE)}
    obs[TASK] = batch[TASK][:1]
    assert policy.predict_action_chunk(obs).shape == (1, config.chunk_size, config.action_dim)

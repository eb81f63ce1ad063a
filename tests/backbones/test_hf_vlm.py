"""The Hugging Face VLM backbone on tiny, randomly initialised models of the real families, offline."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from vla.backbones import BACKBONES
from vla.backbones.hf_vlm.configuration_hf_vlm import TINY_FAMILIES, HFVLMBackboneConfig
from vla.backbones.hf_vlm.modeling_hf_vlm import HFVLMBackbone
from vla.backbones.hf_vlm.tiny import build_tiny
from vla.errors import VlaUserError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes inside PaliGemmaProcessor

CAMERAS = ["observation.images.scene", "observation.images.wrist"]
STATE_DIM = 5
INSTRUCTIONS = ["pick up the red cube", "put the green ball in the blue bowl please"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from a second thread, and lose a lot when another process holds that core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make(family: str, seed: int = 0, **overrides) -> HFVLMBackbone:
    torch.manual_seed(seed)
    return HFVLMBackbone(HFVLMBackboneConfig.tiny(family, **overrides), CAMERAS, STATE_DIM)


def inputs(batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = {c: torch.rand(batch, 3, 96, 96, generator=g) for c in CAMERAS}
    return images, [INSTRUCTIONS[i % 2] for i in range(batch)], torch.randn(batch, STATE_DIM, generator=g)


def loss_of(out) -> torch.Tensor:
    return out.tokens.square().mean() + out.cognition.square().mean()


def test_registered_under_its_name():
    assert BACKBONES.get("hf_vlm") is HFVLMBackbone
    assert HFVLMBackbone.config_class.name == "hf_vlm"


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_forward_shapes_and_masks(family):
    bb = make(family).eval()
    with torch.no_grad():
        out = bb(*inputs())
    b, n, d = out.tokens.shape
    assert (b, d) == (2, 32) and out.cognition.shape == (2, 32)
    assert out.mask.shape == (2, n) and out.mask.dtype == torch.bool
    assert out.mask[:, -1].all()  # the state token
    assert out.mask[1].all() and not out.mask[0].all()  # the shorter instruction is padded
    last = int(out.mask[0, :-1].nonzero().max())  # pooling="last": the last valid prefix token
    assert torch.equal(out.cognition[0], out.tokens[0, last])
    assert torch.isfinite(out.tokens).all()
    assert out.tokens.dtype == torch.float32


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_training_step_changes_trainable_params(family):
    bb = make(family).train()
    before = {n: p.detach().clone() for n, p in bb.named_parameters()}
    opt = torch.optim.AdamW([p for p in bb.parameters() if p.requires_grad], lr=1e-2)
    loss_of(bb(*inputs())).backward()
    opt.step()
    changed = {n for n, p in bb.named_parameters() if not torch.equal(before[n], p)}
    assert {"proj.weight", "state_proj.weight"} <= changed
    assert any(n.startswith("vlm.") and ".layers.0." in n for n in changed)  # the language model trains
    assert any(n.startswith("vlm.") and "embed" in n for n in changed)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_num_layers_truncates_the_language_model(family):
    full = make(family)
    bb = make(family, num_layers=1)
    decoder = bb.vlm.get_decoder()
    assert len(full.vlm.get_decoder().layers) == 2
    assert len(decoder.layers) == 1 and decoder.config.num_hidden_layers == 1 and bb.num_layers == 1
    assert sum(p.numel() for p in bb.parameters()) < sum(p.numel() for p in full.parameters())
    with torch.no_grad():
        assert bb(*inputs()).tokens.shape == full(*inputs()).tokens.shape
    with pytest.raises(VlaUserError, match="only 2 layers"):
        make(family, num_layers=3)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_freeze_keeps_gradients_out_of_the_vlm(family):
    bb = make(family, freeze=True).train()
    assert not bb.vlm.training  # frozen: no dropout, features as pretrained
    assert not any(p.requires_grad for p in bb.vlm.parameters())
    loss_of(bb(*inputs())).backward()
    assert all(p.grad is None for p in bb.vlm.parameters())
    assert bb.proj.weight.grad is not None and bb.state_proj.weight.grad is not None


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_lora_trains_only_adapters_in_the_language_model(family):
    bb = make(family, lora_rank=4).train()
    trainable = [n for n, p in bb.vlm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    decoder = next(n for n, m in bb.vlm.named_modules() if m is bb.vlm.get_decoder())
    assert all(n.startswith(decoder + ".") for n in trainable)  # not in the vision tower
    n_layers = len(bb.vlm.get_decoder().layers)
    assert len(trainable) == n_layers * 4 * 2  # q, k, v, o projections x (A, B)
    images, instructions, state = inputs()
    with torch.no_grad():
        before = bb.eval()(images, instructions, state).tokens
    opt = torch.optim.AdamW([p for p in bb.parameters() if p.requires_grad], lr=1e-2)
    loss_of(bb.train()(images, instructions, state)).backward()
    assert all(p.grad is None for n, p in bb.vlm.named_parameters() if "lora_" not in n)
    opt.step()
    with torch.no_grad():
        after = bb.eval()(images, instructions, state).tokens
    assert not torch.equal(before, after)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_safetensors_round_trip_is_bit_exact(family, tmp_path):
    src = make(family, seed=0, lora_rank=2).eval()
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "model.safetensors"))
    dst = make(family, seed=1, lora_rank=2).eval()
    dst.load_state_dict(load_file(str(tmp_path / "model.safetensors")), strict=True)
    with torch.no_grad():
        a, b = src(*inputs()), dst(*inputs())
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.cognition, b.cognition)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_checkpoint_dir_loads_through_auto_classes(family, tmp_path):
    """A local checkpoint (save_pretrained of the tiny model + processor) runs the real-checkpoint path offline:
    AutoModelForImageTextToText.from_pretrained + AutoProcessor.from_pretrained, and matches the tiny model."""
    torch.manual_seed(0)
    model, processor = build_tiny(family)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    tiny = make(family, seed=0).eval()  # the same seed builds the same weights
    loaded = HFVLMBackbone(HFVLMBackboneConfig(model_id=str(tmp_path), hidden_size=32), CAMERAS, STATE_DIM).eval()
    assert type(loaded.processor) is type(tiny.processor)
    loaded.proj.load_state_dict(tiny.proj.state_dict())
    loaded.state_proj.load_state_dict(tiny.state_proj.state_dict())
    with torch.no_grad():
        assert torch.equal(loaded(*inputs()).tokens, tiny(*inputs()).tokens)


def test_mean_pooling_and_no_projection_or_state():
    bb = HFVLMBackbone(HFVLMBackboneConfig(tiny_family="qwen2_vl", pooling="mean"), CAMERAS, 0).eval()
    with torch.no_grad():
        out = bb(*inputs()[:2], None)
    assert bb.hidden_size == bb.vlm.config.get_text_config().hidden_size == out.tokens.shape[-1]
    m = out.mask[0].float()[:, None]
    torch.testing.assert_close(out.cognition[0], (out.tokens[0] * m).sum(0) / m.sum())


def test_bfloat16_weights_give_float32_tokens():
    bb = make("smolvlm", dtype="bfloat16", lora_rank=2)
    assert bb.vlm.dtype == torch.bfloat16
    out = bb(*inputs())
    assert out.tokens.dtype == torch.float32
    loss_of(out).backward()


def test_config_json_round_trip_and_validation():
    cfg = HFVLMBackboneConfig.tiny("paligemma", num_layers=1, lora_rank=8)
    d = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert HFVLMBackboneConfig(**d) == cfg
    with pytest.raises(VlaUserError, match="did you mean 'paligemma'"):
        HFVLMBackboneConfig(tiny_family="paligema")
    with pytest.raises(VlaUserError, match="num_layers"):
        HFVLMBackboneConfig(num_layers=0)
    with pytest.raises(VlaUserError, match="dtype"):
        HFVLMBackboneConfig(dtype="fp16")


def test_missing_local_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(VlaUserError, match="model_id"):
        HFVLMBackbone(HFVLMBackboneConfig(model_id=str(tmp_path / "nowhere")), CAMERAS, STATE_DIM)

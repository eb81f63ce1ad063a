"""The embedded backbone: shapes, the frozen-text cache, language grounding, gradients, checkpoints, speed."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from vla.backbones import BACKBONES
from vla.backbones.embedded.configuration_embedded import EmbeddedBackboneConfig
from vla.backbones.embedded.modeling_embedded import EmbeddedBackbone
from vla.errors import VlaUserError

CAMERAS = ["observation.images.scene", "observation.images.wrist"]
STATE_DIM = 5
INSTRUCTIONS = ["pick up the red cube", "put the green ball in the blue bowl please"]


def make(config: EmbeddedBackboneConfig | None = None, seed: int = 0) -> EmbeddedBackbone:
    torch.manual_seed(seed)
    return EmbeddedBackbone(config or EmbeddedBackboneConfig.tiny(), CAMERAS, STATE_DIM)


def inputs(batch: int = 2, size: int = 96, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = {c: torch.rand(batch, 3, size, size, generator=g) for c in CAMERAS}
    instructions = [INSTRUCTIONS[i % len(INSTRUCTIONS)] for i in range(batch)]
    return images, instructions, torch.randn(batch, STATE_DIM, generator=g)


@pytest.fixture(scope="module")
def backbone() -> EmbeddedBackbone:
    return make().eval()


def test_registered_under_its_name():
    assert BACKBONES.get("embedded") is EmbeddedBackbone
    assert EmbeddedBackbone.config_class.name == "embedded"


def test_output_shapes_and_text_padding_mask(backbone):
    cfg = backbone.config
    images, instructions, state = inputs()
    with torch.no_grad():
        out = backbone(images, instructions, state)
    n_text = len(backbone.text.tokenizer(instructions[1])["input_ids"])  # the longer one sets the padding
    n_image = len(CAMERAS) * (cfg.vision_token_grid**2 + (cfg.vision_keypoints > 0))
    n = 1 + n_text + 1 + n_image
    assert out.tokens.shape == (2, n, cfg.hidden_size)
    assert out.cognition.shape == (2, cfg.hidden_size)
    assert out.mask.shape == (2, n) and out.mask.dtype == torch.bool
    n_short = len(backbone.text.tokenizer(instructions[0])["input_ids"])
    assert out.mask[0].sum() == n - (n_text - n_short)  # only the short instruction's padding is masked
    assert out.mask[1].all()
    assert torch.equal(out.cognition, out.tokens[:, 0])
    assert torch.isfinite(out.tokens).all()


def test_padding_does_not_change_a_sample(backbone):
    images, instructions, state = inputs()
    with torch.no_grad():
        batched = backbone(images, instructions, state)
        alone = backbone({k: v[:1] for k, v in images.items()}, instructions[:1], state[:1])
    torch.testing.assert_close(batched.cognition[:1], alone.cognition, atol=1e-5, rtol=1e-5)


def test_other_image_sizes_give_the_same_token_count(backbone):
    images, instructions, state = inputs(size=64)
    with torch.no_grad():
        small = backbone(images, instructions, state)
        full = backbone(*inputs())
    assert small.tokens.shape == full.tokens.shape


def test_text_cache_is_exact_and_bounded():
    bb = make()
    enc = bb.text
    with torch.no_grad():
        uncached = enc._run([INSTRUCTIONS[0]])
    first = enc([INSTRUCTIONS[0]])
    second = enc([INSTRUCTIONS[0]])
    assert enc.cache_len == 1
    for a, b, c in zip(first, second, uncached, strict=True):
        assert torch.equal(a, b)
        assert torch.equal(a, c)
    enc([INSTRUCTIONS[1], "lift the cube"])  # first seen next to a longer instruction: padded in the batch
    with torch.no_grad():
        alone = enc._run(["lift the cube"])
    assert torch.equal(enc._cache["lift the cube"][0], alone[0][0])  # cached features ignore batch company
    assert torch.equal(enc._cache["lift the cube"][1], alone[2][0])
    words = [f"pick up object number {i}" for i in range(3 * enc.cache_size)]
    for i in range(0, len(words), 16):
        enc(words[i : i + 16])
        assert enc.cache_len <= enc.cache_size
    assert enc.cache_len == enc.cache_size
    assert words[-1] in enc._cache and words[0] not in enc._cache  # least recently used entries went first


def test_text_cache_follows_dtype_changes():
    bb = make().eval()
    images, instructions, state = inputs()
    with torch.no_grad():
        bb(images, instructions, state)
        assert bb.text.cache_len == 2
        bb.to(torch.float64)  # .to(device) goes through the same Module._apply
        assert bb.text.cache_len == 0
        out = bb({k: v.double() for k, v in images.items()}, instructions, state.double())
    assert out.tokens.dtype == torch.float64
    assert bb.text._cache[instructions[0]][0].dtype == torch.float64


def test_cache_filled_under_inference_mode_can_train():
    bb = make()
    images, instructions, state = inputs()
    with torch.inference_mode():
        bb.eval()(images, instructions, state)
    out = bb.train()(images, instructions, state)
    out.cognition.square().mean().backward()
    assert bb.text_proj.weight.grad is not None


def test_different_instructions_give_different_cognition(backbone):
    images, _, state = inputs(batch=1)
    with torch.no_grad():
        red = backbone(images, ["pick up the red cube"], state).cognition
        green = backbone(images, ["pick up the green cube"], state).cognition
        red_again = backbone(images, ["pick up the red cube"], state).cognition
    assert torch.equal(red, red_again)
    assert (red - green).norm() > 1e-2 * red.norm()


def test_film_makes_image_tokens_instruction_specific():
    bb = make()
    for conv in bb.vision.convs:  # FiLM starts at identity; give it something to say
        torch.nn.init.normal_(conv.film.weight, std=0.1)
    images, _, state = inputs(batch=1)
    with torch.no_grad():
        sentences = bb.text(["pick up the red cube", "pick up the green cube"])[2]
        context = bb.film_context(sentences)
        x = images[CAMERAS[0]].expand(2, -1, -1, -1)
        tokens = bb.vision(x, context)
    assert (tokens[0] - tokens[1]).abs().max() > 1e-3


def test_gradients_reach_vision_and_fusion_but_not_frozen_minilm():
    bb = make().train()
    out = bb(*inputs())
    (out.tokens.square().mean() + out.cognition.square().mean()).backward()
    for name, p in bb.named_parameters():
        if name.startswith("text.model."):
            assert not p.requires_grad and p.grad is None, name
        elif name.startswith("film_context."):  # FiLM starts at identity: its input MLP learns once FiLM moves
            assert p.grad is not None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert any(n.startswith("vision.convs.") for n, _ in bb.named_parameters())
    assert any(n.startswith("fusion.") for n, _ in bb.named_parameters())
    assert not bb.text.model.training  # a frozen encoder never runs dropout


def test_training_step_changes_weights_and_keeps_minilm():
    bb = make().train()
    minilm = {k: v.clone() for k, v in bb.text.model.state_dict().items()}
    conv = bb.vision.convs[0].conv.weight.detach().clone()
    opt = torch.optim.AdamW([p for p in bb.parameters() if p.requires_grad], lr=1e-3)
    out = bb(*inputs())
    out.cognition.square().mean().backward()
    opt.step()
    assert not torch.equal(conv, bb.vision.convs[0].conv.weight)
    assert all(torch.equal(v, bb.text.model.state_dict()[k]) for k, v in minilm.items())


def test_safetensors_round_trip_is_bit_exact(tmp_path):
    src = make(seed=0).eval()
    state = src.state_dict()
    assert not [k for k in state if k.startswith("text.model.")]  # the frozen encoder ships with its package
    assert "text.weights_fingerprint" in state
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    dst = make(seed=1).eval()
    images, instructions, s = inputs()
    with torch.no_grad():
        assert not torch.equal(src(images, instructions, s).tokens, dst(images, instructions, s).tokens)
        dst.load_state_dict(load_file(str(tmp_path / "model.safetensors")), strict=True)
        a, b = src(images, instructions, s), dst(images, instructions, s)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.cognition, b.cognition)
    assert torch.equal(a.mask, b.mask)


def test_other_sentence_encoder_weights_are_refused():
    bb = make()
    state = bb.state_dict()
    state["text.weights_fingerprint"] = state["text.weights_fingerprint"] + 1
    with pytest.raises(VlaUserError, match="sentence-encoder weights"):
        bb.load_state_dict(state)


def test_trainable_text_encoder_gets_gradients_and_is_saved():
    bb = make(dataclasses.replace(EmbeddedBackboneConfig.tiny(), train_text_encoder=True)).train()
    assert any(k.startswith("text.model.") for k in bb.state_dict())
    out = bb(*inputs())
    out.cognition.square().mean().backward()
    assert bb.text.model.embeddings.word_embeddings.weight.grad is not None
    assert bb.text.cache_len == 0


def test_config_json_round_trip_and_validation():
    cfg = EmbeddedBackboneConfig.tiny()
    d = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert EmbeddedBackboneConfig(**d) == cfg
    with pytest.raises(VlaUserError, match="num_heads"):
        EmbeddedBackboneConfig(hidden_size=100, num_heads=3)
    with pytest.raises(VlaUserError, match="vision_groups"):
        EmbeddedBackboneConfig(vision_channels=(12, 16), vision_blocks=(0, 0), vision_groups=8)
    with pytest.raises(VlaUserError, match="vision_blocks"):
        EmbeddedBackboneConfig(vision_blocks=(1,))


def test_user_errors(backbone):
    images, instructions, state = inputs()
    with pytest.raises(VlaUserError, match="lack camera"):
        backbone({CAMERAS[0]: images[CAMERAS[0]]}, instructions, state)
    with pytest.raises(VlaUserError, match="no state"):
        backbone(images, instructions, None)
    with pytest.raises(VlaUserError, match="instructions"):
        backbone(images, instructions[:1], state)


def test_micro_benchmark_default_config(capsys):
    """Prints ms per forward at batch 1 (cached instruction) and per training step at batch 64; asserts nothing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        bb = make(EmbeddedBackboneConfig()).eval()
        images, _, state = inputs(batch=1)
        instructions = ["pick up the red cube"]
        with torch.inference_mode():
            for _ in range(5):
                bb(images, instructions, state)
            times = []
            for _ in range(30):
                t = time.perf_counter()
                bb(images, instructions, state)
                times.append(time.perf_counter() - t)
        bb.train()
        opt = torch.optim.AdamW([p for p in bb.parameters() if p.requires_grad], lr=1e-4)
        images, instructions, state = inputs(batch=64)
        steps = []
        for i in range(4):
            t = time.perf_counter()
            out = bb(images, instructions, state)
            opt.zero_grad()
            out.cognition.square().mean().backward()
            opt.step()
            if i:
                steps.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)
    times.sort()
    with capsys.disabled():
        print(
            f"\n[embedded backbone, 2 threads] batch 1 forward p50 {times[len(times) // 2] * 1e3:.1f} ms; "
            f"batch 64 training step {min(steps) * 1e3:.0f} ms (min of {len(steps)})"
        )


def test_spatial_softmax_finds_a_peak_at_its_image_coordinates():
    from vla.backbones.embedded.vision_encoder import SpatialSoftmax

    ss = SpatialSoftmax(in_channels=1, num_keypoints=1)
    with torch.no_grad():
        ss.heatmaps.weight.fill_(1.0)
        ss.heatmaps.bias.zero_()
        ss.log_temperature.fill_(-3.0)  # a sharp softmax
    x = torch.zeros(1, 1, 12, 16)
    x[0, 0, 2, 9] = 5.0  # row 2 of 12, column 9 of 16
    xy = ss(x)[0, 0]
    assert xy[0].item() == pytest.approx(-1 + 2 * 9 / 15, abs=1e-4)
    assert xy[1].item() == pytest.approx(-1 + 2 * 2 / 11, abs=1e-4)


def test_without_instruction_tokens_words_reach_the_output_only_through_the_grounding_maps():
    # No grounding maps: the instruction reaches nothing; the tokens are [cognition, state, images].
    blind = make(dataclasses.replace(EmbeddedBackboneConfig.tiny(), film=False, instruction_tokens=False)).eval()
    assert not any(k.startswith(("text_proj", "sentence_proj", "text_type")) for k in blind.state_dict())
    images, _, state = inputs()
    cfg = blind.config
    with torch.no_grad():
        a = blind(images, ["pick up the red cube"] * 2, state)
        b = blind(images, ["nudge the pink cylinder over to the left"] * 2, state)
    assert a.tokens.shape == (2, 1 + 1 + len(CAMERAS) * (cfg.vision_token_grid**2 + 1), cfg.hidden_size)
    assert a.mask.all() and torch.equal(a.tokens, b.tokens)
    # With grounding maps, the words choose what the maps look for, and so move the tokens.
    grounded = dataclasses.replace(cfg, vision_grounding_maps=2)
    sees = make(grounded).eval()
    with torch.no_grad():
        a = sees(images, ["pick up the red cube"] * 2, state)
        b = sees(images, ["nudge the pink cylinder over to the left"] * 2, state)
    assert (a.tokens - b.tokens).abs().max() > 1e-4
    assert a.grounding is not None and not torch.allclose(a.grounding, b.grounding)
    with pytest.raises(VlaUserError, match="instruction_tokens=False needs film=False"):
        EmbeddedBackboneConfig(instruction_tokens=False)

"""Every registered action head: config round trip, loss + gradients, sampling contract, safetensors
round trip, and an overfit test that the head can actually fit 4 action chunks from their conditioning."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from vla.backbones.base import BackboneOutput
from vla.errors import VlaUserError
from vla.heads import HEADS, ActionHead

HEAD_NAMES = ["diffusion", "flow", "tokens", "l1", "categorical"]
GENERATIVE = {"diffusion", "flow"}
CLASSIFIERS = {"categorical"}  # discrete action spaces: targets are normalized one-hot vectors
B, H, A = 4, 8, 5  # chunks, chunk length, action dims
COND_DIM, N_TOKENS = 32, 6


def fake_cond(batch: int = B, seed: int = 0, cond_dim: int = COND_DIM, n_tokens: int = N_TOKENS) -> BackboneOutput:
    """Random backbone output; the last two tokens of every odd row are padding."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, n_tokens, dtype=torch.bool)
    mask[1::2, -2:] = False
    return BackboneOutput(
        tokens=torch.randn(batch, n_tokens, cond_dim, generator=g),
        cognition=torch.randn(batch, cond_dim, generator=g),
        mask=mask,
    )


def make_head(name: str, seed: int = 0, **overrides) -> ActionHead:
    cls = HEADS.get(name)
    config = dataclasses.replace(cls.config_class.tiny(), **overrides)
    torch.manual_seed(seed)
    return cls(config, COND_DIM, A, H)


def target_actions(seed: int = 0, name: str = "") -> torch.Tensor:
    """(B, H, A) normalized targets: uniform in [-0.9, 0.9], or one-hot in {-1, 1} for a classifier head."""
    g = torch.Generator().manual_seed(seed)
    if name in CLASSIFIERS:
        return one_hot_targets(torch.randint(0, A, (B, H), generator=g))
    return torch.rand(B, H, A, generator=g) * 1.8 - 0.9


def one_hot_targets(classes: torch.Tensor) -> torch.Tensor:
    """(...,) class indices -> (..., A) one-hot normalized to [-1, 1], as the policy hands them to a head."""
    return torch.nn.functional.one_hot(classes, A).float() * 2 - 1


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def train(head: ActionHead, cond: BackboneOutput, actions: torch.Tensor, valid: torch.Tensor, steps: int, lr: float):
    """Adam with a linear decay to zero: the decay is what lets the generative heads fit precisely."""
    head.train()
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / steps)
    for _ in range(steps):
        loss, _ = head.compute_loss(cond, actions, valid)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    head.eval()


def eval_loss(head: ActionHead, cond: BackboneOutput, actions: torch.Tensor, valid: torch.Tensor) -> float:
    """Mean loss over 8 draws of the training noise, with a fixed seed so before/after compare fairly."""
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(123)
        return sum(head.compute_loss(cond, actions, valid)[0].item() for _ in range(8)) / 8


# ------------------------------------------------------------------------------------------ configs
@pytest.mark.parametrize("name", HEAD_NAMES)
def test_config_json_round_trip(name):
    cls = HEADS.get(name)
    assert cls.config_class.name == name
    assert cls.uses_noise == (name in GENERATIVE)
    for config in (cls.config_class(), cls.config_class.tiny()):
        restored = cls.config_class(**json.loads(json.dumps(dataclasses.asdict(config))))
        assert restored == config


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("diffusion", {"hidden_dim": 30, "num_heads": 4}, "divisible"),
        ("diffusion", {"prediction_type": "v_prediction"}, "prediction_type"),
        ("diffusion", {"sampler": "euler"}, "sampler"),
        ("diffusion", {"num_inference_steps": 500}, "num_inference_steps"),
        ("flow", {"time_sampling": "logit_normal"}, "time_sampling"),
        ("flow", {"num_inference_steps": 0}, "num_inference_steps"),
        ("tokens", {"n_bins": 1}, "n_bins"),
        ("l1", {"num_layers": 0}, "num_layers"),
        ("categorical", {"decoding": "top_p"}, "decoding"),
        ("categorical", {"temperature": 0.0}, "temperature"),
        ("categorical", {"class_weights": (1.0, -1.0)}, "class_weights"),
    ],
)
def test_config_rejects_bad_values(name, overrides, message):
    with pytest.raises(VlaUserError, match=message):
        HEADS.get(name).config_class(**overrides)


# ------------------------------------------------------------------------------------------ training
@pytest.mark.parametrize("name", HEAD_NAMES)
def test_loss_is_finite_and_every_parameter_learns(name):
    head = make_head(name)
    cond, actions = fake_cond(), target_actions(name=name)
    valid = torch.ones(B, H, dtype=torch.bool)
    loss, info = head.compute_loss(cond, actions, valid)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert info["loss"] == pytest.approx(loss.item()) and all(isinstance(v, float) for v in info.values())
    # adaLN-Zero and zero-initialised output layers block some gradients at init; a few steps open them.
    train(head, cond, actions, valid, steps=3, lr=1e-3)
    head.train()
    head.zero_grad()
    head.compute_loss(cond, actions, valid)[0].backward()
    for pname, p in head.named_parameters():
        assert p.grad is not None, f"{pname} gets no gradient"
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_padded_steps_do_not_affect_the_loss(name):
    head = make_head(name)
    cond, actions = fake_cond(), target_actions(name=name)
    valid = torch.ones(B, H, dtype=torch.bool)
    valid[:, -3:] = False
    garbage = actions.clone()
    garbage[:, -3:] = randn(B, 3, A, seed=7)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        loss_a = head.compute_loss(cond, actions, valid)[0]
        torch.manual_seed(0)
        loss_b = head.compute_loss(cond, garbage, valid)[0]
    assert torch.equal(loss_a, loss_b)


# ------------------------------------------------------------------------------------------ sampling
@pytest.mark.parametrize("name", HEAD_NAMES)
def test_sample_shape_range_and_determinism(name):
    head = make_head(name).eval()
    train(head, fake_cond(), target_actions(name=name), torch.ones(B, H, dtype=torch.bool), steps=5, lr=1e-3)
    cond = fake_cond(seed=1)
    noise = randn(B, H, A, seed=2)
    out = head.sample(cond, noise=noise)
    assert out.shape == (B, H, A) and out.dtype == torch.float32
    assert out.abs().max() <= 1.5
    assert torch.equal(out, head.sample(cond, noise=noise.clone()))
    assert head.sample(cond).shape == (B, H, A)
    if name in GENERATIVE:
        assert not torch.equal(out, head.sample(cond, noise=randn(B, H, A, seed=3))), "noise is ignored"
        steps3 = head.sample(cond, noise=noise, num_inference_steps=3)
        assert steps3.shape == (B, H, A) and not torch.equal(steps3, out)
        assert torch.equal(out, head.sample(cond, noise=noise)), "a per-call step count leaks into later calls"
        with pytest.raises(VlaUserError, match="noise has shape"):
            head.sample(cond, noise=randn(B, H, A + 1, seed=2))
    else:
        assert torch.equal(out, head.sample(cond))


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_masked_backbone_tokens_are_ignored(name):
    head = make_head(name).eval()
    train(head, fake_cond(), target_actions(name=name), torch.ones(B, H, dtype=torch.bool), steps=5, lr=1e-3)
    cond = fake_cond(seed=1)
    tokens = cond.tokens.clone()
    tokens[~cond.mask] = randn(int((~cond.mask).sum()), COND_DIM, seed=9) * 100
    noise = randn(B, H, A, seed=2)
    out = head.sample(cond, noise=noise)
    out_garbage = head.sample(BackboneOutput(tokens, cond.cognition, cond.mask), noise=noise)
    torch.testing.assert_close(out, out_garbage, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["diffusion", "flow"])
def test_conditioning_is_computed_once_per_chunk(name):
    """Cross-attention keys/values and adaLN modulation run once per sample(), not once per step."""
    head = make_head(name).eval()
    calls = []
    for block in head.dit.blocks:
        block.cross_kv.register_forward_hook(lambda *_: calls.append("kv"))
        block.ada.register_forward_hook(lambda *_: calls.append("ada"))
        block.qkv.register_forward_hook(lambda *_: calls.append("qkv"))
    head.sample(fake_cond(), noise=randn(B, H, A, seed=0), num_inference_steps=7)
    n_blocks = len(head.dit.blocks)
    assert calls.count("kv") == n_blocks and calls.count("ada") == n_blocks
    assert calls.count("qkv") == 7 * n_blocks


def test_token_bins_round_trip():
    head = make_head("tokens")
    n = head.config.n_bins
    assert torch.equal(head.discretize(head.bin_centers), torch.arange(n))
    assert head.discretize(torch.tensor([-1.0, 1.0, -5.0, 5.0])).tolist() == [0, n - 1, 0, n - 1]
    values = torch.rand(1000) * 2 - 1
    assert (head.bin_centers[head.discretize(values)] - values).abs().max() <= 1 / n + 1e-6


def test_categorical_decodes_one_hot_and_samples_from_its_distribution():
    head = make_head("categorical").eval()
    cond = fake_cond(seed=1)
    logits = head.logits(cond)
    out = head.sample(cond)
    assert set(out.unique().tolist()) == {-1.0, 1.0} and torch.equal((out > 0).sum(-1), torch.ones(B, H).long())
    assert torch.equal(out.argmax(-1), logits.argmax(-1))
    sampler = make_head("categorical", decoding="sample").eval()
    sampler.load_state_dict(head.state_dict())
    noise = randn(B, H, A, seed=2)
    assert torch.equal(sampler.sample(cond, noise=noise), sampler.sample(cond, noise=noise.clone()))
    # Gumbel-max through the normal CDF: class frequencies over many draws follow softmax(logits).
    draws = torch.stack([sampler.sample(cond, noise=randn(B, H, A, seed=100 + i)).argmax(-1) for i in range(400)])
    freq = torch.nn.functional.one_hot(draws, A).float().mean(0)  # (B, H, A)
    assert (freq - logits.softmax(-1)).abs().max() < 0.1
    with pytest.raises(VlaUserError, match="class_weights has 2 entries"):
        make_head("categorical", class_weights=(1.0, 2.0))


def test_nucleus_sampling_keeps_the_top_p_classes_only():
    from vla.heads.categorical.modeling_categorical import nucleus

    logits = torch.tensor([[0.60, 0.25, 0.12, 0.03]]).log()
    kept = lambda p: torch.isfinite(nucleus(logits, p))[0].tolist()  # noqa: E731
    assert kept(1.0) == [True, True, True, True]
    assert kept(0.9) == [True, True, True, False]  # 0.60 + 0.25 < 0.9: the 0.12 class is still needed
    assert kept(0.8) == [True, True, False, False]
    assert kept(0.5) == [True, False, False, False]  # the most likely class always stays
    shuffled = logits[:, [3, 1, 0, 2]]  # class order does not matter
    assert torch.isfinite(nucleus(shuffled, 0.8))[0].tolist() == [False, True, True, False]
    sampler = make_head("categorical", decoding="sample", top_p=0.5).eval()
    cond = fake_cond(seed=1)
    draws = torch.stack([sampler.sample(cond, noise=randn(B, H, A, seed=i)).argmax(-1) for i in range(20)])
    probs = sampler.logits(cond).softmax(-1)
    top = probs.max(-1).values > 0.5  # where one class holds half the mass, top_p=0.5 always draws it
    assert torch.equal(draws[:, top], sampler.logits(cond).argmax(-1)[top].expand(20, -1))
    with pytest.raises(VlaUserError, match="top_p"):
        make_head("categorical", top_p=0.0)


def test_categorical_class_weights_scale_each_steps_cross_entropy():
    weights = (5.0, 1.0, 1.0, 1.0, 1.0)
    head = make_head("categorical", class_weights=weights)
    cond, actions = fake_cond(), target_actions(name="categorical")
    valid = torch.ones(B, H, dtype=torch.bool)
    valid[0, -2:] = False
    loss, _ = head.compute_loss(cond, actions, valid)
    target = actions.argmax(-1)
    ce = torch.nn.functional.cross_entropy(head.logits(cond).flatten(0, 1), target.flatten(), reduction="none")
    w = torch.tensor(weights)[target].flatten() * valid.flatten()
    torch.testing.assert_close(loss, (ce * w).sum() / w.sum())


def test_categorical_overfits_rare_stop_steps():
    """Imbalanced classes as in navigation demos (class 0 = STOP on 1 step in 16): cross-entropy fits every
    step, the rare class included, where regressing one-hot scores would keep its median 'off'."""
    classes = torch.randint(1, A, (B, H), generator=torch.Generator().manual_seed(3))
    classes[0, 3] = classes[2, 7] = 0
    actions = one_hot_targets(classes)
    head = make_head("categorical")
    cond, valid = fake_cond(), torch.ones(B, H, dtype=torch.bool)
    loss_before = eval_loss(head, cond, actions, valid)
    train(head, cond, actions, valid, steps=150, lr=3e-3)
    loss_after, info = head.compute_loss(cond, actions, valid)
    assert loss_before / loss_after.item() >= 10.0 and info["accuracy"] > 0.9
    decoded = head.sample(cond).argmax(-1)
    assert (decoded == classes).float().mean() > 0.9
    assert decoded[0, 3] == 0 and decoded[2, 7] == 0, "the rare class is predicted where it is the label"


# ------------------------------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("name", HEAD_NAMES)
def test_safetensors_round_trip_is_bit_exact(name, tmp_path):
    head = make_head(name)
    train(head, fake_cond(), target_actions(name=name), torch.ones(B, H, dtype=torch.bool), steps=5, lr=1e-3)
    path = tmp_path / "head.safetensors"
    save_file(head.state_dict(), str(path))
    fresh = make_head(name, seed=1).eval()
    fresh.load_state_dict(load_file(str(path)), strict=True)
    cond, noise = fake_cond(seed=1), randn(B, H, A, seed=2)
    assert torch.equal(head.sample(cond, noise=noise), fresh.sample(cond, noise=noise))


# ------------------------------------------------------------------------------------------ learning
OVERFIT = {  # name -> (Adam steps, minimum loss reduction factor)
    "diffusion": (400, 10.0),
    "flow": (400, 10.0),
    "tokens": (200, 5.0),
    "l1": (200, 10.0),
    "categorical": (200, 10.0),
}


@pytest.mark.parametrize("name", HEAD_NAMES)
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")  # inside diffusers
def test_overfits_four_chunks(name):
    """4 conditionings -> 4 different target chunks: the loss falls and samples land on the targets."""
    steps, min_factor = OVERFIT[name]
    head = make_head(name)
    cond, actions = fake_cond(), target_actions(name=name)
    valid = torch.ones(B, H, dtype=torch.bool)
    loss_before = eval_loss(head, cond, actions, valid)
    train(head, cond, actions, valid, steps=steps, lr=3e-3)
    loss_after = eval_loss(head, cond, actions, valid)
    assert loss_before / loss_after >= min_factor, f"loss {loss_before:.4f} -> {loss_after:.4f}"
    error = (head.sample(cond, noise=randn(B, H, A, seed=5)) - actions).abs().mean().item()
    assert error < 0.1, f"mean abs error {error:.3f} between sampled and target actions"
    if name == "diffusion":  # the same weights sample as well with DPM-Solver++
        dpm = make_head(name, sampler="dpmsolver").eval()
        dpm.load_state_dict(head.state_dict())
        error = (dpm.sample(cond, noise=randn(B, H, A, seed=5)) - actions).abs().mean().item()
        assert error < 0.1, f"DPM-Solver: mean abs error {error:.3f}"


# ------------------------------------------------------------------------------------------ speed
def test_print_inference_and_training_speed(capsys):
    """Prints (does not assert) ms per sample() at batch 1 and per training step, default configs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    cond_dim, n_tokens = 384, 80  # about what a backbone hands over (MiniLM width, 2 cameras + text)
    lines = []
    try:
        for name in HEAD_NAMES:
            cls = HEADS.get(name)
            torch.manual_seed(0)
            head = cls(cls.config_class(), cond_dim, A, H).eval()
            cond = fake_cond(batch=1, cond_dim=cond_dim, n_tokens=n_tokens)
            noise = randn(1, H, A, seed=0)
            times = []
            for i in range(25):
                start = time.perf_counter()
                head.sample(cond, noise=noise)
                if i >= 5:
                    times.append(time.perf_counter() - start)
            head.train()
            cond32 = fake_cond(batch=32, cond_dim=cond_dim, n_tokens=n_tokens)
            actions, valid = torch.rand(32, H, A) * 2 - 1, torch.ones(32, H, dtype=torch.bool)
            opt = torch.optim.Adam(head.parameters(), lr=1e-4)
            train_times = []
            for i in range(4):
                start = time.perf_counter()
                loss, _ = head.compute_loss(cond32, actions, valid)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if i >= 1:
                    train_times.append(time.perf_counter() - start)
            params = sum(p.numel() for p in head.parameters()) / 1e6
            lines.append(
                f"{name:11s} {params:5.2f} M params  sample() at batch 1: {1e3 * min(times):6.2f} ms min, "
                f"{1e3 * sorted(times)[len(times) // 2]:6.2f} ms median  |  train step at batch 32: "
                f"{1e3 * min(train_times):6.1f} ms"
            )
    finally:
        torch.set_num_threads(threads)
    with capsys.disabled():
        print("\naction heads, default configs, 2 threads, cond (1, 80, 384), H=8, A=5, 10 steps:")
        print("\n".join(lines))


# ------------------------------------------------------------------------------------------ GPU
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", HEAD_NAMES)
@pytest.mark.parametrize("sampler", ["ddim", "dpmsolver"])
def test_cuda_sampling_has_no_host_sync(name, sampler):
    if sampler != "ddim" and name != "diffusion":
        pytest.skip("only the diffusion head has samplers")
    overrides = {"sampler": sampler} if name == "diffusion" else {}
    head = make_head(name, **overrides).cuda()
    cond = fake_cond()
    cond = BackboneOutput(cond.tokens.cuda(), cond.cognition.cuda(), cond.mask.cuda())
    actions, valid = target_actions(name=name).cuda(), torch.ones(B, H, dtype=torch.bool, device="cuda")
    loss, _ = head.compute_loss(cond, actions, valid)
    loss.backward()
    head.eval()
    noise = randn(B, H, A, seed=0).cuda()
    expected = head.sample(cond, noise=noise)  # warm-up: caches the device copy of the timesteps
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = head.sample(cond, noise=noise)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.equal(out, expected)
    cpu_head = make_head(name, **overrides)
    cpu_head.load_state_dict({k: v.cpu() for k, v in head.state_dict().items()})
    cpu_out = cpu_head.eval().sample(fake_cond(), noise=noise.cpu())
    if name == "categorical":  # a near-tie may flip a class
        assert (out.cpu().argmax(-1) == cpu_out.argmax(-1)).float().mean() >= 0.9
        return
    atol = 2.0 / head.config.n_bins + 1e-6 if name == "tokens" else 2e-3  # a near-tie may flip one bin
    torch.testing.assert_close(out.cpu(), cpu_out, rtol=0, atol=atol)

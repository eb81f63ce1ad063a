"""The transformer trunk every action head shares: a DiT over a fixed-length token sequence.

Each block: self-attention and MLP modulated by adaLN-Zero on a conditioning vector (the backbone's
cognition feature, plus the timestep embedding in diffusion/flow heads), and cross-attention to the
backbone's tokens. Everything that depends only on the backbone output - the cross-attention keys and
values, the padding mask, the projected cognition - is computed once per chunk by `prepare()`; the
adaLN modulation for all denoising steps is computed in one batched call by `modulation()` before the
sampling loop, so the loop itself runs only the token path with fixed shapes and no host syncs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Self

import torch
import torch.nn.functional as F
from torch import nn

from vla.backbones.base import BackboneOutput
from vla.errors import VlaUserError

from .base import ActionHead, HeadConfig

# Per block: (shift_attn, 1 + scale_attn, gate_attn, shift_mlp, 1 + scale_mlp, gate_mlp), each (..., B, 1, D).
BlockModulation = tuple[torch.Tensor, ...]
# (per-block modulations, (shift_final, 1 + scale_final)).
Modulation = tuple[list[BlockModulation], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TransformerHeadConfig(HeadConfig):
    """Trunk size shared by every head config. Defaults are sized for < 1 ms per forward at batch 1 on CPU."""

    hidden_dim: int = 192
    """Width D of the action tokens (192 x 3 layers: ~8.5 ms per 10-step diffusion chunk on 2 CPU cores)."""
    num_layers: int = 3
    """Transformer blocks (self-attention + cross-attention to the backbone tokens + MLP)."""
    num_heads: int = 4
    """Attention heads; must divide hidden_dim."""
    mlp_ratio: float = 4.0
    """MLP hidden width as a multiple of hidden_dim."""

    @classmethod
    def tiny(cls) -> Self:
        """A few-thousand-parameter variant for tests (every DiT-trunk head)."""
        return cls(hidden_dim=64, num_layers=2, num_heads=4, mlp_ratio=2.0)

    def __post_init__(self) -> None:
        for field in ("hidden_dim", "num_layers", "num_heads"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise VlaUserError(f"{type(self).__name__}.{field}={value!r} must be a positive integer")
        if self.hidden_dim % self.num_heads:
            raise VlaUserError(
                f"{type(self).__name__}: hidden_dim={self.hidden_dim} is not divisible by num_heads={self.num_heads}; "
                f"pick e.g. hidden_dim={self.num_heads * max(1, round(self.hidden_dim / self.num_heads))}"
            )
        if not self.mlp_ratio > 0:
            raise VlaUserError(f"{type(self).__name__}.mlp_ratio={self.mlp_ratio} must be > 0")


@dataclass
class Conditioning:
    """What the trunk needs from the backbone, computed once per chunk by `DiT.prepare`."""

    keys_values: list[tuple[torch.Tensor, torch.Tensor]]  # per block: (B, heads, N, head_dim) each
    attn_bias: torch.Tensor | None  # (B, 1, 1, N) float: 0 where a backbone token is valid, -inf on padding
    cognition: torch.Tensor  # (B, D) cognition feature projected to the trunk width


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(...,) float timesteps -> (..., dim) sine/cosine features (DiT / DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def initial_noise(noise: torch.Tensor | None, cond: BackboneOutput, chunk_size: int, action_dim: int) -> torch.Tensor:
    """The caller's noise after a shape check, or fresh standard normal noise (B, H, A) like the conditioning."""
    shape = (cond.cognition.shape[0], chunk_size, action_dim)
    if noise is None:
        return torch.randn(shape, device=cond.cognition.device, dtype=cond.cognition.dtype)
    if tuple(noise.shape) != shape:
        raise VlaUserError(f"noise has shape {tuple(noise.shape)}; this head samples (batch, chunk, action) = {shape}")
    return noise


def masked_mean(err: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of `err` (B, H, ...) over the entries whose chunk step is valid (`valid` (B, H) bool)."""
    weight = valid.to(err.dtype).reshape(*valid.shape, *([1] * (err.ndim - valid.ndim))).expand_as(err)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)


class DiTBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, context_dim: int):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.norm_attn = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_out = nn.Linear(dim, dim)
        self.norm_cross = nn.LayerNorm(dim, eps=1e-6)
        self.cross_q = nn.Linear(dim, dim)
        self.cross_kv = nn.Linear(context_dim, 2 * dim)
        self.cross_out = nn.Linear(dim, dim)
        self.norm_mlp = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.ada = nn.Linear(dim, 6 * dim)  # adaLN-Zero: zero-initialised, so each block starts as identity

    def context_keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, context_dim) normalized backbone tokens -> keys, values (B, heads, N, head_dim)."""
        b, n, _ = context.shape
        k, v = self.cross_kv(context).view(b, n, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        return k.contiguous(), v.contiguous()

    def forward(
        self,
        x: torch.Tensor,  # (B, L, D)
        kv: tuple[torch.Tensor, torch.Tensor],
        attn_bias: torch.Tensor | None,
        mod: BlockModulation,
    ) -> torch.Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = mod
        b, n, d = x.shape
        h = torch.addcmul(shift_a, self.norm_attn(x), scale_a)
        q, k, v = self.qkv(h).view(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        h = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = torch.addcmul(x, gate_a, self.attn_out(h))

        q = self.cross_q(self.norm_cross(x)).view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        h = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=attn_bias).transpose(1, 2).reshape(b, n, d)
        x = x + self.cross_out(h)

        h = torch.addcmul(shift_m, self.norm_mlp(x), scale_m)
        return torch.addcmul(x, gate_m, self.fc2(F.gelu(self.fc1(h))))


class DiT(nn.Module):
    """Token trunk: (B, L, D) tokens + backbone conditioning -> (B, L, D) features.

    The caller embeds its own input tokens (noisy actions, or learned queries) and maps the output.
    """

    def __init__(self, config: TransformerHeadConfig, cond_dim: int, use_timestep: bool):
        super().__init__()
        dim = config.hidden_dim
        self.dim = dim
        self.context_norm = nn.LayerNorm(cond_dim, eps=1e-6)
        self.cognition_proj = nn.Linear(cond_dim, dim)
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim)) if use_timestep else None
        self.blocks = nn.ModuleList(
            DiTBlock(dim, config.num_heads, config.mlp_ratio, cond_dim) for _ in range(config.num_layers)
        )
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada_final = nn.Linear(dim, 2 * dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        if self.time_mlp is not None:
            for layer in (self.time_mlp[0], self.time_mlp[2]):
                nn.init.normal_(layer.weight, std=0.02)
        for ada in [blk.ada for blk in self.blocks] + [self.ada_final]:
            nn.init.zeros_(ada.weight)
            nn.init.zeros_(ada.bias)

    def prepare(self, cond: BackboneOutput) -> Conditioning:
        """Everything that depends only on the backbone output; call once per chunk."""
        context = self.context_norm(cond.tokens)
        bias = None
        if cond.mask is not None:  # an additive float mask: cheaper per attention call than a bool one
            bias = torch.zeros(cond.mask.shape, dtype=context.dtype, device=context.device)
            bias = bias.masked_fill(~cond.mask.to(torch.bool), float("-inf"))[:, None, None, :]
        return Conditioning(
            keys_values=[blk.context_keys_values(context) for blk in self.blocks],
            attn_bias=bias,
            cognition=self.cognition_proj(cond.cognition),
        )

    def embed_time(self, t: torch.Tensor) -> torch.Tensor:
        """(...,) float timesteps -> (..., D). Diffusion passes integer steps; flow passes t * 1000."""
        assert self.time_mlp is not None, "this trunk was built without a timestep input"
        return self.time_mlp(sinusoidal_embedding(t, self.dim).to(self.time_mlp[0].weight.dtype))

    def modulation(self, c: torch.Tensor) -> Modulation:
        """(..., B, D) conditioning vectors -> adaLN shifts/scales/gates with the same leading dims.

        Called with (S, B, D) to get all S denoising steps in one batched call (see `split_steps`).
        """
        c = F.silu(c).unsqueeze(-2)  # (..., B, 1, D): broadcasts over the L tokens
        blocks = []
        for blk in self.blocks:
            shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = blk.ada(c).chunk(6, dim=-1)
            blocks.append((shift_a, 1 + scale_a, gate_a, shift_m, 1 + scale_m, gate_m))
        shift, scale = self.ada_final(c).chunk(2, dim=-1)
        return blocks, (shift, 1 + scale)

    @staticmethod
    def split_steps(mod: Modulation) -> list[Modulation]:
        """A modulation with a leading step dimension S -> S per-step modulations (views, no copies)."""
        blocks, (shift, scale) = mod
        per_block = [[t.unbind(0) for t in blk] for blk in blocks]
        steps = []
        for s in range(shift.shape[0]):
            steps.append(([tuple(t[s] for t in blk) for blk in per_block], (shift[s], scale[s])))
        return steps

    def forward(self, x: torch.Tensor, cond: Conditioning, mod: Modulation) -> torch.Tensor:
        blocks, (shift, scale) = mod
        for blk, kv, block_mod in zip(self.blocks, cond.keys_values, blocks, strict=True):
            x = blk(x, kv, cond.attn_bias, block_mod)
        return torch.addcmul(shift, self.norm_final(x), scale)


class QueryDecoderHead(ActionHead):
    """Base of the heads that decode H learned action queries in one parallel pass (L1 regression,
    categorical): queries -> DiT trunk (cross-attending to the backbone tokens, FiLM on the cognition
    feature, no timestep) -> MLP -> `out_dim` values per chunk step."""

    def __init__(self, config: TransformerHeadConfig, cond_dim: int, action_dim: int, chunk_size: int, out_dim: int):
        super().__init__(config, cond_dim, action_dim, chunk_size)
        self.dit = DiT(config, cond_dim, use_timestep=False)
        self.queries = nn.Parameter(torch.randn(chunk_size, config.hidden_dim) * 0.02)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_dim, config.hidden_dim), nn.GELU(), nn.Linear(config.hidden_dim, out_dim)
        )

    def decode(self, cond: BackboneOutput) -> torch.Tensor:
        """(B, H, out_dim) outputs of the query decoder."""
        prepared = self.dit.prepare(cond)
        batch = prepared.cognition.shape[0]
        h = self.dit(self.queries.expand(batch, -1, -1), prepared, self.dit.modulation(prepared.cognition))
        return self.mlp(h)

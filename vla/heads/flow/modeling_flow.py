"""Flow-matching action head (pi0-style): a DiT predicts the velocity from noise to the action chunk.

Convention as in pi0: x_t = t * noise + (1 - t) * actions, target velocity u = noise - actions;
sampling integrates dx/dt = v(x_t, t) with Euler steps from t=1 to t=0, a deterministic function
of (conditioning, noise).
"""

from __future__ import annotations

import torch
from torch import nn

from vla.backbones.base import BackboneOutput

from ..base import ActionHead
from ..dit import Conditioning, DiT, Modulation, initial_noise, masked_mean
from .configuration_flow import FlowMatchingHeadConfig

TIME_SCALE = 1000.0  # t in [0, 1] is embedded as t * 1000, the range the sinusoidal features are made for


class FlowMatchingHead(ActionHead):
    config_class = FlowMatchingHeadConfig
    uses_noise = True

    def __init__(self, config: FlowMatchingHeadConfig, cond_dim: int, action_dim: int, chunk_size: int):
        super().__init__(config, cond_dim, action_dim, chunk_size)
        self.config: FlowMatchingHeadConfig = config
        self.dit = DiT(config, cond_dim, use_timestep=True)
        self.action_in = nn.Linear(action_dim, config.hidden_dim)
        self.pos_embed = nn.Parameter(torch.randn(chunk_size, config.hidden_dim) * 0.02)
        self.velocity_out = nn.Linear(config.hidden_dim, action_dim)
        nn.init.zeros_(self.velocity_out.weight)
        nn.init.zeros_(self.velocity_out.bias)

    def _velocity(self, x: torch.Tensor, cond: Conditioning, mod: Modulation) -> torch.Tensor:
        h = self.action_in(x) + self.pos_embed
        return self.velocity_out(self.dit(h, cond, mod))

    def _sample_time(self, batch: int, device: torch.device) -> torch.Tensor:
        if self.config.time_sampling == "uniform":
            return torch.rand(batch, device=device)
        beta = torch.distributions.Beta(torch.tensor(1.5, device=device), torch.tensor(1.0, device=device))
        return beta.sample((batch,)) * 0.999 + 0.001

    def compute_loss(
        self, cond: BackboneOutput, actions: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        noise = torch.randn_like(actions)
        t = self._sample_time(actions.shape[0], actions.device).to(actions.dtype)
        t_ = t[:, None, None]
        x_t = t_ * noise + (1 - t_) * actions
        prepared = self.dit.prepare(cond)
        mod = self.dit.modulation(prepared.cognition + self.dit.embed_time(t * TIME_SCALE))
        velocity = self._velocity(x_t, prepared, mod)
        loss = masked_mean((velocity - (noise - actions)).square(), valid)
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def sample(
        self, cond: BackboneOutput, noise: torch.Tensor | None = None, num_inference_steps: int | None = None
    ) -> torch.Tensor:
        """(B, H, A) actions integrated from `noise` (standard normal, drawn here if None)."""
        noise = initial_noise(noise, cond, self.chunk_size, self.action_dim)
        steps = num_inference_steps or self.config.num_inference_steps
        dt = 1.0 / steps
        times = torch.linspace(1.0, dt, steps, device=noise.device)  # (S,) t at the start of each Euler step

        prepared = self.dit.prepare(cond)
        t_emb = self.dit.embed_time(times * TIME_SCALE)
        mods = self.dit.split_steps(self.dit.modulation(prepared.cognition[None] + t_emb[:, None]))

        x = noise
        for mod in mods:
            x = torch.add(x, self._velocity(x, prepared, mod), alpha=-dt)
        return x.clamp(-1.0, 1.0) if self.config.clip_actions else x

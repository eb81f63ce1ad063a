"""Diffusion action head: a DiT denoises the action chunk, conditioned on the backbone (CogACT-style).

Training noises chunks with diffusers' DDPMScheduler and regresses the noise (or the clean chunk)
with a masked MSE. Sampling runs diffusers' DDIMScheduler (eta=0) or DPMSolverMultistepScheduler
from caller-supplied noise, so the output is a deterministic function of (conditioning, noise).
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from torch import nn

from vla.backbones.base import BackboneOutput

from ..base import ActionHead
from ..dit import Conditioning, DiT, Modulation, initial_noise, masked_mean
from .configuration_diffusion import DiffusionHeadConfig


class DiffusionHead(ActionHead):
    config_class = DiffusionHeadConfig
    uses_noise = True

    def __init__(self, config: DiffusionHeadConfig, cond_dim: int, action_dim: int, chunk_size: int):
        super().__init__(config, cond_dim, action_dim, chunk_size)
        self.config: DiffusionHeadConfig = config
        self.dit = DiT(config, cond_dim, use_timestep=True)
        self.action_in = nn.Linear(action_dim, config.hidden_dim)
        self.pos_embed = nn.Parameter(torch.randn(chunk_size, config.hidden_dim) * 0.02)
        self.action_out = nn.Linear(config.hidden_dim, action_dim)
        nn.init.zeros_(self.action_out.weight)  # DiT's zero-initialised final layer
        nn.init.zeros_(self.action_out.bias)

        schedule = dict(
            num_train_timesteps=config.num_train_timesteps,
            beta_schedule=config.beta_schedule,
            prediction_type=config.prediction_type,
        )
        self.noise_scheduler = DDPMScheduler(**schedule, clip_sample=False)
        if config.sampler == "ddim":
            self.sampling_scheduler = DDIMScheduler(
                **schedule,
                clip_sample=config.clip_sample,
                set_alpha_to_one=True,
                timestep_spacing=config.timestep_spacing,
            )
        else:
            self.sampling_scheduler = DPMSolverMultistepScheduler(
                **schedule,
                algorithm_type="dpmsolver++",
                solver_order=2,
                timestep_spacing=config.timestep_spacing,
                # With sample_max_value=1 "dynamic thresholding" is a plain clip of the predicted chunk to [-1, 1].
                thresholding=config.clip_sample,
                sample_max_value=1.0,
                # diffusers' advice for the cosine schedule: skip the last, numerically unstable, noise levels.
                lambda_min_clipped=-5.1 if config.beta_schedule == "squaredcos_cap_v2" else -float("inf"),
            )
        self._timestep_cache: dict[tuple[int, str], torch.Tensor] = {}

    def _denoise(self, x: torch.Tensor, cond: Conditioning, mod: Modulation) -> torch.Tensor:
        """(B, H, A) noisy chunk -> (B, H, A) predicted noise or clean chunk."""
        h = self.action_in(x) + self.pos_embed
        return self.action_out(self.dit(h, cond, mod))

    def compute_loss(
        self, cond: BackboneOutput, actions: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        batch = actions.shape[0]
        noise = torch.randn_like(actions)
        timesteps = torch.randint(0, self.config.num_train_timesteps, (batch,), device=actions.device)
        noisy = self.noise_scheduler.add_noise(actions, noise, timesteps)
        prepared = self.dit.prepare(cond)
        mod = self.dit.modulation(prepared.cognition + self.dit.embed_time(timesteps.float()))
        pred = self._denoise(noisy, prepared, mod)
        target = noise if self.config.prediction_type == "epsilon" else actions
        loss = masked_mean((pred - target).square(), valid)
        return loss, {"loss": loss.item()}

    def _reset_sampler(self, num_steps: int, device: torch.device) -> tuple[list[int], torch.Tensor]:
        """Reset the sampling scheduler for `num_steps` -> (timesteps as Python ints, as floats on `device`).

        The device copy is cached per (steps, device) so a warm sample() makes no host-to-device copy.
        """
        scheduler = self.sampling_scheduler
        scheduler.set_timesteps(num_steps)  # also clears DPM-Solver's multistep history
        if isinstance(scheduler, DPMSolverMultistepScheduler):
            scheduler.set_begin_index(0)  # skips its per-step timestep lookup (a host sync)
        steps = scheduler.timesteps.tolist()
        key = (num_steps, str(device))
        if key not in self._timestep_cache:
            self._timestep_cache[key] = scheduler.timesteps.to(device, torch.float32)
        return steps, self._timestep_cache[key]

    @torch.no_grad()
    def sample(
        self, cond: BackboneOutput, noise: torch.Tensor | None = None, num_inference_steps: int | None = None
    ) -> torch.Tensor:
        """(B, H, A) actions denoised from `noise` (standard normal, drawn here if None).

        Not thread-safe: the diffusers scheduler keeps per-call state; use one head per thread.
        """
        noise = initial_noise(noise, cond, self.chunk_size, self.action_dim)
        # Python-int timesteps: the loop never reads a device tensor back.
        step_list, timesteps = self._reset_sampler(num_inference_steps or self.config.num_inference_steps, noise.device)

        prepared = self.dit.prepare(cond)  # cross-attention keys/values: once per chunk
        t_emb = self.dit.embed_time(timesteps)  # (S, D)
        mods = self.dit.split_steps(self.dit.modulation(prepared.cognition[None] + t_emb[:, None]))

        x = noise
        for t, mod in zip(step_list, mods, strict=True):
            model_output = self._denoise(x, prepared, mod)
            x = self.sampling_scheduler.step(model_output, t, x, return_dict=False)[0]
        return x

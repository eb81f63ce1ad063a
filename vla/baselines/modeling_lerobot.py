"""lerobot's DiffusionPolicy / ACTPolicy behind our policy surface, so the same trainer loop, rollout
code and eval seeds run them next to VLAPolicy.

Normalization goes through lerobot's own pre/post-processor pipelines (`make_pre_post_processors`
of each policy: rename -> batch -> device -> NormalizerProcessorStep, and UnnormalizerProcessorStep
-> cpu), built from the dataset statistics with each policy's own `normalization_mapping`:
DiffusionPolicy min-max scales state and actions to [-1, 1] and mean/std-normalizes images; ACT
mean/std-normalizes all three. Image statistics come from the dataset's frames (`image_stats`).
Like our Normalizer, predicted actions are clipped to the dataset's action range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from vla.constants import ACTION, OBS_STATE
from vla.errors import VlaUserError
from vla.policy.ensembling import ChunkedActionsMixin
from vla.policy.modeling_vla import prepare_images

from .configuration_lerobot import LeRobotBaselineConfig

ACTION_IS_PAD = "action_is_pad"


def image_stats(images: dict[str, torch.Tensor], max_frames: int = 4096) -> dict[str, dict[str, np.ndarray]]:
    """Per-channel mean/std/min/max of uint8 (N, 3, H, W) frames scaled to [0, 1], in lerobot's (3, 1, 1) layout."""
    out = {}
    for key, frames in images.items():
        idx = torch.linspace(0, frames.shape[0] - 1, min(max_frames, frames.shape[0])).long()
        x = frames[idx].float().div_(255.0).transpose(0, 1).reshape(3, -1)  # (3, n*H*W)
        out[key] = {
            "mean": x.mean(1).reshape(3, 1, 1).numpy(),
            "std": x.std(1).reshape(3, 1, 1).numpy(),
            "min": x.amin(1).reshape(3, 1, 1).numpy(),
            "max": x.amax(1).reshape(3, 1, 1).numpy(),
        }
    return out


class LeRobotBaseline(ChunkedActionsMixin, nn.Module):
    """A lerobot policy with VLAPolicy's interface: forward(batch) -> (loss, info),
    predict_action_chunk(obs, noise=None) -> (B, H, A) actions in env units, select_action, reset.

    The instruction (`task`) is accepted and ignored: lerobot's DiffusionPolicy and ACT are not
    language-conditioned.
    """

    def __init__(self, config: LeRobotBaselineConfig, stats: dict[str, dict[str, Any]]):
        super().__init__()
        self.config = config
        missing = [k for k in (OBS_STATE, ACTION, *config.camera_keys) if k not in stats]
        if missing:
            raise VlaUserError(f"statistics lack {missing}; pass dataset stats plus image_stats(...) for the cameras")
        self.lerobot_config = config.to_lerobot()
        if config.kind == "diffusion":
            from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
            from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors

            self.policy = DiffusionPolicy(self.lerobot_config)
            make = make_diffusion_pre_post_processors
        else:
            from lerobot.policies.act.modeling_act import ACTPolicy
            from lerobot.policies.act.processor_act import make_act_pre_post_processors

            self.policy = ACTPolicy(self.lerobot_config)
            make = make_act_pre_post_processors
        keep = (OBS_STATE, ACTION, *config.camera_keys)
        self.stats = {k: {s: np.asarray(v) for s, v in stats[k].items()} for k in keep}
        self.preprocessor, self.postprocessor = make(self.lerobot_config, dataset_stats=self.stats)
        self.register_buffer("action_min", torch.as_tensor(self.stats[ACTION]["min"], dtype=torch.float32).reshape(-1))
        self.register_buffer("action_max", torch.as_tensor(self.stats[ACTION]["max"], dtype=torch.float32).reshape(-1))
        self.init_executor(config)
        self.to(config.device)

    @classmethod
    def from_demos(cls, demos, preset: str, **config_fields: Any) -> LeRobotBaseline:
        """Build for a DemoDataset (policies/train/data.py): features and statistics come from the data."""
        cams = tuple(demos.images)
        image_size = tuple(demos.image_size)
        config = LeRobotBaselineConfig(
            preset=preset,
            **{
                "camera_keys": cams,
                "image_size": image_size,
                "state_dim": int(demos.state.shape[1]),
                "action_dim": int(demos.action.shape[1]),
                **config_fields,
            },
        )
        return cls(config, {**demos.stats, **image_stats(demos.images)})

    @property
    def device(self) -> torch.device:
        return self.action_min.device

    @property
    def train_chunk_size(self) -> int:
        """Actions per training sample (lerobot's DiffusionPolicy may plan past chunk_size)."""
        return self.config.horizon

    def make_optimizer(self) -> torch.optim.Optimizer:
        """lerobot's optimizer preset for this policy (type, betas, eps, weight decay; lr from the config)."""
        return self.lerobot_config.get_optimizer_preset().build(self.policy.get_optim_params())

    # ------------------------------------------------------------------ inputs
    def prepare_images(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Camera key -> (B, 3, H, W) float in [0, 1], exactly as VLAPolicy prepares them."""
        return prepare_images(batch, self.config.camera_keys, self.config.image_size, self.device)

    def _inputs(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        state = torch.as_tensor(batch[OBS_STATE], dtype=torch.float32, device=self.device)
        if state.ndim == 1:
            state = state[None]
        if state.shape[-1] != self.config.state_dim:
            raise VlaUserError(f"state has {state.shape[-1]} dims but the policy was built for {self.config.state_dim}")
        return {**self.prepare_images(batch), OBS_STATE: state}

    def _to_lerobot(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Normalize through lerobot's preprocessor and add the observation-time axis DiffusionPolicy expects."""
        out = self.preprocessor(batch)
        if self.config.kind == "diffusion":
            out[OBS_STATE] = out[OBS_STATE][:, None]  # (B, n_obs_steps=1, S); images get theirs inside lerobot
        return out

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        actions = torch.as_tensor(batch[ACTION], dtype=torch.float32, device=self.device)
        if actions.shape[1:] != (self.train_chunk_size, self.config.action_dim):
            raise VlaUserError(
                f"batch actions have shape {tuple(actions.shape[1:])}, the policy trains on "
                f"({self.train_chunk_size}, {self.config.action_dim}); use demos.batch(idx, policy.train_chunk_size)"
            )
        pad = batch.get(ACTION_IS_PAD)
        pad = (
            torch.as_tensor(pad, device=self.device)
            if pad is not None
            else torch.zeros(actions.shape[:2], dtype=torch.bool, device=self.device)
        )
        inputs = self._to_lerobot({**self._inputs(batch), ACTION: actions, ACTION_IS_PAD: pad})
        loss, info = self.policy.forward(inputs)
        return loss, dict(info or {})

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict_action_chunk(self, obs: dict[str, Any], noise: torch.Tensor | None = None) -> torch.Tensor:
        """(B, H, A) actions in env units. `noise` (B, H, A) fixes DiffusionPolicy's initial sample (ACT ignores it)."""
        inputs = self._to_lerobot(self._inputs(obs))
        if self.config.kind == "diffusion":
            if noise is not None and noise.shape[1] < self.config.horizon:
                extra = self.config.horizon - noise.shape[1]
                noise = torch.cat([noise, noise.new_zeros(noise.shape[0], extra, noise.shape[2])], dim=1)
            actions = self.policy.predict_action_chunk(inputs, noise=noise)
        else:
            actions = self.policy.predict_action_chunk(inputs)
        actions = self.postprocessor(actions).to(self.device)[:, : self.config.chunk_size]
        return torch.maximum(torch.minimum(actions, self.action_max), self.action_min)

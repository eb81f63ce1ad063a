"""Configuration of the LeRobot baselines: lerobot's own DiffusionPolicy and ACTPolicy, sized for a CPU.

A `LeRobotBaselineConfig` holds what our evaluation code reads from a policy config (chunk_size,
n_action_steps, ensembling options, cameras, image size) plus the name of a preset and keyword
overrides for lerobot's own config dataclass. The presets keep lerobot's architectures and their
defaults wherever a CPU allows, and change only what makes them trainable in minutes on 2 cores:

- No pretrained backbone weights (nothing is downloaded; our backbone's vision encoder starts from
  scratch too). resnet18 is the smallest backbone lerobot's code accepts.
- DiffusionPolicy: GroupNorm instead of BatchNorm (what Diffusion Policy uses when training the
  ResNet from scratch), a 2-stage U-Net (128, 256) instead of (512, 1024, 2048), DDIM with 10
  inference steps instead of 100 DDPM steps (our diffusion head also samples with 10 DDIM steps),
  one observation step (our policies see one frame) and no internal random crop (the shared
  training harness already applies random shifts to every policy's images).
- ACT: dim_model 128, 2 encoder layers, 2 VAE-encoder layers, feed-forward 512 (lerobot: 512 / 4 / 4 /
  3200); the VAE objective and kl_weight stay.
- Learning rate 1e-4 for both: lerobot's DiffusionPolicy default; ACT's default of 1e-5 is tuned for
  100k-step fine-tuning from an ImageNet backbone and barely moves a from-scratch model in minutes.

lerobot's policies are not language-conditioned: they see the cameras and the state, never the
instruction. On a multi-task dataset that is part of what the comparison measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST
from vla.errors import VlaUserError, unknown_name_error

Ensembling = Literal["none", "temporal", "adaptive"]


@dataclass(frozen=True)
class BaselinePreset:
    kind: Literal["diffusion", "act"]
    """Which lerobot policy class: 'diffusion' (DiffusionPolicy) or 'act' (ACTPolicy)."""
    description: str
    lerobot_kwargs: dict[str, Any] = field(default_factory=dict)
    """Fields of lerobot's DiffusionConfig / ACTConfig that differ from lerobot's defaults."""


BASELINE_PRESETS: dict[str, BaselinePreset] = {
    "lerobot-diffusion": BaselinePreset(
        "diffusion",
        "lerobot DiffusionPolicy: resnet18 from scratch (GroupNorm) + 1D conv U-Net (128, 256), DDIM 10 steps",
        {
            "n_obs_steps": 1,
            "vision_backbone": "resnet18",
            "pretrained_backbone_weights": None,
            "use_group_norm": True,
            "crop_shape": None,
            "resize_shape": None,
            "spatial_softmax_num_keypoints": 32,
            "use_separate_rgb_encoder_per_camera": True,
            "down_dims": (128, 256),
            "kernel_size": 5,
            "n_groups": 8,
            "diffusion_step_embed_dim": 128,
            "noise_scheduler_type": "DDIM",
            "num_train_timesteps": 100,
            "num_inference_steps": 10,
            "prediction_type": "epsilon",
            "clip_sample": True,
            "drop_n_last_frames": 0,
            "optimizer_lr": 1e-4,
        },
    ),
    "lerobot-act": BaselinePreset(
        "act",
        "lerobot ACTPolicy: resnet18 from scratch + transformer (dim 128, 2 enc / 1 dec layers) with the CVAE",
        {
            "n_obs_steps": 1,
            "vision_backbone": "resnet18",
            "pretrained_backbone_weights": None,
            "replace_final_stride_with_dilation": False,
            "dim_model": 128,
            "n_heads": 4,
            "dim_feedforward": 512,
            "n_encoder_layers": 2,
            "n_decoder_layers": 1,
            "use_vae": True,
            "latent_dim": 32,
            "n_vae_encoder_layers": 2,
            "kl_weight": 10.0,
            "dropout": 0.1,
            "optimizer_lr": 1e-4,
            "optimizer_lr_backbone": 1e-4,
        },
    ),
}


@dataclass
class LeRobotBaselineConfig:
    """A lerobot policy behind the config surface our rollout code uses (see VLAConfig)."""

    preset: str = "lerobot-diffusion"
    """One of BASELINE_PRESETS."""
    camera_keys: tuple[str, ...] = (OBS_IMAGE_SCENE, OBS_IMAGE_WRIST)
    image_size: tuple[int, int] = (96, 96)
    state_dim: int = 13
    action_dim: int = 5
    chunk_size: int = 8
    """H: actions returned per predict_action_chunk call (the lerobot policy may plan a longer horizon)."""
    n_action_steps: int = 4
    """Actions executed from each chunk before predicting again (without ensembling)."""
    ensembling: Ensembling = "none"
    temporal_ensemble_coeff: float = 0.1
    adaptive_ensemble_alpha: float = 0.1
    lr: float | None = None
    """Peak learning rate; None keeps the preset's."""
    lerobot_overrides: dict[str, Any] = field(default_factory=dict)
    """Extra fields of lerobot's DiffusionConfig / ACTConfig, applied over the preset."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.preset not in BASELINE_PRESETS:
            raise unknown_name_error("baseline", self.preset, BASELINE_PRESETS)
        if self.chunk_size < 1:
            raise VlaUserError(f"chunk_size={self.chunk_size} must be >= 1")
        if not (1 <= self.n_action_steps <= self.chunk_size):
            raise VlaUserError(f"n_action_steps={self.n_action_steps} must be in 1..chunk_size ({self.chunk_size})")
        if self.ensembling not in ("none", "temporal", "adaptive"):
            raise VlaUserError(f"ensembling={self.ensembling!r}: use none, temporal or adaptive")
        if not self.camera_keys:
            raise VlaUserError("lerobot's DiffusionPolicy and ACT need at least one camera (camera_keys is empty)")
        if self.lr is not None and self.lr <= 0:
            raise VlaUserError(f"lr={self.lr} must be > 0")
        self.camera_keys = tuple(self.camera_keys)
        self.image_size = tuple(self.image_size)

    @property
    def kind(self) -> str:
        return BASELINE_PRESETS[self.preset].kind

    @property
    def lerobot_kwargs(self) -> dict[str, Any]:
        kwargs = {**BASELINE_PRESETS[self.preset].lerobot_kwargs, **self.lerobot_overrides}
        if self.lr is not None:
            kwargs["optimizer_lr"] = self.lr
            if self.kind == "act":
                kwargs["optimizer_lr_backbone"] = self.lr
        return kwargs

    @property
    def horizon(self) -> int:
        """Actions the lerobot policy is trained to predict per sample (>= chunk_size).

        Diffusion Policy's U-Net halves the sequence once per entry of down_dims, so its horizon is
        chunk_size rounded up to a multiple of 2**len(down_dims); the extra steps are trained and dropped.
        """
        if self.kind != "diffusion":
            return self.chunk_size
        factor = 2 ** len(self.lerobot_kwargs.get("down_dims", (512, 1024, 2048)))
        return -(-self.chunk_size // factor) * factor

    def to_lerobot(self):
        """lerobot's DiffusionConfig / ACTConfig with this policy's features."""
        from lerobot.configs import FeatureType, PolicyFeature

        from vla.constants import ACTION, OBS_STATE

        inputs = {k: PolicyFeature(FeatureType.VISUAL, (3, *self.image_size)) for k in self.camera_keys}
        inputs[OBS_STATE] = PolicyFeature(FeatureType.STATE, (self.state_dim,))
        outputs = {ACTION: PolicyFeature(FeatureType.ACTION, (self.action_dim,))}
        common = {"input_features": inputs, "output_features": outputs, "device": self.device}
        try:
            if self.kind == "diffusion":
                from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig

                # n_action_steps = horizon: we return whole chunks and our rollout decides how many to execute.
                return DiffusionConfig(
                    **common, horizon=self.horizon, n_action_steps=self.horizon, **self.lerobot_kwargs
                )
            from lerobot.policies.act.configuration_act import ACTConfig

            return ACTConfig(
                **common, chunk_size=self.chunk_size, n_action_steps=self.chunk_size, **self.lerobot_kwargs
            )
        except TypeError as e:  # an unknown override field
            raise VlaUserError(f"{self.preset}: invalid lerobot config override ({e})") from None
        except ValueError as e:  # lerobot's own validation
            raise VlaUserError(f"{self.preset}: lerobot rejected the config: {e}") from None

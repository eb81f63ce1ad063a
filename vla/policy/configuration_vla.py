"""Typed configuration of a VLA policy (backbone + action head + inference options) and its presets."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from vla.backbones import BACKBONES, BackboneConfig
from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST
from vla.errors import VlaUserError, unknown_name_error
from vla.heads import HEADS, HeadConfig

from .locator import LocatorConfig

CONFIG_VERSION = 2  # bump with a migration in checkpoint.migrate_config when the layout changes
Ensembling = Literal["none", "temporal", "adaptive"]


ENV_STATE_AT: tuple[str, ...] = ("current", "episode_start", "tracked", "carried")


@dataclass
class VLAConfig:
    backbone: BackboneConfig
    """Vision-language backbone config (its class names the registered backbone)."""
    head: HeadConfig
    """Action head config (its class names the registered head)."""
    camera_keys: tuple[str, ...] = (OBS_IMAGE_SCENE, OBS_IMAGE_WRIST)
    image_size: tuple[int, int] = (96, 96)
    state_dim: int = 13
    action_dim: int = 5
    chunk_size: int = 8
    """H: actions predicted per inference call."""
    n_action_steps: int = 4
    """Actions executed from each chunk before predicting again (without ensembling)."""
    ensembling: Ensembling = "none"
    """'temporal' (ACT: exponentially weighted average of overlapping chunks) or 'adaptive' (CogACT)."""
    temporal_ensemble_coeff: float = 0.1
    """ACT's k: weight exp(-k * i) for the i-th oldest prediction of the current step."""
    adaptive_ensemble_alpha: float = 0.1
    """CogACT's alpha: weight exp(alpha * cos_sim(newest, older)) for an older prediction."""
    env_state_dim: int = 0
    """Size of the dataset's privileged `observation.environment_state` (target and goal positions in the
    sim). When > 0, a small head predicts it from the backbone's cognition feature as an auxiliary
    training loss, which teaches the vision encoder where the named object is. Never an inference input."""
    aux_loss_weight: float = 0.5
    """Weight of that auxiliary loss (normalized MSE) relative to the action loss."""
    env_state_conditioning: bool = False
    """Feed an *estimate* of the environment state to the action head (added to the cognition feature and
    as one more token), with each estimated position relative to the gripper (`env_state_relative_to`):
    "the named cube is 6 cm left of and 9 cm below the fingers". A small estimator
    (`vla.policy.estimate_conditioning`) reads the grounding heatmaps' peak positions and the state and is
    trained on scene-bank scenes with the auxiliary weight; the head sees its output detached. The
    policy's inputs stay images + instruction + state. Needs env_state_dim > 0 and grounding maps."""
    env_state_source: str = "estimate"
    """With env_state_conditioning: 'estimate' (the position estimator above), 'locator' (a separate target
    locator network, `vla.policy.locator`: high-resolution heatmaps on one camera plus a geometry MLP that
    calibrates the camera from landmarks; trained on scene-bank scenes) or 'privileged': the head reads
    the simulator's *true* environment state, which must then come with every observation
    (`observation.environment_state`; `vla eval` passes the env's). An oracle ablation that measures how
    far a perfect position estimate would take the head; it cannot drive a real robot."""
    locator: LocatorConfig = field(default_factory=LocatorConfig)
    """The target locator's settings (used with env_state_source='locator')."""
    env_state_at: str = "current"
    """With env_state_conditioning: 'current' (the positions at every frame) or 'episode_start': the positions
    at the episode's first frame, held for the whole episode. With the estimator, the estimate is made once,
    on the reset frame (the arm at its home pose, no prop covered), instead of mid-reach where the arm hides
    the props; the head then trains on the dataset's true first-frame positions (plus env_state_noise) and
    learns to finish the reach from the images. A policy holds its estimate until reset().
    'tracked': the target (the first position) estimated at every frame, the rest (the goal: a bowl, a base
    cube, pick's lift point, push's goal region) held from the first frame, where nothing hides it and
    pick's and push's goals can still be read off the target's start. Training reads the dataset's true
    current target and first-frame goal (plus env_state_noise). Meant for the target locator, whose scene
    bank then includes mid-demonstration scenes with the target in the gripper.
    'carried': trained as 'tracked'; at inference everything is estimated once, on the reset frame (the
    target's table position from the locator's least-squares table fit), and the target is then carried
    along by the gripper's state: moved rigidly once grasped, shoved along by a shut gripper
    (`vla.policy.carry_tracker`). The locator no longer has to find a prop the gripper covers."""
    env_state_noise: float = 0.0
    """Training only: std (in environment-state units, metres) of Gaussian noise added to the positions the
    head reads, so it learns to treat them as an estimate and to correct them from the images."""
    env_state_relative_to: tuple[int, ...] = ()
    """With env_state_conditioning: per environment-state entry, the index of the state entry it is measured
    against (target.x - tcp.x, ...), or -1 for none; empty: no relative features."""
    grounding_loss_weight: float = 1.0
    """Weight of the dense grounding loss (`vla.policy.grounding`) on labelled scene-bank images, for a
    backbone with grounding maps (the embedded one with vision_grounding_maps > 0). Training only."""
    state_names: tuple[str, ...] = ()
    action_names: tuple[str, ...] = ()
    action_space: str = "continuous"
    """'continuous', or 'discrete(n)' for a dataset whose action is one index in 0..n-1 (the navigation
    suite's STOP/FORWARD/LEFT/RIGHT). A discrete action reaches the head as its one-hot vector (action_dim =
    n): the categorical head trains cross-entropy on it, other heads regress or generate it. The policy
    returns the argmax index as a float32 (..., 1) action."""
    action_history: int = 0
    """Discrete action spaces: feed the last k executed actions back as inputs (one-hot, appended to the
    state; all zeros before the episode's first step), as Habitat's baselines feed the previous action.
    A reactive policy has no other memory: with it, it can tell a turn it has just made from one it is
    about to make. Training reads them from the dataset (the executed actions, DAgger's included); a
    policy driven by select_action() remembers its own; batched callers pass `observation.previous_actions`."""
    version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise VlaUserError(f"chunk_size={self.chunk_size} must be >= 1")
        if not (1 <= self.n_action_steps <= self.chunk_size):
            raise VlaUserError(f"n_action_steps={self.n_action_steps} must be in 1..chunk_size ({self.chunk_size})")
        if self.ensembling not in ("none", "temporal", "adaptive"):
            raise VlaUserError(f"ensembling={self.ensembling!r}: use none, temporal or adaptive")
        if self.grounding_loss_weight < 0:
            raise VlaUserError(f"grounding_loss_weight={self.grounding_loss_weight} must be >= 0")
        if self.env_state_dim < 0 or self.aux_loss_weight < 0:
            raise VlaUserError(
                f"env_state_dim={self.env_state_dim} and aux_loss_weight={self.aux_loss_weight} must be >= 0"
            )
        if self.env_state_source not in ("estimate", "locator", "privileged"):
            raise VlaUserError(f"env_state_source={self.env_state_source!r}: use estimate, locator or privileged")
        if isinstance(self.locator, dict):
            self.locator = _build(LocatorConfig, self.locator)
        if self.env_state_at not in ENV_STATE_AT or self.env_state_noise < 0:
            raise VlaUserError(
                f"env_state_at={self.env_state_at!r} (use {', '.join(ENV_STATE_AT)}) and env_state_noise="
                f"{self.env_state_noise} (must be >= 0)"
            )
        if self.env_state_conditioning and self.env_state_dim == 0:
            raise VlaUserError("env_state_conditioning needs env_state_dim > 0 (a dataset with environment_state)")
        if self.reads_estimate and not getattr(self.backbone, "vision_grounding_maps", 0):
            raise VlaUserError(
                "env_state_conditioning with the estimator needs a backbone with grounding heatmaps (the embedded "
                "one with vision_grounding_maps > 0)"
            )
        if self.reads_locator and (self.backbone_name != "embedded" or self.locator.camera not in self.camera_keys):
            raise VlaUserError(
                f"the target locator reads the embedded backbone's sentence encoder and camera '{self.locator.camera}'"
                f"; this policy has backbone '{self.backbone_name}' and cameras {list(self.camera_keys)}"
            )
        if self.env_state_relative_to and (
            len(self.env_state_relative_to) != self.env_state_dim
            or not all(-1 <= i < self.state_dim for i in self.env_state_relative_to)
        ):
            raise VlaUserError(
                f"env_state_relative_to={list(self.env_state_relative_to)} needs one state index (or -1) per "
                f"environment-state entry ({self.env_state_dim}), each below state_dim={self.state_dim}"
            )
        if not 0 <= self.action_history <= 64:
            raise VlaUserError(f"action_history={self.action_history} must be in 0..64")
        if not self.camera_keys:
            raise VlaUserError("a VLA policy needs at least one camera (camera_keys is empty)")
        n = self.num_discrete_actions
        if n is not None:
            if n < 2 or n != self.action_dim:
                raise VlaUserError(
                    f"action_space={self.action_space!r} needs action_dim == n >= 2 (one-hot), got action_dim="
                    f"{self.action_dim}"
                )
            if self.ensembling != "none":
                raise VlaUserError("ensembling averages continuous actions; use ensembling='none' for discrete ones")
        elif self.action_history:
            raise VlaUserError(
                f"action_history={self.action_history} feeds back discrete actions; this action space is continuous"
            )
        elif type(self.head).discrete_actions_only:
            raise VlaUserError(
                f"head '{self.head_name}' classifies discrete actions but action_space is 'continuous'; use a "
                f"regression or generative head (e.g. preset vla-l1 or vla-diffusion) for continuous actions"
            )
        self.camera_keys = tuple(self.camera_keys)
        self.image_size = tuple(self.image_size)
        self.state_names, self.action_names = tuple(self.state_names), tuple(self.action_names)
        self.env_state_relative_to = tuple(int(i) for i in self.env_state_relative_to)

    @property
    def reads_estimate(self) -> bool:
        """The action head reads the position estimator's estimate of the environment state."""
        return self.env_state_conditioning and self.env_state_source == "estimate"

    @property
    def backbone_grounds(self) -> bool:
        """The backbone has grounding heatmaps, which the scene bank supervises in every camera."""
        return bool(getattr(self.backbone, "vision_grounding_maps", 0))

    @property
    def reads_locator(self) -> bool:
        """The action head reads the target locator's estimate of the environment state."""
        return self.env_state_conditioning and self.env_state_source == "locator"

    @property
    def reads_true_env_state(self) -> bool:
        """The action head reads the simulator's true environment state (the oracle ablation)."""
        return self.env_state_conditioning and self.env_state_source == "privileged"

    @property
    def holds_episode_start_state(self) -> bool:
        """The head reads positions from the episode's first frame, held until reset()."""
        return self.env_state_conditioning and self.env_state_at == "episode_start"

    @property
    def tracks_target(self) -> bool:
        """The head reads the target's position at every frame and the goal's from the first, held: estimated
        at every frame ('tracked') or carried from the reset frame's estimate by the gripper ('carried'). Both
        train alike, on the true current target and first-frame goal."""
        return self.env_state_conditioning and self.env_state_at in ("tracked", "carried")

    @property
    def carries_target(self) -> bool:
        """The target's reset-frame estimate is carried along by the gripper's state (`vla.policy.carry_tracker`)."""
        return self.env_state_conditioning and self.env_state_at == "carried"

    @property
    def num_discrete_actions(self) -> int | None:
        """n for action_space 'discrete(n)', None for continuous actions."""
        if self.action_space == "continuous":
            return None
        m = re.fullmatch(r"discrete\((\d+)\)", self.action_space)
        if m is None:
            raise VlaUserError(f"action_space={self.action_space!r}: use 'continuous' or 'discrete(n)'")
        return int(m.group(1))

    @property
    def input_state_dim(self) -> int:
        """Width of the backbone's state input: the state, then k one-hot previous actions."""
        return self.state_dim + self.action_history * (self.num_discrete_actions or 0)

    @property
    def backbone_name(self) -> str:
        return type(self.backbone).name

    @property
    def head_name(self) -> str:
        return type(self.head).name

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["backbone"] = {"type": self.backbone_name, **dataclasses.asdict(self.backbone)}
        d["head"] = {"type": self.head_name, **dataclasses.asdict(self.head)}
        d["locator"] = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.locator).items()}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VLAConfig:
        d = dict(d)
        b, h = dict(d.pop("backbone")), dict(d.pop("head"))
        backbone_cls = BACKBONES.get(b.pop("type")).config_class
        head_cls = HEADS.get(h.pop("type")).config_class
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise VlaUserError(f"config has unknown fields {sorted(unknown)}; was it written by a newer vla?")
        return cls(backbone=_build(backbone_cls, b), head=_build(head_cls, h), **d)


def _build(config_cls, fields: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(fields) - known
    if unknown:
        raise VlaUserError(f"{config_cls.__name__} has no field(s) {sorted(unknown)}")
    return config_cls(**fields)


# ---------------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    backbone: str
    head: str
    description: str
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    head_kwargs: dict[str, Any] = field(default_factory=dict)
    tiny: bool = False


PRESETS: dict[str, Preset] = {
    "vla-diffusion": Preset("embedded", "diffusion", "embedded backbone + DiT diffusion head (default)"),
    "vla-flow": Preset("embedded", "flow", "embedded backbone + flow-matching head (pi0-style)"),
    "vla-tokens": Preset("embedded", "tokens", "embedded backbone + discretized action tokens (RT-2-style)"),
    "vla-l1": Preset("embedded", "l1", "embedded backbone + L1 regression head (OpenVLA-OFT-style)"),
    "vla-categorical": Preset(
        "embedded",
        "categorical",
        "embedded backbone + cross-entropy head for discrete actions (navigation); actions are sampled from the "
        "predicted class probabilities at temperature 0.5 (habitat-baselines also samples at evaluation)",
        head_kwargs={"decoding": "sample", "temperature": 0.5},
    ),
    "smolvlm-diffusion": Preset(
        "hf_vlm",
        "diffusion",
        "SmolVLM (first 16 layers, LoRA) + diffusion head; needs the checkpoint locally or online",
        backbone_kwargs={"model_id": "HuggingFaceTB/SmolVLM2-500M-Video-Instruct", "num_layers": 16, "lora_rank": 16},
    ),
    "tiny-diffusion": Preset("embedded", "diffusion", "tiny variant for tests", tiny=True),
    "tiny-flow": Preset("embedded", "flow", "tiny variant for tests", tiny=True),
    "tiny-tokens": Preset("embedded", "tokens", "tiny variant for tests", tiny=True),
    "tiny-l1": Preset("embedded", "l1", "tiny variant for tests", tiny=True),
    "tiny-categorical": Preset("embedded", "categorical", "tiny variant for tests", tiny=True),
}


def make_config(preset: str, **overrides: Any) -> VLAConfig:
    """A VLAConfig from a named preset; `overrides` set VLAConfig fields (e.g. action_dim, chunk_size)."""
    if preset not in PRESETS:
        raise unknown_name_error("policy", preset, PRESETS)
    p = PRESETS[preset]
    backbone_cls = BACKBONES.get(p.backbone).config_class
    head_cls = HEADS.get(p.head).config_class
    backbone = backbone_cls.tiny() if p.tiny else backbone_cls(**p.backbone_kwargs)
    head = head_cls.tiny() if p.tiny else head_cls(**p.head_kwargs)
    return VLAConfig(backbone=backbone, head=head, **overrides)

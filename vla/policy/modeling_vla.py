"""The VLA policy: backbone + action head + normalization + chunk execution.

Interface (LeRobot-style): forward(batch) -> (loss, info); predict_action_chunk(obs, noise=None);
select_action(obs); reset(). `infer(obs)` is the small surface a ROS 2 node depends on.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vla.backbones import BACKBONES
from vla.constants import ACTION, OBS_ENV_STATE, OBS_ENV_STATE_START, OBS_PREV_ACTIONS, OBS_STATE, TASK
from vla.errors import VlaUserError
from vla.heads import HEADS

from .auxiliary import PrivilegedStateHead
from .carry_tracker import CarryTracker, state_indices
from .configuration_vla import VLAConfig
from .ensembling import ChunkedActionsMixin
from .estimate_conditioning import EnvStateConditioning, PositionEstimator
from .grounding import (
    AUX_COLOURS,
    AUX_PIXELS,
    AUX_SEMANTICS,
    AUX_SHAPE_VIEW,
    AUX_SHAPES,
    grounding_error,
    grounding_loss,
    semantic_loss,
)
from .history import ExecutedActions
from .locator import LocatorMaps, TargetLocator
from .normalization import Normalizer

ACTION_IS_PAD = "action_is_pad"
AUX_SCENES = "aux_scenes"  # a nested batch of labelled scenes that trains only the auxiliary head
LOCATOR_LABELS = "locator_labels"  # scene-bank label rows (true image points, state, env state, task), no images
LOCATOR_TASK = "locator_task"  # instructions the locator reads in place of the batch's task (training augmentation)


def prepare_images(
    batch: dict[str, Any], camera_keys: tuple[str, ...], image_size: tuple[int, int], device: torch.device
) -> dict[str, torch.Tensor]:
    """Camera key -> (B, 3, H, W) float in [0, 1] at `image_size`.

    Accepts what datasets give (float CHW in [0, 1]) and what envs give (uint8 HWC), batched or not.
    """
    out = {}
    for key in camera_keys:
        if key not in batch:
            raise VlaUserError(f"observation lacks camera '{key}'; the policy expects {list(camera_keys)}")
        img = torch.as_tensor(batch[key], device=device)
        if img.ndim == 3:
            img = img[None]
        if img.dtype == torch.uint8:
            if img.shape[-1] == 3:  # (B, H, W, 3)
                img = img.permute(0, 3, 1, 2)
            img = img.float() / 255.0
        if tuple(img.shape[-2:]) != tuple(image_size):
            img = F.interpolate(img, size=tuple(image_size), mode="bilinear", align_corners=False, antialias=True)
        out[key] = img
    return out


class VLAPolicy(ChunkedActionsMixin, nn.Module):
    def __init__(self, config: VLAConfig):
        super().__init__()
        self.config = config
        self.normalizer = Normalizer(config.state_dim, config.action_dim)
        self.backbone = BACKBONES.get(config.backbone_name)(
            config.backbone, list(config.camera_keys), config.input_state_dim
        )
        self.head = HEADS.get(config.head_name)(
            config.head, self.backbone.hidden_size, config.action_dim, config.chunk_size
        )
        d = self.backbone.hidden_size
        self.aux = PrivilegedStateHead(d, config.env_state_dim) if config.env_state_dim > 0 else None
        self.estimator, self.env_conditioning = None, None
        if config.reads_estimate:
            maps = config.backbone.vision_grounding_maps * len(config.camera_keys)
            self.estimator = PositionEstimator(maps, config.state_dim, config.env_state_dim)
        self.locator = None
        if config.reads_locator:
            self.locator = TargetLocator(
                config.locator,
                self.backbone.text.embed_dim,
                config.env_state_dim // 3,
                config.state_dim,
                config.env_state_dim,
                _target_tcp_index(config.env_state_relative_to),
            )
        if config.env_state_conditioning:
            self.env_conditioning = EnvStateConditioning(config.env_state_dim, config.env_state_relative_to, d)
        self.init_executor(config)
        self._executed: ExecutedActions | None = None  # this policy's own last actions, for select_action
        self._held_env_state: torch.Tensor | None = None  # episode_start conditioning: estimate held until reset()
        self._carry: CarryTracker | None = None  # carried conditioning: the target carried by the gripper

    def param_groups(self, lr: float) -> list[dict]:
        """Optimizer parameter groups: everything at `lr`, and the target locator (trained on its own scene-bank
        losses, its gradients apart from the rest) at its own rate."""
        locator = {id(p) for p in self.locator.parameters()} if self.locator is not None else set()
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in locator]
        if not locator:
            return [{"params": rest, "lr": lr}]
        own = [p for p in self.locator.parameters() if p.requires_grad]
        return [{"params": rest, "lr": lr}, {"params": own, "lr": self.config.locator.lr}]

    @property
    def device(self) -> torch.device:
        return self.normalizer.state_mean.device

    # ------------------------------------------------------------------ inputs
    def prepare_images(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return prepare_images(batch, self.config.camera_keys, self.config.image_size, self.device)

    def _raw_state(self, batch: dict[str, Any]) -> torch.Tensor:
        """(B, state_dim) in dataset units."""
        state = torch.as_tensor(batch[OBS_STATE], dtype=torch.float32, device=self.device)
        if state.ndim == 1:
            state = state[None]
        if state.shape[-1] != self.config.state_dim:
            raise VlaUserError(
                f"state has {state.shape[-1]} dims but the policy was trained on {self.config.state_dim}"
            )
        return state

    def _state(self, batch: dict[str, Any], raw: torch.Tensor | None = None) -> torch.Tensor:
        """Normalized state (+ previous actions); `raw`: this batch's `_raw_state`, when already computed."""
        state = self.normalizer.normalize_state(self._raw_state(batch) if raw is None else raw)
        if self.config.action_history:
            state = torch.cat([state, self._previous_actions(batch, state.shape[0])], dim=-1)
        return state

    def _previous_actions(self, batch: dict[str, Any], batch_size: int) -> torch.Tensor:
        """(B, k * n) one-hot of the last k executed actions (oldest first; -1, before the episode start, is
        all zeros)."""
        k, n = self.config.action_history, self.config.num_discrete_actions
        prev = batch.get(OBS_PREV_ACTIONS)
        if prev is None:
            raise VlaUserError(
                f"this policy feeds back its last {k} actions: pass '{OBS_PREV_ACTIONS}' ({batch_size}, {k}) "
                f"with the executed action ids (-1 before the episode's first step), or drive it with select_action()"
            )
        prev = torch.as_tensor(prev, device=self.device)
        if prev.ndim == 1:
            prev = prev[None]
        if tuple(prev.shape) != (batch_size, k):
            raise VlaUserError(f"'{OBS_PREV_ACTIONS}' has shape {tuple(prev.shape)}, expected ({batch_size}, {k})")
        ids = prev.round().long()
        if bool(((ids < -1) | (ids >= n)).any()):
            raise VlaUserError(f"'{OBS_PREV_ACTIONS}' must hold action ids in -1..{n - 1}")
        return F.one_hot(ids + 1, n + 1)[..., 1:].float().flatten(1)

    @staticmethod
    def _instructions(batch: dict[str, Any], batch_size: int) -> list[str]:
        task = batch[TASK]
        if isinstance(task, str):
            return [task] * batch_size
        return list(task)

    def encode(self, batch: dict[str, Any]):
        return self._encode(batch)[0]

    def _encode(self, batch: dict[str, Any], teacher: bool = False):
        """-> (what the head reads, the backbone's own cognition feature, the position estimator's input
        features or None). `teacher`: training on dataset frames, whose true positions the head may read."""
        cond, raw_state, state = self._backbone(batch)
        features = self._estimator_features(cond, state) if self.estimator is not None else None
        if not self.config.env_state_conditioning:
            return cond, cond.cognition, features
        metres = self._conditioning_positions(batch, features, state.shape[0], teacher)
        head_cond = self.env_conditioning(cond, self.aux.normalize(metres), metres, raw_state)
        return head_cond, cond.cognition, features

    def _backbone(self, batch: dict[str, Any]):
        """-> (the backbone's output, the raw state, the normalized state the backbone read)."""
        raw_state = self._raw_state(batch)
        state = self._state(batch, raw_state)
        cond = self.backbone(self.prepare_images(batch), self._instructions(batch, state.shape[0]), state)
        return cond, raw_state, state

    def _estimator_features(self, cond, state: torch.Tensor) -> torch.Tensor:
        if cond.grounding is None:
            raise VlaUserError(
                "env_state_conditioning reads the grounding heatmaps, which need every camera at one resolution"
            )
        return self.estimator.features(cond.grounding, state[:, : self.config.state_dim])

    def _conditioning_positions(
        self, batch: dict[str, Any], features: torch.Tensor | None, batch_size: int, teacher: bool
    ) -> torch.Tensor:
        """(B, E) the positions the head reads, in dataset units (see VLAConfig.env_state_source/_at)."""
        c = self.config
        if teacher and (c.reads_true_env_state or c.holds_episode_start_state or c.tracks_target):
            now = torch.as_tensor(batch[OBS_ENV_STATE], dtype=torch.float32, device=self.device)
            start = torch.as_tensor(batch.get(OBS_ENV_STATE_START, now), dtype=torch.float32, device=self.device)
            if c.tracks_target:  # this frame's target, the first frame's goal
                metres = torch.cat([now[:, :3], start[:, 3:]], 1)
            else:
                metres = start if c.holds_episode_start_state else now
            if c.env_state_noise > 0:
                metres = metres + c.env_state_noise * torch.randn_like(metres)
            return metres
        if c.carries_target:
            return self._carried_positions(batch, batch_size)
        if c.tracks_target:
            return self._tracked_positions(batch, features, batch_size)
        if c.reads_true_env_state or (c.holds_episode_start_state and OBS_ENV_STATE in batch):
            return self._true_env_state(batch, batch_size)  # the caller's (vla eval holds one per env)
        if not c.holds_episode_start_state:
            return self._estimate(batch, features).detach()
        if self._held_env_state is None or self._held_env_state.shape[0] != batch_size:
            self._held_env_state = self._estimate(batch, features).detach()  # the episode's first frame
        return self._held_env_state

    def _tracked_positions(self, batch: dict[str, Any], features: torch.Tensor | None, batch_size: int) -> torch.Tensor:
        """Inference with env_state_at='tracked': the target (first xyz) from this frame's estimate (or the true
        state, for the oracle), the goal (the rest) from the caller's OBS_ENV_STATE_START (vla eval holds one
        per env) or else from the first frame's, held by the policy until reset()."""
        c = self.config
        now = self._true_env_state(batch, batch_size) if c.reads_true_env_state else self._estimate(batch, features)
        now = now.detach()
        if OBS_ENV_STATE_START in batch:
            start = torch.as_tensor(batch[OBS_ENV_STATE_START], dtype=torch.float32, device=self.device)
            start = start.reshape(batch_size, c.env_state_dim)
        else:
            if self._held_env_state is None or self._held_env_state.shape[0] != batch_size:
                self._held_env_state = now  # the episode's first frame
            start = self._held_env_state
        return torch.cat([now[:, :3], start[:, 3:]], 1)

    def _carried_positions(self, batch: dict[str, Any], batch_size: int) -> torch.Tensor:
        """Inference with env_state_at='carried': the caller's positions where it carries them itself (vla eval
        keeps a CarryTracker per env and passes OBS_ENV_STATE), else the policy's own: everything estimated on
        the episode's first frame (target from the table fit), the target then carried by the gripper's state
        (updated here and by select_action at every step) until reset()."""
        if OBS_ENV_STATE in batch or self.config.reads_true_env_state:  # the oracle says so in one line without it
            return self._true_env_state(batch, batch_size)
        if self._carry is None or self._held_env_state is None or self._held_env_state.shape[0] != batch_size:
            self._held_env_state = self.estimate_env_state(batch, reset_frame=True).detach()
            self._carry = CarryTracker(batch_size, state_indices(self.config.state_names))
            self._carry.start(range(batch_size), self._held_env_state[:, :3].cpu().numpy())
        else:
            self.observe(batch)  # idempotent when select_action already saw this frame
        target = torch.as_tensor(self._carry.pos, dtype=torch.float32, device=self.device)
        return torch.cat([target, self._held_env_state[:, 3:]], 1)

    def _estimate(self, batch: dict[str, Any], features: torch.Tensor | None) -> torch.Tensor:
        """(B, E) the policy's own estimate of the environment state (dataset units): the target locator's,
        or the position estimator's from the backbone's heatmap features."""
        if self.locator is not None:
            return self._locate(batch)
        return self.estimator.predict(features)

    def _locator_text(self, batch: dict[str, Any]):
        """-> word states (B, T, E), text mask (B, T), sentence (B, E) and the normalized state (B, S). The words
        are LOCATOR_TASK's where the batch has them (the trainer's word-dropped copies), else the task's."""
        state = self.normalizer.normalize_state(self._raw_state(batch))
        text = {TASK: batch[LOCATOR_TASK]} if LOCATOR_TASK in batch else batch
        words, mask, sentence = self.backbone.text(self._instructions(text, state.shape[0]))
        dtype = self.locator.scale.dtype
        return words.to(dtype), mask, sentence.to(dtype), state

    def _locator_heatmaps(self, batch: dict[str, Any]):
        """-> heatmap logits, class logits (or None), sentence and normalized state of a batch's locator camera."""
        m = self._locator_maps(batch)
        return m.logits, m.semantics, m.sentence, m.state

    def _locator_maps(self, batch: dict[str, Any]) -> LocatorMaps:
        """What the locator reads off a batch of its camera: heatmaps, classes, the colour vote's terms, the
        sentence, the normalized state and each point's phrases for the geometry."""
        camera = self.locator.config.camera
        image = prepare_images(batch, (camera,), self.config.image_size, self.device)[camera]
        words, mask, sentence, state = self._locator_text(batch)
        logits, semantics = self.locator.heatmaps(image, words, mask, sentence)
        prior = on_prop = None
        if self.locator.point_colour is not None:
            prior, on_prop = self.locator.vote_terms(words, mask, semantics)
        phrases = self.locator.geometry_phrases(words, mask)
        return LocatorMaps(logits, semantics, prior, on_prop, sentence, state, phrases)

    def _locate(self, batch: dict[str, Any], on_table: bool = False) -> torch.Tensor:
        m = self._locator_maps(batch)
        points = self.locator.image_points(m.logits, m.prior)
        goal_on_prop = m.on_prop[:, 1] > 0.5 if m.on_prop is not None and m.on_prop.shape[1] > 1 else None
        return self.locator.estimate(
            points, m.state, m.sentence, on_table=on_table, goal_on_prop=goal_on_prop, phrases=m.phrases
        )

    @torch.no_grad()
    def fit_locator_table(self, rows: dict[str, Any]) -> dict[str, float]:
        """Solve the target locator's least-squares table fit on scene-bank label rows (true image points, raw
        state, true environment state); -> its held-out error. Needs normalization statistics already set."""
        if self.locator is None or self.locator.table is None:
            raise VlaUserError("this policy's locator has no table fit (trained without --conditioning-at carried)")
        points = self._locator_view(torch.as_tensor(rows[AUX_PIXELS], dtype=torch.float32))
        state = self.normalizer.normalize_state(torch.as_tensor(rows[OBS_STATE], dtype=torch.float32))
        env_state = torch.as_tensor(rows[OBS_ENV_STATE], dtype=torch.float32)
        colours = rows.get(AUX_COLOURS)
        return self.locator.fit_table(
            points.to(self.device),
            state.to(self.device),
            env_state.to(self.device),
            None if colours is None else torch.as_tensor(colours),
        )

    def _true_env_state(self, batch: dict[str, Any], batch_size: int) -> torch.Tensor:
        """(B, E) the environment state an oracle-conditioned (or caller-held) policy reads, in dataset units."""
        if OBS_ENV_STATE not in batch:
            raise VlaUserError(
                f"this policy reads the simulator's true '{OBS_ENV_STATE}' (trained with --oracle-conditioning, "
                "an ablation): pass it with each observation, e.g. from env.unwrapped.privileged_state()"
            )
        env_state = torch.as_tensor(batch[OBS_ENV_STATE], dtype=torch.float32, device=self.device)
        if env_state.ndim == 1:
            env_state = env_state[None]
        if tuple(env_state.shape) != (batch_size, self.config.env_state_dim):
            raise VlaUserError(
                f"'{OBS_ENV_STATE}' has shape {tuple(env_state.shape)}, the policy expects "
                f"({batch_size}, {self.config.env_state_dim})"
            )
        return env_state

    @torch.inference_mode()
    def estimate_env_state(self, obs: dict[str, Any], reset_frame: bool = False) -> torch.Tensor:
        """(B, E) the position estimator's estimate of the environment state (dataset units) for observations.
        `reset_frame`: the observations are episodes' first frames (the target rests on the table)."""
        if self.locator is not None:
            return self._locate(obs, on_table=reset_frame)
        if self.estimator is None:
            raise VlaUserError(
                "this policy has no position estimator (trained without --estimate-conditioning or --locator)"
            )
        cond, _, state = self._backbone(obs)
        return self.estimator.predict(self._estimator_features(cond, state))

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        actions = torch.as_tensor(batch[ACTION], dtype=torch.float32, device=self.device)
        n = self.config.num_discrete_actions
        if n is not None:
            actions = self.one_hot(actions)
        if actions.ndim == 2:
            actions = actions[:, None]
        if actions.shape[-1] != self.config.action_dim or actions.shape[1] != self.config.chunk_size:
            raise VlaUserError(
                f"batch actions have shape {tuple(actions.shape[1:])}, the policy expects "
                f"(chunk_size={self.config.chunk_size}, action_dim={self.config.action_dim})"
            )
        pad = batch.get(ACTION_IS_PAD)
        valid = (
            ~torch.as_tensor(pad, device=self.device)
            if pad is not None
            else torch.ones(actions.shape[:2], dtype=torch.bool, device=self.device)
        )
        cond, cognition, _ = self._encode(batch, teacher=True)
        loss, info = self.head.compute_loss(cond, self.normalizer.normalize_action(actions), valid)
        if self.aux is not None and OBS_ENV_STATE in batch and self.config.aux_loss_weight > 0:
            env_state = torch.as_tensor(batch[OBS_ENV_STATE], dtype=torch.float32, device=self.device)
            aux_loss = self.aux.loss(cognition, env_state)
            loss = loss + self.config.aux_loss_weight * aux_loss
            info = {**info, "aux_loss": float(aux_loss.detach())}
        scenes = batch.get(AUX_SCENES)
        if self.locator is not None and scenes is not None:
            loc_loss, loc_info = self._locator_loss(scenes, batch.get(LOCATOR_LABELS))
            loss = loss + self.config.aux_loss_weight * loc_loss
            info = {**info, **loc_info}
        # The backbone's own scene-bank losses: without a locator, or beside one when the backbone has grounding maps
        # (and the bank then shows every camera).
        backbone_scenes = self.locator is None or self.config.backbone_grounds
        if backbone_scenes and self.aux is not None and scenes is not None and self.config.aux_loss_weight > 0:
            scene_cond, scene_cognition, scene_features = self._encode(scenes, teacher=True)
            scene_env_state = torch.as_tensor(scenes[OBS_ENV_STATE], device=self.device)
            scene_loss = self.aux.loss(scene_cognition, scene_env_state)
            loss = loss + self.config.aux_loss_weight * scene_loss
            info = {**info, "aux_scene_loss": float(scene_loss.detach())}
            if scene_features is not None:  # bank scenes only: their arm poses say nothing about the target
                est_loss = self.estimator.loss(scene_features, scene_env_state)
                loss = loss + self.config.aux_loss_weight * est_loss
                info = {**info, "estimate_loss": float(est_loss.detach())}
            pixels = scenes.get(AUX_PIXELS)
            if scene_cond.grounding is not None and pixels is not None and self.config.grounding_loss_weight > 0:
                pixels = torch.as_tensor(pixels, device=self.device)
                g_loss = grounding_loss(scene_cond.grounding, pixels)
                loss = loss + self.config.grounding_loss_weight * g_loss
                err = grounding_error(scene_cond.grounding, pixels)
                info = {**info, "grounding_loss": float(g_loss.detach())}
                info.update({f"grounding_error_{i}": float(e) for i, e in enumerate(err.tolist())})
            labels = scenes.get(AUX_SEMANTICS)
            if scene_cond.semantics is not None and labels is not None and self.config.grounding_loss_weight > 0:
                classes = self.config.backbone.vision_semantic_classes
                s_loss = semantic_loss(scene_cond.semantics, torch.as_tensor(labels, device=self.device), classes)
                loss = loss + self.config.grounding_loss_weight * s_loss
                info = {**info, "semantic_loss": float(s_loss.detach())}
        return loss, info

    def _locator_view(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, cameras, ...) scene-bank labels -> (B, ...) of the locator's camera: a bank of one camera (the
        locator's) or of every camera of the policy, in its camera order (with backbone grounding maps)."""
        if labels.shape[1] == 1:
            return labels[:, 0]
        return labels[:, list(self.config.camera_keys).index(self.locator.config.camera)]

    def _locator_loss(self, scenes: dict[str, Any], labels: dict[str, Any] | None) -> tuple[torch.Tensor, dict]:
        """The target locator's losses: heatmaps (+ per-pixel classes) on a scene-bank batch of the locator's
        camera, and the geometry MLP on `labels`, bank rows with *true* image points (the trainer passes a
        larger batch of them; without, the scene batch's own labels)."""
        maps = self._locator_maps(scenes)
        logits, semantics = maps.logits, maps.semantics
        pixels = self._locator_view(torch.as_tensor(scenes[AUX_PIXELS], device=self.device))  # (B, P, 2)
        loss, err = self.locator.heatmap_loss(logits, pixels)
        info = {"locator_loss": float(loss.detach())}
        info.update({f"locator_error_{i}": float(e) for i, e in enumerate(err.tolist())})
        if semantics is not None and AUX_SEMANTICS in scenes:
            classes = self._locator_view(torch.as_tensor(scenes[AUX_SEMANTICS], device=self.device))[:, None]
            s_loss = semantic_loss(semantics[:, None], classes, self.locator.semantic_classes)
            loss = loss + s_loss
            info["locator_semantic_loss"] = float(s_loss.detach())
            if self.locator.point_shape is not None:  # and shapes from colour-permuted views of the same scenes
                view_loss = self._shape_view_loss(scenes)
                loss = loss + view_loss
                info["locator_shape_view_loss"] = float(view_loss.detach())
        rows = labels if labels is not None else scenes
        words, text_mask, sentence, state = self._locator_text(rows)
        loc = self.locator
        for name, head, key, point_loss in (
            ("colour", loc.point_colour, AUX_COLOURS, loc.colour_loss),
            ("shape", loc.point_shape, AUX_SHAPES, loc.shape_loss),
        ):  # the colour and shape votes' heads: what the instruction says each point's prop is
            if head is None:
                continue
            if key not in rows:
                raise VlaUserError(
                    f"the locator's {name} vote learns from the scene bank's point {name}s, which this bank lacks; "
                    "re-render it (delete scene_bank.safetensors in the run directory)"
                )
            p_loss = point_loss(words, text_mask, torch.as_tensor(rows[key]))
            loss = loss + p_loss
            info[f"locator_{name}_loss"] = float(p_loss.detach())
        points = self._locator_view(torch.as_tensor(rows[AUX_PIXELS], dtype=torch.float32, device=self.device))
        env_state = torch.as_tensor(rows[OBS_ENV_STATE], dtype=torch.float32, device=self.device)
        phrases = self.locator.geometry_phrases(words, text_mask)
        g_loss = self.locator.geometry_loss(points, state, sentence, env_state, phrases=phrases)
        info["locator_geometry_loss"] = float(g_loss.detach())
        # The same geometry from the heatmaps' own points on the scene batch: what it will read at inference.
        own = self.locator.image_points(logits.detach())
        valid = torch.isfinite(pixels[:, : self.locator.num_points]).all(-1)
        scene_env_state = torch.as_tensor(scenes[OBS_ENV_STATE], dtype=torch.float32, device=self.device)
        own_loss = self.locator.geometry_loss(
            own, maps.state, maps.sentence, scene_env_state, valid=valid, phrases=maps.phrases
        )
        info["locator_geometry_own_loss"] = float(own_loss.detach())
        return loss + g_loss + own_loss, info

    def _shape_view_loss(self, scenes: dict[str, Any]) -> torch.Tensor:
        """The per-pixel shape head's loss on the scene batch's colour-permuted view (AUX_SHAPE_VIEW, which the
        trainer adds for a locator with a shape vote): the shapes it names cannot come from colours."""
        if AUX_SHAPE_VIEW not in scenes:
            raise VlaUserError(
                f"a locator with a shape vote trains its shape head on colour-permuted views: the scene batch needs "
                f"'{AUX_SHAPE_VIEW}' (vla train adds it)"
            )
        view = prepare_images({"view": scenes[AUX_SHAPE_VIEW]}, ("view",), self.config.image_size, self.device)["view"]
        words, mask, sentence, _ = self._locator_text(scenes)
        _, semantics = self.locator.heatmaps(view, words, mask, sentence)
        labels = self._locator_view(torch.as_tensor(scenes[AUX_SEMANTICS], device=self.device))
        return self.locator.shape_view_loss(semantics, labels)

    # ------------------------------------------------------------------ memory of executed actions
    @torch.no_grad()
    def select_action(self, obs: dict[str, Any]) -> torch.Tensor:
        """(B, A) action for this step. With action_history, the policy feeds back the actions it returned
        since reset() (unless `obs` carries the executed ones, e.g. when something else drove)."""
        self.observe(obs)
        k = self.config.action_history
        if not k:
            return super().select_action(obs)
        if OBS_PREV_ACTIONS not in obs:
            b = torch.as_tensor(obs[OBS_STATE]).reshape(-1, self.config.state_dim).shape[0]
            if self._executed is None or len(self._executed.ids) != b:
                self._executed = ExecutedActions(b, k)
            obs = self._executed.add_to(dict(obs), list(range(b)))
        action = super().select_action(obs)
        if self._executed is not None:
            for i, a in enumerate(action.reshape(-1).tolist()):
                self._executed.push(i, round(a))
        return action

    def observe(self, obs: dict[str, Any]) -> None:
        """Show the policy a frame it acts on without predicting a chunk (select_action does this at every step):
        carried conditioning moves its target along with the gripper's state. A no-op for other policies."""
        if self._carry is not None and OBS_ENV_STATE not in obs:
            self._carry.update(range(len(self._carry.pos)), self._raw_state(obs).detach().cpu().numpy())

    def reset(self) -> None:
        super().reset()
        self._executed = None
        self._held_env_state = None
        self._carry = None

    def one_hot(self, ids: torch.Tensor) -> torch.Tensor:
        """Discrete action indices (B, H), (B, H, 1), (B, 1) or (B,) -> one-hot (..., n) float targets.

        lerobot returns a (1,) action feature as a 0-d tensor per frame, so a batch may lack the last axis."""
        n = self.config.num_discrete_actions
        if ids.shape[-1] == 1 and ids.ndim >= 2:
            ids = ids[..., 0]
        if ids.ndim == 1:
            ids = ids[:, None]  # (B,) one action per frame -> a chunk of 1
        k = ids.round().long()
        if bool(((k < 0) | (k >= n)).any()) or not bool(torch.isfinite(ids).all()):
            raise VlaUserError(f"discrete actions must be indices in 0..{n - 1}; got values outside that range")
        return F.one_hot(k, n).float()

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def predict_action_chunk(
        self,
        obs: dict[str, Any],
        noise: torch.Tensor | None = None,
        forbid: torch.Tensor | None = None,
        min_prob: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, H, A) actions in env units. `noise` (B, H, action_dim) makes generative heads deterministic.

        Discrete action spaces return (B, H, 1): the index of the largest of the head's n one-hot scores.
        Categorical heads only: `forbid` (B, n) bool rules actions out of the chunk's first step, and so does
        `min_prob` (n,) for each action whose predicted probability there is below its floor."""
        cond = self.encode(obs)
        if forbid is None and min_prob is None:
            sampled = self.head.sample(cond, noise=noise)
        elif self.config.num_discrete_actions is None or not hasattr(self.head.config, "decoding"):
            raise VlaUserError("forbidding actions needs a discrete-action categorical head (e.g. vla-categorical)")
        else:
            sampled = self.head.sample(cond, noise=noise, forbid=forbid, min_prob=min_prob)
        actions = self.normalizer.unnormalize_action(sampled)
        if self.config.num_discrete_actions is not None:
            return actions.argmax(-1, keepdim=True).float()
        return actions


def _target_tcp_index(relative_to: tuple[int, ...]) -> tuple[int, ...]:
    """The state indices of tcp.x/y/z matched to the environment state's target.x/y/z, or () without them."""
    tcp = tuple(relative_to[:3])
    return tcp if len(tcp) == 3 and min(tcp) >= 0 else ()

"""Condition the action head on the policy's own estimate of where the task's objects are.

A policy whose backbone knows where the named object is can still close the gripper centimetres away
from it, because the action head has to decode "how far, which way" from image tokens within a few
thousand gradient steps. Here a small estimator turns the grounding heatmaps into positions (the named
target's and its goal's, in the units of the dataset's `observation.environment_state`), and the head
receives the estimate and, where the state holds the gripper position, the estimated offset from
gripper to object: reaching becomes a function of one explicit vector, as a scripted expert's is.

What the estimator reads, and why (measured on a trained checkpoint, README "Policy quality"):
- each heatmap's *committed* position: a soft-argmax over the 3x3 cells around its highest cell, not
  over the whole map. Where two props both look plausible, the global soft-argmax (and any regressor
  trained with squared error) lands between them, on bare table; the local one picks one of them.
- the proprioceptive state (the wrist camera's heatmaps mean nothing without the arm's pose);
- not the cognition feature: a regressor on it fits the training layouts (1.4 cm) and misses new ones
  (7.2 cm), where one on the heatmaps alone misses new ones by 3.2 cm.
It trains on scene-bank scenes only, whose arm poses are random: on demonstration frames the arm's
pose already reveals where the expert is heading, and an estimator that learned "the object is where
the arm goes" would, in closed loop, follow the arm that follows it. Its inputs are detached (the
grounding loss alone trains the heatmaps) and the head sees its output detached (only the estimator's
own loss trains it). Nothing privileged is an inference input: images, instruction and state only.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from vla.backbones.base import BackboneOutput
from vla.backbones.embedded.vision_encoder import cell_centres

from .auxiliary import PrivilegedStateHead

RELATIVE_SCALE = 0.1
"""Metres per unit of the relative features: offsets of a tabletop (+-0.5 m) land in +-5."""
PEAK_RADIUS = 1
"""Cells on each side of a heatmap's highest cell that its committed position averages over (3x3)."""


def peak_features(
    logits: torch.Tensor, radius: int = PEAK_RADIUS, prior: torch.Tensor | None = None, prior_in_window: bool = False
) -> torch.Tensor:
    """(B, M, h, w) heatmap logits -> (B, 3M): each map's soft-argmax (x, y) in [-1, 1] over the
    (2r+1)^2 cells around its highest cell, and its peak probability over the whole map. `prior` (B, M, h, w)
    log-weights, when given, are added to the logits to choose the peak cell; the soft-argmax around it reads
    the logits alone, or, with `prior_in_window`, the logits plus the prior."""
    b, m, h, w = logits.shape
    flat = logits.flatten(2)  # (B, M, h*w)
    voted = flat if prior is None else flat + prior.flatten(2)
    top = voted.argmax(-1)  # (B, M)
    rows = torch.arange(h, device=logits.device)
    cols = torch.arange(w, device=logits.device)
    near_row = ((rows[None, None, :] - (top // w)[..., None]).abs() <= radius)[..., :, None]  # (B, M, h, 1)
    near_col = ((cols[None, None, :] - (top % w)[..., None]).abs() <= radius)[..., None, :]  # (B, M, 1, w)
    window = (near_row & near_col).flatten(2)
    probs = (voted if prior_in_window else flat).masked_fill(~window, float("-inf")).softmax(-1)  # (B, M, h*w)
    xy = probs @ cell_centres(h, w, logits.device, logits.dtype)  # (B, M, 2) in [0, 1]
    return torch.cat([(2 * xy - 1).flatten(1), flat.softmax(-1).amax(-1)], 1)


class PositionEstimator(PrivilegedStateHead):
    """Heatmap positions (B, 3 * cameras * maps) + normalized state (B, S) -> env state estimate (B, E); the
    auxiliary head's normalization, prediction and loss, with its own inputs and a deeper MLP."""

    def __init__(self, num_maps: int, state_dim: int, env_state_dim: int, hidden: int = 256):
        mlp = nn.Sequential(
            nn.Linear(3 * num_maps + state_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, env_state_dim),
        )
        super().__init__(hidden, env_state_dim, mlp)

    def features(self, grounding: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """(B, cameras, maps, h, w) logits + (B, S) normalized state -> (B, 3 * cameras * maps + S), detached."""
        points = peak_features(grounding.detach().flatten(1, 2).float())
        return torch.cat([points, state.detach().float()], 1)


class EnvStateConditioning(nn.Module):
    """Estimate (B, E) + raw state (B, S) -> BackboneOutput with the estimate added to the cognition feature
    and appended as one more token."""

    def __init__(self, env_state_dim: int, relative_to: tuple[int, ...], hidden_size: int):
        super().__init__()
        pairs = [(i, j) for i, j in enumerate(relative_to) if j >= 0]
        self.register_buffer("env_index", torch.tensor([i for i, _ in pairs], dtype=torch.long), persistent=False)
        self.register_buffer("state_index", torch.tensor([j for _, j in pairs], dtype=torch.long), persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(env_state_dim + len(pairs), hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )

    def features(self, normalized: torch.Tensor, metres: torch.Tensor, raw_state: torch.Tensor) -> torch.Tensor:
        """(B, E + R): the normalized estimate and each estimated position minus its state entry (0.1 m units)."""
        relative = (metres[:, self.env_index] - raw_state[:, self.state_index].to(metres.dtype)) / RELATIVE_SCALE
        return torch.cat([normalized, relative], 1)

    def forward(
        self, cond: BackboneOutput, normalized: torch.Tensor, metres: torch.Tensor, raw_state: torch.Tensor
    ) -> BackboneOutput:
        e = self.mlp(self.features(normalized, metres, raw_state).to(cond.cognition.dtype))  # (B, D)
        mask = cond.mask
        if mask is not None:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        return dataclasses.replace(
            cond, tokens=torch.cat([cond.tokens, e[:, None]], 1), cognition=cond.cognition + e, mask=mask
        )

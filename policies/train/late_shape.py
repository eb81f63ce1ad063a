"""The shape vote's late phase (`vla train --locator --shape-vote W`, with the default --shape-vote-from late).

The run first trains as it would without the vote. Then, for --late-locator-steps steps (under --max-minutes: in
the last --late-locator-minutes of the budget), only the target locator trains, starting from the EMA weights that
`vla eval` would have loaded: its new shape head learns which shape the instruction names, and its per-pixel shape
classes learn on colour-permuted copies of the scene bank (AUX_SHAPE_VIEW), so a red cube can no longer look like
a cylinder because every red prop in training was one. Trained with the vote from the first step, the same run
lost held-out success; added late, it gained (README, "Policy quality").

The phase has its own AdamW (the locator's parameters, --lr, cosine decay from the first late step, no warm-up)
and keeps no EMA; a checkpoint saved in it records `late_phase` so that a resumed run rebuilds the shape head and
that optimizer before loading, and continues exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vla.errors import VlaUserError

from .config import TrainConfig

SHAPE_HEAD_SEED = 97  # torch seed offset for the shape head's initialisation (a run starts it identically)


def uses_late_shape_phase(cfg: TrainConfig) -> bool:
    return cfg.locator and cfg.shape_vote > 0 and cfg.colour_vote > 0 and cfg.shape_vote_from == "late"


def check_late_shape_flags(cfg: TrainConfig) -> None:
    if cfg.late_locator_steps < 1:
        raise VlaUserError(f"--late-locator-steps must be >= 1 (got {cfg.late_locator_steps})")
    if cfg.late_locator_minutes <= 0:
        raise VlaUserError(f"--late-locator-minutes must be > 0 (got {cfg.late_locator_minutes})")
    if cfg.max_minutes is not None and cfg.late_locator_minutes >= cfg.max_minutes:
        raise VlaUserError(
            f"--late-locator-minutes {cfg.late_locator_minutes} leaves nothing of --max-minutes {cfg.max_minutes} "
            "for the main phase; lower it, or pass --shape-vote-from start"
        )


def in_late_phase(state_dir: Path) -> bool:
    """Whether the checkpoint in `state_dir` (checkpoints/last/training_state) was saved during the late phase."""
    path = state_dir / "trainer.json"
    return path.is_file() and bool(json.loads(path.read_text()).get("late_phase", False))


class LateShapePhase:
    """The locator-only optimizer of the late phase, and its step."""

    def __init__(self, cfg: TrainConfig, policy, accelerator):
        self.cfg, self.policy, self.accelerator = cfg, policy, accelerator
        self.optimizer = self.scheduler = None
        self.params: list[torch.nn.Parameter] = []

    def reserve_s(self) -> float:
        """Seconds of --max-minutes the main phase leaves to this one."""
        return 60.0 * self.cfg.late_locator_minutes if self.cfg.max_minutes is not None else 0.0

    def enter(self, schedule_steps) -> None:
        """Give the locator its shape head and vote weight, and build the phase's optimizer and LR schedule
        (`schedule_steps`: a callable, the phase's length, which a budget fixes after its first steps)."""
        from .trainer import STEP_SEED_STRIDE, lr_lambda  # here: the trainer imports this module

        cfg, locator = self.cfg, self.policy.locator
        torch.manual_seed(cfg.seed * STEP_SEED_STRIDE + SHAPE_HEAD_SEED)
        locator.add_shape_head()
        locator.point_shape.to(self.accelerator.device)
        locator.config.shape_vote = cfg.shape_vote
        self.params = [p for p in locator.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(0, schedule_steps))

    def step(self, scenes: dict, rows: dict) -> tuple[float, dict]:
        """One locator-only step on a scene-bank batch (with its colour-permuted view) and geometry rows."""
        loss, info = self.policy._locator_loss(scenes, rows)
        self.accelerator.backward(loss)
        if self.cfg.grad_clip > 0:
            self.accelerator.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach()), info

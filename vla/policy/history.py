"""The last k executed discrete actions of each of several envs: what a batched caller (navigation eval,
DAgger rollouts) passes as `observation.previous_actions` to a policy with `action_history` > 0."""

from __future__ import annotations

import torch

from vla.constants import OBS_PREV_ACTIONS


def action_history_of(policy) -> int:
    """k of a policy with `config.action_history`; 0 for any other policy-like object."""
    return int(getattr(getattr(policy, "config", None), "action_history", 0) or 0)


class ExecutedActions:
    """One row of k action ids per env slot, oldest first; -1 marks steps before the episode began."""

    def __init__(self, slots: int, k: int):
        self.k = k
        self.ids = torch.full((slots, k), -1, dtype=torch.long)

    def reset(self, slot: int) -> None:
        self.ids[slot] = -1

    def push(self, slot: int, action_id: int) -> None:
        if self.k:
            self.ids[slot] = torch.cat([self.ids[slot, 1:], torch.tensor([int(action_id)])])

    def add_to(self, batch: dict, slots: list[int]) -> dict:
        """`batch` with the rows of `slots` under observation.previous_actions (unchanged when k is 0)."""
        if self.k:
            batch[OBS_PREV_ACTIONS] = self.ids[slots].clone()
        return batch

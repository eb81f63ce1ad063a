"""Turning overlapping action chunks into one action per control step.

- ChunkQueue: execute the first n_action_steps of each chunk, then predict again (action chunking).
- TemporalEnsembler (ACT): predict every step; average all predictions made for the current step,
  weighted exp(-k * i) with i = 0 for the oldest prediction.
- AdaptiveEnsembler (CogACT): predict every step; weight each older prediction of the current step
  by exp(alpha * cosine_similarity(newest, older)), so predictions that disagree with the newest fade.
All operate on batches: actions are (B, A), chunks (B, H, A).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class ChunkQueue:
    def __init__(self, n_action_steps: int):
        self.n_action_steps = n_action_steps
        self.queue: deque[torch.Tensor] = deque()

    def reset(self) -> None:
        self.queue.clear()

    def needs_chunk(self) -> bool:
        return not self.queue

    def push(self, chunk: torch.Tensor) -> None:
        self.queue.extend(chunk[:, : self.n_action_steps].unbind(1))

    def pop(self) -> torch.Tensor:
        return self.queue.popleft()


class TemporalEnsembler:
    def __init__(self, chunk_size: int, coeff: float):
        self.chunk_size, self.coeff = chunk_size, coeff
        self.history: deque[torch.Tensor] = deque(maxlen=chunk_size)  # chunks, newest last

    def reset(self) -> None:
        self.history.clear()

    def needs_chunk(self) -> bool:
        return True

    def _predictions_for_now(self) -> list[torch.Tensor]:
        # The chunk predicted j steps ago holds the current step at index j; oldest first.
        n = len(self.history)
        return [self.history[k][:, n - 1 - k] for k in range(n)]

    def push(self, chunk: torch.Tensor) -> None:
        self.history.append(chunk)

    def pop(self) -> torch.Tensor:
        preds = torch.stack(self._predictions_for_now(), dim=1)  # (B, n, A), oldest first
        w = torch.exp(-self.coeff * torch.arange(preds.shape[1], dtype=preds.dtype, device=preds.device))
        return (preds * (w / w.sum())[None, :, None]).sum(1)


class AdaptiveEnsembler(TemporalEnsembler):
    def __init__(self, chunk_size: int, alpha: float):
        super().__init__(chunk_size, coeff=0.0)
        self.alpha = alpha

    def pop(self) -> torch.Tensor:
        preds = torch.stack(self._predictions_for_now(), dim=1)  # (B, n, A), newest last
        newest = preds[:, -1:]
        sim = F.cosine_similarity(preds, newest.expand_as(preds), dim=-1)  # (B, n)
        w = torch.exp(self.alpha * sim)
        return (preds * (w / w.sum(1, keepdim=True))[..., None]).sum(1)


def make_ensembler(kind: str, chunk_size: int, n_action_steps: int, coeff: float, alpha: float):
    if kind == "temporal":
        return TemporalEnsembler(chunk_size, coeff)
    if kind == "adaptive":
        return AdaptiveEnsembler(chunk_size, alpha)
    return ChunkQueue(n_action_steps)


class ChunkedActionsMixin:
    """`select_action` / `reset` / `infer` for a policy module whose `predict_action_chunk(obs)` returns
    (B, H, A) actions: the chunks are executed by the ensembler its config selects (`init_executor`)."""

    def init_executor(self, config) -> None:
        self._executor = make_ensembler(
            config.ensembling,
            config.chunk_size,
            config.n_action_steps,
            config.temporal_ensemble_coeff,
            config.adaptive_ensemble_alpha,
        )

    @torch.no_grad()
    def select_action(self, obs: dict[str, Any]) -> torch.Tensor:
        """(B, A): the action for this control step, from the current chunk or a new one."""
        if self._executor.needs_chunk():
            self._executor.push(self.predict_action_chunk(obs))
        return self._executor.pop()

    def reset(self) -> None:
        self._executor.reset()

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        """One unbatched observation -> (H, A) float32 numpy chunk (what a ROS 2 node calls)."""
        return self.predict_action_chunk(obs)[0].float().cpu().numpy()

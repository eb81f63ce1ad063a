"""Categorical head for discrete action spaces: H learned queries -> trunk -> n class logits per step.

The policy hands a discrete action over as its one-hot vector, normalized to [-1, 1] (the class is the
largest entry); this head trains masked cross-entropy on the class index and decodes a one-hot vector in
the same normalized space (+1 for the chosen class, -1 elsewhere), so the policy's argmax reads it back.
Unlike regressing the one-hot vector (L1: per-class medians), a rare class such as STOP still wins
wherever it is the most likely one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vla.backbones.base import BackboneOutput
from vla.errors import VlaUserError

from ..dit import QueryDecoderHead
from .configuration_categorical import CategoricalHeadConfig


class CategoricalHead(QueryDecoderHead):
    config_class = CategoricalHeadConfig
    uses_noise = False  # argmax decoding; decoding='sample' reads `noise` when given (see sample())

    def __init__(self, config: CategoricalHeadConfig, cond_dim: int, action_dim: int, chunk_size: int):
        super().__init__(config, cond_dim, action_dim, chunk_size, out_dim=action_dim)
        self.config: CategoricalHeadConfig = config
        weights = config.class_weights or (1.0,) * action_dim
        if len(weights) != action_dim:
            raise VlaUserError(
                f"CategoricalHeadConfig.class_weights has {len(weights)} entries; the action space has {action_dim} "
                f"classes"
            )
        self.register_buffer("class_weights", torch.tensor(weights, dtype=torch.float32), persistent=False)

    def logits(self, cond: BackboneOutput) -> torch.Tensor:
        """(B, H, n) class logits for every chunk step."""
        return self.decode(cond)

    def compute_loss(
        self, cond: BackboneOutput, actions: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.logits(cond)  # (B, H, n)
        target = actions.argmax(-1)  # (B, H): the one-hot's class
        ce = F.cross_entropy(
            logits.flatten(0, 1), target.flatten(), reduction="none", label_smoothing=self.config.label_smoothing
        ).view_as(target)
        weight = valid.to(ce.dtype) * self.class_weights[target]  # padded steps weigh 0
        loss = (ce * weight).sum() / weight.sum().clamp_min(1e-12)
        mask = valid.to(ce.dtype)
        accuracy = ((logits.argmax(-1) == target).to(ce.dtype) * mask).sum() / mask.sum().clamp_min(1.0)
        loss_value, accuracy_value = torch.stack([loss.detach(), accuracy]).tolist()
        return loss, {"loss": loss_value, "accuracy": accuracy_value}

    @torch.no_grad()
    def sample(
        self,
        cond: BackboneOutput,
        noise: torch.Tensor | None = None,
        forbid: torch.Tensor | None = None,
        min_prob: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, H, n) normalized one-hot: +1 for the decoded class, -1 elsewhere.

        decoding='sample' draws by Gumbel-max; a given standard-normal `noise` (B, H, n) is mapped to the
        Gumbel noise through its CDF, so sampling is deterministic given it. Argmax ignores `noise`.
        `forbid` (B, n) bool removes classes from the chunk's first step (the one executed next); so does
        `min_prob` (n,) for every class whose predicted probability there (softmax at temperature 1) is below its
        floor. A row that would lose every class keeps them all."""
        logits = self.logits(cond)
        if min_prob is not None:
            if min_prob.shape != (logits.shape[-1],):
                raise VlaUserError(f"min_prob has shape {tuple(min_prob.shape)}; expected ({logits.shape[-1]},)")
            unlikely = logits[:, 0].float().softmax(-1) < min_prob.to(logits.device)
            forbid = unlikely if forbid is None else forbid.to(torch.bool) | unlikely
        if forbid is not None:
            if forbid.shape != (logits.shape[0], logits.shape[-1]):
                raise VlaUserError(
                    f"forbid has shape {tuple(forbid.shape)}; expected ({logits.shape[0]}, {logits.shape[-1]})"
                )
            keep_all = forbid.all(-1, keepdim=True)
            first = logits[:, 0].masked_fill(forbid.to(torch.bool) & ~keep_all, float("-inf"))
            logits = torch.cat([first[:, None], logits[:, 1:]], dim=1)
        if self.config.decoding == "sample":
            if noise is None:
                u = torch.rand_like(logits)
            else:
                if noise.shape != logits.shape:
                    raise VlaUserError(f"noise has shape {tuple(noise.shape)}; this head samples {tuple(logits.shape)}")
                u = torch.special.ndtr(noise.to(logits.dtype))
            u = u.clamp(1e-6, 1 - 1e-6)
            logits = logits / self.config.temperature
            if self.config.top_p < 1.0:
                logits = nucleus(logits, self.config.top_p)
            logits = logits - torch.log(-torch.log(u))
        return F.one_hot(logits.argmax(-1), self.action_dim).to(logits.dtype) * 2 - 1


def nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """`logits` with every class outside the top-p nucleus set to -inf: classes are kept in order of
    probability until their cumulative probability reaches top_p (the most likely class always stays)."""
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs  # probability mass of the more likely classes
    drop_sorted = before >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))

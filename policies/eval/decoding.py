"""`vla eval --decoding / --temperature`: how a categorical head turns its class scores into an action."""

from __future__ import annotations

from vla.errors import VlaUserError


def apply_decoding(policy, decoding: str, temperature: float | None, top_p: float | None = None) -> str | None:
    """Override the checkpoint's decoding ('checkpoint' keeps it), sampling temperature and nucleus. Returns
    the decoding in effect, or None for heads that have no choice (continuous actions, tokens)."""
    head = policy.config.head
    if not hasattr(head, "decoding"):
        if decoding != "checkpoint" or temperature is not None or top_p is not None:
            raise VlaUserError(
                f"--decoding/--temperature/--top-p apply to the categorical head; this checkpoint's head is "
                f"'{policy.config.head_name}'"
            )
        return None
    if temperature is not None:
        if not temperature > 0:
            raise VlaUserError(f"--temperature must be > 0 (got {temperature})")
        head.temperature = float(temperature)
    if top_p is not None:
        if not 0.0 < top_p <= 1.0:
            raise VlaUserError(f"--top-p must be in (0, 1] (got {top_p})")
        head.top_p = float(top_p)
    if decoding != "checkpoint":
        head.decoding = decoding
    if head.decoding == "argmax":
        return "argmax"
    return f"sample (temperature {head.temperature:g}, top_p {getattr(head, 'top_p', 1.0):g})"

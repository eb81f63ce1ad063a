"""`vla eval --decoding / --temperature`: how a categorical head turns its class scores into an action."""

from __future__ import annotations

from vla.errors import VlaUserError


def apply_decoding(policy, decoding: str, temperature: float | None) -> str | None:
    """Override the checkpoint's decoding ('checkpoint' keeps it) and sampling temperature. Returns the
    decoding in effect, or None for heads that have no choice (continuous actions, tokens)."""
    head = policy.config.head
    if not hasattr(head, "decoding"):
        if decoding != "checkpoint" or temperature is not None:
            raise VlaUserError(
                f"--decoding/--temperature apply to the categorical head; this checkpoint's head is "
                f"'{policy.config.head_name}'"
            )
        return None
    if temperature is not None:
        if not temperature > 0:
            raise VlaUserError(f"--temperature must be > 0 (got {temperature})")
        head.temperature = float(temperature)
    if decoding != "checkpoint":
        head.decoding = decoding
    return head.decoding if head.decoding == "argmax" else f"sample (temperature {head.temperature:g})"

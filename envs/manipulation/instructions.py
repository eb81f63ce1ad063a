"""Instruction templates per task. Held-out wordings are paraphrases never used in training."""

from __future__ import annotations

import string

from vla.errors import VlaUserError

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "pick": {
        "train": ("pick up the {colour} {object}", "lift the {colour} {object}", "grasp the {colour} {object} and lift it"),
        "heldout": ("raise the {colour} {object} off the table", "could you grab the {colour} {object} and hold it up"),
    },
    "place": {
        "train": (
            "put the {colour} {object} in the {bowl_colour} bowl",
            "place the {colour} {object} into the {bowl_colour} bowl",
            "move the {colour} {object} to the {bowl_colour} bowl",
        ),
        "heldout": (
            "drop the {colour} {object} inside the {bowl_colour} bowl",
            "the {colour} {object} belongs in the {bowl_colour} bowl",
        ),
    },
    "push": {
        "train": (
            "push the {colour} {object} to the {direction} of the table",
            "slide the {colour} {object} to the {direction} side",
        ),
        "heldout": (
            "shove the {colour} {object} toward the {direction} edge of the table",
            "nudge the {colour} {object} over to the {direction}",
        ),
    },
    "stack": {
        "train": ("stack the {colour} cube on the {base_colour} cube", "put the {colour} cube on top of the {base_colour} cube"),
        "heldout": (
            "place the {colour} block onto the {base_colour} block",
            "build a tower with the {colour} cube above the {base_colour} cube",
        ),
    },
}


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render_instruction(template: str, fields: dict[str, str]) -> str:
    """Fill a template; a template naming a field this task does not have is a user error."""
    unknown = template_fields(template) - set(fields)
    if unknown:
        raise VlaUserError(
            f"instruction template {template!r} uses unknown field(s) {sorted(unknown)}; "
            f"this task provides {sorted(fields)}"
        )
    return template.format(**fields)

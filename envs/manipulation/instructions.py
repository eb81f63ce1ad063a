"""Instruction templates per task. Held-out wordings are paraphrases never used in training."""

from __future__ import annotations

import string

from vla.errors import VlaUserError

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "pick": {
        "train": (
            "pick up the {colour} {object}",
            "lift the {colour} {object}",
            "grasp the {colour} {object} and lift it",
        ),
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
        "train": (
            "stack the {colour} cube on the {base_colour} cube",
            "put the {colour} cube on top of the {base_colour} cube",
        ),
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


def load_instruction_file(path) -> dict[str, list[str]]:
    """Read user-supplied wordings per task, for evaluating on instructions we never wrote.

    Two formats: JSON ``{"pick": ["grab the {colour} {object}", ...], ...}`` or plain text with one
    ``task: template`` per line (``#`` starts a comment). Every template is checked against the
    fields its task provides, so a typo fails here rather than mid-evaluation.
    """
    import json
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise VlaUserError(f"instruction file {p} does not exist; pass a JSON or 'task: template' text file")
    text = p.read_text()
    wordings: dict[str, list[str]] = {}
    if p.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise VlaUserError(f"instruction file {p} is not valid JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise VlaUserError(f"instruction file {p} must map task names to lists of strings")
        wordings = {k: [str(s) for s in v] for k, v in data.items()}
    else:
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            task, sep, template = line.partition(":")
            if not sep or not template.strip():
                raise VlaUserError(f"{p}:{n}: expected 'task: template', got {line!r}")
            wordings.setdefault(task.strip(), []).append(template.strip())
    for task, templates in wordings.items():
        if task not in TEMPLATES:
            from vla.errors import unknown_name_error

            raise unknown_name_error("task in instruction file", task, TEMPLATES)
        allowed = template_fields(TEMPLATES[task]["train"][0])
        for t in templates:
            unknown = template_fields(t) - allowed
            if unknown:
                raise VlaUserError(
                    f"{p}: template {t!r} for {task} uses unknown field(s) {sorted(unknown)}; "
                    f"allowed: {sorted(allowed)}"
                )
    return wordings

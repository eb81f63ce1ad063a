"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback."""

import difflib
from collections.abc import Iterable


class VlaUserError(Exception):
    """Bad input from the user. The message names the problem and what to do about it."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> VlaUserError:
    choices = sorted(choices)
    return VlaUserError(f"unknown {kind} '{name}'{did_you_mean(name, choices)}; choose one of: {', '.join(choices)}")

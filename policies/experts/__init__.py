"""Scripted experts that use privileged simulator state to produce demonstrations."""

from .tabletop import TabletopExpert


def make_expert(env) -> TabletopExpert:
    """The scripted expert for a tabletop env (any task, single- or multi-task)."""
    return TabletopExpert(env)


__all__ = ["TabletopExpert", "make_expert"]

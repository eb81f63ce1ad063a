"""Scripted experts that use privileged simulator state to produce demonstrations."""

from .tabletop import TabletopExpert

NAV_EXPERTS = ("shortest", "clearance", "explore", "explore-clearance")
"""Navigation teachers: 'shortest' follows the privileged shortest path; 'clearance' the shortest path on a cost
graph that keeps clear of walls and furniture (policies/experts/clearance.py); 'explore' (object search only)
visits rooms until the goal's room is entered (or the semantic map shows the goal), then takes the shortest path
(policies/experts/exploring.py); 'explore-clearance' (object search only) searches as 'explore' does along the
paths 'clearance' takes."""
SEARCH_EXPERTS = ("explore", "explore-clearance")
"""The teachers that search for an object (ObjectNav, InstructNav only)."""


def make_expert(env) -> TabletopExpert:
    """The scripted expert for a tabletop env (any task, single- or multi-task)."""
    return TabletopExpert(env)


def make_nav_expert(env, kind: str = "shortest"):
    """A navigation teacher by name (NAV_EXPERTS)."""
    if kind == "shortest":
        from .navigation import NavigationExpert

        return NavigationExpert(env)
    if kind == "clearance":
        from .clearance import ClearanceExpert

        return ClearanceExpert(env)
    if kind == "explore":
        from .exploring import ExploringExpert

        return ExploringExpert(env)
    if kind == "explore-clearance":
        from .exploring import ExploringClearanceExpert

        return ExploringClearanceExpert(env)
    from vla.errors import VlaUserError

    raise VlaUserError(f"unknown navigation expert {kind!r}; choose one of {', '.join(NAV_EXPERTS)}")


__all__ = ["NAV_EXPERTS", "SEARCH_EXPERTS", "TabletopExpert", "make_expert", "make_nav_expert"]

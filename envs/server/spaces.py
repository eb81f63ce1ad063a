"""gymnasium spaces <-> plain data for the wire protocol (so the client's spaces equal the server's).

Supported: Box, Discrete, MultiBinary, MultiDiscrete, Text, Dict and Tuple (nested). Box bounds travel
as arrays, so per-dimension bounds and dtypes survive exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from .protocol import ProtocolError


def space_to_data(space: spaces.Space) -> dict[str, Any]:
    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": space.low, "high": space.high, "dtype": np.dtype(space.dtype).str}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec, "start": space.start}
    if isinstance(space, spaces.Text):
        return {
            "type": "Text",
            "min_length": int(space.min_length),
            "max_length": int(space.max_length),
            # in the space's own order (`characters` is sorted), so seeded samples match the server's
            "charset": "".join(getattr(space, "_char_list", space.characters)),
        }
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_data(s) for k, s in space.spaces.items()}}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_data(s) for s in space.spaces]}
    raise ProtocolError(f"space {type(space).__name__} cannot be served (Box, Discrete, Text, Dict, Tuple, ...)")


def space_from_data(data: dict[str, Any]) -> spaces.Space:
    kind = data.get("type") if isinstance(data, dict) else None
    try:
        if kind == "Box":
            dtype = np.dtype(data["dtype"])
            return spaces.Box(np.asarray(data["low"], dtype), np.asarray(data["high"], dtype), dtype=dtype)
        if kind == "Discrete":
            return spaces.Discrete(int(data["n"]), start=int(data["start"]))
        if kind == "MultiBinary":
            return spaces.MultiBinary(data["n"])
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(data["nvec"], start=data["start"])
        if kind == "Text":
            return spaces.Text(data["max_length"], min_length=data["min_length"], charset=data["charset"])
        if kind == "Dict":
            return spaces.Dict({k: space_from_data(v) for k, v in data["spaces"].items()})
        if kind == "Tuple":
            return spaces.Tuple([space_from_data(v) for v in data["spaces"]])
    except (KeyError, TypeError, ValueError) as e:
        raise ProtocolError(f"malformed {kind} space: {e}") from None
    raise ProtocolError(f"unknown space type {kind!r}")


def coerce_action(space: spaces.Space, action: Any) -> Any:
    """Check an incoming action's structure against the action space; cast numeric dtypes safely.

    Values outside Box bounds pass (envs clip, as gymnasium's own envs do); wrong shapes, wrong
    types and lossy casts are refused with a message naming what was expected.
    """
    if isinstance(space, spaces.Box):
        arr = np.asarray(action)
        if arr.shape != space.shape:
            raise ValueError(f"action shape {arr.shape} does not match the action space's {space.shape}")
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"action dtype {arr.dtype} is not numeric")
        return arr.astype(space.dtype, copy=False)
    if isinstance(space, spaces.Discrete):
        arr = np.asarray(action)
        if arr.shape != () or arr.dtype.kind not in "iu":
            raise ValueError(f"a Discrete({space.n}) action must be one integer, got {arr.dtype} {arr.shape}")
        if not space.contains(np.int64(arr)):
            raise ValueError(f"action {int(arr)} is outside Discrete({space.n}, start={space.start})")
        return np.int64(arr)
    if isinstance(space, spaces.Dict):
        if not isinstance(action, dict) or set(action) != set(space.spaces):
            raise ValueError(f"a Dict action needs exactly the keys {sorted(space.spaces)}")
        return {k: coerce_action(s, action[k]) for k, s in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        if not isinstance(action, (tuple, list)) or len(action) != len(space.spaces):
            raise ValueError(f"a Tuple action needs {len(space.spaces)} items")
        return tuple(coerce_action(s, action[i]) for i, s in enumerate(space.spaces))  # no zip(strict=): py3.9
    if not space.contains(action):
        raise ValueError(f"action {action!r} is not in the action space {space}")
    return action

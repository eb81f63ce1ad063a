"""`vla env-server` configuration (also parsed by `python -m vla.envs.server`, without tyro)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vla.errors import VlaUserError

DEFAULT_BIND = "tcp://127.0.0.1:5555"


@dataclass(frozen=True)
class EnvServerConfig:
    """Serve one gymnasium env over ZeroMQ so that clients in other processes (or Python environments) can step it."""

    env: str
    """gymnasium id, e.g. vla/PickObject-v0 or vla/Habitat-v0 (ids from vla.envs.registration)."""
    bind: str = DEFAULT_BIND
    """ZeroMQ endpoint to listen on; port '*' picks a free one (printed at start). Loopback by default:
    the protocol has no authentication, so only bind other interfaces on a network you trust."""
    env_kwargs: str = "{}"
    """JSON object of keyword arguments for gymnasium.make, e.g. '{"image_size": 64}'."""
    max_message_mb: int = 256
    """Larger incoming messages are dropped by ZeroMQ before they reach the server."""

    def __post_init__(self) -> None:
        _ = self.kwargs  # validates the JSON now, before anything starts
        if "://" not in self.bind:
            raise VlaUserError(f"--bind {self.bind!r} is not a ZeroMQ endpoint; use e.g. {DEFAULT_BIND}")
        if self.max_message_mb < 1:
            raise VlaUserError("--max-message-mb must be at least 1")

    @property
    def kwargs(self) -> dict[str, Any]:
        try:
            kwargs = json.loads(self.env_kwargs)
        except json.JSONDecodeError as e:
            where = f"{e.msg} at column {e.colno}"
            raise VlaUserError(f"--env-kwargs is not valid JSON ({where}): {self.env_kwargs}") from None
        if not isinstance(kwargs, dict):
            example = '{"image_size": 64}'
            raise VlaUserError(f"--env-kwargs must be a JSON object like '{example}', got {self.env_kwargs}")
        return kwargs

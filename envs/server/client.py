"""RemoteEnv: an ordinary gymnasium.Env whose steps run in an env server (another process or Python env).

Spaces come from the server, so `check_env`, vector envs and wrappers work unchanged. A server that
does not answer within `timeout_s` raises RemoteEnvTimeout (one line naming the address); the socket is
then rebuilt, so the next call reaches a restarted server without a new RemoteEnv.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import zmq

from vla.errors import VlaUserError

from .config import DEFAULT_BIND
from .protocol import ProtocolError, decode, encode
from .spaces import space_from_data


class RemoteEnvError(VlaUserError):
    """The server answered with an error (bad request or an exception inside the env)."""


class RemoteEnvTimeout(RemoteEnvError):
    """No reply within timeout_s: the server is not running, hung, or at another address."""


class RemoteEnv(gym.Env):
    """A gymnasium env served by `vla env-server` at `address`.

    env_kwargs (and render_mode) are sent with a 'make' request: the server rebuilds its env with its
    own --env-kwargs updated by these. Without them the server's env is used as it is.
    """

    # What the server may support; gymnasium checks render_mode against this before the server is asked.
    metadata = {"render_modes": ["rgb_array", "rgb_array_list", "depth_array"]}

    def __init__(
        self,
        address: str = DEFAULT_BIND,
        timeout_s: float = 30.0,
        render_mode: str | None = None,
        **env_kwargs: Any,
    ):
        if timeout_s <= 0:
            raise VlaUserError(f"timeout_s must be positive, got {timeout_s}")
        self.address = address
        self.timeout_s = float(timeout_s)
        self._make_kwargs = {**env_kwargs, **({"render_mode": render_mode} if render_mode else {})}
        self._ctx = zmq.Context()
        self._sock: zmq.Socket | None = None
        self._spec_data: dict[str, Any] = {}
        self._apply_spec(self._handshake())

    # --- gymnasium API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        reply = self._call("reset", seed=seed, options=options)
        return reply["observation"], reply["info"]

    def step(self, action):
        reply = self._call("step", action=action)
        return reply["observation"], reply["reward"], reply["terminated"], reply["truncated"], reply["info"]

    def render(self):
        return self._call("render")["frame"]

    def close(self) -> None:
        """Closes the server's env (it stays up for the next client) and this side's socket; never raises."""
        if self._sock is not None:
            try:
                self._call("close", _timeout_s=min(self.timeout_s, 2.0))
            except RemoteEnvError:
                pass
        self._drop_socket()
        if not self._ctx.closed:
            self._ctx.term()

    def ping(self) -> dict[str, Any]:
        return self._call("ping")

    @property
    def remote_env_id(self) -> str:
        return self._spec_data["env_id"]

    @property
    def max_episode_steps(self) -> int | None:
        """The server env's time limit (it truncates episodes itself)."""
        return self._spec_data.get("max_episode_steps")

    # --- transport -------------------------------------------------------------------------------------
    def _handshake(self) -> dict[str, Any]:
        return self._call("make", kwargs=self._make_kwargs) if self._make_kwargs else self._call("spec")

    def _apply_spec(self, data: dict[str, Any]) -> None:
        self._spec_data = data
        self.observation_space = space_from_data(data["observation_space"])
        self.action_space = space_from_data(data["action_space"])
        self.metadata = {**data.get("metadata", {})}
        self.render_mode = data.get("render_mode")

    def _socket(self) -> zmq.Socket:
        if self._sock is None:
            sock = self._ctx.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDTIMEO, int(self.timeout_s * 1000))
            sock.connect(self.address)
            self._sock = sock
            if self._spec_data:  # a reconnect: make sure the server still serves the same env
                self._check_same_env(self._handshake())
        return self._sock

    def _check_same_env(self, data: dict[str, Any]) -> None:
        same = (
            data["env_id"] == self._spec_data["env_id"]
            and space_from_data(data["observation_space"]) == self.observation_space
            and space_from_data(data["action_space"]) == self.action_space
        )
        if not same:
            self._drop_socket()
            raise RemoteEnvError(
                f"the env server at {self.address} now serves {data['env_id']} with other spaces than "
                f"{self._spec_data['env_id']}; make a new RemoteEnv for it"
            )

    def _drop_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def _call(self, op: str, _timeout_s: float | None = None, **fields: Any) -> dict[str, Any]:
        timeout_s = self.timeout_s if _timeout_s is None else _timeout_s
        frames = encode({"op": op, **fields})
        sock = self._socket()
        try:
            sock.send_multipart(frames, copy=False)
            if not sock.poll(int(timeout_s * 1000), zmq.POLLIN):
                raise zmq.Again()
            reply = decode([f.buffer for f in sock.recv_multipart(copy=False)])
        except zmq.Again:
            self._drop_socket()  # a REQ socket without its reply is stuck; the next call starts a new one
            raise RemoteEnvTimeout(
                f"no reply from the env server at {self.address} within {timeout_s:g} s ('{op}'); start it with "
                f"`vla env-server --env ID --bind {self.address}` or pass the right address "
                "(the next call reconnects)"
            ) from None
        except (zmq.ZMQError, ProtocolError) as e:
            self._drop_socket()
            raise RemoteEnvError(f"env server at {self.address}: '{op}' failed: {e}") from None
        if not reply.get("ok"):
            err = reply.get("error") or {}
            raise RemoteEnvError(
                f"env server at {self.address} refused '{op}': {err.get('type', 'Error')}: {err.get('message', '')}"
            )
        return reply

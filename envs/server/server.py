"""The env server: one gymnasium env behind a ZeroMQ REP socket, speaking protocol.py.

It imports only numpy, pyzmq, gymnasium and the env itself (never torch or lerobot), so it also runs
inside a separate Python environment, such as a conda env with habitat-sim and numpy 1.x.
Every request gets a reply: malformed ones get an error reply and the server keeps serving.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import zmq

from vla.errors import VlaUserError, did_you_mean

from .config import EnvServerConfig
from .protocol import OPS, PROTOCOL_VERSION, ProtocolError, decode, encode, error_reply
from .spaces import coerce_action, space_to_data

SERVER_NAME = "vla-env-server"
POLL_MS = 200  # how often the loop checks for a stop request between messages


class BadRequest(ValueError):
    """A well-formed message asking for something invalid (unknown op, wrong action shape, ...)."""


class EnvServer:
    """Binds at construction (so a busy port fails fast), makes the env, then serves until stopped."""

    def __init__(self, config: EnvServerConfig):
        self.config = config
        self.env_id = config.env
        self.kwargs = config.kwargs
        self.env: gym.Env | None = None
        self._stop = threading.Event()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.REP)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, config.max_message_mb * 1024 * 1024)
        try:
            self._sock.bind(config.bind)
        except zmq.ZMQError as e:
            self._close_socket()
            raise _bind_error(config.bind, e) from None
        self.endpoint = self._sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        try:
            self.env = self._make(self.kwargs)
        except BaseException:
            self._close_socket()
            raise
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "ping": self._ping,
            "spec": self._spec,
            "make": self._remake,
            "reset": self._reset,
            "step": self._step,
            "render": self._render,
            "close": self._close_env,
        }
        assert set(self._handlers) == set(OPS)

    # --- lifecycle -------------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        """Answer requests until stop() is called (from a signal handler or another thread)."""
        while not self._stop.is_set():
            if not self._sock.poll(POLL_MS, zmq.POLLIN):
                continue
            frames = self._sock.recv_multipart(copy=False)
            reply = self.handle([f.buffer for f in frames])
            self._sock.send_multipart(reply, copy=False)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None
        self._close_socket()

    def _close_socket(self) -> None:
        self._sock.close(linger=0)
        self._ctx.term()

    # --- requests --------------------------------------------------------------------------------------
    def handle(self, frames: list) -> list:
        """One request's frames -> the reply's frames. Never raises for anything a client sends."""
        op = "?"
        try:
            request = decode(frames)
            op = request.get("op")
            handler = self._handlers.get(op) if isinstance(op, str) else None
            if handler is None:
                raise BadRequest(f"unknown op {op!r}{did_you_mean(str(op), OPS)}; ops: {', '.join(OPS)}")
            reply = {"ok": True, **handler(request)}
        except (ProtocolError, BadRequest) as e:
            reply = error_reply("BadRequest", str(e))
        except Exception as e:  # the env raised: report it and keep serving
            reply = error_reply("EnvError", f"{type(e).__name__}: {e}")
        if not reply["ok"]:
            print(f"{SERVER_NAME}: {op}: {reply['error']['message']}", file=sys.stderr, flush=True)
        try:
            return encode(reply)
        except ProtocolError as e:  # e.g. an info value that has no wire form
            return encode(error_reply("EncodeError", f"cannot send the reply to '{op}': {e}"))

    def _ping(self, request: dict) -> dict:
        return {"protocol": PROTOCOL_VERSION, "env_id": self.env_id, "server": SERVER_NAME}

    def _spec(self, request: dict) -> dict:
        env = self._env()
        return {
            "env_id": self.env_id,
            "observation_space": space_to_data(env.observation_space),
            "action_space": space_to_data(env.action_space),
            "metadata": _plain_metadata(env.metadata),
            "render_mode": env.render_mode,
            "max_episode_steps": _time_limit(env),
        }

    def _remake(self, request: dict) -> dict:
        overrides = request.get("kwargs") or {}
        if not isinstance(overrides, dict):
            raise BadRequest("'make' takes kwargs as a JSON object")
        kwargs = {**self.config.kwargs, **overrides}
        if self.env is not None:
            self.env.close()
            self.env = None
        self.env = self._make(kwargs)
        self.kwargs = kwargs
        return self._spec(request)

    def _reset(self, request: dict) -> dict:
        seed, options = request.get("seed"), request.get("options")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise BadRequest(f"seed must be an integer or null, got {seed!r}")
        if options is not None and not isinstance(options, dict):
            raise BadRequest("options must be a JSON object or null")
        obs, info = self._env().reset(seed=seed, options=options)
        return {"observation": obs, "info": info}

    def _step(self, request: dict) -> dict:
        if "action" not in request:
            raise BadRequest("'step' needs an action")
        env = self._env()
        try:
            action = coerce_action(env.action_space, request["action"])
        except ValueError as e:
            raise BadRequest(str(e)) from None
        obs, reward, terminated, truncated, info = env.step(action)
        return {
            "observation": obs,
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            "info": info,
        }

    def _render(self, request: dict) -> dict:
        return {"frame": self._env().render()}

    def _close_env(self, request: dict) -> dict:
        if self.env is not None:
            self.env.close()
            self.env = None
        return {}

    def _env(self) -> gym.Env:
        if self.env is None:  # closed by a client: the next one gets a fresh env with the current kwargs
            self.env = self._make(self.kwargs)
        return self.env

    def _make(self, kwargs: dict[str, Any]) -> gym.Env:
        if self.env_id not in gym.registry and ":" not in self.env_id:
            ids = [i for i in gym.registry if i.startswith("vla/")]
            hint = did_you_mean(self.env_id, ids)
            raise VlaUserError(f"unknown env '{self.env_id}'{hint}; vla ids: {', '.join(ids)}")
        return gym.make(self.env_id, **kwargs)


def _time_limit(env: gym.Env) -> int | None:
    """gymnasium's TimeLimit, or the env's own limit (the tabletop envs keep theirs as `max_steps`)."""
    spec = getattr(env, "spec", None)
    for limit in (getattr(spec, "max_episode_steps", None), getattr(env.unwrapped, "max_steps", None)):
        if isinstance(limit, int):
            return limit
    return None


def _plain_metadata(metadata: dict) -> dict:
    """The metadata entries that have a wire form (render modes, fps); others stay on the server."""
    out = {}
    for k, v in metadata.items():
        try:
            encode({"x": v})
        except ProtocolError:
            continue
        out[k] = v
    return out


def _bind_error(bind: str, e: zmq.ZMQError) -> VlaUserError:
    if e.errno == errno.EADDRINUSE:
        return VlaUserError(
            f"cannot serve on {bind}: the address is already in use; stop the process using it or pass another "
            "port, e.g. --bind tcp://127.0.0.1:5556"
        )
    return VlaUserError(f"cannot serve on {bind}: {e}; use an endpoint like tcp://127.0.0.1:5555")


def run_env_server(config: EnvServerConfig) -> int:
    """Serve until SIGINT/SIGTERM. Prints one 'serving ... on ENDPOINT' line once ready (tools wait for it)."""
    server = EnvServer(config)
    previous = signal.signal(signal.SIGTERM, lambda *_: server.stop())
    print(
        f"{SERVER_NAME}: serving {config.env} on {server.endpoint} (protocol v{PROTOCOL_VERSION})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
    return 0

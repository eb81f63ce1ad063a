"""Env server and RemoteEnv across processes: same episodes as in-process, errors that keep the server up,
clear timeouts on a dead server, reconnection, and a server side that never imports torch."""

import json
import signal
import socket
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import zmq
from gymnasium.utils.env_checker import check_env

import vla.envs  # noqa: F401  (registers the ids)
from vla.envs.server import EnvServer, EnvServerConfig, RemoteEnv, RemoteEnvError, RemoteEnvTimeout
from vla.envs.server.launch import start_server_process
from vla.envs.server.protocol import decode, encode
from vla.errors import VlaUserError

ENV_ID = "vla/PickObject-v0"
KWARGS = {"image_size": 32, "render_size": 32}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_same(a, b, where="obs"):
    """Bit-identical nested values: same types, dtypes, shapes and bytes."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def server():
    with start_server_process(ENV_ID, env_kwargs=KWARGS) as proc:
        yield proc


def _rollout(env: gym.Env, seed: int, steps: int):
    actions = np.random.default_rng(seed).uniform(-1, 1, (steps, 5)).astype(np.float32)
    actions[:, :3] *= 0.03
    actions[:, 3] *= 0.25
    obs, info = env.reset(seed=seed)
    trace = [(obs, info)]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return trace


def test_remote_episodes_are_bit_identical_to_in_process(server):
    local = gym.make(ENV_ID, **KWARGS)
    remote = gym.make("vla/Remote-v0", address=server.address, timeout_s=30)
    try:
        assert remote.observation_space == local.observation_space
        assert remote.action_space == local.action_space
        assert remote.unwrapped.max_episode_steps == local.unwrapped.max_steps == 60
        for seed in (11, 12):  # two episodes: the second starts from a used env on both sides
            here, there = _rollout(local, seed, 60), _rollout(remote, seed, 60)
            assert len(here) == len(there) == 61  # ran to the time limit: truncated at step 60
            assert there[-1][3] is True
            for i, (a, b) in enumerate(zip(here, there, strict=True)):
                _assert_same(a, b, f"seed {seed} step {i}")
        _assert_same(local.render(), remote.render(), "render")
    finally:
        local.close()
        remote.close()


def test_navigation_episode_through_the_server_is_bit_identical():
    kwargs = {"image_size": 24}
    actions = [1, 1, 2, 1, 3, 3, 1, 1, 2, 1, 1, 1]  # MOVE_FORWARD, TURN_LEFT, TURN_RIGHT (no STOP)
    local = gym.make("vla/PointNav-v0", **kwargs)
    with start_server_process("vla/PointNav-v0", env_kwargs=kwargs) as proc:
        remote = gym.make("vla/Remote-v0", address=proc.address, timeout_s=60)
        try:
            assert remote.observation_space == local.observation_space
            _assert_same(local.reset(seed=5), remote.reset(seed=5))
            for i, a in enumerate(actions):
                _assert_same(local.step(a), remote.step(a), f"step {i}")
        finally:
            remote.close()
            local.close()


def test_check_env_passes_on_remote_env(server):
    env = RemoteEnv(server.address, timeout_s=30)
    try:
        check_env(env, skip_render_check=True)
        assert env.ping()["env_id"] == ENV_ID
    finally:
        env.close()


def _request(sock: zmq.Socket, frames: list) -> dict:
    sock.send_multipart(frames)
    assert sock.poll(30_000), "the server did not answer"
    return decode(sock.recv_multipart())


def test_malformed_requests_get_error_replies_and_the_server_keeps_serving(server):
    host, port = server.address.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:  # not even ZeroMQ
        raw.sendall(b"\x00\xffGET / HTTP/1.1\r\n\r\n" * 10)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(server.address)
    try:
        bad = {
            "garbage": [b"\x80\x04\x95 not json", b"more"],
            "old version": [json.dumps({"v": 0, "op": "ping"}).encode()],
            "unknown op": encode({"op": "stpe"}),
            "wrong action shape": encode({"op": "step", "action": np.zeros(3, np.float32)}),
            "text action": encode({"op": "step", "action": "forward"}),
            "bad seed": encode({"op": "reset", "seed": "seven"}),
        }
        replies = {name: _request(sock, frames) for name, frames in bad.items()}
        for name, reply in replies.items():
            assert reply["ok"] is False and reply["error"]["type"] == "BadRequest", name
        assert "did you mean 'step'" in replies["unknown op"]["error"]["message"]
        assert "(3,) does not match" in replies["wrong action shape"]["error"]["message"]
        ok = _request(sock, encode({"op": "reset", "seed": 5}))
        assert ok["ok"] and ok["observation"]["observation.images.scene"].shape == (32, 32, 3)
        ok = _request(sock, encode({"op": "step", "action": np.zeros(5, np.float32)}))
        assert ok["ok"] and ok["reward"] == 0.0 and ok["terminated"] is False
    finally:
        sock.close()
        ctx.term()
    env = RemoteEnv(server.address, timeout_s=30)  # the client raises the server's error as one line
    try:
        env.reset(seed=1)
        with pytest.raises(RemoteEnvError, match=r"refused 'step': BadRequest: action shape \(2,\)") as e:
            env.step(np.zeros(2, np.float32))
        assert "\n" not in str(e.value)
        env.step(env.action_space.sample())  # and keeps working
    finally:
        env.close()


def test_dead_server_times_out_clearly_and_the_client_reconnects_to_a_restarted_one():
    address = f"tcp://127.0.0.1:{_free_port()}"
    first = start_server_process(ENV_ID, bind=address, env_kwargs=KWARGS)
    env = RemoteEnv(address, timeout_s=2.0)
    try:
        env.reset(seed=3)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        t0 = time.monotonic()
        with pytest.raises(RemoteEnvTimeout) as e:
            env.step(env.action_space.sample())
        assert time.monotonic() - t0 < 3.0
        message = str(e.value)
        assert "\n" not in message and address in message and "within 2 s" in message
        assert "vla env-server" in message and isinstance(e.value, VlaUserError)
        with start_server_process(ENV_ID, bind=address, env_kwargs=KWARGS):
            obs, _ = env.reset(seed=3)  # same RemoteEnv, new socket, new server
            assert obs["observation.images.scene"].shape == (32, 32, 3)
            assert env.step(env.action_space.sample())[3] is False
    finally:
        env.close()
        first.stop()


def test_busy_port_and_unknown_env_are_one_line_errors(server):
    r = subprocess.run(
        [sys.executable, "-m", "vla.cli.main", "env-server", "--env", ENV_ID, "--bind", server.address],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "already in use" in r.stderr and server.address in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "vla.envs.server", "--env", "vla/PickObjekt-v0", "--bind", "tcp://127.0.0.1:*"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "did you mean 'vla/PickObject-v0'" in r.stderr


def test_server_side_never_imports_torch_or_lerobot():
    code = (
        "import sys, vla.envs.server, vla.envs.server.__main__, gymnasium as gym; "
        "gym.make('vla/PickObject-v0', image_size=16).reset(seed=0); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'lerobot', 'transformers', 'tyro'}))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_server_handles_requests_in_process_without_a_socket_peer():
    """EnvServer.handle is the whole request logic; an env exception becomes an EnvError reply."""
    server = EnvServer(EnvServerConfig(env=ENV_ID, bind="tcp://127.0.0.1:*", env_kwargs=json.dumps(KWARGS)))
    try:
        reply = decode([bytes(f) for f in server.handle(encode({"op": "step", "action": np.zeros(5)}))])
        assert reply["ok"] is False and reply["error"]["type"] == "EnvError"  # step before reset
        assert "reset" in reply["error"]["message"]
        reply = decode([bytes(f) for f in server.handle(encode({"op": "make", "kwargs": {"image_size": 24}}))])
        assert reply["observation_space"]["spaces"]["observation.images.scene"]["low"].shape == (24, 24, 3)
    finally:
        server.close()

"""Round-trip overhead of the env server: env steps/s in-process vs through RemoteEnv (server in another process).

    MUJOCO_GL=egl .venv/bin/python bench/bench_env_server.py --steps 300 --image-size 96

Also reports the ping round trip (the transport alone) and the encode+decode cost of one observation.
The same seed and action sequence run on both sides, so both do identical simulation work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import gymnasium as gym
import numpy as np

import vla.envs  # noqa: F401  (registers the ids)
from vla.envs.server import RemoteEnv
from vla.envs.server.launch import start_server_process
from vla.envs.server.protocol import decode, encode


def _steps_per_s(env: gym.Env, steps: int, seed: int) -> float:
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - t0)


def bench(env_id: str, kwargs: dict, steps: int, seed: int = 0) -> dict:
    local = gym.make(env_id, **kwargs)
    obs, _ = local.reset(seed=seed)
    local_sps = _steps_per_s(local, steps, seed)
    t0 = time.perf_counter()
    for _ in range(200):
        decode([bytes(f) for f in encode({"observation": obs})])
    codec_ms = (time.perf_counter() - t0) / 200 * 1e3
    local.close()
    with start_server_process(env_id, env_kwargs=kwargs) as server:
        remote = RemoteEnv(server.address, timeout_s=60)
        remote_sps = _steps_per_s(remote, steps, seed)
        pings = []
        for _ in range(300):
            t0 = time.perf_counter()
            remote.ping()
            pings.append((time.perf_counter() - t0) * 1e3)
        remote.close()
    values = obs.values() if isinstance(obs, dict) else [obs]
    obs_bytes = sum(v.nbytes for v in values if isinstance(v, np.ndarray))
    return {
        "env": env_id,
        "kwargs": kwargs,
        "observation_bytes": obs_bytes,
        "in_process_steps_per_s": round(local_sps, 1),
        "remote_steps_per_s": round(remote_sps, 1),
        "overhead_ms_per_step": round(1e3 / remote_sps - 1e3 / local_sps, 2),
        "ping_ms_p50": round(statistics.median(pings), 3),
        "codec_ms_per_observation": round(codec_ms, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--envs", default="CartPole-v1,vla/PickObject-v0,vla/PointNav-v0")
    args = parser.parse_args()
    for env_id in args.envs.split(","):
        kwargs = {"image_size": args.image_size} if env_id.startswith("vla/") else {}  # CartPole: transport floor
        steps = args.steps if kwargs else 20 * args.steps
        print(json.dumps(bench(env_id, kwargs, steps)), flush=True)


if __name__ == "__main__":
    main()

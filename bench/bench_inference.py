"""Inference latency per action chunk at batch 1, preprocessing included, on real observations.

    MUJOCO_GL=egl .venv/bin/python bench/bench_inference.py                     # fresh default policy
    MUJOCO_GL=egl .venv/bin/python bench/bench_inference.py --checkpoint CHECKPOINT_DIR

Latency does not depend on the weights, so a freshly initialised policy of the same config measures
the same thing as a trained one. Target for the embedded default: p50 <= 25 ms on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

os.environ.setdefault("MUJOCO_GL", "egl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="checkpoint dir (default: fresh policies of each preset)")
    parser.add_argument("--policies", default="vla-diffusion,vla-flow,vla-tokens,vla-l1", help="presets to time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import vla.envs as E
    from vla.policy.checkpoint import load_policy
    from vla.policy.configuration_vla import make_config
    from vla.policy.modeling_vla import VLAPolicy

    env = E.make_env("all")
    observations = []
    for seed in range(8):  # a few real observations with different instructions
        obs, _ = env.reset(seed=seed)
        observations.append(obs)
    if args.checkpoint:
        policies = {args.checkpoint: load_policy(args.checkpoint)}
    else:
        policies = {name: VLAPolicy(make_config(name)).eval() for name in args.policies.split(",")}
    results = {}
    for name, policy in policies.items():
        for obs in observations:  # warm-up; also fills the instruction cache as a deployed policy would
            policy.predict_action_chunk(obs)
        times = []
        for i in range(args.repeats):
            obs = observations[i % len(observations)]
            t0 = time.perf_counter()
            policy.predict_action_chunk(obs)  # uint8 HWC numpy in, (1, H, A) actions out
            times.append((time.perf_counter() - t0) * 1000)
        a = np.array(times)
        results[name] = {
            "p50_ms": float(np.percentile(a, 50)),
            "p95_ms": float(np.percentile(a, 95)),
            "mean_ms": float(a.mean()),
        }
        r = results[name]
        print(f"{name:16s} p50 {r['p50_ms']:6.2f} ms   p95 {r['p95_ms']:6.2f} ms   (batch 1, {args.threads} threads)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

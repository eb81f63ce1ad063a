"""How much position error can a position-conditioned policy take? Closed-loop success when the target and
goal positions the head reads are the simulator's true ones plus a fixed random xy offset per episode.

    MUJOCO_GL=egl .venv/bin/python bench/bench_position_noise.py \
        --checkpoint /tmp/b3/train/checkpoints/last/pretrained_model --sigmas 0,0.01,0.02 --episodes 20

The checkpoint must condition its head on positions (`vla train --oracle-conditioning` or
`--estimate-conditioning`); an estimate-conditioned one is fed the true positions instead of its estimate,
which separates what the head can do from what the estimator gets wrong. Each episode draws one offset
N(0, sigma) per axis for the x and y of the target and the goal, as an estimate that is off by a fixed
amount would be. Positions are the current frame's, or the first frame's for a checkpoint trained with
`--conditioning-at episode_start` (`--conditioning-at` overrides that). `--positions-from CKPT` replaces the
true positions with another checkpoint's own estimates (e.g. a `--locator` checkpoint's), made from the same
observations: how the head would do with that estimator, without retraining it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

TASKS = ("pick", "place", "push", "stack")
XY = [0, 1, 3, 4]  # target.x, target.y, goal.x, goal.y in the suite's environment_state


class OffsetPositions:
    """A vector env whose `privileged_state` carries a per-episode offset (drawn at each env's reset)."""

    def __init__(self, envs, sigma: float, dim: int, seed: int):
        self.envs, self.sigma, self.rng = envs, sigma, np.random.default_rng(seed)
        self.offsets = np.zeros((envs.num_envs, dim))

    def __getattr__(self, name):
        return getattr(self.envs, name)

    def reset(self, seed=None, options=None):
        mask = np.asarray(options["reset_mask"]).copy()  # the vector env pops it from options
        out = self.envs.reset(seed=seed, options=options)
        for i in np.flatnonzero(mask):
            self.offsets[i] = 0.0
            self.offsets[i, XY] = self.rng.normal(0.0, self.sigma, len(XY))
        return out

    def call(self, name, *args, **kwargs):
        values = self.envs.call(name, *args, **kwargs)
        if name != "privileged_state":
            return values
        return tuple(np.asarray(v) + self.offsets[i] for i, v in enumerate(values))


class LocatedPositions:
    """A vector env whose `privileged_state` is another policy's estimate (its target locator or position
    estimator) from each env's latest observation: what a head would read from that estimator, per frame."""

    def __init__(self, envs, estimator_policy):
        self.envs, self.estimator = envs, estimator_policy
        self.obs, self.instructions = None, [""] * envs.num_envs

    def __getattr__(self, name):
        return getattr(self.envs, name)

    def reset(self, seed=None, options=None):
        mask = np.asarray(options["reset_mask"]).copy()
        self.obs, infos = self.envs.reset(seed=seed, options=options)
        for i in np.flatnonzero(mask):  # instructions from infos: vector envs garble Text observations
            self.instructions[i] = str(infos["instruction"][i])
        return self.obs, infos

    def step(self, actions):
        out = self.envs.step(actions)
        self.obs = out[0]
        return out

    def call(self, name, *args, **kwargs):
        if name != "privileged_state":
            return self.envs.call(name, *args, **kwargs)
        from vla.constants import TASK

        batch = {k: v for k, v in self.obs.items() if k != TASK}
        batch[TASK] = list(self.instructions)
        return tuple(self.estimator.estimate_env_state(batch).cpu().numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--sigmas", default="0,0.01,0.02", help="offset std per axis, metres, comma-separated")
    parser.add_argument("--episodes", type=int, default=20, help="per task and sigma")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--seed", type=int, default=100_000, help="first env seed (vla eval's default)")
    parser.add_argument(
        "--split", choices=("train", "heldout"), default="train", help="wordings and colour-shape combinations"
    )
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--conditioning-at",
        choices=("checkpoint", "current", "episode_start", "tracked", "carried"),
        default="checkpoint",
        help="which frame's positions the head reads: the checkpoint's own setting (default), every frame's, "
        "the first frame's held for the episode (e.g. a head trained on current positions fed held ones), "
        "the target's from every frame and the goal's from the first, or carried: the first frame's, the target "
        "then carried along by the gripper's state",
    )
    parser.add_argument(
        "--positions-from",
        type=Path,
        default=None,
        help="feed the head another checkpoint's own estimates (e.g. a --locator checkpoint's), made from each "
        "frame (or the first frame, with episode_start) instead of the true positions; the offsets still apply",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from vla.policies.eval.rollout import make_vector_env, rollout_task
    from vla.policy.checkpoint import load_policy

    torch.set_num_threads(args.threads)
    policy = load_policy(args.checkpoint)
    policy.eval()
    c = policy.config
    if not getattr(c, "env_state_conditioning", False):
        raise SystemExit(f"bench_position_noise: {args.checkpoint} does not read positions (no conditioning)")
    c.env_state_source = "privileged"  # the true positions (+ offset), not the checkpoint's own estimate
    estimator = load_policy(args.positions_from).eval() if args.positions_from else None
    if args.conditioning_at != "checkpoint":
        c.env_state_at = args.conditioning_at
    results = {}
    for sigma in (float(s) for s in args.sigmas.split(",")):
        row = {}
        for task in args.tasks.split(","):
            envs = make_vector_env(task, args.num_envs, "async", c.image_size, args.split)
            source = LocatedPositions(envs, estimator) if estimator is not None else envs
            try:
                seeds = list(range(args.seed, args.seed + args.episodes))
                r = rollout_task(
                    policy, OffsetPositions(source, sigma, c.env_state_dim, 0), seeds, None, 0,
                    c.ensembling, c.n_action_steps,
                )  # fmt: skip
            finally:
                envs.close()
            row[task] = sum(e.success for e in r.episodes) / len(r.episodes)
        row["mean"] = float(np.mean(list(row.values())))
        results[str(sigma)] = row
        cells = " | ".join(f"{row[t] * 100:.0f}%" for t in row)
        print(f"| {sigma * 100:g} cm | {cells} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

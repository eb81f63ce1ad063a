"""Vectorized closed-loop rollouts of a policy in one task of the suite.

Each env keeps its own chunk executor (queue or ensembler), so envs finish and restart at
different times; the policy runs once per step on the batch of envs that need a new chunk.
Finished envs are reset to the next seed in place (gymnasium's reset_mask), one at a time so
each can get its own instruction wording.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from vla.constants import (
    OBS_ENV_STATE,
    OBS_ENV_STATE_START,
    OBS_IMAGE_SCENE,
    OBS_IMAGE_WRIST,
    OBS_PREV_ACTIONS,
    OBS_STATE,
    TASK,
)
from vla.policy.carry_tracker import CarryTracker, state_indices
from vla.policy.ensembling import make_ensembler
from vla.policy.history import action_history_of
from vla.policy.modeling_vla import VLAPolicy

from .digest import TrajectoryDigest


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    length: int
    instruction: str
    digest: str = ""  # TrajectoryDigest of the env actions and the final state


@dataclass
class TaskRollouts:
    episodes: list[EpisodeResult] = field(default_factory=list)
    chunk_latency_ms: list[float] = field(default_factory=list)  # per policy call
    chunk_batch_sizes: list[int] = field(default_factory=list)
    videos: list[tuple[str, list[np.ndarray]]] = field(default_factory=list)


def make_vector_env(task: str, num_envs: int, vector: str, image_size: tuple[int, int], split: str):
    import vla.envs  # noqa: F401  (registers ids)
    from vla.envs.registration import TASK_TO_ID

    kwargs = {"image_size": image_size, "split": split}
    fns = [functools.partial(_make_env, TASK_TO_ID[task], kwargs) for _ in range(num_envs)]
    mode = gym.vector.AutoresetMode.DISABLED
    if vector == "async" and num_envs > 1:
        # Note: shared memory does not round-trip Text observations, so instructions are read from infos.
        # forkserver: forking a process that already runs torch threads can deadlock the children.
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=mode, context="forkserver")
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)


def _make_env(env_id: str, kwargs: dict) -> gym.Env:
    import vla.envs  # noqa: F401  (registers the ids inside worker processes)

    return gym.make(env_id, **kwargs)


def _frame(obs: dict, i: int) -> np.ndarray:
    scene, wrist = obs[OBS_IMAGE_SCENE][i], obs[OBS_IMAGE_WRIST][i]
    return np.repeat(np.repeat(np.concatenate([scene, wrist], axis=1), 2, axis=0), 2, axis=1)


def rollout_task(
    policy: VLAPolicy,
    envs: gym.vector.VectorEnv,
    seeds: list[int],
    instructions: list[str] | None,
    videos: int,
    ensembling: str,
    n_action_steps: int,
    progress=None,
) -> TaskRollouts:
    cfg = policy.config
    n = envs.num_envs
    carried = getattr(cfg, "carries_target", False)  # LeRobot baselines have none of these
    tracked = getattr(cfg, "tracks_target", False) and not carried
    hold_start = getattr(cfg, "holds_episode_start_state", False) or tracked or carried
    true_state = getattr(cfg, "reads_true_env_state", False)
    # carried: each env's reset-frame target, moved along by its gripper's state at every step
    carry = CarryTracker(n, state_indices(cfg.state_names)) if carried else None
    executors = [
        make_ensembler(
            ensembling, cfg.chunk_size, n_action_steps, cfg.temporal_ensemble_coeff, cfg.adaptive_ensemble_alpha
        )
        for _ in range(n)
    ]
    result = TaskRollouts()
    pending = list(enumerate(seeds))  # (episode number, seed)
    current: list[tuple[int, int] | None] = [None] * n
    steps = np.zeros(n, dtype=int)
    frames: list[list[np.ndarray] | None] = [None] * n
    digests = [TrajectoryDigest() for _ in range(n)]
    instruction = [""] * n  # from infos: vector envs' shared memory garbles Text observations
    held: list[np.ndarray | None] = [None] * n  # episode_start / tracked conditioning: each env's first-frame positions
    obs = None

    def start(i: int) -> None:
        nonlocal obs
        mask = np.zeros(n, dtype=bool)
        mask[i] = True
        seed_list = [None] * n
        options: dict = {"reset_mask": mask}
        if pending:
            ep, seed = pending.pop(0)
            seed_list[i] = seed
            current[i] = (ep, seed)
            if instructions:
                options["instruction"] = instructions[ep % len(instructions)]
        else:
            current[i] = None
            seed_list[i] = 0
        new_obs, infos = envs.reset(seed=seed_list, options=options)
        obs = new_obs
        instruction[i] = str(infos["instruction"][i])
        steps[i] = 0
        executors[i].reset()
        held[i] = None
        if carry is not None:
            carry.forget(i)
        digests[i] = TrajectoryDigest()
        frames[i] = [_frame(obs, i)] if current[i] is not None and current[i][0] < videos else None

    for i in range(n):
        start(i)
    while any(c is not None for c in current):
        active = [i for i in range(n) if current[i] is not None]
        need = [i for i in active if executors[i].needs_chunk()]
        if need:
            batch = {k: v[need] for k, v in obs.items() if k != TASK}
            batch[TASK] = [instruction[i] for i in need]
            if hold_start:  # positions from each episode's first frame, held per env
                fresh = [i for i in need if held[i] is None]
                if fresh and true_state:
                    states = np.stack(envs.call("privileged_state"))
                    for i in fresh:
                        held[i] = states[i]
                elif fresh:
                    sub = {k: v[fresh] for k, v in obs.items() if k != TASK}
                    sub[TASK] = [instruction[i] for i in fresh]
                    estimates = policy.estimate_env_state(sub, reset_frame=carried).cpu().numpy()
                    for i, e in zip(fresh, estimates, strict=True):
                        held[i] = e
                if carry is not None and fresh:
                    carry.start(fresh, np.stack([held[i][:3] for i in fresh]))
                # tracked: the policy estimates the target from each frame itself (inside the timed call)
                batch[OBS_ENV_STATE_START if tracked else OBS_ENV_STATE] = np.stack([held[i] for i in need])
                if carry is not None:  # the carried target, the held goal
                    batch[OBS_ENV_STATE][:, :3] = carry.pos[need]
                if tracked and true_state:
                    batch[OBS_ENV_STATE] = np.stack(envs.call("privileged_state"))[need]
            elif true_state:  # the oracle ablation reads the simulator's privileged state
                batch[OBS_ENV_STATE] = np.stack(envs.call("privileged_state"))[need]
            t0 = time.perf_counter()
            chunks = policy.predict_action_chunk(batch)
            result.chunk_latency_ms.append((time.perf_counter() - t0) * 1000)
            result.chunk_batch_sizes.append(len(need))
            for j, i in enumerate(need):
                executors[i].push(chunks[j : j + 1])
        actions = np.zeros((n, *envs.single_action_space.shape), dtype=np.float32)
        for i in active:
            actions[i] = executors[i].pop()[0].cpu().numpy()
            digests[i].add_action(actions[i])
        obs, _, terminated, truncated, infos = envs.step(actions)
        if carry is not None:
            carry.update(active, obs[OBS_STATE][active])
        for i in active:
            steps[i] += 1
            if frames[i] is not None:
                frames[i].append(_frame(obs, i))
            if terminated[i] or truncated[i]:
                ep, seed = current[i]
                success = bool(infos["is_success"][i])
                digest = digests[i].final(obs[OBS_STATE][i])
                result.episodes.append(EpisodeResult(seed, success, int(steps[i]), instruction[i], digest))
                if frames[i] is not None:
                    tag = "success" if success else "failure"
                    result.videos.append((f"ep{ep:03d}_seed{seed}_{tag}", frames[i]))
                if progress is not None:
                    progress.update(1)
                    done = result.episodes
                    progress.set_postfix(success=f"{sum(e.success for e in done)}/{len(done)}")
                start(i)
        # envs reset without a seed left stay idle (current[i] is None) until all are done
    return result


@torch.no_grad()
def batch1_latency_ms(policy: VLAPolicy, obs: dict, instruction: str, repeats: int = 30) -> list[float]:
    """Wall time of predict_action_chunk at batch 1 (preprocessing included) on a real observation."""
    single = {k: v[:1] for k, v in obs.items() if k != TASK}
    single[TASK] = [instruction]
    k = action_history_of(policy)
    if k:
        single[OBS_PREV_ACTIONS] = torch.full((1, k), -1, dtype=torch.long)
    policy.reset()  # an episode_start policy then estimates (and holds) the positions from this frame
    if getattr(policy.config, "reads_true_env_state", False):
        single[OBS_ENV_STATE] = torch.zeros(1, policy.config.env_state_dim)
    for _ in range(3):
        policy.predict_action_chunk(single)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        policy.predict_action_chunk(single)
        times.append((time.perf_counter() - t0) * 1000)
    return times

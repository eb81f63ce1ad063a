"""`vla eval --task pointnav|objectnav|instructnav`: closed-loop evaluation in the navigation suite.

Episodes run in unseen houses (`--split test`), `--num-envs` envs stepped in lockstep in this process
with the policy batched across the envs that need a new chunk. The report gives, per task, success
rate with a 95% Wilson interval and SPL, SoftSPL and distance-to-goal means with 95% percentile-
bootstrap intervals (10,000 resamples of the episodes, fixed seed), every episode's own metrics as the
env reported them in `info`, why the failed episodes failed (early STOP, time-out while colliding, other
time-out: `nav_failures.py`), inference latency, a grid of top-down maps (agent path in blue, shortest
path in green) and MP4s of the first episodes (RGB | depth side by side).
"""

from __future__ import annotations

import functools
import json
import operator
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vla.constants import OBS_STATE, TASK
from vla.errors import VlaUserError

from .config import EvalConfig

METRICS = ("spl", "softspl", "distance_to_goal")  # bootstrap intervals; success gets a Wilson interval
PLOT_EPISODES = 16  # top-down maps per task in topdown.png


def is_navigation_spec(spec: str) -> bool:
    """True when `--task` names navigation tasks only (mixing them with tabletop tasks is an error)."""
    from vla.envs import NAV_TASK_NAMES

    tasks = [t.strip() for t in spec.split(",") if t.strip()]
    nav = [t in NAV_TASK_NAMES for t in tasks]
    if any(nav) and not all(nav):
        raise VlaUserError(f"--task {spec!r} mixes tabletop and navigation tasks; evaluate them in separate runs")
    return bool(tasks) and all(nav)


@dataclass
class NavEpisode:
    seed: int
    layout_seed: int
    instruction: str
    success: bool
    spl: float
    softspl: float
    distance_to_goal: float
    start_distance: float
    path_length: float
    collisions: int
    steps: int
    stopped: bool = False  # the policy called STOP (False: the step limit ended the episode)
    scene_id: str = ""  # env servers over Habitat: the scene file (layout_seed is then -1)


@dataclass
class NavRollouts:
    episodes: list[NavEpisode] = field(default_factory=list)
    chunk_latency_ms: list[float] = field(default_factory=list)
    chunk_batch_sizes: list[int] = field(default_factory=list)
    videos: list[tuple[str, list[np.ndarray]]] = field(default_factory=list)
    topdowns: list[tuple[str, np.ndarray]] = field(default_factory=list)


def env_action_type(config) -> str:
    """The navigation action type a checkpoint was trained on: discrete(4) or velocity (2 dims)."""
    if config.num_discrete_actions is not None:
        return "discrete"
    if config.action_dim == 2:
        return "velocity"
    raise VlaUserError(
        f"checkpoint predicts {config.action_dim}-d continuous actions; the navigation suite takes discrete(4) "
        f"or 2-d body velocity [forward, yaw rate] (train on a `vla collect --task pointnav` dataset)"
    )


def nav_env_options(config) -> dict:
    """make_env options a checkpoint needs beyond its action type: the egocentric maps it reads."""
    from vla.envs.navigation.nav_env import OBS_IMAGE_EGOMAP, OBS_IMAGE_SEMANTIC_MAP

    keys = tuple(config.camera_keys)
    options = {"egomap": True} if OBS_IMAGE_EGOMAP in keys else {}
    if OBS_IMAGE_SEMANTIC_MAP in keys:
        options["semantic_map"] = True
    return options


def video_frame(obs: dict, i: int) -> np.ndarray:
    """RGB | depth (| egomap | semantic map, when the env has them) side by side, upscaled 2x."""
    from vla.envs.navigation.nav_env import OBS_IMAGE_DEPTH, OBS_IMAGE_EGOMAP, OBS_IMAGE_RGB, OBS_IMAGE_SEMANTIC_MAP

    keys = [k for k in (OBS_IMAGE_RGB, OBS_IMAGE_DEPTH, OBS_IMAGE_EGOMAP, OBS_IMAGE_SEMANTIC_MAP) if k in obs]
    frame = np.concatenate([obs[k][i] for k in keys], axis=1)
    return np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1)


def _stack(observations: list[dict]) -> dict:
    return {k: np.stack([o[k] for o in observations]) for k in observations[0] if k != TASK}


def rollout_nav_task(
    policy,
    envs: list,
    seeds: list[int],
    n_action_steps: int,
    videos: int,
    progress=None,
    concurrent: bool = False,
    turn_reversal: bool = True,
    stop_threshold: float = 0.0,
    stuck_recovery: bool = False,
) -> NavRollouts:
    """Run one episode per seed across `envs` (in lockstep); returns NavRollouts. `concurrent` steps the envs
    from a thread each (env servers: their waits overlap); results are handled in env order either way.
    Discrete actions: `turn_reversal=False` rules out the turn opposite to the one just executed,
    `stop_threshold` > 0 rules out STOP wherever the policy gives it a lower probability, and
    `stuck_recovery` rules out MOVE_FORWARD right after one that left the agent in place."""
    rules = DecodingRules(turn_reversal, stop_threshold, stuck_recovery)
    return _LockstepRollout(policy, envs, seeds, n_action_steps, videos, progress, rules).run(concurrent)


STUCK_MOVE_M = 0.05
"""--stuck-recovery: a MOVE_FORWARD that moves the agent's GPS less than this (m) left it stuck."""


@dataclass(frozen=True)
class DecodingRules:
    """Actions ruled out before decoding (discrete actions, categorical heads); see EvalConfig."""

    turn_reversal: bool = True
    stop_threshold: float = 0.0
    stuck_recovery: bool = False


def stop_floor(stop_threshold: float, n_classes: int):
    """(n,) per-action probability floor for predict_action_chunk(min_prob=...): STOP's is the threshold."""
    import torch

    from vla.envs.navigation.nav_env import STOP

    floor = torch.zeros(n_classes)
    floor[STOP] = stop_threshold
    return floor


def reversal_forbid(last_actions: list[int | None], n_classes: int):
    """(B, n) bool: TURN_RIGHT where the last executed action was TURN_LEFT, and the reverse."""
    import torch

    from vla.envs.navigation.nav_env import TURN_LEFT, TURN_RIGHT

    forbid = torch.zeros(len(last_actions), n_classes, dtype=torch.bool)
    for row, last in enumerate(last_actions):
        if last in (TURN_LEFT, TURN_RIGHT):
            forbid[row, TURN_RIGHT if last == TURN_LEFT else TURN_LEFT] = True
    return forbid


def stuck_forbid(stuck: list[bool], n_classes: int):
    """(B, n) bool: MOVE_FORWARD where the last MOVE_FORWARD left the agent in place."""
    import torch

    from vla.envs.navigation.nav_env import MOVE_FORWARD

    forbid = torch.zeros(len(stuck), n_classes, dtype=torch.bool)
    forbid[:, MOVE_FORWARD] = torch.tensor(stuck, dtype=torch.bool)
    return forbid


def gps(obs: dict) -> np.ndarray:
    """The agent's GPS (x, y) in m: observation.state's gps.x, gps.y (then compass) close every nav task's state."""
    return np.asarray(obs[OBS_STATE], dtype=np.float64)[-3:-1]


class _LockstepRollout:
    """Per-env episode state for rollout_nav_task; the policy is batched across envs that need a chunk."""

    def __init__(
        self,
        policy,
        envs: list,
        seeds: list[int],
        n_action_steps: int,
        videos: int,
        progress,
        rules: DecodingRules,
    ):
        from gymnasium import spaces

        from vla.policy.ensembling import ChunkQueue
        from vla.policy.history import ExecutedActions, action_history_of

        n = len(envs)
        self.policy, self.envs, self.seeds, self.videos, self.progress = policy, envs, seeds, videos, progress
        self.result = NavRollouts()
        self.pending = list(enumerate(seeds))
        self.current: list[tuple[int, int] | None] = [None] * n
        self.obs: list[dict | None] = [None] * n
        self.queues = [ChunkQueue(n_action_steps) for _ in range(n)]
        self.steps = [0] * n
        self.frames: list[list[np.ndarray] | None] = [None] * n
        self.discrete = [isinstance(env.action_space, spaces.Discrete) for env in envs]
        self.history = ExecutedActions(n, action_history_of(policy))
        self.rules = rules
        n_classes = getattr(getattr(policy, "config", None), "num_discrete_actions", None)
        self.min_prob = stop_floor(rules.stop_threshold, n_classes) if rules.stop_threshold > 0 else None
        self.last_action: list[int | None] = [None] * n  # the discrete action each env executed last
        self.stuck = [False] * n  # the last MOVE_FORWARD left env i's agent in place

    def start(self, i: int) -> None:
        """Reset env i into the next pending episode (or mark it idle)."""
        if not self.pending:
            self.current[i] = None
            return
        ep, seed = self.pending.pop(0)
        self.current[i] = (ep, seed)
        self.obs[i], _ = self.envs[i].reset(seed=seed)
        self.queues[i].reset()
        self.history.reset(i)
        self.last_action[i] = None
        self.stuck[i] = False
        self.steps[i] = 0
        self.frames[i] = [video_frame(_stack([self.obs[i]]), 0)] if ep < self.videos else None

    def run(self, concurrent: bool) -> NavRollouts:
        from concurrent.futures import ThreadPoolExecutor

        n = len(self.envs)
        pool = ThreadPoolExecutor(max_workers=n) if concurrent and n > 1 else None
        try:
            for i in range(n):
                self.start(i)
            while any(c is not None for c in self.current):
                active = [i for i in range(n) if self.current[i] is not None]
                self.refill_chunks(active)
                actions = [self.env_action(i, self.queues[i].pop()[0]) for i in active]
                for i, a in zip(active, actions, strict=True):
                    if self.discrete[i]:
                        self.history.push(i, a)
                        self.last_action[i] = a
                if pool is None:
                    outcomes = [self.envs[i].step(a) for i, a in zip(active, actions, strict=True)]
                else:
                    outcomes = list(pool.map(lambda i, a: self.envs[i].step(a), active, actions))
                for i, outcome in zip(active, outcomes, strict=True):
                    self.after_step(i, *outcome)
        finally:
            if pool is not None:
                pool.shutdown()
        self.result.episodes.sort(key=lambda d: self.seeds.index(d.seed))
        return self.result

    def env_action(self, i: int, action):
        """Discrete action spaces get the action id as an int (what any Discrete env, and the env server's
        action check, take); continuous ones a float32 array."""
        a = action.float().cpu().numpy()
        return int(round(float(a.reshape(-1)[0]))) if self.discrete[i] else a

    def refill_chunks(self, active: list[int]) -> None:
        import torch

        need = [i for i in active if self.queues[i].needs_chunk()]
        if not need:
            return
        batch = _stack([self.obs[i] for i in need])
        batch[TASK] = [self.obs[i][TASK] for i in need]
        self.history.add_to(batch, need)
        t0 = time.perf_counter()
        with torch.inference_mode():
            chunks = self.policy.predict_action_chunk(batch, **self.rule_masks(need))
        self.result.chunk_latency_ms.append((time.perf_counter() - t0) * 1000)
        self.result.chunk_batch_sizes.append(len(need))
        for j, i in enumerate(need):
            self.queues[i].push(chunks[j : j + 1])

    def rule_masks(self, need: list[int]) -> dict:
        """predict_action_chunk's forbid / min_prob for envs `need`; none without rules (stand-in policies
        take only the observation)."""
        masks, forbids = {}, []
        if self.rules.turn_reversal and not self.rules.stuck_recovery and self.min_prob is None:
            return masks
        n_classes = self.policy.config.num_discrete_actions
        if not self.rules.turn_reversal:
            forbids.append(reversal_forbid([self.last_action[i] for i in need], n_classes))
        if self.rules.stuck_recovery:
            forbids.append(stuck_forbid([self.stuck[i] for i in need], n_classes))
        if forbids:
            masks["forbid"] = functools.reduce(operator.or_, forbids)
        if self.min_prob is not None:
            masks["min_prob"] = self.min_prob
        return masks

    def after_step(self, i: int, obs: dict, _reward, terminated: bool, truncated: bool, info: dict) -> None:
        if self.rules.stuck_recovery:
            from vla.envs.navigation.nav_env import MOVE_FORWARD

            moved = float(np.hypot(*(gps(obs) - gps(self.obs[i]))))
            self.stuck[i] = self.last_action[i] == MOVE_FORWARD and moved < STUCK_MOVE_M
        self.obs[i] = obs
        self.steps[i] += 1
        if self.frames[i] is not None:
            self.frames[i].append(video_frame(_stack([obs]), 0))
        if not (terminated or truncated):
            return
        ep, seed = self.current[i]
        e = NavEpisode(
            seed=seed,
            layout_seed=int(info.get("layout_seed", -1)),
            instruction=str(info["instruction"]),
            success=bool(info["success"]),
            spl=float(info["spl"]),
            softspl=float(info["softspl"]),
            distance_to_goal=float(info["distance_to_goal"]),
            start_distance=float(info["start_distance"]),
            path_length=float(info["path_length"]),
            collisions=int(info["collisions"]),
            steps=self.steps[i],
            stopped=bool(terminated),
            scene_id=str(info.get("scene_id", "")),
        )
        result = self.result
        result.episodes.append(e)
        tag = f"ep{ep:03d}_seed{seed}_{'success' if e.success else 'failure'}"
        if ep < PLOT_EPISODES and hasattr(self.envs[i].unwrapped, "grid"):  # a local MuJoCo house
            from vla.envs.navigation.topdown import draw_topdown

            label = f"{tag} SPL {e.spl:.2f}"
            result.topdowns.append((label, draw_topdown(self.envs[i], info["agent_path"], px_per_m=20)))
        if self.frames[i] is not None:
            result.videos.append((tag, self.frames[i]))
        if self.progress is not None:
            self.progress.update(1)
            done = result.episodes
            self.progress.set_postfix(success=f"{sum(d.success for d in done)}/{len(done)}")
        self.start(i)


def summarize(episodes: list[NavEpisode]) -> dict:
    """Per-task aggregates: SR with a Wilson interval, SPL/SoftSPL/distance means with bootstrap intervals."""
    from .nav_failures import failure_modes
    from .stats import bootstrap_mean_interval, wilson_interval

    n = len(episodes)
    successes = sum(e.success for e in episodes)
    out: dict = {
        "episodes": n,
        "successes": successes,
        "success_rate": successes / n,
        "success_ci95": list(wilson_interval(successes, n)),
    }
    for name in METRICS:
        values = [getattr(e, name) for e in episodes]
        out[name] = float(np.mean(values))
        out[f"{name}_ci95"] = list(bootstrap_mean_interval(values))
    out["collisions_per_episode"] = float(np.mean([e.collisions for e in episodes]))
    out["mean_steps"] = float(np.mean([e.steps for e in episodes]))
    out["mean_start_distance"] = float(np.mean([e.start_distance for e in episodes]))
    out["failure_modes"] = failure_modes(episodes)
    return out


def save_topdown_grid(path: Path, topdowns: list[tuple[str, np.ndarray]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(topdowns))
    rows = (len(topdowns) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (tag, img) in zip(axes.flat, topdowns, strict=False):
        ax.imshow(img)
        ax.set_title(tag.replace("_", " "), fontsize=7, color="green" if "success" in tag else "red")
    fig.suptitle(f"{title}  (blue: agent path, green: shortest path)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def remote_envs(cfg: EvalConfig, pc, action_type: str) -> list:
    """One RemoteEnv per --env-address, checked against the checkpoint's image size and action space."""
    from gymnasium import spaces

    from vla.envs.server import RemoteEnv

    addresses = [a.strip() for a in cfg.env_address.split(",") if a.strip()]
    if not addresses:
        raise VlaUserError("--env-address is empty; pass e.g. tcp://127.0.0.1:5555 (comma-separated for several)")
    envs = [RemoteEnv(a, timeout_s=cfg.env_timeout_s) for a in addresses[: cfg.episodes]]
    for env in envs:
        camera = next((env.observation_space[k] for k in pc.camera_keys if k in env.observation_space.spaces), None)
        if camera is not None and tuple(camera.shape[:2]) != tuple(pc.image_size):
            h, w = pc.image_size
            raise VlaUserError(
                f"the env server at {env.address} renders {camera.shape[0]}x{camera.shape[1]} images; the checkpoint "
                f"was trained on {h}x{w}: restart it with --env-kwargs '{{\"image_size\": {h}}}'"
            )
        missing = [k for k in pc.camera_keys if k not in env.observation_space.spaces]
        if missing:
            options = json.dumps(nav_env_options(pc)) if nav_env_options(pc) else ""
            hint = f": restart it with --env-kwargs '{options}'" if options else ""
            raise VlaUserError(f"the env server at {env.address} has no camera {missing} the checkpoint reads{hint}")
        discrete = isinstance(env.action_space, spaces.Discrete)
        if discrete != (action_type == "discrete"):
            raise VlaUserError(
                f"the env server at {env.address} takes {'discrete' if discrete else 'continuous'} actions; the "
                f"checkpoint outputs {action_type} ones"
            )
    return envs


def run_nav_eval(cfg: EvalConfig) -> int:
    import torch
    from tqdm import tqdm

    from vla.envs import NAV_TASK_NAMES, make_env
    from vla.envs.navigation.splits import resolve_split
    from vla.policy.checkpoint import load_policy

    from .decoding import apply_decoding
    from .nav_failures import describe
    from .report import write_video
    from .rollout import batch1_latency_ms
    from .stats import percentiles

    tasks = list(dict.fromkeys(t.strip() for t in cfg.task.split(",") if t.strip()))
    if not tasks or not all(t in NAV_TASK_NAMES for t in tasks):
        raise VlaUserError(f"--task {cfg.task!r}: navigation eval takes {', '.join(NAV_TASK_NAMES)}")
    if cfg.episodes < 1 or cfg.num_envs < 1:
        raise VlaUserError("--episodes and --num-envs must be >= 1")
    if cfg.instructions is not None:
        raise VlaUserError("--instructions applies to the tabletop tasks; navigation episodes carry their own")
    if cfg.transport != "inprocess":
        raise VlaUserError("--transport ros2 is for the tabletop tasks; navigation eval runs in-process")
    remote = cfg.env_address is not None
    if remote and len(tasks) != 1:
        raise VlaUserError(f"--env-address evaluates the one task its servers run; --task {cfg.task!r} names several")
    split = "server" if remote else resolve_split(cfg.split)
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise VlaUserError(f"--out {out} is a file; pass a directory")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    policy = load_policy(cfg.checkpoint, device=cfg.device)
    decoding = apply_decoding(policy, cfg.decoding, cfg.temperature, cfg.top_p)
    torch.manual_seed(cfg.seed)  # sampled actions (decoding 'sample') are reproducible
    pc = policy.config
    if cfg.ensembling not in ("checkpoint", "none"):
        raise VlaUserError("navigation eval executes chunks (--ensembling none); ensembling is not supported here")
    n_action_steps = cfg.n_action_steps or pc.n_action_steps
    if not (1 <= n_action_steps <= pc.chunk_size):
        raise VlaUserError(f"--n-action-steps must be in 1..{pc.chunk_size}")
    action_type = env_action_type(pc)
    if not 0.0 <= cfg.stop_threshold < 1.0:
        raise VlaUserError(f"--stop-threshold must be in [0, 1) (got {cfg.stop_threshold}); 0 turns it off")
    rules = [
        flag
        for flag, on in (
            ("--no-turn-reversal", not cfg.turn_reversal),
            ("--stop-threshold", cfg.stop_threshold > 0),
            ("--stuck-recovery", cfg.stuck_recovery),
        )
        if on
    ]
    if rules and (action_type != "discrete" or not hasattr(pc.head, "decoding") or n_action_steps != 1):
        raise VlaUserError(
            f"{' and '.join(rules)} rule out actions before decoding: they need a discrete-action categorical head "
            "(e.g. vla-categorical) executing one action per chunk (--n-action-steps 1)"
        )
    h, w = pc.image_size
    servers = remote_envs(cfg, pc, action_type) if remote else None  # checked before anything is written
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "checkpoint": str(cfg.checkpoint),
        "suite": "navigation",
        "split": split,
        "episodes_per_task": cfg.episodes,
        "first_seed": cfg.seed,
        **({"env_servers": [a.strip() for a in cfg.env_address.split(",")]} if remote else {}),
        "action_type": action_type,
        "n_action_steps": n_action_steps,
        **({"decoding": decoding} if decoding else {}),
        **({} if cfg.turn_reversal else {"turn_reversal": "ruled out (--no-turn-reversal)"}),
        **({"stop_threshold": cfg.stop_threshold} if cfg.stop_threshold > 0 else {}),
        **(
            {"stuck_recovery": f"MOVE_FORWARD ruled out after one that moved < {STUCK_MOVE_M} m"}
            if cfg.stuck_recovery
            else {}
        ),
        "intervals": "success: 95% Wilson score; spl, softspl, distance_to_goal: 95% percentile bootstrap "
        "of the mean (10,000 resamples, seed 0)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "tasks": {},
    }
    all_latency: list[float] = []
    for task in tasks:
        if servers is not None:
            envs = servers
        else:
            envs = [
                make_env(task, image_size=(h, w), action_type=action_type, split=split, **nav_env_options(pc))
                for _ in range(min(cfg.num_envs, cfg.episodes))
            ]
        missing = [k for k in pc.camera_keys if k not in envs[0].observation_space.spaces]
        state_dim = envs[0].observation_space[OBS_STATE].shape[0]
        if missing or state_dim != pc.state_dim:
            raise VlaUserError(
                f"checkpoint expects cameras {list(pc.camera_keys)} and state_dim {pc.state_dim}; {task} gives "
                f"{[k for k in envs[0].observation_space.spaces if k.startswith('observation.images.')]} and "
                f"state_dim {state_dim} (train on a {task} dataset)"
            )
        seeds = [cfg.seed + i for i in range(cfg.episodes)]
        with tqdm(total=cfg.episodes, desc=f"eval {task}", unit="ep") as bar:
            r = rollout_nav_task(
                policy, envs, seeds, n_action_steps, cfg.videos, bar, concurrent=remote,
                turn_reversal=cfg.turn_reversal, stop_threshold=cfg.stop_threshold,
                stuck_recovery=cfg.stuck_recovery,
            )  # fmt: skip
        obs, _ = envs[0].reset(seed=cfg.seed + 10**6)
        latency = batch1_latency_ms(policy, _stack([obs]), obs[TASK])
        for env in envs:
            env.close()
        all_latency += latency
        report["tasks"][task] = {
            **summarize(r.episodes),
            "latency_ms_batch1": percentiles(latency),
            "latency_ms_per_call": percentiles(r.chunk_latency_ms),
            "mean_batch_per_call": float(np.mean(r.chunk_batch_sizes)) if r.chunk_batch_sizes else 0.0,
            "per_episode": [asdict(e) for e in r.episodes],
        }
        if r.topdowns:
            save_topdown_grid(out / f"topdown_{task}.png", r.topdowns, f"{task}, {split} split")
        for name, frames in r.videos:
            write_video(out / "videos" / task / f"{name}.mp4", frames, fps=4)
    report["latency_ms_batch1"] = percentiles(all_latency)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"\n{'task':12s} {'SR':>6s} {'95% CI':>14s} {'SPL':>6s} {'95% CI':>14s} {'SoftSPL':>8s} {'dist (m)':>9s}")
    for task, t in report["tasks"].items():
        (slo, shi), (plo, phi) = t["success_ci95"], t["spl_ci95"]
        print(
            f"{task:12s} {t['success_rate'] * 100:5.1f}% [{slo * 100:4.1f}, {shi * 100:5.1f}] {t['spl']:6.3f} "
            f"[{plo:.3f}, {phi:.3f}] {t['softspl']:8.3f} {t['distance_to_goal']:9.2f}"
        )
    for task, t in report["tasks"].items():
        print(f"{task}: {describe(t['failure_modes'])}")
    lat = report["latency_ms_batch1"]
    print(f"inference p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms per chunk (batch 1)")
    print(f"[eval] report: {out / 'report.json'}, top-down maps: {out}/topdown_*.png, videos: {out / 'videos'}")
    return 0

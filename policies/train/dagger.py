"""DAgger for navigation datasets (Ross, Gordon & Bagnell 2011): during `vla train`, the policy itself
drives in training-split houses, the privileged shortest-path expert labels every state it visits, and
those frames join the training set.

Behaviour cloning from clean shortest-path demonstrations never shows the policy a state off the path:
once it drifts, bumps a wall or turns the wrong way, it is somewhere no demonstration went, and a
reactive policy there tends to dither (TURN_LEFT, TURN_RIGHT, ...) until the time limit. DAgger asks
the expert what to do in exactly those states. The expert re-plans from the current pose at every step
(geodesic distance field of the house), so its label is the shortest way on from wherever the policy is.

Round k of R runs at k/(R+1) of the budget (of --max-minutes, else of --steps) with the EMA weights,
the same ones `vla eval` loads. Each step executes the expert's action with probability beta_k
(`--dagger-beta`, halved every round) and the policy's otherwise; the recorded action is always the
expert's. Rounds are saved in out/dagger/ (safetensors + JSON) and reloaded on resume. The round's own
success rate (policy-driven, training houses) is logged: a free progress signal.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from vla.constants import ACTION, OBS_STATE, TASK
from vla.errors import VlaUserError

from .config import TrainConfig
from .data import DemoDataset

SEED_BASE = 900_000_000  # episode seeds of DAgger rollouts: disjoint from `vla collect`'s default seeds


@dataclass
class DaggerRound:
    """Frames of one round, in episode order. `executed` is what the env ran (expert or policy)."""

    images: dict[str, torch.Tensor]  # camera -> (N, 3, H, W) uint8
    state: torch.Tensor  # (N, S) float32
    action: torch.Tensor  # (N, A) float32: the expert's label
    executed: torch.Tensor  # (N, A) float32
    lengths: list[int]  # frames per episode
    instructions: list[str]  # one per episode
    seeds: list[int]
    info: dict = field(default_factory=dict)  # success rate, beta, seconds

    def save(self, path: Path) -> None:
        tensors = {f"images.{k}": v.contiguous() for k, v in self.images.items()}
        tensors |= {"state": self.state, "action": self.action, "executed": self.executed}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp))
        meta = {"lengths": self.lengths, "instructions": self.instructions, "seeds": self.seeds, "info": self.info}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
        tmp.replace(path)  # the safetensors file last: a round counts once it is there

    @classmethod
    def load(cls, path: Path) -> DaggerRound:
        t = load_file(str(path))
        meta = json.loads(path.with_suffix(".json").read_text())
        images = {k[len("images.") :]: v for k, v in t.items() if k.startswith("images.")}
        return cls(images, t["state"], t["action"], t["executed"], **meta)


def extend_demos(demos: DemoDataset, r: DaggerRound) -> None:
    """Append a round's episodes to the in-memory training set (indices, episode ends and tasks included)."""
    if sum(r.lengths) == 0:
        return
    start = len(demos)
    ends = []
    for n in r.lengths:
        start += n
        ends += [start - 1] * n
    task_ids = []
    index = {t: i for i, t in enumerate(demos.tasks)}
    for text, n in zip(r.instructions, r.lengths, strict=True):
        if text not in index:
            index[text] = len(demos.tasks)
            demos.tasks.append(text)
        task_ids += [index[text]] * n
    for k in demos.images:
        demos.images[k] = torch.cat([demos.images[k], r.images[k]])
    demos.state = torch.cat([demos.state, r.state])
    demos.executed = torch.cat([demos.action if demos.executed is None else demos.executed, r.executed])
    demos.action = torch.cat([demos.action, r.action])
    demos.episode_end = torch.cat([demos.episode_end, torch.as_tensor(ends, dtype=torch.int64)])
    demos.task_index = torch.cat([demos.task_index, torch.as_tensor(task_ids, dtype=torch.int64)])
    demos.num_episodes += len(r.lengths)


def collection_settings(dataset: str) -> dict:
    """The `vla collect` settings of a local navigation dataset (task, split, image size, action type)."""
    from vla.envs import NAV_TASK_NAMES

    record = Path(dataset) / "meta" / "vla_collect.json"
    if not record.is_file():
        raise VlaUserError(f"--dagger-rounds needs a local dataset recorded by `vla collect` ({record} is missing)")
    settings = json.loads(record.read_text())["settings"]
    tasks = list(settings.get("tasks", []))
    if not tasks or not all(t in NAV_TASK_NAMES for t in tasks):
        raise VlaUserError(
            f"--dagger-rounds needs a navigation dataset ({', '.join(NAV_TASK_NAMES)}); {dataset} holds {tasks}"
        )
    return settings


class NavDagger:
    """Schedules, runs, saves and reloads DAgger rounds for one training run."""

    def __init__(self, cfg: TrainConfig, demos: DemoDataset, out: Path):
        if demos.env_state is not None:
            raise VlaUserError("--dagger-rounds applies to navigation datasets (this one records environment_state)")
        if not 0.0 <= cfg.dagger_beta <= 1.0:
            raise VlaUserError(f"--dagger-beta must be in [0, 1] (got {cfg.dagger_beta})")
        if cfg.dagger_episodes < 1 or cfg.dagger_max_steps < 1:
            raise VlaUserError("--dagger-episodes and --dagger-max-steps must be >= 1")
        self.cfg, self.demos, self.dir = cfg, demos, out / "dagger"
        self.settings = collection_settings(cfg.dataset)
        self.rounds = cfg.dagger_rounds

    def path(self, k: int) -> Path:
        return self.dir / f"round_{k:02d}.safetensors"

    def reload(self, done: int) -> None:
        """Append the saved rounds 0..done-1 (a resumed run continues with the data it had)."""
        for k in range(done):
            if not self.path(k).is_file():
                raise VlaUserError(f"cannot resume: {self.path(k)} is missing; use a new --out or --no-resume")
            extend_demos(self.demos, DaggerRound.load(self.path(k)))

    def due(self, done: int, step: int, elapsed_s: float) -> bool:
        if done >= self.rounds:
            return False
        at = (done + 1) / (self.rounds + 1)
        if self.cfg.max_minutes is not None:
            return elapsed_s >= at * self.cfg.max_minutes * 60
        return step >= at * self.cfg.steps

    def summary(self) -> dict:
        """Per round: beta, the policy's success rate in its own rollouts, frames added, seconds."""
        rounds = []
        for k in range(self.rounds):
            meta = self.path(k).with_suffix(".json")
            if self.path(k).is_file() and meta.is_file():
                rounds.append(json.loads(meta.read_text())["info"])
        return {"rounds": rounds, "frames_added": sum(r["frames"] for r in rounds)}

    def run_round(self, k: int, policy) -> DaggerRound:
        t0 = time.perf_counter()
        beta = self.cfg.dagger_beta * 0.5**k
        seeds = [SEED_BASE + self.cfg.seed * 1_000_000 + k * 10_000 + i for i in range(self.cfg.dagger_episodes)]
        r = rollout_with_expert(
            policy, self.settings, seeds, beta, self.cfg.dagger_max_steps, tuple(self.demos.image_size), k
        )
        r.info |= {"round": k, "beta": beta, "seconds": round(time.perf_counter() - t0, 1)}
        r.save(self.path(k))
        extend_demos(self.demos, r)
        return r


def rollout_with_expert(
    policy, settings: dict, seeds: list[int], beta: float, max_steps: int, image_size: tuple[int, int], salt: int = 0
) -> DaggerRound:
    """One episode per seed in the collection's houses, driven by the policy (the expert with probability
    beta), every visited state labelled by the expert. Two envs in lockstep share each policy call."""
    from tqdm import tqdm

    from vla.envs import make_env
    from vla.policies.eval.navigation import _stack, nav_env_options
    from vla.policies.experts import make_nav_expert
    from vla.policy.history import ExecutedActions, action_history_of

    tasks, action_type = list(settings["tasks"]), settings.get("action_type", "discrete")
    size = int(settings["image_size"])
    split = settings.get("split", "train")
    cams = list(policy.config.camera_keys)
    rng = np.random.default_rng([salt, len(seeds), 0xDA66E2])
    n_envs = min(2, len(seeds))
    options = nav_env_options(policy.config)
    envs = [make_env(tasks[0], image_size=size, action_type=action_type, split=split, **options) for _ in range(n_envs)]
    teacher = settings.get("expert", "shortest")  # the collection's own teacher labels the DAgger states
    experts = [make_nav_expert(env, teacher) for env in envs]
    frames: dict[str, list] = {k: [] for k in (*cams, OBS_STATE, ACTION, "executed")}
    per_episode: list[tuple[int, list[dict]]] = []  # (seed index, frames) so episodes are stored in seed order
    meta: dict[int, tuple[str, bool, int]] = {}
    pending = list(range(len(seeds)))
    current: list[int | None] = [None] * n_envs
    obs: list[dict | None] = [None] * n_envs
    steps = [0] * n_envs
    buffers: list[list[dict]] = [[] for _ in range(n_envs)]
    instruction = [""] * n_envs
    history = ExecutedActions(n_envs, action_history_of(policy))

    def start(i: int) -> None:
        if not pending:
            current[i] = None
            return
        j = pending.pop(0)
        task = tasks[j % len(tasks)]
        if envs[i].unwrapped.task_name != task:
            envs[i].close()
            envs[i] = make_env(task, image_size=size, action_type=action_type, split=split, **options)
            experts[i] = make_nav_expert(envs[i], teacher)
        current[i], steps[i], buffers[i] = j, 0, []
        obs[i], _ = envs[i].reset(seed=seeds[j])
        instruction[i] = str(obs[i][TASK])
        experts[i].reset()
        history.reset(i)

    try:
        with tqdm(total=len(seeds), desc=f"dagger round {salt}", unit="ep", leave=False) as bar:
            for i in range(n_envs):
                start(i)
            while any(c is not None for c in current):
                active = [i for i in range(n_envs) if current[i] is not None]
                batch = _stack([obs[i] for i in active])
                batch[TASK] = [obs[i][TASK] for i in active]
                history.add_to(batch, active)
                with torch.inference_mode():
                    chosen = policy.predict_action_chunk(batch)[:, 0].float().cpu().numpy()
                for a, i in enumerate(active):
                    label = np.asarray(experts[i].act(), dtype=np.float32).reshape(-1)
                    mine = chosen[a].reshape(-1).astype(np.float32)
                    run = label if rng.random() < beta else mine
                    buffers[i].append({**{k: obs[i][k] for k in cams}, OBS_STATE: obs[i][OBS_STATE],
                                       ACTION: label, "executed": run})  # fmt: skip
                    if not np.array_equal(run, label):
                        experts[i].drop_commitment()  # a committed heading is stale once someone else drove
                    env_action = int(round(float(run[0]))) if action_type == "discrete" else run
                    if action_type == "discrete":
                        history.push(i, env_action)
                    obs[i], _, terminated, truncated, info = envs[i].step(env_action)
                    steps[i] += 1
                    if terminated or truncated or steps[i] >= max_steps:
                        j = current[i]
                        per_episode.append((j, buffers[i]))
                        meta[j] = (instruction[i], bool(terminated and info.get("success", False)), steps[i])
                        bar.update(1)
                        bar.set_postfix(success=f"{sum(m[1] for m in meta.values())}/{len(meta)}")
                        start(i)
    finally:
        for env in envs:
            env.close()
    per_episode.sort(key=lambda e: e[0])
    for _, buf in per_episode:
        for f in buf:
            for k in frames:
                frames[k].append(f[k])

    def images(key: str) -> torch.Tensor:
        x = torch.as_tensor(np.stack(frames[key])).permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W) uint8
        if tuple(x.shape[-2:]) != tuple(image_size):  # resized as data.py resizes decoded frames
            x = F.interpolate(x.float() / 255, size=image_size, mode="bilinear", align_corners=False, antialias=True)
            x = (x * 255).round().clamp(0, 255).to(torch.uint8)
        return x

    order = [j for j, _ in per_episode]
    successes = [meta[j][1] for j in order]
    return DaggerRound(
        images={k: images(k) for k in cams},
        state=torch.as_tensor(np.stack(frames[OBS_STATE]), dtype=torch.float32),
        action=torch.as_tensor(np.stack(frames[ACTION]), dtype=torch.float32),
        executed=torch.as_tensor(np.stack(frames["executed"]), dtype=torch.float32),
        lengths=[len(buf) for _, buf in per_episode],
        instructions=[meta[j][0] for j in order],
        seeds=[seeds[j] for j in order],
        info={"episodes": len(order), "success_rate": float(np.mean(successes)) if successes else 0.0,
              "frames": sum(len(buf) for _, buf in per_episode)},
    )  # fmt: skip

"""Scene banks: many cheap, labelled views of the tabletop for the auxiliary grounding loss.

An expert demonstration costs one layout per ~25 frames, so a few hundred demonstrations show a
few hundred layouts, far too few for a vision encoder trained from scratch to learn which object
"the purple sphere" is (it memorizes the layouts instead). A scene bank is the cheap complement:
each entry is a freshly sampled episode (layout, distractors, lighting, camera jitter, instruction)
with the arm driven to a random pose, rendered once, and labelled with the simulator's privileged
target and goal positions. Training regresses those labels from the backbone (the same auxiliary
head as `observation.environment_state`), never the actions; policies still act from images,
instruction and proprioception only.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from vla.constants import OBS_ENV_STATE, OBS_STATE, TASK
from vla.errors import VlaUserError

SCENE_SEED_OFFSET = 7_000_000  # keeps scene-bank seeds away from collection and evaluation seeds
TOOL_LOW = np.array([0.22, -0.30, 0.05])
TOOL_HIGH = np.array([0.62, 0.30, 0.22])


@dataclass
class SceneBank:
    images: dict[str, torch.Tensor]  # camera -> (N, 3, H, W) uint8
    state: torch.Tensor  # (N, S)
    env_state: torch.Tensor  # (N, E)
    instructions: list[str]

    def __len__(self) -> int:
        return int(self.state.shape[0])

    def batch(self, indices: torch.Tensor) -> dict:
        return {
            **{k: v[indices].float().div_(255.0) for k, v in self.images.items()},
            OBS_STATE: self.state[indices],
            OBS_ENV_STATE: self.env_state[indices],
            TASK: [self.instructions[i] for i in indices.tolist()],
        }

    def save(self, path: Path) -> None:
        tensors = {f"image.{k}": v for k, v in self.images.items()}
        tensors.update(state=self.state, env_state=self.env_state)
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata={"instructions": json.dumps(self.instructions)})
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> SceneBank:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            instructions = json.loads(f.metadata()["instructions"])
        t = load_file(str(path))
        images = {k.removeprefix("image."): v for k, v in t.items() if k.startswith("image.")}
        return cls(images=images, state=t["state"], env_state=t["env_state"], instructions=instructions)


def _render_scenes(args) -> dict:
    tasks, split, image_size, camera_keys, seeds = args
    import vla.envs

    envs = {t: vla.envs.make_env(t, image_size=image_size, split=split) for t in tasks}
    out = {"images": {k: [] for k in camera_keys}, "state": [], "env_state": [], "instructions": []}
    try:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            env = envs[tasks[int(rng.integers(len(tasks)))]]
            obs, _ = env.reset(seed=int(seed))
            if rng.random() < 0.8:  # most views with the arm somewhere over the table, some at home
                pose = rng.uniform(TOOL_LOW, TOOL_HIGH)
                obs = env.unwrapped.pose_arm(pose, tool_yaw=float(rng.uniform(-0.8, 0.8)), gripper=rng.choice([-1, 1]))
            for k in camera_keys:
                out["images"][k].append(np.asarray(obs[k]).transpose(2, 0, 1))
            out["state"].append(np.asarray(obs[OBS_STATE], np.float32))
            out["env_state"].append(env.unwrapped.privileged_state())
            out["instructions"].append(str(obs[TASK]))
    finally:
        for env in envs.values():
            env.close()
    return out


def generate_scene_bank(
    n: int,
    tasks: list[str],
    split: str,
    image_size: int,
    camera_keys: tuple[str, ...],
    seed: int = 0,
    workers: int = 2,
    chunk: int = 64,
) -> SceneBank:
    """Render `n` labelled scenes with `workers` processes (a progress bar shows the rate)."""
    if n < 1:
        raise VlaUserError(f"a scene bank needs n >= 1 scenes (got {n})")
    seeds = np.arange(n) + SCENE_SEED_OFFSET + seed * 1_000_003
    jobs = [(tasks, split, image_size, camera_keys, seeds[i : i + chunk]) for i in range(0, n, chunk)]
    parts = []
    ctx = mp.get_context("forkserver")
    with ctx.Pool(workers) as pool, tqdm(total=n, desc="scene bank", unit="scene") as bar:
        for part in pool.imap(_render_scenes, jobs):
            parts.append(part)
            bar.update(len(part["state"]))
    images = {k: torch.from_numpy(np.concatenate([np.stack(p["images"][k]) for p in parts])) for k in camera_keys}
    return SceneBank(
        images=images,
        state=torch.from_numpy(np.concatenate([np.stack(p["state"]) for p in parts])),
        env_state=torch.from_numpy(np.concatenate([np.stack(p["env_state"]) for p in parts])),
        instructions=[s for p in parts for s in p["instructions"]],
    )

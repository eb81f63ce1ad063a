"""Scene banks: many cheap, labelled views of the tabletop for the auxiliary grounding loss.

An expert demonstration costs one layout per ~25 frames, so a few hundred demonstrations show a
few hundred layouts, far too few for a vision encoder trained from scratch to learn which object
"the purple sphere" is (it memorizes the layouts instead). A scene bank is the cheap complement:
each entry is a freshly sampled episode (layout, distractors, lighting, camera jitter, instruction)
with the arm at home, driven to a random pose, or partway through the scripted expert's demonstration
(a prop in the gripper, in the bowl, pushed aside), rendered once, and labelled with the simulator's privileged
target and goal positions. Training regresses those labels from the backbone (the same auxiliary
head as `observation.environment_state`), never the actions; policies still act from images,
instruction and proprioception only.

Each scene also records where the target and the goal appear in every camera image (the simulator's
camera projection), which supervises the backbone's dense grounding heatmaps (`vla.policy.grounding`):
"the purple sphere is here in this image" is a far more direct signal than one xyz per scene. And it
records the colour and shape class of every pixel (MuJoCo's segmentation pass), which teaches the same
features what colours and shapes are, for every prop in view, independently of the instruction.
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
from vla.envs.manipulation.props import COLOURS
from vla.envs.manipulation.scene import SEMANTIC_SHAPES
from vla.errors import VlaUserError
from vla.policy.grounding import AUX_COLOURS, AUX_PIXELS, AUX_SEMANTICS, AUX_SHAPES

SEMANTIC_CLASSES = (1 + len(COLOURS), 1 + len(SEMANTIC_SHAPES))  # colour, shape (+ background)

SCENE_SEED_OFFSET = 7_000_000  # keeps scene-bank seeds away from collection and evaluation seeds
BANK_SAMPLING = 2
"""Version of how a bank draws its scenes. 1 (banks saved before it was recorded): the bank chose each scene's
task and arm pose from a generator seeded exactly as the env's own, so the task choice and the episode's
draws were one stream and a task's scenes covered a sliver of its layouts (every pick target a cube of five
colours, every place bowl yellow or blue, every stack target pink or cyan). 2: the bank's draws come from
their own stream (`BANK_RNG_STREAM`). A saved bank of an older version is rendered again."""
BANK_RNG_STREAM = 0x5CE7E
"""Mixed into the bank's own generator's seed so its draws are independent of the env's, seeded by the same
number."""
TOOL_LOW = np.array([0.22, -0.30, 0.05])
TOOL_HIGH = np.array([0.62, 0.30, 0.22])


@dataclass
class SceneBank:
    images: dict[str, torch.Tensor]  # camera -> (N, 3, H, W) uint8
    state: torch.Tensor  # (N, S)
    env_state: torch.Tensor  # (N, E)
    instructions: list[str]
    pixels: torch.Tensor | None = None  # (N, cameras, E // 3 + L, 2) image xy in [0, 1] of each labelled point
    # (the env-state points, then the env's L landmarks), NaN unseen
    semantics: torch.Tensor | None = None  # (N, cameras, 2, H, W) uint8 colour / shape class per pixel, 0 = no prop
    semantic_classes: tuple[int, ...] = ()  # classes per semantics channel, background included
    point_colours: torch.Tensor | None = None  # (N, E // 3) uint8 colour class of the prop each env-state point is
    # on: the target's, the bowl's or base cube's for a goal that is a prop, 0 for one that is not (pick, push)
    point_shapes: torch.Tensor | None = None  # (N, E // 3) uint8 shape class (1 + index in SEMANTIC_SHAPES) of the
    # same props, 0 where a point is on none
    demo_fraction: float = 0.0  # share of mid-demonstration scenes (generate_scene_bank)
    sampling: int = BANK_SAMPLING  # how the scenes were drawn (BANK_SAMPLING); 1 for banks saved before it

    def __len__(self) -> int:
        return int(self.state.shape[0])

    def batch(self, indices: torch.Tensor) -> dict:
        return {
            **{k: v[indices].float().div_(255.0) for k, v in self.images.items()},
            **self.labels(indices),
            **({AUX_SEMANTICS: self.semantics[indices]} if self.semantics is not None else {}),
        }

    def labels(self, indices: torch.Tensor) -> dict:
        """The rows' state, env state, instruction and (when recorded) image points; no images."""
        return {
            OBS_STATE: self.state[indices],
            OBS_ENV_STATE: self.env_state[indices],
            TASK: [self.instructions[i] for i in indices.tolist()],
            **({AUX_PIXELS: self.pixels[indices]} if self.pixels is not None else {}),
            **({AUX_COLOURS: self.point_colours[indices]} if self.point_colours is not None else {}),
            **({AUX_SHAPES: self.point_shapes[indices]} if self.point_shapes is not None else {}),
        }

    def save(self, path: Path) -> None:
        tensors = {f"image.{k}": v for k, v in self.images.items()}
        tensors.update(state=self.state, env_state=self.env_state)
        if self.pixels is not None:
            tensors["pixels"] = self.pixels
        if self.semantics is not None:
            tensors["semantics"] = self.semantics
        if self.point_colours is not None:
            tensors["point_colours"] = self.point_colours
        if self.point_shapes is not None:
            tensors["point_shapes"] = self.point_shapes
        tmp = path.with_suffix(".tmp")
        meta = {
            "instructions": json.dumps(self.instructions),
            "semantic_classes": json.dumps(self.semantic_classes),
            "demo_fraction": json.dumps(self.demo_fraction),
            "sampling": json.dumps(self.sampling),
        }
        save_file(tensors, str(tmp), metadata=meta)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> SceneBank:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        instructions = json.loads(meta["instructions"])
        t = load_file(str(path))
        images = {k.removeprefix("image."): v for k, v in t.items() if k.startswith("image.")}
        return cls(
            images=images,
            state=t["state"],
            env_state=t["env_state"],
            instructions=instructions,
            pixels=t.get("pixels"),  # banks saved before the grounding heatmaps have none
            semantics=t.get("semantics"),
            semantic_classes=tuple(json.loads(meta.get("semantic_classes", "[]"))),
            point_colours=t.get("point_colours"),  # banks saved before the colour vote have none
            point_shapes=t.get("point_shapes"),  # nor before the shape vote
            demo_fraction=float(json.loads(meta.get("demo_fraction", "0"))),
            sampling=int(json.loads(meta.get("sampling", "1"))),
        )


def play_expert(env, rng: np.random.Generator) -> dict:
    """Play the scripted expert for a random number of steps of the episode (without rendering them) and
    return the observation there: the target in the gripper, lifted, carried, in the bowl, pushed."""
    from vla.policies.experts.tabletop import TabletopExpert

    expert = TabletopExpert(env)
    for _ in range(int(rng.integers(1, env.unwrapped.max_steps))):
        env.unwrapped.advance(expert.act())
    return env.unwrapped.observe()


def _render_scenes(args) -> dict:
    tasks, split, image_size, camera_keys, seeds, semantics, posed_fraction, demo_fraction = args
    import vla.envs

    envs = {t: vla.envs.make_env(t, image_size=image_size, split=split) for t in tasks}
    out = {"images": {k: [] for k in camera_keys}, "state": [], "env_state": [], "instructions": []}
    out.update(pixels=[], semantics=[], point_colours=[], point_shapes=[])
    try:
        for seed in seeds:
            rng = np.random.default_rng([int(seed), BANK_RNG_STREAM])  # not the env's stream (BANK_SAMPLING)
            env = envs[tasks[int(rng.integers(len(tasks)))]]
            obs, _ = env.reset(seed=int(seed))
            mid_demo = bool(demo_fraction) and rng.random() < demo_fraction
            if mid_demo:
                obs = play_expert(env, rng)
            elif rng.random() < posed_fraction:  # views with the arm somewhere over the table; the rest at home
                pose = rng.uniform(TOOL_LOW, TOOL_HIGH)
                obs = env.unwrapped.pose_arm(pose, tool_yaw=float(rng.uniform(-0.8, 0.8)), gripper=rng.choice([-1, 1]))
            for k in camera_keys:
                out["images"][k].append(np.asarray(obs[k]).transpose(2, 0, 1))
            out["state"].append(np.asarray(obs[OBS_STATE], np.float32))
            env_state = env.unwrapped.privileged_state()
            out["env_state"].append(env_state)
            scene, points = env.unwrapped.scene, env_state.reshape(-1, 3)
            landmarks = getattr(env.unwrapped, "landmark_points", None)
            if landmarks is not None:  # fixed, visible reference points: they calibrate the jittered camera
                points = np.concatenate([points, landmarks()])
            pixels = np.stack([scene.project(_camera_name(k), points) for k in camera_keys])
            if mid_demo and env.unwrapped.episode.reference is None:
                # Pick's and push's goals are points relative to where the target *started*; once it has moved,
                # no image shows where that was, so the goal's image point is no label there.
                pixels[:, 1] = np.nan
            out["pixels"].append(pixels)
            size = tuple(np.asarray(obs[camera_keys[0]]).shape[:2])
            if semantics:
                out["semantics"].append(np.stack([scene.prop_semantics(_camera_name(k), size) for k in camera_keys]))
            out["instructions"].append(str(obs[TASK]))
            out["point_colours"].append(point_colours(env.unwrapped.episode, len(env_state) // 3))
            out["point_shapes"].append(point_shapes(env.unwrapped.episode, len(env_state) // 3))
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
    semantics: bool = False,
    posed_fraction: float = 0.8,
    demo_fraction: float = 0.0,
) -> SceneBank:
    """Render `n` labelled scenes with `workers` processes (a progress bar shows the rate); with `semantics`,
    also each camera's colour and shape class maps (one more segmentation render per camera).
    `demo_fraction` of the scenes are mid-demonstration: the scripted expert plays a random number of steps
    of the episode first (props grasped, carried, placed, pushed; the goal's image point is unlabelled where
    the goal is relative to the target's start). Of the rest, `posed_fraction` drive the arm to a random pose
    over the table and the others leave it at home."""
    if n < 1:
        raise VlaUserError(f"a scene bank needs n >= 1 scenes (got {n})")
    if not (0 <= posed_fraction <= 1 and 0 <= demo_fraction <= 1):
        raise VlaUserError(f"posed_fraction={posed_fraction} and demo_fraction={demo_fraction} must be in [0, 1]")
    seeds = np.arange(n) + SCENE_SEED_OFFSET + seed * 1_000_003
    jobs = [
        (tasks, split, image_size, camera_keys, seeds[i : i + chunk], semantics, posed_fraction, demo_fraction)
        for i in range(0, n, chunk)
    ]
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
        pixels=torch.from_numpy(np.concatenate([np.stack(p["pixels"]) for p in parts]).astype(np.float32)),
        semantics=torch.from_numpy(np.concatenate([np.stack(p["semantics"]) for p in parts])) if semantics else None,
        semantic_classes=SEMANTIC_CLASSES if semantics else (),
        point_colours=torch.from_numpy(np.concatenate([np.stack(p["point_colours"]) for p in parts])),
        point_shapes=torch.from_numpy(np.concatenate([np.stack(p["point_shapes"]) for p in parts])),
        demo_fraction=demo_fraction,
    )


def point_colours(episode, points: int) -> np.ndarray:
    """(points,) uint8 colour class (1 + index in COLOURS; 0: no prop) of the prop each env-state point is on:
    the target, then the goal when the goal is a prop (the bowl, the base cube) and 0 when it is a point in the
    air or a region of the table."""
    return _point_classes(episode, points, lambda p: 1 + list(COLOURS).index(p.colour))


def point_shapes(episode, points: int) -> np.ndarray:
    """(points,) uint8 shape class (1 + index in SEMANTIC_SHAPES; 0: no prop) of the same props as
    `point_colours`."""
    return _point_classes(episode, points, lambda p: 1 + SEMANTIC_SHAPES.index(p.shape))


def _point_classes(episode, points: int, label) -> np.ndarray:
    out = np.zeros(points, np.uint8)
    out[0] = label(episode.layout.by_body(episode.target))
    if points > 1 and episode.reference is not None:
        out[1] = label(episode.layout.by_body(episode.reference))
    return out


def _camera_name(key: str) -> str:
    """observation.images.scene -> the MuJoCo camera 'scene'."""
    return key.rsplit(".", 1)[-1]

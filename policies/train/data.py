"""Demonstrations from a LeRobotDataset v3, decoded once into memory for fast CPU training.

The dataset is read through lerobot (`LeRobotDataset`, its video decoding and its statistics).
Frames are decoded in one sequential pass (a few ms per frame) and kept as uint8 at the policy's
image size, so a training step never waits for video decoding. Action chunks are gathered from
the per-episode action arrays, padded past the episode end and flagged in `action_is_pad`, the
same convention lerobot uses for `delta_timestamps`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vla.constants import (
    ACTION,
    OBS_ENV_STATE,
    OBS_ENV_STATE_START,
    OBS_IMAGES_PREFIX,
    OBS_PREV_ACTIONS,
    OBS_STATE,
    TASK,
)
from vla.errors import VlaUserError

ACTION_IS_PAD = "action_is_pad"


@dataclass
class DemoDataset:
    images: dict[str, torch.Tensor]  # camera -> (N, 3, H, W) uint8
    state: torch.Tensor  # (N, S) float32
    action: torch.Tensor  # (N, A) float32
    episode_end: torch.Tensor  # (N,) int64: global index of the last frame of each frame's episode
    task_index: torch.Tensor  # (N,) int64
    tasks: list[str]
    stats: dict[str, dict[str, np.ndarray]]
    fps: int
    num_episodes: int
    image_size: tuple[int, int]
    state_names: list[str]
    action_names: list[str]
    env_state: torch.Tensor | None = None  # (N, E) privileged sim state, when the dataset records it
    env_state_names: list[str] = field(default_factory=list)  # e.g. target.x, ..., goal.z
    camera_keys: tuple[str, ...] = ()  # the cameras actually loaded (the policy's, or the dataset's own)
    action_space: str = "continuous"  # or "discrete(n)": `action` holds one index per frame (see discrete_actions)
    executed: torch.Tensor | None = None  # (N, A) the action the env ran, where it differs from the label (DAgger)

    def __len__(self) -> int:
        return int(self.state.shape[0])

    @functools.cached_property
    def episode_start(self) -> torch.Tensor:
        """(N,) global index of the first frame of each frame's episode (episodes are contiguous)."""
        end = self.episode_end
        is_start = torch.ones_like(end, dtype=torch.bool)
        is_start[1:] = end[1:] != end[:-1]
        return torch.cummax(torch.where(is_start, torch.arange(len(end)), 0), 0).values

    def previous_actions(self, indices: torch.Tensor, k: int) -> torch.Tensor:
        """(B, k) ids of the k actions executed before each frame in its episode, oldest first; -1 before
        the episode's first frame (episodes are contiguous, so frame t-j is in t's episode iff it ends there)."""
        ran = self.executed if self.executed is not None else self.action
        back = indices[:, None] - torch.arange(k, 0, -1)[None]  # (B, k): t-k .. t-1
        idx = back.clamp(min=0)
        inside = (back >= 0) & (self.episode_end[idx] == self.episode_end[indices][:, None])
        return torch.where(inside, ran[idx, 0].round().long(), -1)

    def batch(self, indices: torch.Tensor, chunk_size: int, action_history: int = 0) -> dict:
        """Frames at `indices` with the next `chunk_size` actions (padded at episode ends) and, when
        `action_history` > 0, the ids of the actions executed before them."""
        offsets = torch.arange(chunk_size)
        idx = indices[:, None] + offsets[None]  # (B, H)
        end = self.episode_end[indices][:, None]
        pad = idx > end
        idx = torch.minimum(idx, end)
        extra = {}
        if self.env_state is not None:
            extra[OBS_ENV_STATE] = self.env_state[indices]
            extra[OBS_ENV_STATE_START] = self.env_state[self.episode_start[indices]]
        if action_history:
            extra[OBS_PREV_ACTIONS] = self.previous_actions(indices, action_history)
        return {
            **extra,
            **{k: v[indices].float().div_(255.0) for k, v in self.images.items()},
            OBS_STATE: self.state[indices],
            ACTION: self.action[idx],
            ACTION_IS_PAD: pad,
            TASK: [self.tasks[i] for i in self.task_index[indices].tolist()],
        }


def open_lerobot_dataset(source: str):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    path = Path(source)
    try:
        if path.exists():
            if not (path / "meta" / "info.json").is_file():
                raise VlaUserError(f"{path} is not a LeRobotDataset (no meta/info.json); create one with `vla collect`")
            return LeRobotDataset(f"local/{path.name}", root=path, video_backend="pyav")
        return LeRobotDataset(source, video_backend="pyav")
    except VlaUserError:
        raise
    except Exception as e:
        raise VlaUserError(
            f"could not open dataset '{source}': {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        ) from None


def dataset_image_size(ds, camera_keys: tuple[str, ...]) -> tuple[int, int]:
    """(H, W) of the dataset's first camera, from its feature names (LeRobot stores (H, W, C) or (C, H, W))."""
    feat = ds.meta.features[camera_keys[0]]
    shape, names = list(feat["shape"]), feat.get("names") or []
    if names and "height" in names and "width" in names:
        return int(shape[names.index("height")]), int(shape[names.index("width")])
    return (int(shape[0]), int(shape[1])) if shape[-1] in (1, 3) else (int(shape[1]), int(shape[2]))


def dataset_cameras(ds) -> tuple[str, ...]:
    """The dataset's camera features (video or image), in its own order."""
    return tuple(
        k for k, f in ds.meta.features.items() if k.startswith(OBS_IMAGES_PREFIX) and f["dtype"] in ("video", "image")
    )


def resolve_camera_keys(ds, camera_keys: tuple[str, ...]) -> tuple[str, ...]:
    """The policy's cameras when the dataset has them; the dataset's own when it has none of them (e.g. the
    navigation suite's rgb/depth against the tabletop defaults). A partial match is left to the caller's
    missing-feature error: it is more likely a mistake than another robot."""
    if any(k in ds.meta.features for k in camera_keys):
        return tuple(camera_keys)
    return dataset_cameras(ds) or tuple(camera_keys)


def discrete_actions(ds) -> int | None:
    """n when the dataset's 1-d action is a discrete index in 0..n-1, else None.

    Read from `vla collect`'s meta/vla_collect.json (navigation collections record their action_type);
    other datasets are treated as continuous."""
    import json

    feat = ds.meta.features.get(ACTION, {})
    if tuple(feat.get("shape", ())) != (1,):
        return None
    record = Path(ds.root) / "meta" / "vla_collect.json"
    if not record.is_file():
        return None
    settings = json.loads(record.read_text()).get("settings", {})
    if settings.get("action_type") != "discrete":
        return None
    from vla.envs.navigation.nav_env import ACTION_NAMES_DISCRETE

    return len(ACTION_NAMES_DISCRETE)


def _rows(column, frames: int) -> torch.Tensor:
    """(N, D) float32 from a numpy column; a (1,) feature comes back from lerobot as scalars, i.e. (N,)."""
    x = torch.as_tensor(np.stack(column[:frames]), dtype=torch.float32)
    return x.reshape(x.shape[0], -1)


def load_demos(
    source: str,
    camera_keys: tuple[str, ...],
    image_size: tuple[int, int] | None,
    episodes: int | None = None,
    num_workers: int = 2,
    exact: bool = False,
) -> DemoDataset:
    """`exact`: load exactly `camera_keys` (the user's --cameras), never the dataset's own instead."""
    ds = open_lerobot_dataset(source)
    features = ds.meta.features
    if not exact:
        camera_keys = resolve_camera_keys(ds, camera_keys)
    missing = [k for k in (*camera_keys, OBS_STATE, ACTION) if k not in features]
    if missing:
        cams = [k for k in features if k.startswith(OBS_IMAGES_PREFIX)]
        fix = "pass --cameras from those" if exact else "pick a policy whose camera_keys match, pass --cameras,"
        raise VlaUserError(
            f"dataset {source} lacks required feature(s) {missing} (it has cameras {cams}); {fix} or record "
            f"those features"
        )
    if image_size is None:
        image_size = dataset_image_size(ds, camera_keys)
    frames = len(ds)
    if episodes is not None:
        if episodes < 1:
            raise VlaUserError(f"--episodes {episodes} must be >= 1")
        frames = int(ds.meta.episodes[min(episodes, ds.meta.total_episodes) - 1]["dataset_to_index"])
    hf = ds.hf_dataset.with_format("numpy")
    state = _rows(hf[OBS_STATE], frames)
    action = _rows(hf[ACTION], frames)
    env_state = None
    if OBS_ENV_STATE in features:
        env_state = _rows(hf[OBS_ENV_STATE], frames)
    n_discrete = discrete_actions(ds)
    episode_index = torch.as_tensor(np.asarray(hf["episode_index"][:frames]), dtype=torch.int64)
    task_index = torch.as_tensor(np.asarray(hf["task_index"][:frames]), dtype=torch.int64)
    last = {}
    for i, e in enumerate(episode_index.tolist()):
        last[e] = i
    episode_end = torch.as_tensor([last[e] for e in episode_index.tolist()], dtype=torch.int64)
    tasks_df = ds.meta.tasks
    tasks = [""] * (int(tasks_df["task_index"].max()) + 1)
    for task, row in tasks_df.iterrows():
        tasks[int(row["task_index"])] = str(task)

    images = {k: torch.empty((frames, 3, *image_size), dtype=torch.uint8) for k in camera_keys}
    # Worker processes pay off only on larger datasets (they fork a multi-threaded process).
    workers = num_workers if frames > 3000 else 0
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ds, range(frames)), batch_size=64, num_workers=workers, shuffle=False
    )
    pos = 0
    for batch in tqdm(loader, desc="decoding frames", unit="batch", leave=False):
        n = batch[OBS_STATE].shape[0]
        for k in camera_keys:
            img = batch[k]
            if tuple(img.shape[-2:]) != tuple(image_size):
                img = F.interpolate(img, size=image_size, mode="bilinear", align_corners=False, antialias=True)
            images[k][pos : pos + n] = (img * 255).round().clamp(0, 255).to(torch.uint8)
        pos += n

    def names(key: str) -> list[str]:
        n = features[key].get("names")
        return [str(x) for x in n] if isinstance(n, list) else []

    return DemoDataset(
        images=images,
        state=state,
        action=action,
        episode_end=episode_end,
        task_index=task_index,
        tasks=tasks,
        stats={
            k: {s: np.asarray(v) for s, v in ds.meta.stats[k].items()}
            for k in (OBS_STATE, ACTION, OBS_ENV_STATE)
            if k in ds.meta.stats
        },
        fps=int(ds.fps),
        num_episodes=int(episode_index.unique().numel()),
        image_size=tuple(image_size),
        state_names=names(OBS_STATE),
        action_names=names(ACTION),
        env_state=env_state if OBS_ENV_STATE in ds.meta.stats else None,
        env_state_names=names(OBS_ENV_STATE) if OBS_ENV_STATE in features else [],
        camera_keys=tuple(camera_keys),
        action_space=f"discrete({n_discrete})" if n_discrete else "continuous",
    )


def demos_discrete_actions(demos: DemoDataset) -> int | None:
    """For a discrete action space: n, after replacing the action statistics with the one-hot range [0, 1]^n
    (what the policy's min/max normalization maps to [-1, 1]); None for continuous actions."""
    if demos.action_space == "continuous":
        return None
    n = int(demos.action_space[len("discrete(") : -1])
    ids = demos.action[:, 0]
    if demos.action.shape[1] != 1 or bool(((ids < 0) | (ids > n - 1) | (ids != ids.round())).any()):
        raise VlaUserError(f"dataset actions are not indices in 0..{n - 1}, as its action_space {demos.action_space}")
    ones = np.ones(n, np.float32)
    counts = np.bincount(ids.long().numpy(), minlength=n).astype(np.float32)
    mean = counts / max(1.0, counts.sum())
    demos.stats[ACTION] = {"min": 0 * ones, "max": ones, "mean": mean, "std": np.sqrt(mean * (1 - mean))}
    return n

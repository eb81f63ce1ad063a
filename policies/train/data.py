"""Demonstrations from a LeRobotDataset v3, decoded once into memory for fast CPU training.

The dataset is read through lerobot (`LeRobotDataset`, its video decoding and its statistics).
Frames are decoded in one sequential pass (a few ms per frame) and kept as uint8 at the policy's
image size, so a training step never waits for video decoding. Action chunks are gathered from
the per-episode action arrays, padded past the episode end and flagged in `action_is_pad`, the
same convention lerobot uses for `delta_timestamps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vla.constants import ACTION, OBS_ENV_STATE, OBS_IMAGES_PREFIX, OBS_STATE, TASK
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

    def __len__(self) -> int:
        return int(self.state.shape[0])

    def batch(self, indices: torch.Tensor, chunk_size: int) -> dict:
        """Frames at `indices` with the next `chunk_size` actions (padded at episode ends)."""
        offsets = torch.arange(chunk_size)
        idx = indices[:, None] + offsets[None]  # (B, H)
        end = self.episode_end[indices][:, None]
        pad = idx > end
        idx = torch.minimum(idx, end)
        extra = {OBS_ENV_STATE: self.env_state[indices]} if self.env_state is not None else {}
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


def load_demos(
    source: str,
    camera_keys: tuple[str, ...],
    image_size: tuple[int, int] | None,
    episodes: int | None = None,
    num_workers: int = 2,
) -> DemoDataset:
    ds = open_lerobot_dataset(source)
    features = ds.meta.features
    missing = [k for k in (*camera_keys, OBS_STATE, ACTION) if k not in features]
    if missing:
        cams = [k for k in features if k.startswith(OBS_IMAGES_PREFIX)]
        raise VlaUserError(
            f"dataset {source} lacks required feature(s) {missing} (it has cameras {cams}); "
            f"pick a policy whose camera_keys match or record those features"
        )
    if image_size is None:
        image_size = dataset_image_size(ds, camera_keys)
    frames = len(ds)
    if episodes is not None:
        if episodes < 1:
            raise VlaUserError(f"--episodes {episodes} must be >= 1")
        frames = int(ds.meta.episodes[min(episodes, ds.meta.total_episodes) - 1]["dataset_to_index"])
    hf = ds.hf_dataset.with_format("numpy")
    state = torch.as_tensor(np.stack(hf[OBS_STATE][:frames]), dtype=torch.float32)
    action = torch.as_tensor(np.stack(hf[ACTION][:frames]), dtype=torch.float32)
    env_state = None
    if OBS_ENV_STATE in features:
        env_state = torch.as_tensor(np.stack(hf[OBS_ENV_STATE][:frames]), dtype=torch.float32)
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
    )

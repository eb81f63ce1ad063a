"""Roll out the scripted expert for one attempt and record it as a one-episode LeRobotDataset shard."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from vla.constants import (
    ACTION,
    NEXT_DONE,
    NEXT_REWARD,
    NEXT_SUCCESS,
    OBS_ENV_STATE,
    OBS_STATE,
    TASK,
)

from .features import ROBOT_TYPE, as_float32, camera_keys


def prepare_writer() -> None:
    """Import lerobot's writer up front (so the first attempt's timing is not an import) and keep
    libx264 / SVT-AV1 banners and per-file statistics off the terminal (errors still show)."""
    os.environ.setdefault("SVT_LOG", "1")
    import av.logging
    import lerobot.datasets.lerobot_dataset  # noqa: F401

    av.logging.set_libav_level(av.logging.ERROR)


@dataclass(frozen=True)
class AttemptResult:
    """Outcome of one expert rollout; `kept` means its shard was committed to the collection."""

    task: str
    attempt: int
    seed: int
    instruction: str
    success: bool
    length: int
    kept: bool
    seconds: float


@dataclass(frozen=True)
class ShardWriterSpec:
    """Everything needed to create a shard dataset; identical for every shard of a collection."""

    repo_id: str
    fps: int
    features: dict[str, dict]
    vcodec: str
    max_steps: int  # the env's time limit if it declares one, else 0
    robot_type: str = ROBOT_TYPE


def _create_shard(spec: ShardWriterSpec, root: Path):
    from lerobot.configs import RGBEncoderConfig
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset.create(
        repo_id=spec.repo_id,
        fps=spec.fps,
        features=spec.features,
        root=root,
        robot_type=spec.robot_type,
        use_videos=True,
        video_backend="pyav",  # only used to read back; skips probing torchcodec, which may not load
        rgb_encoder=RGBEncoderConfig(vcodec=spec.vcodec),
        # Frames go straight to one encoder thread per camera while the sim keeps stepping (no PNG
        # round trip). lerobot drops frames when this queue is full (meant for real-time cameras);
        # sized for a whole episode, it never fills here.
        streaming_encoding=True,
        encoder_queue_maxsize=max(spec.max_steps + 8, 1000),
        encoder_threads=1,
    )


def record_attempt(
    env: gym.Env,
    expert,
    *,
    spec: ShardWriterSpec,
    shard_dir: Path,
    task: str,
    attempt: int,
    seed: int,
    keep_failures: bool,
    noise=None,
) -> AttemptResult:
    """Run one episode with the expert, writing frames into a fresh dataset at `shard_dir`.

    Frame t holds the observation before the action, the action, and the reward/done/success that
    followed it. The episode ends on termination, truncation or success. A kept episode's shard is
    finalized (complete on disk) when this returns; a discarded one is deleted. With `noise`
    (ExecutionNoise), the env executes the perturbed action and the frame records the expert's label.
    """
    start = time.perf_counter()
    dataset = _create_shard(spec, shard_dir)
    try:
        obs, _ = env.reset(seed=seed)
        expert.reset()
        if noise is not None:
            noise.reset(seed)
        instruction = str(obs[TASK])
        state_shape = tuple(spec.features[OBS_STATE]["shape"])
        action_shape = tuple(spec.features[ACTION]["shape"])
        success = False
        length = 0
        while True:
            action = as_float32(expert.act(obs), action_shape)
            env_state = env.unwrapped.privileged_state() if OBS_ENV_STATE in spec.features else None
            next_obs, reward, terminated, truncated, info = env.step(action if noise is None else noise(action))
            success = bool(info.get("is_success", False))
            done = bool(terminated or truncated or success)
            frame = {key: np.asarray(obs[key], dtype=np.uint8) for key in camera_keys(spec.features)}
            frame[OBS_STATE] = as_float32(obs[OBS_STATE], state_shape)
            frame[ACTION] = action
            if env_state is not None:
                frame[OBS_ENV_STATE] = as_float32(env_state, tuple(spec.features[OBS_ENV_STATE]["shape"]))
            frame[NEXT_REWARD] = np.array([reward], dtype=np.float32)
            frame[NEXT_DONE] = np.array([done], dtype=bool)
            frame[NEXT_SUCCESS] = np.array([success], dtype=bool)
            frame[TASK] = instruction
            dataset.add_frame(frame)
            length += 1
            obs = next_obs
            if done:
                break
        # lerobot 0.6.1 writes bool stats of a 1-frame episode with another dtype than those of
        # longer ones, which later breaks aggregate_datasets; no real demonstration is that short.
        kept = (success or keep_failures) and length >= 2
        if kept:
            dataset.save_episode()
        else:
            dataset.clear_episode_buffer()
        dataset.finalize()
        if kept:
            _check_video_frames(dataset, length, camera_keys(spec.features))
    except BaseException:
        _discard(dataset, shard_dir)
        raise
    if not kept:
        shutil.rmtree(shard_dir, ignore_errors=True)
    return AttemptResult(
        task=task,
        attempt=attempt,
        seed=seed,
        instruction=instruction,
        success=success,
        length=length,
        kept=kept,
        seconds=time.perf_counter() - start,
    )


def _check_video_frames(dataset, length: int, cameras: tuple[str, ...]) -> None:
    """Every camera video of the (one-episode) shard must hold exactly one frame per parquet row."""
    import av

    for key in cameras:
        path = dataset.root / dataset.meta.video_path.format(video_key=key, chunk_index=0, file_index=0)
        with av.open(str(path)) as container:
            frames = container.streams.video[0].frames
        if frames != length:
            raise RuntimeError(f"{path} holds {frames} frames for an episode of {length} steps")


def _discard(dataset, shard_dir: Path) -> None:
    try:
        dataset.clear_episode_buffer()
        dataset.finalize()
    except Exception:  # already failing; the partial shard is deleted below (or on resume)
        pass
    shutil.rmtree(shard_dir, ignore_errors=True)

"""`vla convert-bag`: a rosbag2 recording -> a LeRobotDataset v3 that `vla train` reads.

Written through lerobot itself (LeRobotDataset.create / add_frame / save_episode / finalize) into a
hidden staging folder next to --out, which is renamed into place only when complete, so a failed
conversion never leaves a half-written dataset and nothing that exists is overwritten.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vla.constants import ACTION, OBS_STATE, TASK
from vla.errors import VlaUserError

from .config import ConvertBagConfig


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VlaUserError(f"--out {out} already exists and is not empty; choose a new directory")


def run_convert_bag(cfg: ConvertBagConfig) -> int:
    from .convert import features, read_bag

    out = cfg.out.expanduser().resolve()
    _check_out(out)
    bag = read_bag(cfg.bag, cfg.fps, cfg.task_topic, cfg.task, cfg.action, cfg.max_gap_s)
    episodes = [ep for ep in bag.episodes if len(ep) >= cfg.min_frames]
    if not episodes:
        raise VlaUserError(f"bag {cfg.bag} holds no episode of >= {cfg.min_frames} complete observations")
    from lerobot.configs import RGBEncoderConfig
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    staging = out.parent / f".{out.name}.converting"
    shutil.rmtree(staging, ignore_errors=True)
    repo_id = cfg.repo_id or f"local/{out.name}"
    dataset = LeRobotDataset.create(
        repo_id=repo_id,
        fps=cfg.fps,
        features=features(bag),
        root=staging,
        robot_type="vla_tabletop_arm",
        use_videos=True,
        video_backend="pyav",  # torchcodec may not load; pyav is only used to read back
        rgb_encoder=RGBEncoderConfig(vcodec=cfg.vcodec),
    )
    try:
        for ep in episodes:
            for f in ep:
                dataset.add_frame({**f.images, OBS_STATE: f.state, ACTION: f.action, TASK: f.task})
            dataset.save_episode()
        dataset.finalize()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _check_out(out)  # still free?
    if out.exists():
        out.rmdir()
    staging.rename(out)
    frames = sum(len(ep) for ep in episodes)
    dropped = len(bag.episodes) - len(episodes)
    print(
        f"[convert-bag] {out}: {len(episodes)} episodes, {frames} frames, {bag.action_kind} actions "
        f"(dropped {dropped} short episodes, {bag.incomplete_observations} incomplete observations); "
        f"load with LeRobotDataset('{repo_id}', root='{out}')"
    )
    return 0

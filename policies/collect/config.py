"""Configuration of `vla collect`: which tasks, how many demonstrations, and where they go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vla.errors import VlaUserError

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 512
# Codecs lerobot's PyAV encoder writes in software. h264 is the default: at 96x96 it encodes as fast
# as libsvtav1 on 2 cores, files are smaller, and every browser and video player can show them.
VideoCodec = Literal["h264", "hevc", "libsvtav1"]


@dataclass
class CollectConfig:
    """Record scripted-expert demonstrations into a LeRobotDataset v3 (crash-safe; rerun to resume)."""

    task: str
    """Task name (e.g. pick), a comma-separated list of tasks, or 'all' for every task."""
    out: Path
    """Dataset root directory. Rerunning the same command resumes; a larger --episodes extends it."""
    episodes: int = 50
    """Successful episodes to keep per task."""
    seed: int = 0
    """Base seed; attempt i of task T always uses the same env seed, derived from (seed, T, i)."""
    image_size: int = 96
    """Camera image height and width in pixels (16..512)."""
    split: Literal["train", "heldout", "val", "test"] = "train"
    """Split to sample episodes from. Tabletop: train or heldout; navigation: train, val or test houses."""
    action_type: Literal["discrete", "velocity"] = "discrete"
    """Navigation tasks only: Habitat's discrete actions or body velocity [forward m/s, yaw rate rad/s]."""
    expert_noise: float = 0.0
    """Navigation tasks only: probability that a step executes a random action while the recorded action
    stays the expert's label (DART). Demos then show how to recover from drift and collisions; 0.2-0.3
    makes cloned navigation policies far more robust. 0 records clean shortest paths."""
    expert: Literal["shortest", "clearance", "explore", "explore-clearance"] = "shortest"
    """Navigation teacher: 'shortest' walks the privileged shortest path; 'clearance' the shortest path on a
    cost graph that keeps clear of walls and furniture where a small detour allows (Nav2's inflation cost;
    fewer collisions, SPL 0.94 instead of 0.97 on PointNav); 'explore' (objectnav, instructnav) visits the
    nearest unvisited room until it enters one holding the goal, then takes the shortest path: choices a
    policy can learn from what it has seen, not from where the object is hidden (with --semantic-map, also
    as soon as the map shows the goal); 'explore-clearance' searches as 'explore' along 'clearance' paths."""
    egomap: bool = False
    """Navigation tasks only: also record `observation.images.egomap`, a top-down map around the agent built
    from its own depth, GPS and compass (the memory of where it has been; envs/navigation/egomap.py)."""
    semantic_map: bool = False
    """ObjectNav / InstructNav only: also record `observation.images.semantic_map`, the top-down map plus
    where the goal objects were seen, from ground-truth segmentation (Habitat's SEMANTIC sensor; privileged
    next to the RGB-D-only ObjectNav challenge)."""
    keep_failures: bool = False
    """Also keep episodes in which the expert failed (they do not count towards --episodes)."""
    max_attempts_factor: float = 2.0
    """Give up on a task after episodes * factor attempts (the expert is failing too often)."""
    repo_id: str | None = None
    """Dataset repo id written into the metadata; default 'local/<name of the out dir>'."""
    vcodec: VideoCodec = "h264"
    """Video codec for the camera streams."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise VlaUserError(f"--episodes must be at least 1, got {self.episodes}")
        if not MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE:
            raise VlaUserError(
                f"--image-size must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} pixels, got {self.image_size}"
            )
        if self.image_size % 2:
            # yuv420p video (what every codec here writes) needs even frame dimensions.
            raise VlaUserError(f"--image-size must be even (video frames are yuv420p), got {self.image_size}")
        if not self.max_attempts_factor >= 1.0:
            raise VlaUserError(f"--max-attempts-factor must be at least 1.0, got {self.max_attempts_factor}")
        if not 0.0 <= self.expert_noise < 1.0:
            raise VlaUserError(f"--expert-noise must be a probability in [0, 1), got {self.expert_noise}")
        if self.repo_id is not None and self.repo_id.count("/") != 1:
            raise VlaUserError(f"--repo-id must look like 'owner/name', got {self.repo_id!r}")
        if not self.task.strip():
            raise VlaUserError("--task must name a task, a comma-separated list of tasks, or 'all'")

    def resolved_repo_id(self) -> str:
        if self.repo_id is not None:
            return self.repo_id
        name = self.out.expanduser().resolve().name or "dataset"
        return f"local/{name}"

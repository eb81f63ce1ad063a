"""Our own reader of habitat-lab's episode datasets (PointNav v1, ObjectNav v1, VLN-CE R2R), no habitat needed.

The files are JSON, optionally gzipped. A split file either holds its episodes or, as habitat-lab's
Gibson/MP3D/HM3D splits do, an empty "episodes" list with one file per scene under `content/` next to it.

  PointNav   {"episodes": [{"episode_id", "scene_id", "start_position", "start_rotation",
                            "info": {"geodesic_distance", ...}, "goals": [{"position", "radius"}]}]}
  ObjectNav  as PointNav, plus per episode "object_category" and empty "goals"; the goals live in the
             file's "goals_by_category" under "<scene file name>_<category>", each with "view_points"
             ({"agent_state": {"position", "rotation"}}) from which the object is visible
  VLN-R2R    as PointNav, plus "instruction": {"instruction_text", ...}, "reference_path" and
             "trajectory_id"; goals carry the success radius (3 m)

Rotations are quaternion coefficients in habitat's [x, y, z, w] order; positions are metres, y up.
"""

from __future__ import annotations

import gzip
import json
import math
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vla.errors import VlaUserError

from .schema import OBJECTNAV_TEMPLATE, POINTNAV_INSTRUCTION

TASK_TYPES = ("pointnav", "objectnav", "vln")
DEFAULT_SCENE_PATH_PREFIX = "data/scene_datasets/"  # habitat-lab strips this from scene ids

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class NavGoal:
    position: Vec3
    radius: float | None = None
    object_id: str | None = None
    object_category: str | None = None
    view_points: tuple[Vec3, ...] = ()
    """ObjectNav: agent positions from which the object is visible; success is measured to these."""

    @property
    def targets(self) -> tuple[Vec3, ...]:
        """Where distance-to-goal is measured to: the view points if any (ObjectNav), else the position."""
        return self.view_points or (self.position,)


@dataclass(frozen=True)
class NavEpisode:
    episode_id: str
    scene_id: str
    start_position: Vec3
    start_rotation: tuple[float, float, float, float]  # x, y, z, w (habitat's coefficient order)
    goals: tuple[NavGoal, ...]
    task_type: str  # one of TASK_TYPES
    instruction: str
    """The `task` string: the VLN instruction, 'find a chair', or the PointNav instruction."""
    object_category: str | None = None
    reference_path: tuple[Vec3, ...] = ()
    trajectory_id: str | None = None
    geodesic_distance: float | None = None
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def scene_name(self) -> str:
        """'17DRP5sb8fy' for 'mp3d/17DRP5sb8fy/17DRP5sb8fy.glb' (also strips '.basis.glb')."""
        return posixpath.basename(self.scene_id).split(".")[0]


def read_json(path: Path) -> Any:
    """JSON or gzipped JSON (detected by its magic bytes, whatever the suffix)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VlaUserError(f"{path} is not a JSON(.gz) episode file: {e}") from None


def load_episodes(path: str | Path, task: str = "auto", scenes: tuple[str, ...] = ()) -> list[NavEpisode]:
    """Every episode of a split file (and of its `content/` per-scene files), optionally only some scenes.

    task 'auto' detects the format per file (ObjectNav: "goals_by_category" or "object_category";
    VLN: "instruction"; else PointNav).
    """
    path = Path(path)
    if task not in ("auto", *TASK_TYPES):
        raise VlaUserError(f"unknown navigation task '{task}'; choose auto, {', '.join(TASK_TYPES)}")
    if not path.is_file():
        raise VlaUserError(f"episode dataset {path} does not exist; pass the split file, e.g. .../val/val.json.gz")
    files = [path]
    data = read_json(path)
    content = path.parent / "content"
    if not _episodes_of(data, path) and content.is_dir():
        files = sorted(content.glob("*.json*"))
        if scenes:
            files = [f for f in files if f.name.split(".")[0] in scenes]
        data = None
    episodes = []
    for f in files:
        episodes += parse_dataset(data if data is not None else read_json(f), task, source=str(f))
    if scenes:
        episodes = [e for e in episodes if e.scene_name in scenes]
    if not episodes:
        which = f" for scenes {', '.join(scenes)}" if scenes else ""
        raise VlaUserError(f"no episodes in {path}{which}")
    return episodes


def parse_dataset(data: Any, task: str = "auto", source: str = "<dataset>") -> list[NavEpisode]:
    """One decoded dataset file -> episodes. Errors name the file, the episode and the missing field."""
    episodes = _episodes_of(data, source)
    if task == "auto":
        task = detect_task(data)
    goals_by_category = data.get("goals_by_category", {}) if task == "objectnav" else {}
    out = []
    for i, raw in enumerate(episodes):
        try:
            out.append(_parse_episode(raw, task, goals_by_category))
        except (KeyError, TypeError, ValueError) as e:
            detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            raise VlaUserError(f"{source}: episode {i} is not a valid {task} episode ({detail})") from None
    return out


def detect_task(data: dict) -> str:
    if "goals_by_category" in data:
        return "objectnav"
    first = next(iter(data.get("episodes") or []), {})
    if "object_category" in first:
        return "objectnav"
    if "instruction" in first:
        return "vln"
    return "pointnav"


def resolve_scene_path(scene_id: str, scenes_dir: str | Path) -> Path:
    """habitat-lab's rule: strip 'data/scene_datasets/' from the id, then join with the scenes folder."""
    if scene_id.startswith(DEFAULT_SCENE_PATH_PREFIX):
        scene_id = scene_id[len(DEFAULT_SCENE_PATH_PREFIX) :]
    return Path(scene_id) if Path(scene_id).is_absolute() else Path(scenes_dir) / scene_id


def objectnav_instruction(category: str) -> str:
    words = category.replace("_", " ").strip()
    article = "an" if words[:1].lower() in "aeiou" else "a"
    return OBJECTNAV_TEMPLATE.format(article=article, category=words)


def _episodes_of(data: Any, source: Any) -> list:
    if not isinstance(data, dict) or not isinstance(data.get("episodes"), list):
        raise VlaUserError(f"{source}: not a habitat episode dataset (no 'episodes' list)")
    return data["episodes"]


def _vec(values, n: int = 3) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise ValueError(f"expected {n} finite numbers, got {values!r}")
    return out


def _goal(raw: dict) -> NavGoal:
    view_points = tuple(_vec(vp["agent_state"]["position"]) for vp in raw.get("view_points") or [])
    radius = raw.get("radius")
    object_id = raw.get("object_id")
    return NavGoal(
        position=_vec(raw["position"]),
        radius=None if radius is None else float(radius),
        object_id=None if object_id is None else str(object_id),
        object_category=raw.get("object_category"),
        view_points=view_points,
    )


def _parse_episode(raw: dict, task: str, goals_by_category: dict) -> NavEpisode:
    info = dict(raw.get("info") or {})
    geodesic = info.get("geodesic_distance")
    category = None
    reference_path: tuple = ()
    trajectory_id = None
    if task == "objectnav":
        category = raw["object_category"]
        key = f"{posixpath.basename(raw['scene_id'])}_{category}"
        goals = tuple(_goal(g) for g in (raw.get("goals") or goals_by_category.get(key) or []))
        if not goals:
            raise ValueError(f"no goals for '{key}' in goals_by_category")
        instruction = objectnav_instruction(category)
    else:
        goals = tuple(_goal(g) for g in raw["goals"])
        if not goals:
            raise ValueError("no goals")
        if task == "vln":
            instruction = str(raw["instruction"]["instruction_text"]).strip()
            reference_path = tuple(_vec(p) for p in raw.get("reference_path") or [])
            trajectory_id = None if raw.get("trajectory_id") is None else str(raw["trajectory_id"])
        else:
            instruction = POINTNAV_INSTRUCTION
    return NavEpisode(
        episode_id=str(raw["episode_id"]),
        scene_id=str(raw["scene_id"]),
        start_position=_vec(raw["start_position"]),
        start_rotation=_vec(raw["start_rotation"], 4),
        goals=goals,
        task_type=task,
        instruction=instruction,
        object_category=category,
        reference_path=reference_path,
        trajectory_id=trajectory_id,
        geodesic_distance=None if geodesic is None else float(geodesic),
        info=info,
    )

"""Locations of the MJCF files this package ships."""

from importlib.resources import files
from pathlib import Path


def tabletop_scene_path() -> Path:
    return Path(str(files("vla.sim_assets") / "tabletop" / "scene.xml"))


def all_scene_paths() -> list[Path]:
    root = Path(str(files("vla.sim_assets")))
    return sorted(root.glob("*/scene.xml"))

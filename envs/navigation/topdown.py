"""Top-down map of an episode: occupancy, furniture, goal, geodesic shortest path and agent trajectory.

    from vla.envs.navigation.topdown import save_topdown
    save_topdown(env.unwrapped, info["agent_path"], "episode.png")

Colours: white = navigable floor, light grey = floor the robot's centre cannot reach (within its
radius of an obstacle), dark grey = walls, furniture in its own colour, goal objects outlined in
red, the goal point as a red disc; green = the shortest path from the start, blue = the agent's path
(start as a blue disc, end as a blue square).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .objects import COLOURS

PX_PER_M = 40


def draw_topdown(env, agent_path: np.ndarray | None = None, px_per_m: int = PX_PER_M) -> np.ndarray:
    """RGB uint8 (H, W, 3) top-down image of the env's current episode (north = +y is up)."""
    env = getattr(env, "unwrapped", env)
    house, grid, episode = env.house, env.grid, env.episode
    x0, y0 = grid.origin
    h, w = grid.shape
    scale = px_per_m * grid.resolution
    width, height = int(round(w * scale)), int(round(h * scale))

    def px(x: float, y: float) -> tuple[float, float]:
        return ((x - x0) * px_per_m, height - (y - y0) * px_per_m)

    base = np.full((h, w, 3), 205, np.uint8)
    base[grid.navigable] = 255
    img = Image.fromarray(base[::-1]).resize((width, height), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    for wall in house.walls:
        draw.rectangle([*px(wall.x0, wall.y1), *px(wall.x1, wall.y0)], fill=(80, 80, 80))
    goal_objects = set(episode.goal_objects) if episode is not None else set()
    for obj in house.objects:
        fp = obj.footprint
        fill = tuple(int(255 * c) for c in COLOURS[obj.colour])
        outline = (220, 0, 0) if obj.index in goal_objects else (60, 60, 60)
        draw.rectangle([*px(fp.x0, fp.y1), *px(fp.x1, fp.y0)], fill=fill, outline=outline,
                       width=3 if obj.index in goal_objects else 1)  # fmt: skip
    if episode is None:
        return np.asarray(img)
    r = max(3, px_per_m // 8)
    if episode.goal_point is not None:
        gx, gy = px(*episode.goal_point)
        rad = episode.success_distance * px_per_m
        draw.ellipse([gx - rad, gy - rad, gx + rad, gy + rad], outline=(220, 0, 0), width=2)
        draw.ellipse([gx - r, gy - r, gx + r, gy + r], fill=(220, 0, 0))
    start = episode.start
    shortest = episode.field.path(start.x, start.y)
    if len(shortest) > 1:
        draw.line([px(x, y) for x, y in shortest], fill=(0, 160, 0), width=3)
    if agent_path is not None and len(agent_path) > 0:
        pts = [px(float(x), float(y)) for x, y in np.asarray(agent_path)]
        if len(pts) > 1:
            draw.line(pts, fill=(30, 80, 230), width=2)
        ex, ey = pts[-1]
        draw.rectangle([ex - r, ey - r, ex + r, ey + r], fill=(30, 80, 230))
    sx, sy = px(start.x, start.y)
    draw.ellipse([sx - r, sy - r, sx + r, sy + r], fill=(30, 80, 230))
    return np.asarray(img)


def save_topdown(env, agent_path: np.ndarray | None, path: str | Path, px_per_m: int = PX_PER_M) -> Path:
    """Write the top-down map as a PNG and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(draw_topdown(env, agent_path, px_per_m)).save(path)
    return path

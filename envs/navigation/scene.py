"""MuJoCo model of a house (built with mujoco.MjSpec on top of sim_assets/navigation/robot.xml) and
the egocentric RGB-D rendering.

One model per house: walls and floors are static geoms, each piece of furniture is a static body
(`obj<i>_<category>`) of visual primitives plus one invisible collision box over its footprint.
The robot is moved kinematically by writing its joints (see motion.py), so rendering a step costs
one kinematics pass and two render passes (colour, depth) through one EGL context, plus a third
(segmentation: which object each pixel shows) when a semantic map is drawn.
"""

from __future__ import annotations

import math
import weakref
from importlib.resources import files
from pathlib import Path

import mujoco
import numpy as np

from .depth import encode_depth
from .layout import WALL_H, House, PlacedObject, Rect
from .motion import Pose
from .objects import CATEGORIES, COLOURS

CAMERA = "rgbd"
BASE_JOINTS = ("base_x", "base_y", "base_yaw")
GEOM_TYPES = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
              "sphere": mujoco.mjtGeom.mjGEOM_SPHERE}  # fmt: skip


def robot_path() -> Path:
    return Path(str(files("vla.sim_assets") / "navigation" / "robot.xml"))


def _yaw_quat(yaw: float) -> list[float]:
    return [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]


def build_spec(house: House) -> mujoco.MjSpec:
    """The robot plus the house's floors, walls, ceiling, lights and furniture."""
    spec = mujoco.MjSpec.from_file(str(robot_path()))
    spec.modelname = f"vla_nav_house_{house.seed}"
    static = spec.find_default("nav_static")
    visual = spec.find_default("nav_visual")
    collision = spec.find_default("nav_collision")
    world = spec.worldbody
    b = house.bounds
    cx, cy = b.center
    hx, hy = b.half
    world.add_geom(default=static, name="ground", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[hx + 2, hy + 2, 0.1],
                   pos=[cx, cy, 0], rgba=[0.35, 0.33, 0.3, 1])  # fmt: skip
    world.add_geom(default=visual, name="ceiling", type=mujoco.mjtGeom.mjGEOM_BOX, size=[hx, hy, 0.02],
                   pos=[cx, cy, WALL_H + 0.02], rgba=[0.93, 0.93, 0.92, 1])  # fmt: skip
    for room in house.rooms:
        r = room.interior
        (rx, ry), (rhx, rhy) = r.center, r.half
        world.add_geom(default=visual, name=f"floor_{room.index}", type=mujoco.mjtGeom.mjGEOM_BOX,
                       size=[rhx, rhy, 0.002], pos=[rx, ry, 0.002], rgba=[*room.floor_rgb, 1])  # fmt: skip
        world.add_light(name=f"light_{room.index}", pos=[rx, ry, WALL_H - 0.1], dir=[0, 0, -1], castshadow=False,
                        diffuse=[0.35] * 3, specular=[0.05] * 3, attenuation=[1, 0.05, 0.02])  # fmt: skip
    for k, wall in enumerate(house.walls):
        _box(world, static, f"wall_{k}", wall, 0.0, WALL_H, [*house.wall_rgb, 1])
    for d in house.doors:  # a lintel above each doorway keeps the ceiling line closed
        _box(world, visual, f"lintel_{d.a}_{d.b}", d.gap, 2.1, WALL_H, [*house.wall_rgb, 1])
    for obj in house.objects:
        body = world.add_body(name=object_body_name(obj), pos=[*obj.center, 0], quat=_yaw_quat(obj.yaw))
        rgb = COLOURS[obj.colour]
        for n, part in enumerate(CATEGORIES[obj.category].build(obj.half[0], obj.half[1], rgb)):
            body.add_geom(default=visual, name=f"obj{obj.index}_{n}", type=GEOM_TYPES[part.kind], size=list(part.size),
                          pos=list(part.pos), rgba=[*part.rgb, 1])  # fmt: skip
        body.add_geom(default=collision, name=f"obj{obj.index}_collision", type=mujoco.mjtGeom.mjGEOM_BOX,
                      size=[obj.half[0], obj.half[1], 0.5], pos=[0, 0, 0.5])  # fmt: skip
    return spec


def object_body_name(obj: PlacedObject) -> str:
    return f"obj{obj.index}_{obj.category}"


def _box(world, default, name: str, r: Rect, z0: float, z1: float, rgba) -> None:
    (x, y), (hx, hy) = r.center, r.half
    world.add_geom(default=default, name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=[hx, hy, (z1 - z0) / 2],
                   pos=[x, y, (z0 + z1) / 2], rgba=rgba)  # fmt: skip


class NavScene:
    """Owns the compiled house model, its data and one renderer per image size."""

    def __init__(self, house: House, image_size: tuple[int, int], max_depth: float):
        self.house = house
        self.model = build_spec(house).compile()
        self.data = mujoco.MjData(self.model)
        self.image_size = image_size
        self.max_depth = max_depth
        self._qadr = [self.model.joint(j).qposadr[0] for j in BASE_JOINTS]
        # geom id -> index of the piece of furniture it belongs to (-1: walls, floors, the robot)
        self.geom_object = np.full(self.model.ngeom + 1, -1, np.int64)  # the extra entry maps id -1 (background)
        for obj in house.objects:
            body = self.model.body(object_body_name(obj)).id
            self.geom_object[:-1][self.model.geom_bodyid == body] = obj.index
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._finalizers: list[weakref.finalize] = []

    def set_pose(self, pose: Pose) -> None:
        self.data.qpos[self._qadr] = (pose.x, pose.y, pose.yaw)
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)

    def _renderer(self, size: tuple[int, int]) -> mujoco.Renderer:
        if size not in self._renderers:
            renderer = mujoco.Renderer(self.model, height=size[0], width=size[1])
            self._renderers[size] = renderer
            # Close the GL context before interpreter teardown unloads EGL (no tracebacks at exit).
            self._finalizers.append(weakref.finalize(self, renderer.close))
        return self._renderers[size]

    def render_rgbd(self, metric: bool = False, objects: bool = False) -> tuple[np.ndarray, ...]:
        """Egocentric RGB uint8 (H, W, 3) and depth encoded as uint8 (H, W, 3) (see depth.py); with
        `metric`, also the float z-depth in metres (H, W); with `objects`, also the index of the piece of
        furniture each pixel shows (H, W) int64, -1 elsewhere (ground-truth semantics, like Habitat's
        SEMANTIC sensor)."""
        r = self._renderer(self.image_size)
        r.update_scene(self.data, camera=CAMERA)
        rgb = r.render().copy()
        r.enable_depth_rendering()
        try:
            depth = r.render()
        finally:
            r.disable_depth_rendering()
        out = [rgb, encode_depth(depth, self.max_depth)]
        if metric:
            out.append(depth.copy())
        if objects:
            r.enable_segmentation_rendering()
            try:
                seg = r.render()
            finally:
                r.disable_segmentation_rendering()
            ids = np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1)
            out.append(self.geom_object[ids])
        return tuple(out)

    def render_rgb(self, size: tuple[int, int]) -> np.ndarray:
        r = self._renderer(size)
        r.update_scene(self.data, camera=CAMERA)
        return r.render().copy()

    def close(self) -> None:
        for f in self._finalizers:
            f()
        self._finalizers.clear()
        self._renderers.clear()

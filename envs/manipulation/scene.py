"""The simulated tabletop: physics, the prop pool, per-episode randomization and camera rendering.

One compiled MuJoCo model per env. Each episode activates a few props from the pool, recolours and
places them, so nothing recompiles between episodes. Inactive props stay parked off-camera.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import mujoco
import numpy as np

from .assets import tabletop_scene_path
from .kinematics import ARM_JOINTS, FINGER_JOINTS, ArmGeometry, tool_yaw
from .props import COLOURS, GRASPABLE_SHAPES

SEMANTIC_SHAPES: tuple[str, ...] = (*GRASPABLE_SHAPES, "bowl")  # shape classes of prop_semantics()

TABLE_TOP_Z = 0.0
FINGER_OPEN = 0.042  # per-finger opening at gripper command -1 (m)


@dataclass
class PropPlacement:
    body: str  # prop body in the pool, e.g. "cube_2"
    shape: str
    colour: str
    xy: tuple[float, float]
    yaw: float = 0.0


@dataclass
class Layout:
    props: list[PropPlacement] = field(default_factory=list)

    def by_body(self, body: str) -> PropPlacement:
        return next(p for p in self.props if p.body == body)


def _shape_of(body: str) -> str:
    return body.rsplit("_", 1)[0]


class TabletopScene:
    """Owns MjModel/MjData, one offscreen renderer for all cameras, and prop bookkeeping."""

    CAMERAS: tuple[str, ...] = ("scene", "wrist")

    def __init__(self, image_size: tuple[int, int], control_substeps: int):
        self.model = mujoco.MjModel.from_xml_path(str(tabletop_scene_path()))
        self.data = mujoco.MjData(self.model)
        self.image_size = image_size
        self.control_substeps = control_substeps
        self.geometry = ArmGeometry.from_model(self.model)
        m = self.model
        self.arm_qpos = np.array([m.joint(j).qposadr[0] for j in ARM_JOINTS])
        self.finger_qpos = np.array([m.joint(j).qposadr[0] for j in FINGER_JOINTS])
        self.arm_ctrl = np.array([m.actuator(j).id for j in ARM_JOINTS])
        self.finger_ctrl = np.array([m.actuator(j).id for j in FINGER_JOINTS])
        self.arm_range = m.jnt_range[[m.joint(j).id for j in ARM_JOINTS]].copy()
        self.tcp_site = m.site("tcp").id
        self.home_key = m.key("home").id
        self.pool: dict[str, list[str]] = {}
        for b in range(m.nbody):
            name = m.body(b).name
            if m.body_jntnum[b] == 1 and m.jnt_type[m.body_jntadr[b]] == mujoco.mjtJoint.mjJNT_FREE:
                self.pool.setdefault(_shape_of(name), []).append(name)
        self._prop_geoms = {
            body: [g for g in range(m.ngeom) if m.geom_bodyid[g] == m.body(body).id]
            for bodies in self.pool.values()
            for body in bodies
        }
        self._finger_geoms = {m.geom("finger_left_pad").id, m.geom("finger_right_pad").id}
        self._nominal = {
            "cam_pos": m.cam_pos[m.camera("scene").id].copy(),
            "cam_quat": m.cam_quat[m.camera("scene").id].copy(),
            "light_dir": m.light_dir.copy(),
            "light_diffuse": m.light_diffuse.copy(),
            "headlight_ambient": m.vis.headlight.ambient.copy(),
        }
        self.layout = Layout()
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._finalizers: list[weakref.finalize] = []

    # ----------------------------------------------------------------- episode set-up
    def reset(self, layout: Layout, rng: np.random.Generator, randomize_visuals: bool = True) -> None:
        m, d = self.model, self.data
        mujoco.mj_resetDataKeyframe(m, d, self.home_key)
        self.layout = layout
        for p in layout.props:
            adr = m.joint(p.body).qposadr[0]
            z = TABLE_TOP_Z + self.rest_height(p.shape)
            d.qpos[adr : adr + 3] = (p.xy[0], p.xy[1], z)
            d.qpos[adr + 3 : adr + 7] = (math.cos(p.yaw / 2), 0.0, 0.0, math.sin(p.yaw / 2))
            rgb = np.clip(np.asarray(COLOURS[p.colour]) + rng.uniform(-0.04, 0.04, 3), 0, 1)
            for g in self._prop_geoms[p.body]:
                m.geom_rgba[g] = (*rgb, 1.0)
        active = {p.body for p in layout.props}
        for body, geoms in self._prop_geoms.items():
            if body not in active:
                for g in geoms:
                    m.geom_rgba[g, 3] = 0.0  # invisible as well as parked
        if randomize_visuals:
            self._randomize_visuals(rng)
        mujoco.mj_forward(m, d)

    def _randomize_visuals(self, rng: np.random.Generator) -> None:
        m, n = self.model, self._nominal
        cam = m.camera("scene").id
        m.cam_pos[cam] = n["cam_pos"] + rng.uniform(-0.015, 0.015, 3)
        axis = rng.normal(size=3)
        angle = math.radians(rng.uniform(0, 2.0))
        dq = np.zeros(4)
        mujoco.mju_axisAngle2Quat(dq, axis / np.linalg.norm(axis), angle)
        q = np.zeros(4)
        mujoco.mju_mulQuat(q, dq, n["cam_quat"])
        m.cam_quat[cam] = q
        m.light_dir[:] = n["light_dir"] + rng.uniform(-0.25, 0.25, n["light_dir"].shape)
        m.light_diffuse[:] = n["light_diffuse"] * rng.uniform(0.7, 1.3)
        m.vis.headlight.ambient[:] = n["headlight_ambient"] * rng.uniform(0.7, 1.3)

    def rest_height(self, shape: str) -> float:
        """Height of a prop's body origin above the table when it rests upright."""
        body = self.pool[shape][0]
        g = self._prop_geoms[body][0]
        if shape == "bowl":
            return 0.0
        if shape == "sphere":
            return float(self.model.geom_size[g][0])
        if shape == "cube":
            return float(self.model.geom_size[g][2])
        return float(self.model.geom_size[g][1])  # cylinder half-height

    # ----------------------------------------------------------------- control
    def apply_arm_targets(self, q_arm: np.ndarray, finger_opening: float) -> None:
        q = np.clip(q_arm, self.arm_range[:, 0], self.arm_range[:, 1])
        self.data.ctrl[self.arm_ctrl] = q
        self.data.ctrl[self.finger_ctrl] = finger_opening

    def step(self) -> None:
        mujoco.mj_step(self.model, self.data, nstep=self.control_substeps)

    # ----------------------------------------------------------------- state queries
    def tcp_pos(self) -> np.ndarray:
        return self.data.site_xpos[self.tcp_site].copy()

    def table_back_edge(self, ys: tuple[float, ...] = (0.3, -0.3)) -> np.ndarray:
        """(len(ys), 3) points on the table top's far edge (the one behind the robot) at the given y."""
        g = self.model.geom("table")
        x = float(g.pos[0] - g.size[0])
        return np.array([[x, y, TABLE_TOP_Z] for y in ys])

    def tcp_yaw(self) -> float:
        return tool_yaw(self.data.site_xmat[self.tcp_site])

    def tcp_quat(self) -> np.ndarray:
        q = np.zeros(4)
        mujoco.mju_mat2Quat(q, self.data.site_xmat[self.tcp_site])
        return q

    def arm_qpos_now(self) -> np.ndarray:
        return self.data.qpos[self.arm_qpos].copy()

    def finger_opening(self) -> float:
        """Gap between the finger pads (m)."""
        return float(self.data.qpos[self.finger_qpos].sum())

    def prop_pos(self, body: str) -> np.ndarray:
        return self.data.xpos[self.model.body(body).id].copy()

    def prop_yaw(self, body: str) -> float:
        return tool_yaw(self.data.xmat[self.model.body(body).id])

    def prop_contacts(self, body: str) -> set[int]:
        """Geom ids touching any geom of `body`."""
        mine = set(self._prop_geoms[body])
        out: set[int] = set()
        for c in self.data.contact[: self.data.ncon]:
            if c.geom1 in mine:
                out.add(int(c.geom2))
            elif c.geom2 in mine:
                out.add(int(c.geom1))
        return out

    def is_grasped(self, body: str) -> bool:
        """Both finger pads touch the prop."""
        return self._finger_geoms <= self.prop_contacts(body)

    def is_touched_by_gripper(self, body: str) -> bool:
        return bool(self._finger_geoms & self.prop_contacts(body))

    # ----------------------------------------------------------------- rendering
    def _renderer(self, size: tuple[int, int]) -> mujoco.Renderer:
        if size not in self._renderers:
            renderer = mujoco.Renderer(self.model, height=size[0], width=size[1])
            self._renderers[size] = renderer
            # Close the GL context before interpreter teardown unloads EGL (no tracebacks at exit).
            self._finalizers.append(weakref.finalize(self, renderer.close))
        return self._renderers[size]

    def render(self, camera: str, size: tuple[int, int] | None = None) -> np.ndarray:
        """RGB uint8 (H, W, 3) from a named camera, at the observation size unless `size` is given."""
        r = self._renderer(size or self.image_size)
        r.update_scene(self.data, camera=camera)
        return r.render().copy()

    def prop_semantics(self, camera: str, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ground-truth (colour, shape) of every pixel from MuJoCo's segmentation pass: two (H, W) uint8 maps,
        0 where no prop is seen, else 1 + the index in COLOURS / SEMANTIC_SHAPES. For training labels only."""
        r = self._renderer(size or self.image_size)
        r.enable_segmentation_rendering()
        try:
            r.update_scene(self.data, camera=camera)
            seg = r.render()
        finally:
            r.disable_segmentation_rendering()
        lut_colour, lut_shape = self._semantic_luts()
        geom = np.where(seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM, seg[..., 0], -1)
        return lut_colour[geom + 1], lut_shape[geom + 1]

    def _semantic_luts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per geom id + 1 (0: no geom): colour and shape class of the active prop it belongs to."""
        colour = np.zeros(self.model.ngeom + 1, np.uint8)
        shape = np.zeros(self.model.ngeom + 1, np.uint8)
        colours = list(COLOURS)
        for p in self.layout.props:
            for g in self._prop_geoms[p.body]:
                colour[g + 1] = 1 + colours.index(p.colour)
                shape[g + 1] = 1 + SEMANTIC_SHAPES.index(p.shape)
        return colour, shape

    def project(self, camera: str, points: np.ndarray) -> np.ndarray:
        """World points (P, 3) -> (P, 2) image coordinates (x right, y down) as fractions of the width and
        height, NaN for points behind the camera or outside its view. Occlusion is not checked.

        The pinhole model of MuJoCo's renderer (square pixels, vertical field of view `fovy`), so the result
        holds at any resolution: pixel column = x * width.
        """
        m, d = self.model, self.data
        cam = m.camera(camera).id
        h, w = self.image_size
        rel = (np.asarray(points, np.float64).reshape(-1, 3) - d.cam_xpos[cam]) @ d.cam_xmat[cam].reshape(3, 3)
        depth = -rel[:, 2]  # MuJoCo cameras look down their -z axis, y up
        half_height = math.tan(math.radians(m.cam_fovy[cam]) / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = 0.5 + rel[:, 0] / (depth * half_height * 2 * w / h)
            y = 0.5 - rel[:, 1] / (depth * half_height * 2)
        uv = np.stack([x, y], -1)
        visible = (depth > 1e-6) & (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)
        uv[~visible] = np.nan
        return uv

    def close(self) -> None:
        for f in self._finalizers:
            f()
        self._finalizers.clear()
        self._renderers.clear()

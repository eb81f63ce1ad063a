"""The thin layer over habitat-sim: load a scene, place the agent, act, render, geodesic distances.

habitat-sim is imported lazily and only here; without it, constructing vla/Habitat-v0 raises one line
saying how to install it. The env (env.py) depends only on the NavSim protocol, so its episode,
reward and metric logic is tested with a stand-in simulator where habitat-sim is not installed.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from vla.errors import VlaUserError

from .config import HabitatConfig

INSTALL_HINT = (
    "vla/Habitat-v0 needs habitat-sim, which is distributed through conda only (and pins numpy 1.x): "
    "conda create -n habitat python=3.9 cmake=3.14.0 && conda activate habitat && "
    "conda install habitat-sim headless -c conda-forge -c aihabitat && pip install pyzmq gymnasium && "
    "pip install --no-deps --ignore-requires-python -e <this checkout>; then run it there with "
    "`python -m vla.envs.server --env vla/Habitat-v0 --env-kwargs '{\"dataset\": ...}'` and connect with "
    "vla/Remote-v0 (README: 'Env server and Habitat')"
)


class NavSim(Protocol):
    """What the env needs from a simulator. Poses are habitat-sim's: y up, rotation (w, x, y, z)."""

    def load_scene(self, scene_path: str) -> None: ...
    def set_agent_pose(self, position: np.ndarray, rotation_xyzw: tuple[float, ...]) -> None: ...
    def act(self, action: str) -> bool: ...  # "move_forward" | "turn_left" | "turn_right" -> collided
    def agent_pose(self) -> tuple[np.ndarray, np.ndarray]: ...  # position (3,), rotation wxyz (4,)
    def sensors(self) -> tuple[np.ndarray, np.ndarray]: ...  # rgb (H, W, 3|4) uint8, depth (H, W[, 1]) m
    def geodesic_distance(self, position: np.ndarray, targets: list[np.ndarray]) -> float: ...
    def close(self) -> None: ...


def import_habitat_sim() -> Any:
    try:
        import habitat_sim
    except ImportError:
        raise VlaUserError(INSTALL_HINT) from None
    return habitat_sim


class HabitatSim:
    """habitat_sim.Simulator with one agent carrying an RGB and a depth camera at the same pose."""

    def __init__(self, config: HabitatConfig, turn_angle: float):
        self._hs = import_habitat_sim()
        self.config = config
        self.turn_angle = turn_angle
        self._sim = None
        self._scene: str | None = None

    def load_scene(self, scene_path: str) -> None:
        if scene_path == self._scene:
            return
        cfg = self._configuration(scene_path)
        if self._sim is None:
            self._sim = self._hs.Simulator(cfg)
        else:
            self._sim.reconfigure(cfg)
        self._scene = scene_path

    def _configuration(self, scene_path: str) -> Any:
        hs, c = self._hs, self.config
        backend = hs.SimulatorConfiguration()
        backend.scene_id = scene_path
        backend.gpu_device_id = c.gpu_device_id
        backend.enable_physics = False
        sensors = []
        for uuid, kind in (("rgb", hs.SensorType.COLOR), ("depth", hs.SensorType.DEPTH)):
            spec = hs.CameraSensorSpec()
            spec.uuid = uuid
            spec.sensor_type = kind
            spec.resolution = list(c.image_hw)
            spec.position = [0.0, c.sensor_height, 0.0]
            spec.hfov = c.hfov
            sensors.append(spec)
        agent = hs.agent.AgentConfiguration()
        agent.sensor_specifications = sensors
        actuation = hs.agent.ActuationSpec
        agent.action_space = {
            "move_forward": hs.agent.ActionSpec("move_forward", actuation(amount=c.forward_step)),
            "turn_left": hs.agent.ActionSpec("turn_left", actuation(amount=self.turn_angle)),
            "turn_right": hs.agent.ActionSpec("turn_right", actuation(amount=self.turn_angle)),
        }
        return hs.Configuration(backend, [agent])

    def set_agent_pose(self, position: np.ndarray, rotation_xyzw: tuple[float, ...]) -> None:
        from habitat_sim.utils.common import quat_from_coeffs

        state = self._hs.AgentState()
        state.position = np.asarray(position, dtype=np.float32)
        state.rotation = quat_from_coeffs(np.asarray(rotation_xyzw, dtype=np.float64))
        self._sim.get_agent(0).set_state(state)

    def act(self, action: str) -> bool:
        self._sim.step(action)
        return bool(self._sim.previous_step_collided)

    def agent_pose(self) -> tuple[np.ndarray, np.ndarray]:
        state = self._sim.get_agent(0).get_state()
        q = state.rotation  # numpy-quaternion (w, x, y, z attributes) or magnum (scalar, vector)
        wxyz = (q.w, q.x, q.y, q.z) if hasattr(q, "w") else (q.scalar, *q.vector)
        return np.asarray(state.position, dtype=np.float64), np.asarray(wxyz, dtype=np.float64)

    def sensors(self) -> tuple[np.ndarray, np.ndarray]:
        obs = self._sim.get_sensor_observations()
        return np.asarray(obs["rgb"]), np.asarray(obs["depth"])

    def geodesic_distance(self, position: np.ndarray, targets: list[np.ndarray]) -> float:
        path = self._hs.MultiGoalShortestPath()
        path.requested_start = np.asarray(position, dtype=np.float32)
        path.requested_ends = [np.asarray(t, dtype=np.float32) for t in targets]
        return float(path.geodesic_distance) if self._sim.pathfinder.find_path(path) else float("inf")

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()
            self._sim = None
            self._scene = None

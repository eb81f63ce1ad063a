"""Habitat's sensor maths in plain numpy: quaternions, episodic GPS and compass, the polar point goal.

These reproduce habitat-lab's EpisodicGPSSensor, EpisodicCompassSensor and
IntegratedPointGoalGPSAndCompassSensor (2-D, polar) without importing habitat, so the observation
mapping is tested here and agrees with policies trained in habitat-lab. Frames are habitat-sim's:
y up, the agent looks along -z, x to its right. Quaternions are (w, x, y, z) arrays; episode files
store rotations as (x, y, z, w) coefficients, converted by quat_from_coeffs.
"""

from __future__ import annotations

import math

import numpy as np

FORWARD = np.array([0.0, 0.0, -1.0])


def quat_from_coeffs(coeffs) -> np.ndarray:
    """habitat's [x, y, z, w] coefficient order -> (w, x, y, z), normalised."""
    x, y, z, w = (float(c) for c in coeffs)
    q = np.array([w, x, y, z])
    return q / np.linalg.norm(q)


def quat_from_yaw(yaw: float) -> np.ndarray:
    """Rotation by `yaw` rad about +y (up): positive turns the agent to its left."""
    return np.array([math.cos(yaw / 2), 0.0, math.sin(yaw / 2), 0.0])


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def quat_rotate(q: np.ndarray, v) -> np.ndarray:
    """Rotate vector v by unit quaternion q (q v q*)."""
    qv = np.array([0.0, *np.asarray(v, dtype=float)])
    return quat_mul(quat_mul(q, qv), quat_conj(q))[1:]


def cartesian_to_polar(x: float, y: float) -> tuple[float, float]:
    return math.hypot(x, y), math.atan2(y, x)


def pointgoal_polar(position, rotation: np.ndarray, goal) -> tuple[float, float]:
    """(rho, phi) of the goal in the agent frame: distance, and angle with + to the agent's left."""
    direction = quat_rotate(quat_conj(rotation), np.asarray(goal, float) - np.asarray(position, float))
    rho, phi = cartesian_to_polar(-direction[2], direction[0])
    return rho, -phi


def episodic_gps(position, start_position, start_rotation: np.ndarray) -> tuple[float, float]:
    """Position relative to the episode start, in the start frame: [forward, right] (habitat's [-z, x])."""
    p = quat_rotate(quat_conj(start_rotation), np.asarray(position, float) - np.asarray(start_position, float))
    return float(-p[2]), float(p[0])


def episodic_compass(rotation: np.ndarray, start_rotation: np.ndarray) -> float:
    """Heading relative to the start, + when the agent has turned left (habitat's EpisodicCompassSensor)."""
    heading = quat_rotate(quat_mul(quat_conj(rotation), start_rotation), FORWARD)
    return float(cartesian_to_polar(-heading[2], heading[0])[1])


def nav_state(position, rotation: np.ndarray, start_position, start_rotation: np.ndarray, goal) -> np.ndarray:
    """observation.state of the navigation suite (schema.py): [rho, phi,] gps x (ahead), gps y (left), compass.

    habitat-lab's GPS is [forward, right]; the suite's y points left (a right-handed frame, as ROS's
    base_link), so the second component changes sign. goal None (ObjectNav, VLN) leaves out rho and phi.
    """
    forward, right = episodic_gps(position, start_position, start_rotation)
    values = [forward, -right, episodic_compass(rotation, start_rotation)]
    if goal is not None:
        values = [*pointgoal_polar(position, rotation, goal), *values]
    return np.array(values, dtype=np.float32)

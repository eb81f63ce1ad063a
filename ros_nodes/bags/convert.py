"""rosbag2 -> LeRobotDataset v3 frames: observations grouped by header stamp, actions from the command
topics aligned by log time, episodes split at /sim/reset or at pauses.

Frame k is one complete observation (both images, /joint_states, /tool_pose with the same header stamp).
Its action is what the robot was commanded between observation k and observation k+1 (log time): the
last twist in that window times 1/fps (none: zero, the arm held), and the last gripper command so far
(none yet: open, -1). Frames whose window has no command at all are still kept (the arm held still).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE
from vla.errors import VlaUserError
from vla.ros_nodes.common.image import image_to_numpy
from vla.ros_nodes.common.topics import ARM_JOINT_NAMES, TopicNames
from vla.ros_nodes.sim_robot.config import SimTopics
from vla.ros_nodes.sim_robot.messages import stamp_to_ns, state_from_messages

GRIPPER_OPEN = -1.0


@dataclass
class Frame:
    log_ns: int  # log time of the observation's last part
    images: dict[str, np.ndarray]
    state: np.ndarray
    task: str
    action: np.ndarray | None = None


@dataclass
class BagEpisodes:
    episodes: list[list[Frame]] = field(default_factory=list)
    action_kind: str = "ee_delta"
    incomplete_observations: int = 0


def _open_reader(path: Path):
    from rosbags.rosbag2 import Reader

    if not path.exists():
        raise VlaUserError(f"bag {path} does not exist")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as e:
        raise VlaUserError(f"{path} is not a readable rosbag2 ({type(e).__name__}: {str(e)[:150]})") from None
    return reader


def read_bag(path: Path, fps: int, task_topic: str, task: str | None, action: str, max_gap_s: float) -> BagEpisodes:
    from rosbags.typesys import Stores, get_typestore

    t, s = TopicNames(), SimTopics()
    cams = {t.camera_scene: OBS_IMAGE_SCENE, t.camera_wrist: OBS_IMAGE_WRIST}
    reader = _open_reader(Path(path))
    typestore = get_typestore(Stores.ROS2_JAZZY)
    try:
        topics = {c.topic: c for c in reader.connections}
        counts = {c.topic: c.msgcount for c in reader.connections}
        missing = [c for c in (*cams, t.joint_states, t.tool_pose) if not counts.get(c)]
        if missing:
            raise VlaUserError(f"bag {path} has no messages on {missing}; record cameras, joint states and tool pose")
        if action == "auto":
            action = "ee_delta" if counts.get(t.ee_command) else "joint"
        arm_topic = t.ee_command if action == "ee_delta" else t.joint_command
        if not counts.get(arm_topic):
            raise VlaUserError(f"bag {path} has no {arm_topic} messages to reconstruct {action} actions from")
        if task is None and not counts.get(task_topic):
            raise VlaUserError(f"bag {path} has no instruction on {task_topic}; pass --task-topic or --task")
        wanted = [topics[n] for n in (*cams, t.joint_states, t.tool_pose, arm_topic) if n in topics]
        wanted += [topics[n] for n in (task_topic, t.gripper_command, s.reset) if n in topics]
        events: list[tuple[int, str, object]] = []
        for conn, log_ns, raw in reader.messages(connections=wanted):
            events.append((log_ns, conn.topic, typestore.deserialize_cdr(raw, conn.msgtype)))
    finally:
        reader.close()
    events.sort(key=lambda e: e[0])

    out = BagEpisodes(action_kind=action)
    partial: dict[int, dict[str, object]] = {}
    instruction = task or ""
    current: list[Frame] = []
    arm: object | None = None  # latest arm command since the last frame
    gripper = GRIPPER_OPEN
    period = 1.0 / fps
    last_stamp = -1  # observations republished with the same stamp (lockstep sim) count once

    def close_frame() -> None:
        nonlocal arm
        if current and current[-1].action is None:
            current[-1].action = _action(action, arm, gripper, period, current[-1].state)
        arm = None

    acted = False  # an arm command came in this episode

    def end_episode() -> None:
        nonlocal current, gripper, acted
        if current:
            close_frame()
            out.episodes.append(current)
        current, gripper, acted = [], GRIPPER_OPEN, False

    for log_ns, topic, msg in events:
        if topic == s.reset:
            end_episode()
        elif topic == task_topic and task is None:
            instruction = msg.data
            if not acted:  # a reset's instruction may be logged after the episode's first images
                for frame in current:
                    frame.task = instruction
        elif topic == arm_topic:
            arm, acted = msg, True
        elif topic == t.gripper_command:
            gripper = float(np.clip(msg.data, -1.0, 1.0))
        else:
            stamp = stamp_to_ns(msg.header.stamp)
            parts = partial.setdefault(stamp, {})
            parts[cams.get(topic, topic)] = msg
            if len(parts) < 4:
                continue
            del partial[stamp]
            if stamp <= last_stamp:
                continue
            last_stamp = stamp
            if current and log_ns - current[-1].log_ns > max_gap_s * 1e9:
                end_episode()
            close_frame()
            images = {k: image_to_numpy(parts[k]) for k in cams.values()}
            state = state_from_messages(parts[t.joint_states], parts[t.tool_pose])
            current.append(Frame(log_ns, images, state, instruction))
    # the last observation of an episode is followed by its action only if a command came after it
    if current and arm is None:
        current.pop()
    end_episode()
    out.incomplete_observations = len(partial)
    return out


def _action(kind: str, arm, gripper: float, period: float, state: np.ndarray) -> np.ndarray:
    if kind == "ee_delta":
        if arm is None:
            return np.array([0, 0, 0, 0, gripper], dtype=np.float32)
        lin, ang = arm.twist.linear, arm.twist.angular
        return np.array([lin.x * period, lin.y * period, lin.z * period, ang.z * period, gripper], dtype=np.float32)
    targets = state[:5]
    if arm is not None and len(arm.points):
        pos = dict(zip(arm.joint_names, arm.points[0].positions, strict=False))
        if all(n in pos for n in ARM_JOINT_NAMES):
            targets = [pos[n] for n in ARM_JOINT_NAMES]
    return np.array([*targets, gripper], dtype=np.float32)


STATE_NAMES = [f"{j}.pos" for j in ARM_JOINT_NAMES] + ["gripper.gap", "tcp.x", "tcp.y", "tcp.z"]
STATE_NAMES += ["tcp.qw", "tcp.qx", "tcp.qy", "tcp.qz"]
ACTION_NAMES = {
    "ee_delta": ["tcp.dx", "tcp.dy", "tcp.dz", "tcp.dyaw", "gripper"],
    "joint": [f"{j}.target" for j in ARM_JOINT_NAMES] + ["gripper"],
}


def features(bag: BagEpisodes) -> dict[str, dict]:
    frame = bag.episodes[0][0]
    feats: dict[str, dict] = {}
    for key, img in frame.images.items():
        feats[key] = {"dtype": "video", "shape": tuple(img.shape), "names": ["height", "width", "channels"]}
    feats[OBS_STATE] = {"dtype": "float32", "shape": (len(STATE_NAMES),), "names": STATE_NAMES}
    names = ACTION_NAMES[bag.action_kind]
    feats["action"] = {"dtype": "float32", "shape": (len(names),), "names": names}
    return feats

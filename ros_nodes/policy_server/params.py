"""The node's parameters as one typed, validated dataclass (no rclpy here; see ros_params.py).

Every field is a declared ROS 2 parameter of the same name. Defaults match the simulated tabletop robot
(`vla sim-robot`): 10 Hz control, the TabletopEnv workspace and per-step limits, the MJCF joint ranges.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from vla.ros_nodes.common.topics import DEFAULT_JOINT_NAMES

OUTPUT_TYPES = ("ee_twist", "joint_trajectory", "twist")
ENSEMBLING = ("none", "temporal", "adaptive")


def _doc(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, **extra}


@dataclass(frozen=True)
class ServerParams:
    checkpoint: str = field(default="", metadata=_doc("checkpoint directory (or Hub id) written by `vla train`"))
    device: str = field(default="cpu", metadata=_doc("torch device for inference: cpu, cuda, cuda:1, ..."))
    num_threads: int = field(
        default=0,
        metadata=_doc(
            "torch CPU threads for inference; 0 = one core fewer than the machine has (at least 1), leaving a "
            "core for the control thread and the executor",
            min=0,
            max=256,
        ),
    )
    control_rate_hz: float = field(
        default=10.0,
        metadata=_doc(
            "command rate; one policy action per period. Match the rate the demonstrations were recorded at "
            "(10 Hz for the tabletop sim), since actions are per-step displacements",
            min=0.5,
            max=1000.0,
        ),
    )
    camera_names: list[str] = field(
        default_factory=list,
        metadata=_doc("cameras the policy reads (observation.images.<name>); empty = the checkpoint's cameras"),
    )
    camera_topics: list[str] = field(
        default_factory=list,
        metadata=_doc("image topic per camera_names entry; empty = /camera/<name>/image_raw"),
    )
    joint_names: list[str] = field(
        default_factory=lambda: list(DEFAULT_JOINT_NAMES),
        metadata=_doc("JointState names whose positions start observation.state, in order"),
    )
    tool_pose_topic: str = field(
        default="/tool_pose",
        metadata=_doc("PoseStamped appended to the state as xyz + quaternion wxyz; empty = state is joints only"),
    )
    output_type: str = field(
        default="",
        metadata=_doc(
            "ee_twist (/ee_command + /gripper_command), joint_trajectory (/joint_command) or twist (/cmd_vel); "
            "empty = from the checkpoint's action dim (5: ee_twist, 6: joint_trajectory, 2: twist)"
        ),
    )
    max_linear_speed: float = field(
        default=0.3, metadata=_doc("m/s cap on the commanded tool (or base) speed", min=0.0, max=10.0)
    )
    max_angular_speed: float = field(default=2.5, metadata=_doc("rad/s cap on the yaw rate", min=0.0, max=20.0))
    workspace_min: list[float] = field(
        default_factory=lambda: [0.15, -0.36, 0.025], metadata=_doc("tool-centre box lower corner xyz (m, base)")
    )
    workspace_max: list[float] = field(
        default_factory=lambda: [0.66, 0.36, 0.40], metadata=_doc("tool-centre box upper corner xyz (m, base)")
    )
    joint_position_min: list[float] = field(
        default_factory=lambda: [-2.6, -1.7, -0.3, -1.2, -3.0],
        metadata=_doc("lower limits (rad) of the arm joint targets in joint_trajectory mode"),
    )
    joint_position_max: list[float] = field(
        default_factory=lambda: [2.6, 1.7, 2.9, 3.4, 3.0],
        metadata=_doc("upper limits (rad) of the arm joint targets in joint_trajectory mode"),
    )
    obs_timeout_s: float = field(
        default=0.5, metadata=_doc("hold when an input has not arrived for this long", min=0.01, max=60.0)
    )
    max_stamp_age_s: float = field(
        default=1.0,
        metadata=_doc("hold when an input's header stamp is older than this (0 disables the check)", min=0.0),
    )
    instruction: str = field(default="", metadata=_doc("instruction used until one arrives on /instruction"))
    min_remaining_actions: int = field(
        default=-1,
        metadata=_doc(
            "request the next chunk when this many actions of the current one are left; "
            "-1 = chunk_size - n_action_steps of the checkpoint",
            min=-1,
            max=1000,
        ),
    )

    control_priority: int = field(
        default=50,
        metadata=_doc(
            "SCHED_FIFO real-time priority (1-99) of the control loop (process or thread), so other processes' "
            "load cannot delay its ticks; used when the process may set it (root, CAP_SYS_NICE or an rtprio limit in "
            "/etc/security/limits.conf), else the thread runs at normal priority and the log says so. 0 = never",
            min=0,
            max=99,
        ),
    )
    control_process: bool = field(
        default=True,
        metadata=_doc(
            "run the control loop in its own process (started at configure), which publishes the commands "
            "from the action chunks the server writes into shared memory, so that the executor and the model "
            "(other Python threads: the GIL) cannot delay its ticks. false = a control thread in the server "
            "process. Ignored in sync_mode"
        ),
    )
    sync_mode: bool = field(
        default=False,
        metadata=_doc(
            "synchronous mode for a lockstep simulator (deterministic eval): one command per new observation "
            "(images, joint states, tool pose and /sim/episode with the same stamp), stamped with that "
            "observation's stamp, chunks executed as in-process select_action; no wall clock. "
            "false = the asynchronous control loop at control_rate_hz (robots)"
        ),
    )
    ensembling: str = field(
        default="",
        metadata=_doc(
            "sync_mode chunk execution: none, temporal or adaptive; empty = the checkpoint's "
            "(asynchronous mode executes chunks without ensembling)"
        ),
    )
    n_action_steps: int = field(
        default=0,
        metadata=_doc(
            "actions executed per chunk (ensembling none); 0 = the checkpoint's. In asynchronous mode it sets "
            "the default of min_remaining_actions (chunk_size - n_action_steps)",
            min=0,
            max=1000,
        ),
    )

    def validate(self) -> list[str]:
        """Every problem with these values, each saying what to change (empty when valid)."""
        errors = []
        for f in dataclasses.fields(self):
            meta, value = f.metadata, getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                errors.append(f"{f.name}={value} must be finite")
            if "min" in meta and value < meta["min"]:
                errors.append(f"{f.name}={value} must be >= {meta['min']}")
            if "max" in meta and value > meta["max"]:
                errors.append(f"{f.name}={value} must be <= {meta['max']}")
        if self.ensembling not in ("", *ENSEMBLING):
            errors.append(f"ensembling={self.ensembling!r}: use one of {', '.join(ENSEMBLING)} (or empty)")
        if self.output_type not in ("", *OUTPUT_TYPES):
            errors.append(f"output_type={self.output_type!r}: use one of {', '.join(OUTPUT_TYPES)} (or empty)")
        if not self.joint_names or len(set(self.joint_names)) != len(self.joint_names):
            errors.append(f"joint_names={self.joint_names} must be non-empty and unique")
        if self.camera_topics and len(self.camera_topics) != len(self.camera_names):
            errors.append(
                f"camera_topics has {len(self.camera_topics)} entries but camera_names has {len(self.camera_names)}"
            )
        for lo_name, hi_name, n in (
            ("workspace_min", "workspace_max", 3),
            ("joint_position_min", "joint_position_max", None),
        ):
            lo, hi = getattr(self, lo_name), getattr(self, hi_name)
            if n is not None and (len(lo) != n or len(hi) != n):
                errors.append(f"{lo_name} and {hi_name} need {n} values each (got {len(lo)} and {len(hi)})")
            elif len(lo) != len(hi):
                errors.append(f"{lo_name} and {hi_name} differ in length ({len(lo)} vs {len(hi)})")
            elif not all(math.isfinite(a) and math.isfinite(b) and a < b for a, b in zip(lo, hi, strict=True)):
                errors.append(f"{lo_name}={lo} must be finite and below {hi_name}={hi} element-wise")
        return errors

    @property
    def control_period_s(self) -> float:
        return 1.0 / self.control_rate_hz

    @property
    def torch_threads(self) -> int:
        """num_threads, with 0 resolved to (cores - 1), at least 1."""
        return self.num_threads or max(1, (os.cpu_count() or 1) - 1)

    def replace(self, **changes: Any) -> ServerParams:
        return dataclasses.replace(self, **changes)


LIVE_PARAMS = frozenset(
    {"max_linear_speed", "max_angular_speed", "workspace_min", "workspace_max", "joint_position_min",
     "joint_position_max", "obs_timeout_s", "max_stamp_age_s", "instruction"}
)  # fmt: skip
"""Applied immediately while configured; every other parameter takes effect at the next configure."""

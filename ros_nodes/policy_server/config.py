"""`vla serve` command-line options (no rclpy or torch imports: `vla --help` stays fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_NODE_NAME = "vla_policy_server"


@dataclass
class ServeConfig:
    """Serve a VLA checkpoint as a ROS 2 lifecycle node: camera images, joint states and an instruction in;
    end-effector twists, joint trajectories or base velocities out, with safety limits and /diagnostics."""

    checkpoint: str | None = None
    """Checkpoint directory written by `vla train` (overrides `checkpoint` in the params file)."""
    params_file: Path | None = None
    """ROS 2 parameters YAML (`<node_name>: ros__parameters: ...`), e.g. ros_nodes/config/policy_server.params.yaml."""
    autostart: bool = True
    """Configure and activate at start-up; --no-autostart waits for a lifecycle manager (ros2 lifecycle set)."""
    node_name: str = DEFAULT_NODE_NAME
    """ROS 2 node name (and the key looked up in the params file)."""
    instruction: str | None = None
    """Instruction to use until one arrives on /instruction (overrides the params file)."""
    device: str | None = None
    """Torch device, e.g. cuda (overrides the params file)."""

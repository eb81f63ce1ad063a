"""QoS profiles of the topic contract (see topics.py). Needs rclpy.

- images: sensor data (best effort, keep last 5): a late frame is worthless, never queue or retransmit it.
- state and commands: reliable, keep last 10.
- instruction: reliable + transient local, depth 1, so a node that starts later still gets the current one.
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

SENSOR_QOS: QoSProfile = qos_profile_sensor_data
RELIABLE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
LATCHED_QOS = QoSProfile(
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    history=HistoryPolicy.KEEP_LAST,
)
"""For /instruction: the last message is kept for subscribers that join later."""

IMAGE_QOS = SENSOR_QOS
JOINT_STATES_QOS = RELIABLE_QOS
TOOL_POSE_QOS = RELIABLE_QOS
INSTRUCTION_QOS = LATCHED_QOS
ESTOP_QOS = RELIABLE_QOS
COMMAND_QOS = RELIABLE_QOS
DIAGNOSTICS_QOS = RELIABLE_QOS

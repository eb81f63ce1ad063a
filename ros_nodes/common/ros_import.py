"""Import rclpy with one clear line when the `ros` extra is missing (instead of a deep ImportError)."""

from __future__ import annotations

from types import ModuleType

from vla.errors import VlaUserError

ROS_HINT = (
    "install the ROS 2 extra (pip install 'vla[ros]', real Jazzy rclpy wheels for x86_64 Python 3.12) "
    "or source /opt/ros/jazzy/setup.bash"
)


def require_rclpy() -> ModuleType:
    """Return the rclpy module, or raise VlaUserError naming what to install.

    Also imports the message packages the nodes use, so a partial install fails here, not mid-callback.
    """
    try:
        import diagnostic_msgs.msg  # noqa: F401
        import geometry_msgs.msg  # noqa: F401
        import rclpy
        import rclpy.lifecycle  # noqa: F401
        import sensor_msgs.msg  # noqa: F401
        import std_msgs.msg  # noqa: F401
        import trajectory_msgs.msg  # noqa: F401
    except ImportError as e:
        raise VlaUserError(f"ROS 2 (rclpy) is not available ({e.msg}); {ROS_HINT}") from None
    return rclpy

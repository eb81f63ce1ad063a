"""Closed loop in simulation: `vla sim-robot` + the `vla serve` policy server.

    ros2 launch vla_ros_nodes vla_sim_closed_loop.launch.py checkpoint:=/path/to/pretrained_model task:=pick

Needs `launch` and `launch_ros` (part of any ROS 2 desktop install; not in the PyPI wheels).
"""

try:
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.substitutions import FindPackageShare
except ImportError as e:  # pragma: no cover - only where ROS 2 launch is missing
    raise ImportError(f"{e.name} is missing: source /opt/ros/jazzy/setup.bash to use this launch file") from None

PACKAGE = "vla_ros_nodes"


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare(PACKAGE), "config"])
    args = [
        DeclareLaunchArgument("checkpoint", description="checkpoint directory written by `vla train`"),
        DeclareLaunchArgument("task", default_value="pick", description="pick, place, push, stack or all"),
        DeclareLaunchArgument("seed", default_value="0", description="seed of the first episode"),
        DeclareLaunchArgument("lockstep", default_value="false", description="one sim step per command"),
    ]
    sim_robot = Node(
        package=PACKAGE,
        executable="vla_sim_robot",
        name="vla_sim_robot",
        output="screen",
        parameters=[
            PathJoinSubstitution([config, "sim_robot.params.yaml"]),
            {
                "task": LaunchConfiguration("task"),
                "seed": LaunchConfiguration("seed"),
                "lockstep": LaunchConfiguration("lockstep"),
            },
        ],
    )
    policy_server = Node(
        package=PACKAGE,
        executable="vla",
        name="vla_policy_server",
        output="screen",
        arguments=[
            "serve",
            "--checkpoint",
            LaunchConfiguration("checkpoint"),
            "--params-file",
            PathJoinSubstitution([config, "policy_server.params.yaml"]),
        ],  # `vla serve` reads its parameters (use_sim_time included) from the params file, not --ros-args
    )
    return LaunchDescription([*args, sim_robot, policy_server])

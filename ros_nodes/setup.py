"""ament_python build of `ros_nodes/` for a colcon workspace (`colcon build --packages-select vla_ros_nodes`).

It installs the package marker, package.xml, launch files, parameter files and the node executables; the
node code itself is the `vla` Python package, installed with `pip install 'vla[ros]'` into ROS 2's Python.
"""

from glob import glob

from setuptools import setup

PACKAGE = "vla_ros_nodes"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="vla maintainers",
    maintainer_email="maintainers@vla.invalid",
    description="ROS 2 nodes of the vla stack: policy server, simulated robot, bag tools",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "vla_sim_robot = vla.ros_nodes.sim_robot.command:main",
            "vla = vla.cli.main:main",  # ros2 run vla_ros_nodes vla serve --checkpoint DIR
        ],
    },
)

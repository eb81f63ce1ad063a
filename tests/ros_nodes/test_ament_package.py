"""`ros_nodes/` as an ament_python package: package.xml (format 3) lists the runtime deps, setup.py agrees
with it and installs what colcon needs, entry points resolve, the launch file compiles, params match nodes."""

import ast
import importlib
import py_compile
import xml.etree.ElementTree as ET
from dataclasses import fields
from pathlib import Path

import yaml

from vla.ros_nodes.sim_robot.config import SimRobotConfig

ROS_NODES = Path(__file__).resolve().parents[2] / "ros_nodes"
EXEC_DEPENDS = {
    "rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "trajectory_msgs", "diagnostic_msgs", "rosgraph_msgs",
    "lifecycle_msgs",
}  # fmt: skip


def _setup_kwargs() -> dict:
    tree = ast.parse((ROS_NODES / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}
    out = {}
    for kw in call.keywords:
        if kw.arg == "name":
            out["name"] = consts.get(getattr(kw.value, "id", ""), getattr(kw.value, "value", None))
        elif kw.arg in ("version", "license", "entry_points"):
            out[kw.arg] = ast.literal_eval(kw.value)
    return out


def test_package_xml_is_format_3_with_runtime_deps():
    root = ET.parse(ROS_NODES / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    for tag in ("name", "version", "description", "maintainer", "license"):
        assert root.find(tag) is not None and root.find(tag).text.strip(), tag
    assert root.find("maintainer").get("email")
    order = [child.tag for child in root]  # format 3 schema: name, version, description first
    assert order[:3] == ["name", "version", "description"]
    deps = {e.text for e in root.findall("exec_depend")}
    assert EXEC_DEPENDS <= deps, EXEC_DEPENDS - deps
    assert root.find("export/build_type").text == "ament_python"


def test_setup_py_agrees_with_package_xml_and_installs_the_ament_marker():
    root = ET.parse(ROS_NODES / "package.xml").getroot()
    kw = _setup_kwargs()
    name = root.find("name").text
    assert kw["name"] == name and kw["version"] == root.find("version").text
    assert kw["license"] == root.find("license").text
    assert (ROS_NODES / "resource" / name).is_file()
    cfg = (ROS_NODES / "setup.cfg").read_text()
    assert f"install_scripts=$base/lib/{name}" in cfg and f"script_dir=$base/lib/{name}" in cfg
    for spec in kw["entry_points"]["console_scripts"]:
        exe, target = (s.strip() for s in spec.split("="))
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), spec
    assert {"vla_sim_robot", "vla"} <= {s.split("=")[0].strip() for s in kw["entry_points"]["console_scripts"]}


def test_launch_file_compiles_and_names_installed_executables(tmp_path):
    launch = ROS_NODES / "launch" / "vla_sim_closed_loop.launch.py"
    py_compile.compile(str(launch), cfile=str(tmp_path / "launch.pyc"), doraise=True)
    tree = ast.parse(launch.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    executables = {
        kw.value.value for n in ast.walk(tree) if isinstance(n, ast.Call) for kw in n.keywords if kw.arg == "executable"
    }
    installed = {s.split("=")[0].strip() for s in _setup_kwargs()["entry_points"]["console_scripts"]}
    assert executables and executables <= installed
    for yaml_name in ("sim_robot.params.yaml", "policy_server.params.yaml"):
        assert yaml_name in launch.read_text() and (ROS_NODES / "config" / yaml_name).is_file()


def test_sim_robot_params_file_matches_the_node():
    doc = yaml.safe_load((ROS_NODES / "config" / "sim_robot.params.yaml").read_text())
    params = doc["vla_sim_robot"]["ros__parameters"]
    names = {f.name for f in fields(SimRobotConfig)}
    assert set(params) <= names, set(params) - names
    SimRobotConfig(**params)  # the values validate

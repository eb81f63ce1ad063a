"""`vla sim-robot` over real DDS (run inside a loopback-only network namespace): topics, rates,
resets and stepping identical to the in-process env, clean SIGTERM."""

import signal
import time

import numpy as np
import pytest
from sim_robot_helpers import ros_node, start_vla

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE, TASK
from vla.envs import make_env
from vla.policies.experts import make_expert

IMAGE = 48
STARTUP_S = 120  # importing torch + mujoco on 2 loaded cores


def _stop(proc) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


@pytest.fixture(scope="module")
def lockstep_robot():
    proc = start_vla("sim-robot", "--task", "pick", "--seed", "0", "--image-size", IMAGE, "--lockstep")
    yield proc
    if proc.poll() is None:
        _stop(proc)


def test_topics_rate_and_clean_sigterm():
    from rclpy.qos import qos_profile_sensor_data
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState

    proc = start_vla("sim-robot", "--task", "push", "--seed", "5", "--image-size", IMAGE, "--rate-hz", "10")
    got: dict[str, list] = {"scene": [], "wrist": [], "joints": [], "clock": []}
    with ros_node("probe") as node:
        node.create_subscription(Image, "/camera/scene/image_raw", got["scene"].append, qos_profile_sensor_data)
        node.create_subscription(Image, "/camera/wrist/image_raw", got["wrist"].append, qos_profile_sensor_data)
        on_joints = lambda msg: got["joints"].append((time.monotonic(), msg))  # noqa: E731
        node.create_subscription(JointState, "/joint_states", on_joints, 10)
        node.create_subscription(Clock, "/clock", got["clock"].append, 10)
        deadline = time.monotonic() + STARTUP_S
        while len(got["joints"]) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        start = len(got["joints"])
        time.sleep(3.0)
        window = got["joints"][start:]
    code, err = _stop(proc)
    assert code == 0 and "Traceback" not in err, err[-2000:]
    rate = (len(window) - 1) / (window[-1][0] - window[0][0])
    assert 8.0 <= rate <= 11.0, rate  # wall-clock paced at 10 Hz
    for cam, frame in (("scene", "scene_camera"), ("wrist", "wrist_camera")):
        img = got[cam][-1]
        assert (img.encoding, img.height, img.width, img.step) == ("rgb8", IMAGE, IMAGE, 3 * IMAGE)
        assert len(img.data) == 3 * IMAGE * IMAGE
        assert img.header.frame_id == frame
    js = window[-1][1]
    assert list(js.name) == ["shoulder_pan", "shoulder_lift", "elbow", "wrist_pitch", "wrist_roll", "gripper"]
    assert 0.0 <= js.position[5] <= 0.1  # gripper gap in metres
    ticks = [c.clock.sec * 10**9 + c.clock.nanosec for c in got["clock"][-10:]]
    # sim time: one period per step
    assert all(b - a == 100_000_000 for a, b in zip(ticks[:-1], ticks[1:], strict=True)), ticks


def test_reset_and_steps_match_the_in_process_env(lockstep_robot):
    from vla.ros_nodes.sim_robot.client import SimRobotClient

    env = make_env("pick", image_size=IMAGE)
    expert = make_expert(env)
    with ros_node("driver") as node:
        client = SimRobotClient(node)
        client.wait_connected(STARTUP_S)
        for seed in (11, 42):
            ros_obs = client.reset(seed)
            obs, _ = env.reset(seed=seed)
            expert.reset()
            assert ros_obs[TASK] == obs[TASK] == client.status["instruction"]
            assert client.status["seed"] == seed and client.status["step"] == 0 and not client.status["done"]
            for key in (OBS_IMAGE_SCENE, OBS_IMAGE_WRIST):
                assert np.array_equal(ros_obs[key], obs[key])
            assert np.array_equal(ros_obs[OBS_STATE], obs[OBS_STATE])
            for step in range(1, 13):
                action = expert.act(obs)
                client.send_ee_action(action, client.stamp_ns)
                ros_obs, status = client.wait_step(client.stamp_ns)
                obs, _, terminated, truncated, info = env.step(action)
                assert status["step"] == step
                assert np.array_equal(ros_obs[OBS_STATE], obs[OBS_STATE]), (step, ros_obs[OBS_STATE], obs[OBS_STATE])
                assert np.array_equal(ros_obs[OBS_IMAGE_WRIST], obs[OBS_IMAGE_WRIST])
            assert np.abs(obs[OBS_STATE][6:9] - env.unwrapped.scene.tcp_pos()).max() < 1e-5
            assert not np.allclose(obs[OBS_STATE][:5], 0.0)  # the arm really moved


def test_episode_end_is_reported_and_the_robot_holds(lockstep_robot):
    from vla.ros_nodes.sim_robot.client import SimRobotClient

    env = make_env("pick", image_size=IMAGE)
    expert = make_expert(env)
    with ros_node("driver_end") as node:
        client = SimRobotClient(node)
        client.wait_connected(STARTUP_S)
        obs = client.reset(7)
        env.reset(seed=7)
        status = None
        for _ in range(60):
            client.send_ee_action(expert.act(), client.stamp_ns)
            obs, status = client.wait_step(client.stamp_ns)
            env.step(expert.act())
            if obs is None:
                break
        assert status["done"] and status["success"], status  # the expert solves pick over ROS too
        stamp = client.stamp_ns
        client.send_ee_action(np.array([0.03, 0, 0, 0, -1], np.float32), stamp)
        time.sleep(0.5)
        assert client.stamp_ns == stamp and client.status["step"] == status["step"]  # holds until /sim/reset

"""The policy server's sync mode against the real lockstep sim robot (both nodes in this process, real DDS):
one command per observation, stamped with it, no hold at episode start, chunk executor reset per episode,
and the policy sees the env's observation bit for bit (rgb8 images, no resize; the float32 state)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="needs the ros extra")

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE, TASK  # noqa: E402

IMAGE = 32  # conftest's checkpoint image size: the server must not resize
ENV_LOW = [-0.03, -0.03, -0.03, -0.25, -1.0]
ENV_HIGH = [0.03, 0.03, 0.03, 0.25, 1.0]
OPEN_LIMITS = {
    "max_linear_speed": 10.0,
    "max_angular_speed": 20.0,
    "workspace_min": [-10.0, -10.0, -10.0],
    "workspace_max": [10.0, 10.0, 10.0],
}


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


def test_sync_mode_answers_every_observation_once_with_its_stamp(checkpoint_factory, background_spin):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticStatus
    from geometry_msgs.msg import TwistStamped
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    from std_msgs.msg import Int64

    from vla.envs import make_env
    from vla.ros_nodes.common.qos import COMMAND_QOS, LATCHED_QOS, RELIABLE_QOS
    from vla.ros_nodes.policy_server.node import PolicyServerNode
    from vla.ros_nodes.sim_robot.config import SimRobotConfig
    from vla.ros_nodes.sim_robot.messages import episode_status_dict, stamp_to_ns
    from vla.ros_nodes.sim_robot.node import SimRobotNode

    ckpt = checkpoint_factory("random_env_bounds", ENV_LOW, ENV_HIGH)  # random weights: actions vary with obs
    context = rclpy.Context()
    rclpy.init(context=context)
    sim = SimRobotNode(
        SimRobotConfig(task="pick", seed=7, image_size=IMAGE, lockstep=True, lockstep_gripper_wait_s=2.0),
        context=context,
    )
    params = {"checkpoint": str(ckpt), "sync_mode": True, "num_threads": 1, "n_action_steps": 3, **OPEN_LIMITS}
    server = PolicyServerNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()], context=context)
    probe = rclpy.create_node("probe", context=context)
    commands: list[int] = []
    statuses: list[dict] = []
    probe.create_subscription(
        TwistStamped, "/ee_command", lambda m: commands.append(stamp_to_ns(m.header.stamp)), COMMAND_QOS
    )
    probe.create_subscription(
        DiagnosticStatus, "/sim/episode", lambda m: statuses.append(episode_status_dict(m)), LATCHED_QOS
    )
    reset_pub = probe.create_publisher(Int64, "/sim/reset", RELIABLE_QOS)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    for node in (sim, server, probe):
        executor.add_node(node)
    stop_spinning = background_spin(executor, context)
    try:
        assert server.trigger_configure() == TransitionCallbackReturn.SUCCESS, server.configure_error
        seen: list[dict] = []  # every observation a chunk was computed from
        predict = server.policy.predict_action_chunk
        server.policy.predict_action_chunk = lambda obs, noise=None: (seen.append(obs), predict(obs, noise))[1]
        sim.start()
        assert server.trigger_activate() == TransitionCallbackReturn.SUCCESS
        _wait(lambda: statuses and statuses[-1]["done"], 120, "end of the first episode")
        first_len = statuses[-1]["step"]
        reset_pub.publish(Int64(data=8))
        _wait(lambda: statuses[-1]["episode"] == 1 and statuses[-1]["step"] >= 4, 60, "4 steps of episode 2")
        sim.stop()
        time.sleep(0.3)
        diag = server.diagnostic_values()
    finally:
        stop_spinning()
        server.trigger_shutdown()
        for node in (server, sim, probe):
            node.destroy_node()
        rclpy.shutdown(context=context)

    # one command per observation, stamped with it: the sim stepped on every one (no drops, no extra holds)
    # Sim time: the first reset is at 1 period, each step and each reset advance it by one period.
    period = 100_000_000
    second = statuses[-1]["step"]  # steps of episode 2 when the sim stopped
    expected = [(1 + k) * period for k in range(first_len)] + [(first_len + 2 + k) * period for k in range(second)]
    late = [(first_len + 2 + second) * period]  # the last observation, answered after the sim stopped, or not
    assert commands in (expected, expected + late), (commands[:5], expected[:5], len(commands), len(expected))
    assert diag["holds_published"] == 0 and diag["sync_mode"] is True
    # chunks exactly every n_action_steps = 3 steps, restarting at the new episode
    assert len(seen) == -(-first_len // 3) + 2, (len(seen), first_len)
    # what the policy saw at each episode start is the env's reset observation, bit for bit (rgb8, no resize)
    env = make_env("pick", image_size=IMAGE)
    for obs, seed in ((seen[0], 7), (seen[-(-first_len // 3)], 8)):
        ref, _ = env.reset(seed=seed)
        for key in (OBS_IMAGE_SCENE, OBS_IMAGE_WRIST):
            assert obs[key].dtype == np.uint8 and obs[key].shape == (IMAGE, IMAGE, 3)
            np.testing.assert_array_equal(obs[key], ref[key])
        np.testing.assert_array_equal(obs[OBS_STATE], ref[OBS_STATE])
        assert obs[OBS_STATE].dtype == np.float32 and obs[TASK] == ref[TASK]
    env.close()

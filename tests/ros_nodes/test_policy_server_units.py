"""The policy server's pure pieces with exact numbers: state order, chunk alignment, limits, image decoding,
parameter validation (no ROS nodes)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from vla.ros_nodes.common.image import ImageError, image_to_numpy
from vla.ros_nodes.policy_server.chunking import AsyncChunker, SharedChunker
from vla.ros_nodes.policy_server.params import ServerParams
from vla.ros_nodes.policy_server.safety import Limits, base_twist, ee_twist_command, joint_targets
from vla.ros_nodes.policy_server.shared_command import STEP, Layout, SharedCommand
from vla.ros_nodes.policy_server.state import assemble_state, joint_positions, tool_pose_from_msg

LIMITS = Limits(0.3, 2.5, np.array([0.15, -0.36, 0.025]), np.array([0.66, 0.36, 0.40]), -np.ones(5), np.ones(5))


def test_state_is_joints_gap_position_then_wxyz_quaternion():
    names = ["gripper", "extra_finger", "wrist_roll", "wrist_pitch", "elbow", "shoulder_lift", "shoulder_pan"]
    q = joint_positions(names, [0.04, 9.0, 0.5, 0.4, 0.3, 0.2, 0.1], [*names[2:][::-1], "gripper"])
    pose = SimpleNamespace(
        position=SimpleNamespace(x=0.4, y=-0.1, z=0.2), orientation=SimpleNamespace(x=0.1, y=0.2, z=0.3, w=0.9)
    )
    state = assemble_state(q, tool_pose_from_msg(pose))
    np.testing.assert_allclose(state, [0.1, 0.2, 0.3, 0.4, 0.5, 0.04, 0.4, -0.1, 0.2, 0.9, 0.1, 0.2, 0.3], atol=1e-7)
    assert state.dtype == np.float32
    with pytest.raises(ValueError, match=r"lacks joint\(s\) \['elbow'\]"):
        joint_positions(["a"], [0.0], ["elbow"])
    with pytest.raises(ValueError, match="non-finite"):
        joint_positions(["a"], [float("inf")], ["a"])


def test_async_chunk_skips_the_steps_that_elapsed_during_inference():
    c = AsyncChunker(min_remaining=4)
    assert c.pop() is None and c.should_request()  # nothing yet: request at step 1
    requested = c.step
    assert not c.should_request()  # one request in flight at a time
    for _ in range(3):  # three ticks pass while the model runs
        assert c.pop() is None
    chunk = np.arange(8.0)[:, None]
    assert c.offer(chunk, requested, c.epoch) == 3
    assert [c.pop()[0] for _ in range(3)] == [3.0, 4.0, 5.0]
    assert c.remaining() == 2 and c.should_request()
    assert c.offer(chunk, c.step - 8, c.epoch) == -1 and c.discarded == 1  # all of it in the past
    epoch = c.epoch
    c.reset()
    assert c.offer(chunk, c.step, epoch) == -1 and c.pop() is None  # results from before a hold are void


def test_shared_chunks_execute_the_actions_of_the_in_process_chunker():
    """The control process (step counter + plan in shared memory, read through the seqlock) executes, tick by
    tick, the actions AsyncChunker.pop gives for the same requests and arrival times."""
    writer = SharedCommand.create(Layout(chunk_size=8, action_dim=2, n_joints=5))
    reader = SharedCommand.attach(writer.name, writer.layout)
    try:
        writer.write_limits(LIMITS)
        writer.write_inputs(float("inf"), np.array([0.4, 0.0, 0.2]))
        local, shared = AsyncChunker(min_remaining=3), SharedChunker(3, writer)
        step, arrivals = 0, {}  # arrivals: tick -> (chunk, step it was requested at)
        executed_local, executed_shared = [], []
        for tick in range(40):
            if tick in arrivals:
                chunk, at = arrivals.pop(tick)
                assert local.offer(chunk, at, local.epoch) == shared.offer(chunk, at, shared.epoch)
            if tick == 25:  # a hold (bad input): both forget the plan and any request in flight
                local.reset(), shared.reset()
            plan, current = reader.read_plan()
            action = plan.action(step)
            executed_shared.append(None if action is None else float(action[0]))
            step += 1
            writer.counters[STEP] = step  # what the control process writes after each tick
            local_action = local.pop()
            executed_local.append(None if local_action is None else float(local_action[0]))
            assert local.should_request() == shared.should_request()
            if local._pending and not any(at == local.step for _, at in arrivals.values()):
                chunk = np.stack([np.arange(8.0) + 100 * tick, np.zeros(8)], axis=1)
                arrivals.setdefault(tick + 1 + tick % 3, (chunk, local.step))  # 0-2 ticks of inference
        assert current and plan.limits.max_linear_speed == 0.3 and plan.has_tool
        assert executed_shared == executed_local
        assert sum(a is not None for a in executed_local) > 25  # chunks were executed, not only holds
        writer.seq[0] += 1  # a write in progress (odd sequence): the reader uses its last consistent copy
        stale, current = reader.read_plan()
        assert not current and stale is plan
    finally:
        reader.close()
        writer.close()


def test_ee_twist_is_clipped_to_workspace_then_speed():
    cmd = ee_twist_command(np.array([0.01, -0.02, 0.0, 0.1, 0.5]), 0.1, LIMITS, np.array([0.4, 0.0, 0.2]))
    np.testing.assert_allclose(cmd.linear, [0.1, -0.2, 0.0])
    assert cmd.yaw_rate == pytest.approx(1.0) and cmd.gripper == 0.5
    cmd = ee_twist_command(np.array([0.03, 0.0, -0.03, 1.0, 3.0]), 0.1, LIMITS, np.array([0.65, 0.0, 0.03]))
    np.testing.assert_allclose(cmd.linear, [0.1, 0.0, -0.05])  # 1 cm and 5 mm left to the box faces
    assert cmd.yaw_rate == 2.5 and cmd.gripper == 1.0
    cmd = ee_twist_command(np.array([0.03, 0.04, 0.0, 0.0, 0.0]), 0.1, LIMITS, None)
    np.testing.assert_allclose(cmd.linear, [0.18, 0.24, 0.0])  # 0.5 m/s scaled to 0.3 along its direction
    q, g = joint_targets(np.array([2.0, -2.0, 0.5, 0.0, 0.0, -3.0]), LIMITS)
    np.testing.assert_allclose(q, [1.0, -1.0, 0.5, 0.0, 0.0])
    assert g == -1.0
    assert base_twist(np.array([0.05, -0.1]), 0.1, LIMITS) == (pytest.approx(0.3), pytest.approx(-1.0))


def _image(encoding="rgb8", h=2, w=3, step=None, data=None):
    channels = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4}.get(encoding, 3)
    step = step or w * channels
    data = bytes(range(step * h)) if data is None else data
    return SimpleNamespace(encoding=encoding, height=h, width=w, step=step, data=data)


def test_image_decoding_converts_or_rejects_with_a_reason():
    rgb = image_to_numpy(_image())
    assert rgb.shape == (2, 3, 3) and rgb[1, 2].tolist() == [15, 16, 17]
    assert image_to_numpy(_image("bgr8"))[1, 2].tolist() == [17, 16, 15]
    assert image_to_numpy(_image("rgb8", step=12))[1, 0].tolist() == [12, 13, 14]  # row padding skipped
    assert image_to_numpy(_image("mono8"))[0, 1].tolist() == [1, 1, 1]
    with pytest.raises(ImageError, match="unsupported encoding '16UC1'"):
        image_to_numpy(_image("16UC1"))
    with pytest.raises(ImageError, match="data has 5 bytes, expected step\\*height = 9\\*2 = 18"):
        image_to_numpy(_image(data=bytes(5)))


def test_parameter_validation_names_each_problem():
    assert ServerParams().validate() == []
    errors = ServerParams(
        control_rate_hz=0.0, output_type="velocity", joint_position_min=[0.0], camera_topics=["/a"]
    ).validate()
    text = "; ".join(errors)
    assert "control_rate_hz=0.0 must be >= 0.5" in text
    assert "output_type='velocity'" in text
    assert "joint_position_min and joint_position_max differ in length (1 vs 5)" in text
    assert "camera_topics has 1 entries but camera_names has 0" in text


def test_ee_command_round_trip_through_the_sim_is_bit_exact_when_limits_do_not_bind():
    """Sync-mode parity needs it: action -> twist (server) -> twist * period (sim) gives the float32 action back."""
    from vla.ros_nodes.sim_robot.commands import CommandBuffer

    wide = Limits(10.0, 20.0, -10 * np.ones(3), 10 * np.ones(3), -np.ones(5), np.ones(5))
    buffer = CommandBuffer("ee_delta", 1.0 / 10)
    rng = np.random.default_rng(0)
    high = np.array([0.03, 0.03, 0.03, 0.25, 1.0], np.float32)
    actions = rng.uniform(-high, high, (2000, 5)).astype(np.float32)
    actions[:10] *= np.float32(1e-6)  # tiny displacements: (tool + d) - tool would not give d back
    for action in actions:
        cmd = ee_twist_command(action, 1.0 / 10, wide, np.array([0.4, 0.1, 0.2]))
        buffer.set_gripper(cmd.gripper)
        buffer.set_twist(tuple(cmd.linear), cmd.yaw_rate, 1)
        np.testing.assert_array_equal(buffer.action(), action)


@pytest.mark.parametrize("ensembling", ["none", "temporal", "adaptive"])
def test_sync_stepper_takes_the_actions_of_policy_select_action(ensembling):
    """Sync mode executes chunks exactly as the policy's own select_action (same executor, same chunk steps)."""
    import torch

    from vla.policy.configuration_vla import make_config
    from vla.policy.modeling_vla import VLAPolicy
    from vla.ros_nodes.policy_server.sync import SyncStepper

    torch.manual_seed(0)
    torch.set_num_threads(1)
    policy = VLAPolicy(make_config("tiny-l1", image_size=(32, 32), ensembling=ensembling, n_action_steps=3)).eval()
    stepper = SyncStepper(policy, ensembling, 3)
    rng = np.random.default_rng(1)
    for _episode in range(2):
        policy.reset()
        stepper.reset()
        for _ in range(7):
            obs = {
                "observation.images.scene": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
                "observation.images.wrist": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
                "observation.state": rng.normal(size=13).astype(np.float32),
                "task": "pick up the red cube",
            }
            expected = policy.select_action(obs)[0].numpy()
            np.testing.assert_array_equal(stepper.step(obs), expected)
    assert stepper.chunks == (2 * 3 if ensembling == "none" else 14)  # chunks at steps 0, 3, 6 of each episode

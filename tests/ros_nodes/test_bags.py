"""Record a scripted-expert rollout through ROS 2 (`vla sim-robot --record`), convert it with
`vla convert-bag`, load it with lerobot, and train on it; bad input is one line, exit 2, nothing touched."""

import signal
import subprocess
import sys

import numpy as np
import pytest
from sim_robot_helpers import ros_env, ros_node, start_vla

from vla.envs import make_env
from vla.policies.experts import make_expert

SEEDS = (21, 22)


def vla_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "vla.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=ros_env(),
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A bag of two expert pick episodes driven over the command topics, and the actions that were sent."""
    from vla.ros_nodes.sim_robot.client import SimRobotClient

    bag = tmp_path_factory.mktemp("bags") / "expert"
    proc = start_vla("sim-robot", "--task", "pick", "--image-size", 32, "--lockstep", "--record", bag)
    env = make_env("pick", image_size=32)
    expert = make_expert(env)
    sent = []
    with ros_node("expert_driver") as node:
        client = SimRobotClient(node)
        client.wait_connected(120)
        for seed in SEEDS:
            obs = client.reset(seed)
            env.reset(seed=seed)
            actions = []
            while obs is not None:
                action = expert.act()
                actions.append(action)
                client.send_ee_action(action, client.stamp_ns)
                obs, status = client.wait_step(client.stamp_ns)
                env.step(action)
            assert status["success"]
            sent.append(np.stack(actions))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    return bag, sent


def test_convert_bag_to_lerobot_dataset_and_train(recorded, tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    bag, sent = recorded
    out = tmp_path / "dataset"
    r = vla_cli("convert-bag", bag, "--out", out, "--fps", "10")
    assert r.returncode == 0, r.stderr[-3000:]
    ds = LeRobotDataset("local/dataset", root=out, video_backend="pyav")
    assert ds.meta.total_episodes == len(SEEDS)
    assert ds.meta.total_frames == sum(len(a) for a in sent)
    actions = np.stack(ds.hf_dataset.with_format("numpy")["action"])
    assert np.array_equal(actions, np.concatenate(sent))  # bit-exact: twist * period round-trips through float32
    frame = ds[0]
    assert tuple(frame["observation.images.scene"].shape) == (3, 32, 32) and frame["observation.state"].shape == (13,)
    assert frame["task"] and frame["task"] == ds[len(sent[0]) - 1]["task"]
    r = vla_cli("train", "--dataset", out, "--out", tmp_path / "train", "--policy", "tiny-l1", "--steps", "2",
                "--batch-size", "4", "--threads", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "train" / "checkpoints" / "last" / "pretrained_model" / "model.safetensors").is_file()


def test_convert_bag_bad_input(recorded, tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_JAZZY)
    no_images = tmp_path / "no_images"
    with Writer(no_images, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection("/instruction", "std_msgs/msg/String", typestore=ts)
        w.write(conn, 1, ts.serialize_cdr(ts.types["std_msgs/msg/String"](data="pick it"), "std_msgs/msg/String"))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    for args, needle in [
        ([tmp_path / "missing", "--out", tmp_path / "o1"], "does not exist"),
        ([no_images, "--out", tmp_path / "o2"], "has no messages on"),
        ([recorded[0], "--out", taken], "not empty"),
    ]:
        r = vla_cli("convert-bag", *args)
        assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert [p.name for p in taken.iterdir()] == ["keep.txt"] and not (tmp_path / "o1").exists()
    assert not (tmp_path / "o2").exists()

"""`vla eval --transport ros2` (sim robot + policy server over real DDS, in a loopback-only namespace) gives
the same report format and per-episode results as in-process eval on the same checkpoint and seeds."""

import json
import subprocess
import sys

import pytest
from sim_robot_helpers import ros_env

from vla.policies.collect.command import collect
from vla.policies.collect.config import CollectConfig
from vla.policies.train.command import run_train
from vla.policies.train.config import TrainConfig

EPISODES = 3


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ros2_eval")
    collect(CollectConfig(task="pick", out=root / "demos", episodes=2, image_size=48, seed=3), progress=False)
    run_train(
        TrainConfig(dataset=str(root / "demos"), out=root / "run", policy="tiny-l1", steps=3, batch_size=8, threads=1)
    )
    return root / "run" / "checkpoints" / "last" / "pretrained_model"


def _eval(checkpoint, out, transport):
    args = ["eval", "--checkpoint", checkpoint, "--task", "pick", "--episodes", EPISODES, "--seed", "500"]
    args += ["--num-envs", "1", "--vector", "sync", "--threads", "1", "--videos", "1", "--ensembling", "none"]
    r = subprocess.run(
        [sys.executable, "-m", "vla.cli.main", *map(str, args), "--out", out, "--transport", transport],
        capture_output=True, text=True, timeout=900, env=ros_env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out / "report.json").read_text())


def test_ros2_eval_matches_in_process(checkpoint, tmp_path):
    local = _eval(checkpoint, tmp_path / "inprocess", "inprocess")
    ros = _eval(checkpoint, tmp_path / "ros2", "ros2")
    assert ros["transport"] == "ros2" and set(ros) == set(local)
    a, b = local["tasks"]["pick"], ros["tasks"]["pick"]
    assert set(a) == set(b) and b["episodes"] == EPISODES
    print(f"\nin-process {a['lengths']} {a['success_rate']:.2f}; ros2 {b['lengths']} {b['success_rate']:.2f}")
    assert abs(a["success_rate"] - b["success_rate"]) <= 0.05, (a, b)
    # per episode: same outcome; lengths within one step (the server's first tick of an episode is a hold)
    assert a["failed_seeds"] == b["failed_seeds"]
    assert all(abs(x - y) <= 1 for x, y in zip(a["lengths"], b["lengths"], strict=True)), (a["lengths"], b["lengths"])
    assert (tmp_path / "ros2" / "success.png").is_file() and list((tmp_path / "ros2" / "videos" / "pick").glob("*.mp4"))
    assert (tmp_path / "ros2" / "ros2" / "server.log").is_file()

"""`vla eval --transport ros2` (lockstep sim robot + policy server in sync mode over real DDS, in a
loopback-only namespace) reproduces in-process eval exactly: same checkpoint and seeds give, per episode,
the same length, success and trajectory digest (every action and the final state, bit for bit)."""

import json
import subprocess
import sys

import pytest
from sim_robot_helpers import ros_env

EPISODES = 3
ENV_LOW = [-0.03, -0.03, -0.03, -0.25, -1.0]
ENV_HIGH = [0.03, 0.03, 0.03, 0.25, 1.0]


def _eval(checkpoint, out, transport, *extra):
    args = ["eval", "--checkpoint", checkpoint, "--task", "pick", "--episodes", EPISODES, "--seed", "500"]
    args += ["--num-envs", "1", "--vector", "sync", "--threads", "1", "--videos", "1", *extra]
    r = subprocess.run(
        [sys.executable, "-m", "vla.cli.main", *map(str, args), "--out", out, "--transport", transport],
        capture_output=True, text=True, timeout=600, env=ros_env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out / "report.json").read_text())


@pytest.mark.parametrize(
    "extra",
    [
        ("--ensembling", "none", "--n-action-steps", "3"),  # not the checkpoint's 4: the override reaches the server
        ("--ensembling", "temporal"),  # a chunk every step, averaged with the older chunks' predictions
    ],
    ids=["chunks", "temporal"],
)
def test_ros2_eval_reproduces_in_process_eval(checkpoint_factory, tmp_path, extra):
    # random weights, outputs spanning the env's action bounds: every step's action depends on the observation,
    # so one pixel, one state bit or one step of chunk timing that differed would change the trajectory
    checkpoint = checkpoint_factory("random_env_bounds", ENV_LOW, ENV_HIGH)
    local = _eval(checkpoint, tmp_path / "inprocess", "inprocess", *extra)
    ros = _eval(checkpoint, tmp_path / "ros2", "ros2", *extra)
    assert ros["transport"] == "ros2" and set(ros) == set(local) | {"ros2"}
    a, b = local["tasks"]["pick"], ros["tasks"]["pick"]
    assert set(a) == set(b) and a["episodes"] == b["episodes"] == EPISODES
    print(f"\nin-process {a['lengths']} {a['trajectory_digests']}; ros2 {b['lengths']} {b['trajectory_digests']}")
    assert b["lengths"] == a["lengths"] and b["failed_seeds"] == a["failed_seeds"]
    assert b["success_rate"] == a["success_rate"]
    assert b["trajectory_digests"] == a["trajectory_digests"]
    assert len(set(a["trajectory_digests"])) == EPISODES and all(len(d) == 16 for d in a["trajectory_digests"])
    server = ros["ros2"]["server"]["pick"]
    per_chunk = 3 if "3" in extra else 1
    assert server["chunks_computed"] >= sum(-(-n // per_chunk) for n in b["lengths"])
    assert server["obs_to_command_p50_ms"] > 0
    assert (tmp_path / "ros2" / "success.png").is_file() and list((tmp_path / "ros2" / "videos" / "pick").glob("*.mp4"))
    assert "sync_mode: true" in (tmp_path / "ros2" / "ros2" / "policy_server.params.yaml").read_text()

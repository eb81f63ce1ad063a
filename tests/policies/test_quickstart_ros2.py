"""The main job's ROS 2 stage: the checkpoint drives `vla sim-robot` through `vla serve` (`vla eval --transport
ros2`), and SUMMARY.md's in-process vs ROS 2 table holds the numbers of the two report.json files.
Starts ROS 2 nodes: run it inside a loopback-only network namespace (README, Development)."""

import json
import sys

import pytest

from vla.policies.collect.quickstart import QuickstartConfig, ros2_stage

IMAGE = 32


def _tiny_checkpoint(path):
    import torch

    from vla.policy.checkpoint import save_policy
    from vla.policy.configuration_vla import make_config
    from vla.policy.modeling_vla import VLAPolicy

    torch.manual_seed(0)
    policy = VLAPolicy(make_config("tiny-l1", image_size=(IMAGE, IMAGE), action_dim=5, state_dim=13))
    with torch.no_grad():  # random weights, actions spanning the env's bounds
        policy.normalizer.action_min.copy_(torch.tensor([-0.03, -0.03, -0.03, -0.25, -1.0]))
        policy.normalizer.action_max.copy_(torch.tensor([0.03, 0.03, 0.03, 0.25, 1.0]))
    return save_policy(policy, path)


def test_ros2_stage_summary_table_is_the_two_reports(tmp_path, monkeypatch):
    """Two tasks in one stage: each task starts a new sim process whose clock restarts at 0 while the server
    stays up. Before the fix in `_episode_cb` the server ignored the second sim's observations and the stage
    stalled on `place`, which a pick-only test never saw."""
    pytest.importorskip("rclpy", reason="needs the ros extra")
    import torch

    from vla.policies.eval.command import run_eval
    from vla.policies.eval.config import EvalConfig

    monkeypatch.setenv("MUJOCO_GL", "egl")
    torch.set_num_threads(1)
    ckpt = _tiny_checkpoint(tmp_path / "ckpt")
    cfg = QuickstartConfig(out=tmp_path / "qs", ros2_episodes=2, image_size=IMAGE)
    tasks = "pick,place"
    run_eval(EvalConfig(checkpoint=str(ckpt), task=tasks, episodes=3, out=cfg.out / "eval", num_envs=1, vector="sync"))
    lines = ros2_stage(cfg, ckpt, task=tasks)

    local = json.loads((cfg.out / "eval" / "report.json").read_text())
    ros = json.loads((cfg.out / "eval_ros2" / "report.json").read_text())
    assert ros["transport"] == "ros2" and list(ros["tasks"]) == ["pick", "place"]
    for task in ("pick", "place"):
        row = next(line for line in lines if line.startswith(f"| {task} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        a, b = local["tasks"][task], ros["tasks"][task]
        server = ros["ros2"]["server"][task]
        assert b["episodes"] == 2
        assert cells == [
            task,
            f"{a['successes']}/3",
            f"{b['successes']}/2",
            "2/2",  # the same outcome on both seeds (sync mode reproduces in-process eval)
            f"{a['mean_length']:.1f}",
            f"{b['mean_length']:.1f}",
            f"{a['latency_ms_batch1']['p50']:.1f}",
            f"{server['inference_latency_p50_ms']:.1f}",
            f"{server['obs_to_command_p50_ms']:.1f}",
        ]
        assert b["trajectory_digests"] == a["trajectory_digests"][:2]  # the same first two episodes, bit for bit
        assert server["inference_latency_p50_ms"] > 0
    assert (cfg.out / "eval_ros2" / "ros2" / "server.log").is_file()


def test_ros2_stage_without_rclpy_is_a_one_line_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rclpy", None)  # import rclpy -> ImportError
    lines = ros2_stage(QuickstartConfig(out=tmp_path), tmp_path / "no_checkpoint_needed")
    assert [line for line in lines if line] == [
        "- ROS 2 stage skipped: rclpy is not installed (`pip install 'vla[ros]'` adds it)"
    ]
    assert capsys.readouterr().out.count("\n") == 1
    assert ros2_stage(QuickstartConfig(out=tmp_path, ros2_episodes=0), tmp_path) == []

"""`vla quickstart`: the main job on the embedded defaults, end to end.

collect demos of every task (scripted experts -> LeRobotDataset v3) -> dataset report (contact
sheet, one MP4 per task) -> train the default VLA policy on a wall-clock budget -> evaluate it in
closed loop (success with 95% intervals, latency, plot, videos) -> the same policy driving the sim robot
through ROS 2 (`vla eval --transport ros2`, compared with in-process eval) -> OUT/SUMMARY.md.
Every stage resumes: rerun the same command after an interruption.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from vla.errors import VlaUserError

from .config import CollectConfig


@dataclass
class QuickstartConfig:
    """Collect demos of every task, train the default VLA policy, evaluate it, and write a report."""

    out: Path = Path("outputs/quickstart")
    """Output directory: dataset/, report/ (dataset previews), train/, eval/ and SUMMARY.md."""
    episodes: int = 30
    """Successful demonstrations per task."""
    policy: str = "vla-diffusion"
    """Policy preset to train (see `vla train --help`)."""
    train_minutes: float = 12.0
    """Wall-clock training budget in minutes (the LR schedule is fitted to it); 0 stops after the dataset report."""
    aux_scenes: int = 2000
    """Labelled scenes rendered for the auxiliary grounding loss (`vla train --aux-scenes`); 0 disables."""
    eval_episodes: int = 10
    """Evaluation episodes per task."""
    seed: int = 0
    """Base seed of the collection and training."""
    image_size: int = 96
    """Camera image height and width in pixels."""
    ros2_episodes: int = 3
    """After training: episodes per task of the trained policy driving `vla sim-robot` through ROS 2 (`vla
    serve`, real DDS on this machine only), compared with in-process eval in SUMMARY.md; 0 disables."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise VlaUserError(f"--episodes must be at least 1, got {self.episodes}")
        if self.train_minutes < 0 or self.eval_episodes < 1 or self.aux_scenes < 0:
            raise VlaUserError("--train-minutes and --aux-scenes must be >= 0 and --eval-episodes >= 1")
        if self.ros2_episodes < 0:
            raise VlaUserError(f"--ros2-episodes must be >= 0 (0 disables the ROS 2 stage), got {self.ros2_episodes}")

    def collect_config(self) -> CollectConfig:
        return CollectConfig(
            task="all", out=self.out / "dataset", episodes=self.episodes, seed=self.seed, image_size=self.image_size
        )


def run_quickstart(cfg: QuickstartConfig) -> int:
    from .command import run_collect
    from .report import write_report

    # This job starts its own processes only; keep any DDS discovery on this machine.
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    collect_cfg = cfg.collect_config()
    print("[quickstart] 1/4 collecting demonstrations")
    run_collect(collect_cfg)
    report_dir = cfg.out / "report"
    written = write_report(collect_cfg.out, report_dir)
    print(f"[quickstart] 2/4 dataset report: {report_dir.resolve()} ({len(written)} files)")
    lines = [
        "# vla quickstart",
        "",
        f"- dataset: `{collect_cfg.out}` (LeRobotDataset v3; load with "
        f"`LeRobotDataset({collect_cfg.resolved_repo_id()!r}, root=...)`)",
        f"- dataset previews: `{report_dir}/contact_sheet.png`, one MP4 per task in `{report_dir}`",
    ]
    if cfg.train_minutes > 0:
        from vla.policies.eval.command import run_eval
        from vla.policies.eval.config import EvalConfig
        from vla.policies.train.command import run_train
        from vla.policies.train.config import TrainConfig

        print(f"[quickstart] 3/4 training {cfg.policy} for {cfg.train_minutes:g} min")
        train_out = cfg.out / "train"
        rc = run_train(
            TrainConfig(
                dataset=str(collect_cfg.out), policy=cfg.policy, out=train_out, steps=100_000,
                max_minutes=cfg.train_minutes, seed=cfg.seed, aux_scenes=cfg.aux_scenes,
            )
        )  # fmt: skip
        if rc:
            return rc
        ckpt = train_out / "checkpoints" / "last" / "pretrained_model"
        print(f"[quickstart] 4/4 evaluating {cfg.eval_episodes} episodes per task")
        run_eval(EvalConfig(checkpoint=str(ckpt), task="all", episodes=cfg.eval_episodes, out=cfg.out / "eval"))
        report = json.loads((cfg.out / "eval" / "report.json").read_text())
        summary = json.loads((train_out / "train_summary.json").read_text())
        lines += [
            f"- training: `{train_out}` ({summary['steps']} steps in {summary['train_seconds'] / 60:.1f} min, "
            f"{summary['samples_per_second']} samples/s; loss curve `{train_out}/loss_curve.png`, "
            f"TensorBoard `{train_out}/logs`)",
            f"- checkpoint: `{ckpt}`",
            f"- evaluation: `{cfg.out}/eval/report.json`, `{cfg.out}/eval/success.png`, "
            f"videos in `{cfg.out}/eval/videos`",
            "",
            "| task | success | 95% CI | mean length |",
            "|---|---|---|---|",
        ]
        for task, t in report["tasks"].items():
            lo, hi = t["ci95"]
            lines.append(
                f"| {task} | {t['success_rate'] * 100:.0f}% | {lo * 100:.0f}-{hi * 100:.0f}% | {t['mean_length']:.0f} |"
            )
        lat = report["latency_ms_batch1"]
        lines += [
            "",
            f"Mean success {report['mean_success_rate'] * 100:.0f}%; inference {lat['p50']:.1f} ms p50 per chunk.",
        ]
        lines += ros2_stage(cfg, ckpt)
    (cfg.out / "SUMMARY.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\n[quickstart] summary: {(cfg.out / 'SUMMARY.md').resolve()}")
    return 0


def ros2_stage(cfg: QuickstartConfig, checkpoint: Path, task: str = "all") -> list[str]:
    """The trained policy drives the sim robot through ROS 2 (`vla eval --transport ros2`: `vla serve` in sync
    mode + lockstep `vla sim-robot`, DDS kept on this machine) on the first `ros2_episodes` seeds of the
    in-process eval in OUT/eval; report in OUT/eval_ros2/. Returns SUMMARY.md lines: an in-process vs ROS 2
    table, or a one-line note when the stage is off or rclpy is missing."""
    if cfg.ros2_episodes == 0:
        return []
    try:
        import rclpy  # noqa: F401
    except ImportError:
        note = "- ROS 2 stage skipped: rclpy is not installed (`pip install 'vla[ros]'` adds it)"
        print(f"[quickstart] {note[2:]}")
        return ["", note]
    from vla.policies.eval.command import run_eval
    from vla.policies.eval.config import EvalConfig

    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # the nodes (our children) talk on this machine only
    local = json.loads((cfg.out / "eval" / "report.json").read_text())
    print(f"[quickstart] ROS 2: the policy drives `vla sim-robot` through `vla serve`, {cfg.ros2_episodes} per task")
    out = cfg.out / "eval_ros2"
    run_eval(EvalConfig(checkpoint=str(checkpoint), task=task, episodes=cfg.ros2_episodes, out=out, transport="ros2"))
    ros = json.loads((out / "report.json").read_text())
    return ros2_comparison(local, ros, out)


def ros2_comparison(local: dict, ros: dict, ros_dir: Path) -> list[str]:
    """SUMMARY.md lines comparing an in-process and a ROS 2 eval report (numbers straight from the two files)."""
    lines = [
        "",
        f"In-process vs ROS 2 (`{ros_dir}/report.json`; ROS 2 ran the first {ros['episodes_per_task']} seeds of "
        "the in-process episodes; logs in `ros2/`):",
        "",
        "| task | success in-process | success ROS 2 | same outcome on those seeds | mean length in-process "
        "| mean length ROS 2 | inference p50 in-process (ms) | inference p50 ROS 2 server (ms) "
        "| obs→command p50 ROS 2 (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, b in ros["tasks"].items():
        a = local["tasks"][task]
        seeds = range(ros["seed"], ros["seed"] + min(a["episodes"], b["episodes"]))  # both start at the same seed
        same = sum((s in a["failed_seeds"]) == (s in b["failed_seeds"]) for s in seeds)
        server = ros["ros2"]["server"][task]
        lines.append(
            f"| {task} | {a['successes']}/{a['episodes']} | {b['successes']}/{b['episodes']} | {same}/{len(seeds)} "
            f"| {a['mean_length']:.1f} | {b['mean_length']:.1f} | {a['latency_ms_batch1']['p50']:.1f} "
            f"| {server['inference_latency_p50_ms']:.1f} | {server['obs_to_command_p50_ms']:.1f} |"
        )
    return lines

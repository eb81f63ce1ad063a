"""`vla quickstart`: the main job on the embedded defaults, end to end.

collect demos of every task (scripted experts -> LeRobotDataset v3) -> dataset report (contact
sheet, one MP4 per task) -> train the default VLA policy on a wall-clock budget -> evaluate it in
closed loop (success with 95% intervals, latency, plot, videos) -> OUT/SUMMARY.md.
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
    episodes: int = 5
    """Successful demonstrations per task."""
    policy: str = "vla-diffusion"
    """Policy preset to train (see `vla train --help`)."""
    train_minutes: float = 0.0
    """Wall-clock training budget in minutes; 0 (default until the policy targets are met) stops after the
    dataset report. Try --episodes 25 --train-minutes 12 for the whole loop."""
    eval_episodes: int = 10
    """Evaluation episodes per task."""
    seed: int = 0
    """Base seed of the collection and training."""
    image_size: int = 96
    """Camera image height and width in pixels."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise VlaUserError(f"--episodes must be at least 1, got {self.episodes}")
        if self.train_minutes < 0 or self.eval_episodes < 1:
            raise VlaUserError("--train-minutes must be >= 0 and --eval-episodes >= 1")

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
                max_minutes=cfg.train_minutes, seed=cfg.seed,
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
    (cfg.out / "SUMMARY.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\n[quickstart] summary: {(cfg.out / 'SUMMARY.md').resolve()}")
    return 0

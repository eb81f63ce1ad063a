"""`vla quickstart`: collect a few demonstrations of every task and show what they look like."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vla.errors import VlaUserError

from .config import CollectConfig


@dataclass
class QuickstartConfig:
    """Collect a small demonstration dataset of every task, then write a visual report of it."""

    out: Path = Path("outputs/quickstart")
    """Output directory: the dataset goes to OUT/dataset, the report to OUT/report."""
    episodes: int = 5
    """Successful episodes per task."""
    seed: int = 0
    """Base seed of the collection."""
    image_size: int = 96
    """Camera image height and width in pixels."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise VlaUserError(f"--episodes must be at least 1, got {self.episodes}")

    def collect_config(self) -> CollectConfig:
        return CollectConfig(
            task="all",
            out=self.out / "dataset",
            episodes=self.episodes,
            seed=self.seed,
            image_size=self.image_size,
            repo_id=f"local/{self.out.expanduser().absolute().name or 'quickstart'}",
        )


def run_quickstart(cfg: QuickstartConfig) -> int:
    from .command import run_collect
    from .report import write_report

    collect_cfg = cfg.collect_config()
    run_collect(collect_cfg)
    report_dir = cfg.out / "report"
    written = write_report(collect_cfg.out, report_dir)
    dataset_dir = collect_cfg.out.resolve()
    print(f"dataset: {dataset_dir}")
    print(f"         load it with LeRobotDataset({collect_cfg.resolved_repo_id()!r}, root={str(dataset_dir)!r})")
    print(f"report:  {report_dir.resolve()}")
    for path in written:
        print(f"         {path.name}")
    return 0

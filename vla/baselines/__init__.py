"""Baselines from other libraries behind our policy interface, for side-by-side benchmarks.

`LeRobotBaseline` wraps lerobot's own DiffusionPolicy and ACTPolicy (CPU-sized presets in
`BASELINE_PRESETS`) so our rollout code, eval seeds and training harness run them unchanged;
see bench/bench_vs_lerobot.py.
"""

from .configuration_lerobot import BASELINE_PRESETS, LeRobotBaselineConfig
from .modeling_lerobot import LeRobotBaseline, image_stats
from .training import train_baseline

__all__ = ["BASELINE_PRESETS", "LeRobotBaseline", "LeRobotBaselineConfig", "image_stats", "train_baseline"]

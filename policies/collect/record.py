"""`meta/vla_collect.json`: how a collection was made and what every episode is.

It stores the collection settings (checked when a run resumes or extends the dataset), the resolved
config and library versions of each run, env facts, one record per episode (episode_index, task,
instruction, seed, success, length) and one per attempt, so that a later run can continue the
deterministic attempt sequence and the report can compute success rates.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import asdict, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .config import CollectConfig
from .recorder import AttemptResult

RECORD_FORMAT = 1
SETTINGS_KEYS = ("tasks", "split", "seed", "image_size", "keep_failures", "vcodec")


def collection_settings(cfg: CollectConfig, tasks: tuple[str, ...]) -> dict[str, Any]:
    """The settings every episode of one dataset must share (episodes may grow between runs)."""
    from .plan import is_navigation

    settings = {
        "tasks": list(tasks),
        "split": cfg.split,
        "seed": cfg.seed,
        "image_size": cfg.image_size,
        "keep_failures": cfg.keep_failures,
        "vcodec": cfg.vcodec,
    }
    if any(is_navigation(t) for t in tasks):
        settings["action_type"] = cfg.action_type
    if cfg.expert != "shortest":  # only when set, so datasets from before the option still extend
        settings["expert"] = cfg.expert
    if cfg.egomap:  # only when set, so datasets from before the option still extend
        settings["egomap"] = True
    if cfg.semantic_map:
        settings["semantic_map"] = True
    if cfg.expert_noise:  # only when set, so datasets from before the option still extend
        settings["expert_noise"] = cfg.expert_noise
    return settings


def config_dict(cfg: CollectConfig) -> dict[str, Any]:
    out = {}
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else value
    return out


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("vla", "lerobot", "mujoco", "gymnasium", "numpy", "torch", "av"):
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            found[pkg] = "not installed"
    return found


def attempts_from_record(record: dict | None) -> list[AttemptResult]:
    if not record:
        return []
    names = {f.name for f in fields(AttemptResult)}
    return [AttemptResult(**{k: v for k, v in a.items() if k in names}) for a in record["attempts"]]


def task_summary(attempts: list[AttemptResult]) -> dict[str, Any]:
    kept = [a for a in attempts if a.kept]
    successes = sum(a.success for a in attempts)
    seconds = sum(a.seconds for a in attempts)
    frames = sum(a.length for a in attempts)
    return {
        "attempts": len(attempts),
        "successes": successes,
        "episodes": len(kept),
        "success_rate": successes / len(attempts) if attempts else None,
        "mean_length": sum(a.length for a in kept) / len(kept) if kept else None,
        "collect_seconds": round(seconds, 3),
        "frames_recorded": frames,
        "frames_per_second": frames / seconds if seconds > 0 else None,
    }


def build_record(
    *,
    previous: dict | None,
    cfg: CollectConfig,
    settings: dict,
    repo_id: str,
    env_info: dict,
    new_attempts: list[AttemptResult],
    new_episode_order: list[tuple[str, int]],
    merge_seconds: float,
) -> dict[str, Any]:
    """The record of the merged dataset: the previous one (if extending) plus this run's episodes."""
    by_key = {(a.task, a.attempt): a for a in new_attempts}
    episodes = list(previous["episodes"]) if previous else []
    for key in new_episode_order:
        a = by_key[key]
        episodes.append(
            {
                "episode_index": len(episodes),
                "task": a.task,
                "instruction": a.instruction,
                "seed": a.seed,
                "attempt": a.attempt,
                "success": a.success,
                "length": a.length,
            }
        )
    all_attempts = attempts_from_record(previous) + sorted(
        new_attempts, key=lambda a: (settings["tasks"].index(a.task), a.attempt)
    )
    runs = list(previous["runs"]) if previous else []
    runs.append(
        {
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": config_dict(cfg),
            "versions": versions(),
            "episodes_added": len(new_episode_order),
            "merge_seconds": round(merge_seconds, 3),
        }
    )
    return {
        "format_version": RECORD_FORMAT,
        "settings": settings,
        "repo_id": repo_id,
        "env": env_info,
        "tasks": {t: task_summary([a for a in all_attempts if a.task == t]) for t in settings["tasks"]},
        "episodes": episodes,
        "attempts": [asdict(a) for a in all_attempts],
        "runs": runs,
    }

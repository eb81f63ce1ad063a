"""Merging LeRobotDatasets with lerobot's own `aggregate_datasets`, quietly and without side effects."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

from .staging import fsync_tree


def disable_datasets_progress() -> None:
    """Turn off `datasets` progress bars (lerobot's SuppressProgressBars turns them back on when it exits)."""
    from datasets.utils import logging as ds_logging

    ds_logging.disable_progress_bar()


@contextlib.contextmanager
def datasets_progress_off() -> Iterator[None]:
    """No `datasets` progress bars inside; the caller's setting is restored afterwards."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


@contextlib.contextmanager
def datasets_cache(cache_dir: Path) -> Iterator[None]:
    """Keep the parquet cache of `datasets` in `cache_dir` inside the block.

    lerobot loads every dataset's episode table through `datasets.Dataset.from_parquet`, which
    caches an Arrow copy per file; for hundreds of shards that cache belongs in our scratch space,
    not in ~/.cache.
    """
    import datasets.config

    old_cache = datasets.config.HF_DATASETS_CACHE
    cache_dir.mkdir(parents=True, exist_ok=True)
    datasets.config.HF_DATASETS_CACHE = cache_dir
    try:
        yield
    finally:
        datasets.config.HF_DATASETS_CACHE = old_cache


def aggregate(sources: list[Path], repo_id: str, dest: Path, scratch: Path) -> None:
    """Concatenate the datasets at `sources` (in order) into a new dataset at `dest`."""
    from lerobot.datasets.aggregate import aggregate_datasets

    # aggregate_datasets draws its own tqdm bars and logs per step; our caller shows progress instead.
    lerobot_logger = logging.getLogger("lerobot")
    old_level = lerobot_logger.level
    lerobot_logger.setLevel(logging.WARNING)
    captured = io.StringIO()
    try:
        # Redirecting sys.stderr also hides `datasets` bars that the main thread may start while lerobot
        # has them switched back on (compaction runs on a thread).
        with datasets_cache(scratch / "hf_datasets_cache"), contextlib.redirect_stderr(captured):
            aggregate_datasets(
                repo_ids=[repo_id] * len(sources),
                aggr_repo_id=repo_id,
                roots=list(sources),
                aggr_root=dest,
            )
            disable_datasets_progress()
    finally:
        lerobot_logger.setLevel(old_level)
    fsync_tree(dest)

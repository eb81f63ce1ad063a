"""Compacting committed one-episode shards into blocks on a worker thread, while recording goes on.

lerobot's `aggregate_datasets` costs ~0.2-0.3 s per source dataset (mostly loading its episode
table) and re-writes its growing output for every source, so merging hundreds of one-episode shards
only at the end would be slow and grow quadratically. Compacting runs of shards into blocks as the
collection goes keeps the final merge to a few sources, and doing it on a thread uses the second
core while the main thread steps the sim (MuJoCo, rendering and PyAV encoding release the GIL).

A thread rather than a process: SIGKILL stops both together, so the staging area's atomic commits
(staging.py) are all the crash safety needed; a surviving child process could race a resumed run.
"""

from __future__ import annotations

import threading

from .merge import aggregate
from .staging import Staging, Unit


class BackgroundCompactor:
    """At most one compaction at a time; errors surface in the main thread at the next check()."""

    def __init__(self, staging: Staging, repo_id: str):
        self._staging = staging
        self._repo_id = repo_id
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, task: str, shards: list[Unit]) -> None:
        """Compact `shards` (consecutive committed shards of one task) into one block."""
        self.join()
        self._thread = threading.Thread(target=self._run, args=(task, shards), name="vla-compact", daemon=True)
        self._thread.start()

    def _run(self, task: str, shards: list[Unit]) -> None:
        try:
            built = self._staging.scratch(f"block-{task}-{shards[0].attempts[0]:06d}")
            aggregate([u.path for u in shards], self._repo_id, built, self._staging.tmp_dir)
            self._staging.commit_block(built, task, shards)
        except BaseException as e:  # handed to the main thread
            self._error = e

    def check(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"compacting staged episodes failed: {error}") from error

    def wait(self) -> None:
        """Wait for the running compaction (if any) to end."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def join(self) -> None:
        """Wait for the running compaction (if any), then raise its error (if any)."""
        self.wait()
        self.check()

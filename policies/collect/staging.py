"""The crash-safe staging area of a collection in progress, `OUT/.vla_collect/`.

Every kept episode is first written as its own small, finalized LeRobotDataset ("shard"); it counts
only once its attempt record is written (atomically, after the shard is complete on disk). Runs of
committed shards are compacted into "blocks" so that the final merge stays fast; a block counts only
once its marker is written, and its shards are deleted after that. So at any instant every committed
episode lives in exactly one committed place, and a SIGKILL loses at most the episode in progress.

    OUT/.vla_collect/
      plan.json                             settings of the collection (written before the dir appears)
      attempts/<task>-<attempt>.json        one record per finished attempt (kept or not)
      shards/<task>-<attempt>/              one-episode dataset of a kept attempt
      blocks/<task>-<first>-<last>/         dataset compacted from consecutive shards of one task
      blocks/<task>-<first>-<last>.json     the block's commit marker: the attempts it holds
      tmp/                                  scratch space, wiped whenever the staging area is opened
      swap.json, old/                       journal and previous dataset while the result is swapped in
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vla.errors import VlaUserError

from .recorder import AttemptResult

STAGING_DIR = ".vla_collect"
STAGING_PREFIX = ".vla_collect"  # also .vla_collect.new-* (being created) and .vla_collect.trash-* (being deleted)
STAGING_FORMAT = 1


def fsync_path(path: Path) -> None:
    """Flush a file or directory entry to disk (best effort on filesystems that cannot)."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` so that readers see either the old file or the complete new one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def attempt_id(task: str, attempt: int) -> str:
    return f"{task}-{attempt:06d}"


def parse_attempt_id(name: str) -> tuple[str, int] | None:
    task, _, number = name.rpartition("-")
    return (task, int(number)) if task and number.isdigit() else None


@dataclass(frozen=True)
class Unit:
    """A committed piece of the collection: a shard (one episode) or a block (consecutive episodes)."""

    task: str
    attempts: tuple[int, ...]  # kept attempts it holds, ascending
    path: Path
    is_block: bool


class Staging:
    """An opened (and locked) staging area. Use `Staging.open(...)` as a context manager."""

    def __init__(self, out: Path, lock_fd: int):
        self.out = out
        self.root = out / STAGING_DIR
        self._lock_fd = lock_fd

    # ------------------------------------------------------------------ layout
    @property
    def plan_path(self) -> Path:
        return self.root / "plan.json"

    @property
    def attempts_dir(self) -> Path:
        return self.root / "attempts"

    @property
    def shards_dir(self) -> Path:
        return self.root / "shards"

    @property
    def blocks_dir(self) -> Path:
        return self.root / "blocks"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def swap_journal(self) -> Path:
        return self.root / "swap.json"

    @property
    def old_dir(self) -> Path:
        return self.root / "old"

    def shard_path(self, task: str, attempt: int) -> Path:
        return self.shards_dir / attempt_id(task, attempt)

    def plan(self) -> dict:
        return read_json(self.plan_path)

    # --------------------------------------------------------------- lifecycle
    @classmethod
    def open(cls, out: Path, plan: dict) -> Staging:
        """Open and lock the staging area of `out`, creating it with `plan` if there is none. Fails with
        a user error when another process holds it. The caller checks `plan()` against its settings."""
        root = out / STAGING_DIR
        for _ in range(3):
            if not root.exists():
                _create_staging(out, plan)
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise VlaUserError(
                        f"another `vla collect` is writing to {out}; wait for it to finish (or stop it) and rerun"
                    ) from None
                raise
            # The directory may have been swapped away between open() and flock(); retry on a stale inode.
            try:
                same = os.stat(root).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                staging = cls(out, fd)
                if not staging.plan_path.exists():
                    # Only a half-deleted staging area lacks its plan (it is written before the dir appears).
                    staging._wipe_contents()
                    atomic_write_json(staging.plan_path, plan)
                return staging
            os.close(fd)
        raise VlaUserError(f"could not lock the staging area {root}; rerun the command")

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _wipe_contents(self) -> None:
        for child in self.root.iterdir():
            _remove(child)

    def discard(self) -> None:
        """Delete the whole staging area (after its episodes were swapped into OUT)."""
        trash = self.out / f"{STAGING_PREFIX}.trash-{os.getpid()}"
        os.replace(self.root, trash)
        self.close()
        shutil.rmtree(trash, ignore_errors=True)

    # ---------------------------------------------------------------- recovery
    def recover(self, finished_attempts: dict[str, set[int]]) -> list[str]:
        """Bring the staging area to a consistent state after any crash; returns what was cleaned.

        `finished_attempts` lists, per task, the attempts already in OUT's finished dataset: staged
        copies of those are stale (left over from a crash right after the final swap).
        """
        notes: list[str] = []
        _remove(self.tmp_dir)
        for d in (self.attempts_dir, self.shards_dir, self.blocks_dir, self.tmp_dir):
            d.mkdir(exist_ok=True)
        remove_leftovers(self.out)
        for leftover in self.root.rglob(".*.tmp-*"):
            _remove(leftover)

        def stale(task: str, attempt: int) -> bool:
            return attempt in finished_attempts.get(task, ())

        records = self._load_records()
        for task, attempt in list(records):
            if stale(task, attempt):
                (self.attempts_dir / f"{attempt_id(task, attempt)}.json").unlink(missing_ok=True)
                del records[(task, attempt)]

        # Blocks: a directory without its marker is an interrupted compaction.
        blocks: dict[tuple[str, int], Unit] = {}
        for marker in sorted(self.blocks_dir.glob("*.json")):
            try:
                info = read_json(marker)
                unit = Unit(info["task"], tuple(info["attempts"]), marker.with_suffix(""), True)
            except (ValueError, KeyError, TypeError):
                marker.unlink()
                notes.append(f"removed unreadable block marker {marker.name}")
                continue
            if not (unit.path / "meta" / "info.json").exists() or any(stale(unit.task, a) for a in unit.attempts):
                _remove(unit.path)
                marker.unlink()
                continue
            for a in unit.attempts:
                blocks[(unit.task, a)] = unit
        for d in self.blocks_dir.iterdir():
            if d.is_dir() and not d.with_suffix(".json").exists():
                _remove(d)
                notes.append(f"removed interrupted compaction {d.name}")

        # Shards: committed only when their attempt record says kept, and not already in a block.
        for d in sorted(self.shards_dir.iterdir()):
            parsed = parse_attempt_id(d.name)
            rec = records.get(parsed) if parsed else None
            if parsed in blocks:
                _remove(d)
            elif rec is None or not rec.kept or not _is_one_episode_dataset(d):
                _remove(d)
                if rec is None:
                    notes.append(f"discarded the unfinished episode {d.name}")

        # Kept records whose data is gone (e.g. deleted by hand) are forgotten, so they are redone.
        for key, rec in list(records.items()):
            if rec.kept and key not in blocks and not self.shard_path(*key).exists():
                (self.attempts_dir / f"{attempt_id(*key)}.json").unlink(missing_ok=True)
                notes.append(f"re-recording {attempt_id(*key)}: its data is missing")
                del records[key]
        return notes

    # ----------------------------------------------------------------- records
    def _load_records(self) -> dict[tuple[str, int], AttemptResult]:
        records: dict[tuple[str, int], AttemptResult] = {}
        for path in self.attempts_dir.glob("*.json"):
            try:
                rec = AttemptResult(**read_json(path))
            except (ValueError, TypeError):
                path.unlink()
                continue
            records[(rec.task, rec.attempt)] = rec
        return records

    def records(self) -> dict[tuple[str, int], AttemptResult]:
        return self._load_records()

    def commit_attempt(self, result: AttemptResult) -> None:
        """Make an attempt count: flush its shard (if kept) to disk, then write its record atomically."""
        if result.kept:
            fsync_tree(self.shard_path(result.task, result.attempt))
        atomic_write_json(self.attempts_dir / f"{attempt_id(result.task, result.attempt)}.json", asdict(result))

    # ------------------------------------------------------------------- units
    def units(self, task_order: tuple[str, ...]) -> list[Unit]:
        """Committed shards and blocks in dataset order: by task, then by attempt."""
        units: list[Unit] = []
        in_blocks: set[tuple[str, int]] = set()
        for marker in self.blocks_dir.glob("*.json"):
            info = read_json(marker)
            unit = Unit(info["task"], tuple(info["attempts"]), marker.with_suffix(""), True)
            units.append(unit)
            in_blocks.update((unit.task, a) for a in unit.attempts)
        records = self._load_records()
        for d in self.shards_dir.iterdir():
            key = parse_attempt_id(d.name)
            if key in records and records[key].kept and key not in in_blocks:
                units.append(Unit(key[0], (key[1],), d, False))
        order = {t: i for i, t in enumerate(task_order)}
        units = [u for u in units if u.task in order]
        return sorted(units, key=lambda u: (order[u.task], u.attempts[0]))

    def commit_block(self, built: Path, task: str, shards: list[Unit]) -> Unit:
        """Install a compacted dataset built at `built` (under tmp/) as a block replacing `shards`."""
        attempts = tuple(a for u in shards for a in u.attempts)
        path = self.blocks_dir / f"{task}-{attempts[0]:06d}-{attempts[-1]:06d}"
        fsync_tree(built)
        os.replace(built, path)
        fsync_path(self.blocks_dir)
        atomic_write_json(path.with_suffix(".json"), {"task": task, "attempts": list(attempts)})
        for unit in shards:
            _remove(unit.path)
        return Unit(task, attempts, path, True)

    def scratch(self, name: str) -> Path:
        path = self.tmp_dir / f"{name}-{os.getpid()}"
        _remove(path)
        return path


def _create_staging(out: Path, plan: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    new = out / f"{STAGING_PREFIX}.new-{os.getpid()}"
    _remove(new)
    new.mkdir()
    atomic_write_json(new / "plan.json", plan)
    try:
        os.rename(new, out / STAGING_DIR)
    except OSError as e:
        _remove(new)
        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    fsync_path(out)
    for leftover in out.glob(f"{STAGING_PREFIX}.new-*"):
        with contextlib.suppress(OSError):
            pid = int(leftover.name.rsplit("-", 1)[1])
            if pid != os.getpid() and not _pid_alive(pid):
                _remove(leftover)


def remove_leftovers(out: Path) -> None:
    """Delete what a killed run may leave next to the staging area: a half-deleted old one."""
    for leftover in out.glob(f"{STAGING_PREFIX}.trash-*"):
        _remove(leftover)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_one_episode_dataset(path: Path) -> bool:
    try:
        info = read_json(path / "meta" / "info.json")
    except (OSError, ValueError):
        return False
    return info.get("total_episodes") == 1


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)

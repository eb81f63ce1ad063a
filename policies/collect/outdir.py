"""The output directory: what it holds now, whether we may write there, and the final swap.

OUT is either missing, empty, a finished collection (a LeRobotDataset plus meta/vla_collect.json),
or a collection in progress (our `.vla_collect/` staging area, possibly next to a finished one).
Anything else is refused before any work starts, and nothing that we did not write is touched.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vla.errors import VlaUserError

from .staging import STAGING_DIR, STAGING_PREFIX, Staging, atomic_write_json, fsync_path, read_json

COLLECT_RECORD = "vla_collect.json"  # in OUT/meta/
DATASET_ENTRIES = ("meta", "data", "videos", "images")  # what a LeRobotDataset v3 root holds


@dataclass(frozen=True)
class OutState:
    path: Path
    finished: dict | None  # the finished dataset's vla_collect.json, if there is one
    has_staging: bool
    swap_pending: bool = False


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def inspect_out(out: Path) -> OutState:
    """Classify OUT, raising a one-line user error when we must not write there."""
    if not out.exists():
        if out.is_symlink():
            raise VlaUserError(f"--out {out} is a broken symbolic link")
        ancestor = _nearest_existing(out.parent)
        if not ancestor.is_dir():
            raise VlaUserError(f"cannot create --out {out}: {ancestor} is not a directory")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise VlaUserError(f"cannot create --out {out}: {ancestor} is not writable")
        return OutState(out, None, False)
    if not out.is_dir():
        raise VlaUserError(f"--out {out} exists and is not a directory; choose a new or empty directory")
    if not os.access(out, os.W_OK | os.X_OK):
        raise VlaUserError(f"--out {out} is not writable")

    entries = sorted(p.name for p in out.iterdir())
    has_staging = (out / STAGING_DIR).is_dir()
    info = out / "meta" / "info.json"
    record_path = out / "meta" / COLLECT_RECORD
    if (out / STAGING_DIR / "swap.json").exists():
        # Our last run stopped while swapping its result in; the caller completes the swap, then looks again.
        return OutState(out, None, True, swap_pending=True)
    if info.exists():
        if not record_path.exists():
            raise VlaUserError(
                f"--out {out} holds a LeRobot dataset that `vla collect` did not write; choose a new or empty directory"
            )
        try:
            finished = read_json(record_path)
            if not isinstance(finished.get("settings"), dict) or not isinstance(finished.get("attempts"), list):
                raise ValueError("missing settings or attempts")
        except (OSError, ValueError, AttributeError) as e:
            raise VlaUserError(f"--out {out}: cannot read meta/{COLLECT_RECORD} ({e}); choose another --out") from None
        return OutState(out, finished, has_staging)

    foreign = [e for e in entries if not e.startswith(STAGING_PREFIX)]
    if foreign:
        shown = ", ".join(foreign[:4]) + (", ..." if len(foreign) > 4 else "")
        raise VlaUserError(
            f"--out {out} is a non-empty directory that is not a vla collection (it holds {shown}); "
            "choose a new or empty directory"
        )
    return OutState(out, None, has_staging)


def check_settings(out: Path, expected: dict, found: dict, where: str) -> None:
    """Refuse to mix episodes collected with different settings into one dataset."""
    diffs = [f"{key} {found.get(key)!r} (now {expected[key]!r})" for key in expected if found.get(key) != expected[key]]
    if diffs:
        raise VlaUserError(
            f"--out {out} {where} was collected with different settings: {'; '.join(diffs)}; "
            "use the same settings to resume or extend it, or choose another --out"
        )


def swap_in(staging: Staging, merged: Path) -> None:
    """Replace OUT's dataset entries with those of the complete dataset at `merged`.

    A journal makes this restartable: once it is written the swap only rolls forward (see
    `finish_swap`), and until then OUT is untouched. The previous dataset is kept in the staging
    area until the new one is entirely in place.
    """
    replace = [e for e in DATASET_ENTRIES if (merged / e).exists()]
    remove = [e for e in DATASET_ENTRIES if e not in replace and (staging.out / e).exists()]
    journal = {"merged": str(merged.relative_to(staging.root)), "replace": replace, "remove": remove}
    atomic_write_json(staging.swap_journal, journal)
    finish_swap(staging)


def finish_swap(staging: Staging) -> bool:
    """Complete an interrupted swap (idempotent). Returns False when no swap was in progress."""
    if not staging.swap_journal.exists():
        return False
    journal = read_json(staging.swap_journal)
    merged = staging.root / journal["merged"]
    staging.old_dir.mkdir(exist_ok=True)
    for entry in journal["replace"]:
        new, live, old = merged / entry, staging.out / entry, staging.old_dir / entry
        if new.exists():  # otherwise this entry was already swapped in
            if live.exists():
                _remove_tree(old)
                os.replace(live, old)
            os.replace(new, live)
    for entry in journal["remove"]:
        live, old = staging.out / entry, staging.old_dir / entry
        if live.exists():
            _remove_tree(old)
            os.replace(live, old)
    fsync_path(staging.out)
    staging.swap_journal.unlink()
    fsync_path(staging.root)
    _remove_tree(staging.old_dir)
    _remove_tree(merged)
    return True


def _remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)

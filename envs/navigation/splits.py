"""Train / val / test splits as disjoint ranges of layout seeds, so evaluation runs in unseen houses."""

from __future__ import annotations

from vla.errors import VlaUserError, did_you_mean

# split -> [first, last) layout seed. "heldout" (the suite-wide name for unseen data) means test.
SPLITS: dict[str, tuple[int, int]] = {
    "train": (0, 1_000_000),
    "val": (1_000_000, 1_001_000),
    "test": (2_000_000, 2_001_000),
}
ALIASES = {"heldout": "test"}


def resolve_split(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in SPLITS:
        raise VlaUserError(
            f"unknown split '{name}'{did_you_mean(name, SPLITS)}; use train, val or test (heldout = test)"
        )
    return name


def split_of(layout_seed: int) -> str | None:
    for name, (lo, hi) in SPLITS.items():
        if lo <= layout_seed < hi:
            return name
    return None

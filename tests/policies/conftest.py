"""Small demonstration datasets made by `vla collect` itself, shared by the train and eval tests."""

from pathlib import Path

import pytest

from vla.policies.collect.command import collect
from vla.policies.collect.config import CollectConfig

IMAGE = 48


@pytest.fixture(scope="session")
def pick_demos(tmp_path_factory) -> Path:
    """4 successful pick episodes (seeded), 48x48 cameras."""
    out = tmp_path_factory.mktemp("demos") / "pick4"
    collect(CollectConfig(task="pick", out=out, episodes=4, image_size=IMAGE, seed=3), progress=False)
    return out


@pytest.fixture(scope="session")
def pointnav_demos(tmp_path_factory) -> Path:
    """2 expert PointNav episodes (discrete actions, train houses, seeded), 32x32 RGB-D."""
    out = tmp_path_factory.mktemp("demos") / "pointnav2"
    collect(CollectConfig(task="pointnav", out=out, episodes=2, image_size=32, seed=3), progress=False)
    return out

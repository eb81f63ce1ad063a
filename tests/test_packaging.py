"""Packaging and CLI surface: every package folder is installed, and `vla --help` documents each command."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from vla.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    folder_of = {pkg: Path(folder) for pkg, folder in cfg["package-dir"].items()}
    found = set()
    for pkg, folder in folder_of.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    assert found == listed, f"missing: {sorted(found - listed)}; stale: {sorted(listed - found)}"


def _vla(*args):
    return subprocess.run([sys.executable, "-m", "vla.cli.main", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_subcommand():
    r = _vla("--help")
    assert r.returncode == 0, r.stderr
    for name in COMMANDS:
        assert name in r.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_subcommand_help(name):
    r = _vla(name, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage" in r.stdout.lower() and len(r.stdout.splitlines()) > 3


def test_tasks_command_lists_tasks():
    r = _vla("tasks")
    assert r.returncode == 0, r.stderr
    for task in ("pick", "place", "push", "stack", "vla/TabletopMultiTask-v0"):
        assert task in r.stdout
    r = _vla("tasks", "--split", "heldoot")
    assert r.returncode == 2 and "did you mean 'heldout'" in r.stderr and len(r.stderr.strip().splitlines()) == 1

"""bench/bench_nav_policy.py --recipe: which teacher, maps, cameras and eval decoding rules each task runs with,
and that a flag given explicitly wins over the recipe."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_nav_policy.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_nav_policy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse(bench, *argv: str):
    """The script's own parser, on `argv`."""
    return bench.build_parser().parse_args(list(argv))


def test_best_recipe_evaluates_objectnav_with_both_decoding_rules(bench):
    args = parse(bench)
    objectnav = bench.task_settings(args.recipe, "objectnav", args)
    assert objectnav == {
        "expert": "explore-clearance", "egomap": False, "semantic_map": True, "cameras": "semantic_map",
        "turn_reversal": False, "stop_threshold": 0.45, "stuck_recovery": False,
    }  # fmt: skip
    assert bench.task_settings(args.recipe, "pointnav", args)["stop_threshold"] == 0.0
    assert bench.task_settings(args.recipe, "instructnav", args)["turn_reversal"] is True
    plain = parse(bench, "--recipe", "plain")
    assert bench.task_settings("plain", "objectnav", plain) == bench.PLAIN


def test_explicit_flags_override_the_recipe(bench):
    args = parse(bench, "--turn-reversal", "--stop-threshold", "0", "--expert", "explore")
    s = bench.task_settings(args.recipe, "objectnav", args)
    assert (s["turn_reversal"], s["stop_threshold"], s["expert"], s["cameras"]) == (
        True,
        0.0,
        "explore",
        "semantic_map",
    )


def test_help_lists_the_recipe_flags():
    r = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for flag in ("--no-turn-reversal", "--stop-threshold", "--semantic-map", "default: from --recipe"):
        assert flag in r.stdout, flag

"""`vla eval` writes a well-formed report: per-task success with Wilson intervals, latency, plot and videos."""

import json
import pickle
import subprocess
import sys

import pytest

from vla.policies.eval.stats import wilson_interval
from vla.policies.train.command import run_train
from vla.policies.train.config import TrainConfig


@pytest.fixture(scope="module")
def checkpoint(pick_demos, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_ckpt") / "run"
    run_train(TrainConfig(dataset=str(pick_demos), out=out, policy="tiny-l1", steps=3, batch_size=8, threads=1))
    return out / "checkpoints" / "last" / "pretrained_model"


def vla_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "vla.cli.main", *map(str, args)], capture_output=True, text=True, timeout=600
    )


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    # At 50/50 the formula's upper end rounds to 1 - 1e-16; the interval must still contain the rate, or
    # the report's plot gets a negative error bar (it did: a 50/50 eval crashed after writing report.json).
    for n in range(1, 200):
        assert wilson_interval(n, n)[1] == 1.0 and wilson_interval(0, n)[0] == 0.0
        lo, hi = wilson_interval(n // 3, n)
        assert lo <= (n // 3) / n <= hi


def test_success_plot_draws_a_perfect_task(tmp_path):
    from vla.policies.eval.report import plot_success

    tasks = {
        name: {"success_rate": s / 50, "ci95": list(wilson_interval(s, 50)), "lengths": [20, 30, 40]}
        for name, s in (("pick", 49), ("place", 50), ("push", 0))
    }
    report = {"tasks": tasks, "split": "train", "episodes_per_task": 50, "checkpoint": "ckpt"}
    plot_success(tmp_path / "success.png", report)
    assert (tmp_path / "success.png").stat().st_size > 5000


def test_eval_report_is_well_formed(checkpoint, tmp_path):
    wordings = tmp_path / "wordings.txt"
    wordings.write_text("pick: grab the {colour} {object} please\npush: shove the {colour} {object} {direction}\n")
    out = tmp_path / "eval"
    r = vla_cli(
        "eval",
        "--checkpoint",
        checkpoint,
        "--task",
        "pick,push",
        "--episodes",
        "3",
        "--num-envs",
        "2",
        "--split",
        "heldout",
        "--instructions",
        wordings,
        "--videos",
        "1",
        "--out",
        out,
        "--threads",
        "1",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["split"] == "heldout" and set(report["tasks"]) == {"pick", "push"}
    for name, t in report["tasks"].items():
        assert t["episodes"] == 3 and 0 <= t["successes"] <= 3
        assert t["success_rate"] == pytest.approx(t["successes"] / 3)
        lo, hi = t["ci95"]
        assert 0 <= lo <= t["success_rate"] <= hi <= 1
        assert len(t["lengths"]) == 3 and all(1 <= n <= 80 for n in t["lengths"])
        assert t["latency_ms_batch1"]["p50"] > 0 and t["latency_ms_batch1"]["p95"] >= t["latency_ms_batch1"]["p50"]
        assert all(("grab the" in s) or ("shove the" in s) for s in t["example_instructions"])
        videos = list((out / "videos" / name).glob("*.mp4"))
        assert len(videos) == 1 and videos[0].stat().st_size > 1000
    assert (out / "success.png").stat().st_size > 5000
    assert 0 <= report["mean_success_rate"] <= 1


def test_eval_bad_input(checkpoint, tmp_path):
    pkl = tmp_path / "policy.pkl"
    pkl.write_bytes(pickle.dumps({"weights": [1, 2]}))
    for args, needle in [
        (["--checkpoint", pkl], "never unpickles"),
        (["--checkpoint", checkpoint, "--task", "pik"], "did you mean 'pick'"),
        (["--checkpoint", tmp_path / "missing"], "does not exist"),
    ]:
        r = vla_cli("eval", *args, "--out", tmp_path / "e")
        assert r.returncode == 2, r.stderr
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

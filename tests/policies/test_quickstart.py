"""The README's main job, end to end at a tiny scale: collect, dataset report, train, evaluate, summary."""

import json
import subprocess
import sys


def test_quickstart_end_to_end(tmp_path):
    out = tmp_path / "qs"
    args = ["quickstart", "--out", out, "--episodes", "1", "--policy", "tiny-l1", "--train-minutes", "0.1",
            "--eval-episodes", "1", "--image-size", "48", "--aux-scenes", "8", "--ros2-episodes", "0"]  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "vla.cli.main", *map(str, args)], capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "report" / "contact_sheet.png").stat().st_size > 10_000
    assert len(list((out / "report").glob("*.mp4"))) == 4
    report = json.loads((out / "eval" / "report.json").read_text())
    assert set(report["tasks"]) == {"pick", "place", "push", "stack"}
    assert all(t["episodes"] == 1 for t in report["tasks"].values())
    summary = (out / "SUMMARY.md").read_text()
    assert "| pick |" in summary and "Mean success" in summary
    train = json.loads((out / "train" / "train_summary.json").read_text())
    assert train["stopped_by"] == "max_minutes" and train["steps"] > 0 and train["episodes"] == 4

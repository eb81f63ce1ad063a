"""`vla collect`: real MuJoCo rollouts written through lerobot, read back with LeRobotDataset.

Covers the dataset contents, compaction into blocks, extending a finished dataset, resuming after a
SIGKILL, finishing an interrupted final swap, and one-line errors for bad input.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from vla.cli.main import main
from vla.constants import ACTION, NEXT_DONE, NEXT_SUCCESS, OBS_IMAGE_SCENE, OBS_IMAGE_WRIST, OBS_STATE
from vla.policies.collect import command, outdir
from vla.policies.collect.command import collect
from vla.policies.collect.config import CollectConfig
from vla.policies.collect.plan import attempt_seed
from vla.policies.collect.recorder import AttemptResult
from vla.policies.collect.staging import STAGING_DIR, Staging

IMAGE = 32  # small frames keep rendering and encoding fast; the schema is the same at any size
REPO_ROOT = Path(__file__).resolve().parents[2]


def load(root: Path) -> LeRobotDataset:
    return LeRobotDataset(f"local/{root.name}", root=root, video_backend="pyav")


def record_of(root: Path) -> dict:
    return json.loads((root / "meta" / "vla_collect.json").read_text())


def episode_arrays(ds: LeRobotDataset, episode: int) -> dict[str, np.ndarray]:
    ep = ds.meta.episodes[episode]
    rows = ds.hf_dataset.select(range(ep["dataset_from_index"], ep["dataset_to_index"]))
    return {key: np.stack([np.asarray(v) for v in rows[key]]) for key in (OBS_STATE, ACTION)}


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_task_dataset(tmp_path_factory) -> Path:
    """2 episodes each of pick and push, compacted into blocks of 2 before the final merge."""
    out = tmp_path_factory.mktemp("collect") / "two_tasks"
    cfg = CollectConfig(task="pick,push", out=out, episodes=2, image_size=IMAGE, seed=7)
    summary = collect(cfg, block_episodes=2, progress=False)
    assert summary.new_episodes == 4
    return out


def test_dataset_loads_with_lerobot_and_matches_the_env(two_task_dataset):
    out = two_task_dataset
    assert sorted(p.name for p in out.iterdir()) == ["data", "meta", "videos"], "staging area removed"
    ds = load(out)
    record = record_of(out)
    assert ds.fps == 10
    assert ds.meta.robot_type == "vla_tabletop_arm"
    assert ds.num_episodes == 4
    for key in (OBS_IMAGE_SCENE, OBS_IMAGE_WRIST):
        assert ds.features[key]["dtype"] == "video"
        assert tuple(ds.features[key]["shape"]) == (IMAGE, IMAGE, 3)
    assert len(ds.features[OBS_STATE]["names"]) == ds.features[OBS_STATE]["shape"][0]
    assert ds.features[ACTION]["names"][-1] == "gripper"

    episodes = record["episodes"]
    assert [e["task"] for e in episodes] == ["pick", "pick", "push", "push"]
    assert [e["episode_index"] for e in episodes] == [0, 1, 2, 3]
    for e in episodes:
        assert e["seed"] == attempt_seed(7, e["task"], e["attempt"])
        meta = ds.meta.episodes[e["episode_index"]]
        first, last = meta["dataset_from_index"], meta["dataset_to_index"] - 1
        assert last - first + 1 == e["length"] == meta["length"]
        start, end = ds[first], ds[last]
        assert start["task"] == end["task"] == e["instruction"]
        assert start[OBS_IMAGE_SCENE].shape == start[OBS_IMAGE_WRIST].shape == (3, IMAGE, IMAGE)
        assert start[OBS_STATE].dtype == start[ACTION].dtype == torch.float32
        assert bool(end[NEXT_SUCCESS]) and bool(end[NEXT_DONE]), "each kept episode ends in success"
        assert not bool(start[NEXT_DONE])
    assert set(record["tasks"]) == {"pick", "push"}
    assert record["tasks"]["pick"]["episodes"] == 2
    assert record["settings"] == {
        "tasks": ["pick", "push"],
        "split": "train",
        "seed": 7,
        "image_size": IMAGE,
        "keep_failures": False,
        "vcodec": "h264",
    }
    assert record["runs"][0]["config"]["episodes"] == 2


def test_rerun_is_a_no_op_and_more_episodes_extend(two_task_dataset, tmp_path, capsys):
    out = tmp_path / "two_tasks"
    shutil.copytree(two_task_dataset, out)
    before = snapshot(out)
    args = ["collect", "--task", "pick,push", "--out", str(out), "--image-size", str(IMAGE), "--seed", "7"]
    assert main([*args, "--episodes", "2"]) == 0
    assert "already holds" in capsys.readouterr().out
    assert snapshot(out) == before
    assert not (out / STAGING_DIR).exists()

    old = load(out)
    assert main([*args, "--episodes", "3"]) == 0
    ds = load(out)
    record = record_of(out)
    assert ds.num_episodes == 6
    assert [e["task"] for e in record["episodes"]] == ["pick", "pick", "push", "push", "pick", "push"]
    assert len(record["runs"]) == 2
    for i in range(4):  # the original episodes are unchanged, new ones are appended
        a, b = episode_arrays(old, i), episode_arrays(ds, i)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_dataset(tmp_path):
    reference = tmp_path / "reference"
    collect(CollectConfig(task="pick", out=reference, episodes=3, image_size=IMAGE), progress=False)

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "vla.cli.main", "collect", "--task", "pick", "--episodes", "3"]
    cmd += ["--image-size", str(IMAGE), "--out", str(out)]
    env = {**os.environ, "MUJOCO_GL": "egl", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    attempts = out / STAGING_DIR / "attempts"
    deadline = time.monotonic() + 120
    while not (attempts.is_dir() and any(attempts.glob("*.json"))):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no episode was committed in time"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "meta").exists(), "killed before the final merge: OUT holds no dataset yet"
    assert (out / STAGING_DIR / "shards").is_dir()

    rerun = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in out.iterdir()) == ["data", "meta", "videos"]
    ds, ref = load(out), load(reference)
    assert ds.num_episodes == ref.num_episodes == 3
    assert [e["seed"] for e in record_of(out)["episodes"]] == [e["seed"] for e in record_of(reference)["episodes"]]
    for i in range(3):
        a, b = episode_arrays(ds, i), episode_arrays(ref, i)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_interrupted_final_swap_is_completed_on_rerun(tmp_path, monkeypatch):
    out = tmp_path / "swap"
    cfg = CollectConfig(task="push", out=out, episodes=2, image_size=IMAGE)

    def crash_mid_swap(staging, merged):
        journal = {"merged": str(merged.relative_to(staging.root)), "replace": ["meta", "data", "videos"], "remove": []}
        outdir.atomic_write_json(staging.swap_journal, journal)
        os.replace(merged / "meta", out / "meta")  # the first entry moved, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "swap_in", crash_mid_swap)
    with pytest.raises(KeyboardInterrupt):
        collect(cfg, progress=False)
    assert (out / "meta").exists() and not (out / "data").exists()

    monkeypatch.undo()
    summary = collect(cfg, progress=False)
    assert any("interrupted" in note for note in summary.notes)
    assert load(out).num_episodes == 2
    assert sorted(p.name for p in out.iterdir()) == ["data", "meta", "videos"]


def test_recovery_keeps_exactly_the_committed_episodes(tmp_path):
    """Every state a SIGKILL can leave behind, built by hand: only committed data survives recovery."""
    out = tmp_path / "staged"

    def shard(staging: Staging, attempt: int, commit: bool, kept: bool = True) -> None:
        if kept:
            meta = staging.shard_path("pick", attempt) / "meta"
            meta.mkdir(parents=True)
            (meta / "info.json").write_text('{"total_episodes": 1}')
        if commit:
            staging.commit_attempt(AttemptResult("pick", attempt, attempt, "lift it", kept, 9, kept, 0.1))

    with Staging.open(out, {"settings": {}}) as staging:
        staging.recover({})
        shard(staging, 0, commit=True)
        shard(staging, 1, commit=False)  # the episode in progress
        shard(staging, 2, commit=True, kept=False)  # a discarded failure: only its record exists
        for attempt in (3, 4, 5):
            shard(staging, attempt, commit=True)
        block = staging.blocks_dir / "pick-000003-000004"  # compacted, its shards not yet deleted
        (block / "meta").mkdir(parents=True)
        (block / "meta" / "info.json").write_text('{"total_episodes": 2}')
        (block.parent / f"{block.name}.json").write_text('{"task": "pick", "attempts": [3, 4]}')
        (staging.blocks_dir / "pick-000005-000005" / "meta").mkdir(parents=True)  # compaction without marker
        (staging.tmp_dir / "merged-1").mkdir()

        staging.recover({})
        units = [(u.attempts, u.is_block) for u in staging.units(("pick",))]
        assert units == [((0,), False), ((3, 4), True), ((5,), False)]
        assert sorted(p.name for p in staging.shards_dir.iterdir()) == ["pick-000000", "pick-000005"]
        assert sorted(k[1] for k in staging.records()) == [0, 2, 3, 4, 5]
        assert not any(staging.tmp_dir.iterdir())

        staging.recover({"pick": {0, 2}})  # already in OUT's finished dataset: stale copies go
        assert [u.attempts for u in staging.units(("pick",))] == [(3, 4), (5,)]
        assert sorted(k[1] for k in staging.records()) == [3, 4, 5]


class IdleExpert:
    """Never moves, so every attempt fails at the time limit."""

    def __init__(self, env):
        self.action = np.zeros(env.action_space.shape, np.float32)

    def reset(self):
        pass

    def act(self, obs):
        return self.action


def test_failing_expert_stops_at_the_attempt_limit_and_failures_can_be_kept(tmp_path, monkeypatch):
    import vla.policies.experts as experts
    from vla.errors import VlaUserError

    out = tmp_path / "failures"
    cfg = CollectConfig(task="pick", out=out, episodes=1, image_size=IMAGE, keep_failures=True, max_attempts_factor=1)
    monkeypatch.setattr(experts, "make_expert", IdleExpert)
    with pytest.raises(VlaUserError, match=r"succeeded in 0 of 1 attempts .*--max-attempts-factor"):
        collect(cfg, progress=False)
    assert not (out / "meta").exists()

    monkeypatch.undo()  # the real expert takes over from attempt 1; the kept failure stays first
    cfg = CollectConfig(task="pick", out=out, episodes=1, image_size=IMAGE, keep_failures=True, max_attempts_factor=2)
    collect(cfg, progress=False)
    ds, record = load(out), record_of(out)
    assert [(e["attempt"], e["success"]) for e in record["episodes"]] == [(0, False), (1, True)]
    stats = record["tasks"]["pick"]
    assert (stats["attempts"], stats["successes"], stats["episodes"], stats["success_rate"]) == (2, 1, 2, 0.5)
    for e in record["episodes"]:
        end = ds[ds.meta.episodes[e["episode_index"]]["dataset_to_index"] - 1]
        assert bool(end[NEXT_DONE]) and bool(end[NEXT_SUCCESS]) == e["success"]


# ------------------------------------------------------------------ bad input
def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["collect", *args])
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vla: error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--task", "pik"], ["unknown task 'pik'", "did you mean 'pick'"]),
        (["--task", "pick,shove"], ["unknown task 'shove'"]),
        (["--task", "pick", "--image-size", "8"], ["--image-size", "16 and 512"]),
        (["--task", "pick", "--image-size", "33"], ["even"]),
        (["--task", "pick", "--episodes", "0"], ["--episodes"]),
    ],
)
def test_bad_arguments_fail_before_creating_anything(tmp_path, capsys, args, fragments):
    out = tmp_path / "never"
    code, err = run_cli(capsys, *args, "--out", str(out))
    assert_one_line_error(code, err, *fragments)
    assert not out.exists()


def test_output_path_that_cannot_be_a_dataset(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    assert_one_line_error(*run_cli(capsys, "--task", "pick", "--out", str(a_file)), "not a directory")
    assert_one_line_error(*run_cli(capsys, "--task", "pick", "--out", str(a_file / "ds")), "cannot create")
    assert a_file.read_text() == "keep me"


def test_foreign_folders_are_refused_and_left_untouched(tmp_path, capsys):
    foreign = tmp_path / "foreign"
    (foreign / "sub").mkdir(parents=True)
    (foreign / "thesis.tex").write_text("precious")
    (foreign / "sub" / "data.bin").write_bytes(b"\x00\x01")
    not_ours = tmp_path / "lerobot_dataset"
    (not_ours / "meta").mkdir(parents=True)
    (not_ours / "meta" / "info.json").write_text("{}")
    for path, fragment in ((foreign, "not a vla collection"), (not_ours, "did not write")):
        before = snapshot(path)
        assert_one_line_error(*run_cli(capsys, "--task", "pick", "--out", str(path)), fragment)
        assert snapshot(path) == before
        assert not (path / STAGING_DIR).exists()


def test_collection_with_other_settings_is_refused(two_task_dataset, capsys):
    before = snapshot(two_task_dataset)
    args = ["--task", "pick,push", "--out", str(two_task_dataset), "--image-size", str(IMAGE)]
    assert_one_line_error(*run_cli(capsys, *args, "--seed", "8"), "different settings", "seed")
    assert_one_line_error(*run_cli(capsys, *args[:-2], "--seed", "7"), "image_size")
    assert snapshot(two_task_dataset) == before


def test_a_collection_locked_by_another_process_is_refused(tmp_path, capsys):
    out = tmp_path / "busy"
    with Staging.open(out, {"settings": {}}):
        code, err = run_cli(capsys, "--task", "pick", "--out", str(out), "--image-size", str(IMAGE))
    assert_one_line_error(code, err, "another `vla collect`")

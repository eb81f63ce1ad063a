"""The egocentric map as a policy input: `vla collect --egomap` records it as a camera, `vla train` reads it
like any camera, and `vla eval` (in process, DAgger, env servers) builds envs that draw it because the
checkpoint reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vla.envs import make_env
from vla.envs.navigation.egomap import FREE, GOAL, OBSTACLE, TRAIL, UNKNOWN
from vla.envs.navigation.nav_env import OBS_IMAGE_DEPTH, OBS_IMAGE_EGOMAP, OBS_IMAGE_RGB
from vla.errors import VlaUserError
from vla.policies.collect.command import collect
from vla.policies.collect.config import CollectConfig
from vla.policies.eval.navigation import nav_env_options
from vla.policies.train.command import run_train
from vla.policies.train.config import TrainConfig
from vla.policies.train.data import load_demos
from vla.policy.checkpoint import load_policy

IMAGE = 32


def run_eval(ckpt: Path, task: str, episodes: int, videos: int, out: Path) -> subprocess.CompletedProcess:
    """`vla eval` in its own process on test houses, one torch thread."""
    return subprocess.run(
        [sys.executable, "-m", "vla.cli.main", "eval", "--checkpoint", str(ckpt), "--task", task, "--episodes",
         str(episodes), "--split", "test", "--videos", str(videos), "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def egomap_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("egomap")
    data = root / "data"
    collect(CollectConfig(task="pointnav", out=data, episodes=2, image_size=IMAGE, seed=3, egomap=True), progress=False)
    run_train(
        TrainConfig(
            dataset=str(data),
            out=root / "run",
            policy="tiny-categorical",
            steps=3,
            batch_size=8,
            threads=1,
            dagger_rounds=1,
            dagger_episodes=2,
        )  # fmt: skip
    )
    return data, root / "run" / "checkpoints" / "last" / "pretrained_model"


def test_collect_records_the_map_as_a_camera_that_survives_the_video_codec(egomap_run):
    data, _ = egomap_run
    record = json.loads((data / "meta" / "vla_collect.json").read_text())
    assert record["settings"]["egomap"] is True
    info = json.loads((data / "meta" / "info.json").read_text())
    assert info["features"][OBS_IMAGE_EGOMAP]["dtype"] == "video"
    demos = load_demos(str(data), (OBS_IMAGE_EGOMAP,), None)
    maps = demos.images[OBS_IMAGE_EGOMAP].float().mean(1)  # (N, H, W) grey
    levels = torch.tensor([UNKNOWN, FREE, TRAIL, OBSTACLE, GOAL], dtype=torch.float32)
    off = (maps[..., None] - levels).abs().min(-1).values
    assert float((off <= 20).float().mean()) >= 0.98, "h264 keeps the grey levels apart"
    for level in (FREE, OBSTACLE, GOAL):
        assert float(((maps - level).abs() <= 20).float().mean()) > 0.002, level


def test_checkpoint_reads_the_map_and_eval_builds_envs_that_draw_it(egomap_run, tmp_path):
    _, ckpt = egomap_run
    config = json.loads((ckpt / "config.json").read_text())
    assert set(config["camera_keys"]) == {OBS_IMAGE_RGB, OBS_IMAGE_DEPTH, OBS_IMAGE_EGOMAP}
    policy = load_policy(ckpt)
    assert nav_env_options(policy.config) == {"egomap": True}
    env = make_env("pointnav", image_size=IMAGE, split="test", **nav_env_options(policy.config))
    obs, _ = env.reset(seed=2)
    batch = {k: torch.as_tensor(v)[None] for k, v in obs.items() if k != "task"} | {"task": [obs["task"]]}
    blank = {**batch, OBS_IMAGE_EGOMAP: torch.zeros_like(batch[OBS_IMAGE_EGOMAP])}
    with torch.no_grad():
        a, b = policy.encode(batch).cognition, policy.encode(blank).cognition
    assert float((a - b).abs().max()) > 1e-4, "the map is an input that matters"
    r = run_eval(ckpt, "pointnav", episodes=2, videos=1, out=tmp_path / "eval")
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert len(report["tasks"]["pointnav"]["per_episode"]) == 2
    import av

    (video,) = (tmp_path / "eval" / "videos").rglob("*.mp4")
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (3 * 2 * IMAGE, 2 * IMAGE), "RGB | depth | map, upscaled 2x"


def test_env_server_without_the_map_is_a_one_line_error(egomap_run, tmp_path):
    from vla.envs.server.launch import start_server_process

    _, ckpt = egomap_run
    with start_server_process("vla/PointNav-v0", env_kwargs={"image_size": IMAGE}) as server:
        r = subprocess.run(
            [sys.executable, "-m", "vla.cli.main", "eval", "--checkpoint", str(ckpt), "--task", "pointnav",
             "--episodes", "1", "--env-address", server.address, "--out", str(tmp_path / "e")],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "observation.images.egomap" in r.stderr and '"egomap": true' in r.stderr
    assert not (tmp_path / "e").exists()


def test_egomap_on_a_tabletop_task_is_a_one_line_error(tmp_path):
    with pytest.raises(VlaUserError, match="--egomap is for navigation tasks only"):
        collect(CollectConfig(task="pick", out=tmp_path / "d", episodes=1, image_size=IMAGE, egomap=True),
                progress=False)  # fmt: skip
    assert not (tmp_path / "d").exists()


def test_cameras_option_trains_on_the_chosen_cameras_only(egomap_run, tmp_path):
    data, _ = egomap_run
    run_train(
        TrainConfig(
            dataset=str(data),
            out=tmp_path / "run",
            policy="tiny-categorical",
            steps=2,
            batch_size=8,
            threads=1,
            cameras="depth, observation.images.egomap",
        )  # fmt: skip
    )
    ckpt = tmp_path / "run" / "checkpoints" / "last" / "pretrained_model"
    config = json.loads((ckpt / "config.json").read_text())
    assert config["camera_keys"] == [OBS_IMAGE_DEPTH, OBS_IMAGE_EGOMAP]
    policy = load_policy(ckpt)
    env = make_env("pointnav", image_size=IMAGE, split="test", **nav_env_options(policy.config))
    obs, _ = env.reset(seed=1)
    from vla.policies.eval.navigation import rollout_nav_task

    r = rollout_nav_task(policy, [env], [1], n_action_steps=1, videos=0)
    assert len(r.episodes) == 1 and r.episodes[0].steps >= 1, "the env's extra RGB camera is ignored"
    for cameras, message in (("depth,thermal", "observation.images.thermal"), (" , ", "--cameras is empty"),
                             ("depth,depth", "names a camera twice")):  # fmt: skip
        with pytest.raises(VlaUserError, match=message):
            run_train(TrainConfig(dataset=str(data), out=tmp_path / "bad", policy="tiny-categorical", steps=1,
                                  cameras=cameras))  # fmt: skip
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_semantic_map_collects_trains_and_evaluates_with_its_own_envs(tmp_path):
    """--semantic-map: recorded as its own camera (goal objects in the goal grey level, surviving h264), a
    checkpoint reading it gets envs that draw it (DAgger and eval), and PointNav refuses it in one line."""
    from vla.envs.navigation.nav_env import OBS_IMAGE_SEMANTIC_MAP

    data = tmp_path / "data"
    collect(CollectConfig(task="objectnav", out=data, episodes=3, image_size=IMAGE, seed=5, expert="explore",
                          semantic_map=True), progress=False)  # fmt: skip
    record = json.loads((data / "meta" / "vla_collect.json").read_text())
    assert record["settings"]["semantic_map"] is True and "egomap" not in record["settings"]
    demos = load_demos(str(data), (OBS_IMAGE_SEMANTIC_MAP,), None)
    maps = demos.images[OBS_IMAGE_SEMANTIC_MAP].float().mean(1)
    goal_frames = ((maps - GOAL).abs() <= 20).flatten(1).any(1)
    assert 0.2 <= float(goal_frames.float().mean()) < 1.0, "the goal appears partway through the episodes"
    run_train(
        TrainConfig(dataset=str(data), out=tmp_path / "run", policy="tiny-categorical", steps=3, batch_size=8,
                    threads=1, dagger_rounds=1, dagger_episodes=1, cameras="depth,semantic_map")
    )  # fmt: skip
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["dagger"]["rounds"][0]["frames"] >= 1
    ckpt = tmp_path / "run" / "checkpoints" / "last" / "pretrained_model"
    policy = load_policy(ckpt)
    assert policy.config.camera_keys == (OBS_IMAGE_DEPTH, OBS_IMAGE_SEMANTIC_MAP)
    assert nav_env_options(policy.config) == {"semantic_map": True}
    r = run_eval(ckpt, "objectnav", episodes=1, videos=0, out=tmp_path / "eval")
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["tasks"]["objectnav"]["episodes"] == 1
    with pytest.raises(VlaUserError, match="--semantic-map marks where goal objects were seen"):
        collect(CollectConfig(task="pointnav", out=tmp_path / "p", episodes=1, image_size=IMAGE, semantic_map=True),
                progress=False)  # fmt: skip
    assert not (tmp_path / "p").exists()

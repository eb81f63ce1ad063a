"""`vla train` on real LeRobot datasets: exact resume, overfitting a handful of demos, bad input."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vla.errors import VlaUserError
from vla.policies.train.command import run_train
from vla.policies.train.config import TrainConfig
from vla.policy.checkpoint import load_policy


def vla_cli(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "vla.cli.main", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def train(dataset, out, **kw) -> Path:
    cfg = TrainConfig(
        **{"batch_size": 8, "log_every": 1, "warmup_steps": 2, "threads": 1, **kw}, dataset=str(dataset), out=out
    )
    assert run_train(cfg) == 0
    return out


def state(out: Path) -> dict:
    d = out / "checkpoints" / "last" / "training_state"
    return {
        **load_file(str(d / "model.safetensors")),
        **{f"opt.{k}": v for k, v in load_file(str(d / "optimizer.safetensors")).items()},
        **{f"ema.{k}": v for k, v in load_file(str(d / "ema.safetensors")).items()},
    }


@pytest.mark.parametrize("policy", ["tiny-diffusion", "tiny-flow"])
def test_two_steps_then_resume_equals_four_steps(pick_demos, tmp_path, policy):
    train(pick_demos, tmp_path / "a", policy=policy, steps=4, pause_at=2)
    assert json.loads((tmp_path / "a" / "train_summary.json").read_text())["steps"] == 2
    train(pick_demos, tmp_path / "a", policy=policy, steps=4)
    train(pick_demos, tmp_path / "b", policy=policy, steps=4)
    a, b = state(tmp_path / "a"), state(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        assert torch.equal(a[k], b[k]), k
    wa = load_file(str(tmp_path / "a" / "checkpoints/last/pretrained_model/model.safetensors"))
    wb = load_file(str(tmp_path / "b" / "checkpoints/last/pretrained_model/model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_overfit_a_handful_of_demos_and_succeed_on_their_seeds(pick_demos, tmp_path):
    import vla.envs as E

    out = train(
        pick_demos,
        tmp_path / "overfit",
        policy="tiny-l1",
        steps=600,
        batch_size=32,
        lr=1e-3,
        ema_decay=0.0,
        augment=False,
        warmup_steps=20,
    )
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    first = np.mean([r["loss"] for r in rows[:5]])
    last = np.mean([r["loss"] for r in rows[-20:]])
    assert first / last > 10, (first, last)
    assert (out / "loss_curve.png").stat().st_size > 1000 and any((out / "logs").iterdir())

    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    record = json.loads((pick_demos / "meta" / "vla_collect.json").read_text())
    seeds = [ep["seed"] for ep in record["episodes"]]
    assert len(seeds) == 4
    env = E.make_env("pick", image_size=48)
    successes = 0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        policy.reset()
        for _ in range(env.unwrapped.max_steps):
            obs, _, term, trunc, info = env.step(policy.select_action(obs)[0].numpy())
            if term or trunc:
                break
        successes += info["is_success"]
    assert successes >= 3, f"overfit policy succeeded on {successes}/4 of its training seeds"


def test_bad_input_is_one_line_and_overwrites_nothing(pick_demos, tmp_path):
    r = vla_cli("train", "--dataset", pick_demos, "--policy", "vla-difusion", "--out", tmp_path / "x")
    assert r.returncode == 2 and "did you mean 'vla-diffusion'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    r = vla_cli("train", "--dataset", pick_demos, "--out", foreign, "--policy", "tiny-l1")
    assert r.returncode == 2 and "not a vla training directory" in r.stderr
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]

    r = vla_cli("train", "--dataset", tmp_path / "nope", "--out", tmp_path / "y", "--policy", "tiny-l1")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_dataset_missing_a_feature_and_mismatched_action_dims(tmp_path, pick_demos):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {
        "observation.images.scene": {"dtype": "video", "shape": (32, 32, 3), "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (13,), "names": None},
        "action": {"dtype": "float32", "shape": (7,), "names": None},
    }
    ds = LeRobotDataset.create("local/onecam", fps=10, features=features, root=tmp_path / "onecam")
    for i in range(12):
        ds.add_frame(
            {
                "observation.images.scene": np.zeros((32, 32, 3), np.uint8),
                "observation.state": np.zeros(13, np.float32),
                "action": np.full(7, i, np.float32),
                "task": "t",
            }
        )
    ds.save_episode()
    ds.finalize()
    with pytest.raises(VlaUserError, match="lacks required feature.*observation.images.wrist"):
        run_train(TrainConfig(dataset=str(tmp_path / "onecam"), out=tmp_path / "o1", policy="tiny-l1", steps=1))

    out = train(pick_demos, tmp_path / "run", policy="tiny-l1", steps=1)
    other = tmp_path / "pick_other"
    from vla.policies.collect.command import collect
    from vla.policies.collect.config import CollectConfig

    collect(CollectConfig(task="pick", out=other, episodes=1, image_size=32, seed=1), progress=False)
    before = (out / "checkpoints/last/training_state/model.safetensors").read_bytes()
    with pytest.raises(VlaUserError):
        run_train(TrainConfig(dataset=str(other), out=out, policy="tiny-l1", steps=2, batch_size=8))
    assert (out / "checkpoints/last/training_state/model.safetensors").read_bytes() == before


def test_budget_fits_the_lr_schedule_to_the_steps_that_fit():
    from vla.policies.train.config import TrainConfig
    from vla.policies.train.trainer import budget_schedule_steps, lr_lambda

    cfg = TrainConfig(dataset="unused", steps=10_000, max_minutes=1.0)
    # 20 steps took 10 s: 50 s remain at 0.5 s/step -> 97 more steps (3% slack), well under --steps.
    assert budget_schedule_steps(cfg, step=20, elapsed_s=10.0) == 20 + 97
    cfg.steps = 100
    assert budget_schedule_steps(cfg, step=20, elapsed_s=10.0) == 100  # --steps stays an upper bound
    f = lr_lambda(warmup=10, total=lambda: 117)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(117) == pytest.approx(0.0, abs=1e-12)
    assert f(10 + 107 // 2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 53 / 107)))


def test_budget_refits_the_schedule_when_training_speeds_up():
    """A slow start (e.g. a neighbour's job) must not end the schedule long before the budget does."""
    from vla.policies.train.config import TrainConfig
    from vla.policies.train.trainer import CALIBRATION_STEPS, BudgetFit

    cfg = TrainConfig(dataset="unused", steps=1_000_000, max_minutes=10.0)  # 600 s
    fit = BudgetFit(cfg, step=0, elapsed_s=0.0, schedule_steps=0)
    assert fit.update(CALIBRATION_STEPS - 1, 19.0) is None
    first = fit.update(CALIBRATION_STEPS, 20.0)  # 1 s/step so far: 580 s * 0.97 -> 562 more
    assert first == CALIBRATION_STEPS + 562
    assert fit.update(25, 25.0) is None  # no refit before 5% of the budget (30 s)
    # Now 0.5 s/step: at 30 s the schedule is refitted with the speed since the first fit.
    assert fit.update(CALIBRATION_STEPS + 20, 30.0) == CALIBRATION_STEPS + 20 + int(0.97 * 570 / 0.5)
    assert fit.update(CALIBRATION_STEPS + 21, 30.5) is None  # next refit at 10%
    for frac in (0.1, 0.2, 0.3, 0.4, 0.5):
        assert fit.update(int(frac * 1200), frac * 600) is not None
    assert fit.update(900, 450.0) is None  # no refits in the second half
    # A resumed run continues with the fits still due after its elapsed time.
    resumed = BudgetFit(cfg, step=300, elapsed_s=150.0, schedule_steps=1100)  # 25%: next refit at 30%
    assert resumed.update(310, 155.0) is None
    assert resumed.update(360, 180.0) == 360 + int(0.97 * 420 / 0.5)


def test_scene_bank_labels_match_the_simulator_and_round_trip(tmp_path):
    import vla.envs as E
    from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST
    from vla.policies.train.scenes import SceneBank, _render_scenes, generate_scene_bank

    cams = (OBS_IMAGE_SCENE, OBS_IMAGE_WRIST)
    bank = generate_scene_bank(6, ["pick", "place"], "train", 32, cams, seed=1, workers=1, chunk=3, semantics=True)
    assert len(bank) == 6 and bank.images[OBS_IMAGE_SCENE].shape == (6, 3, 32, 32)
    assert bank.env_state.shape == (6, 6) and len(set(bank.instructions)) > 1
    # Rendering is a pure function of the seed: the same seeds give the same scenes and labels.
    seeds = [int(s) for s in bank_seeds(6, 1)[:3]]
    again = _render_scenes((["pick", "place"], "train", 32, cams, seeds, False, 0.8, 0.0))
    assert np.array_equal(np.stack(again["images"][OBS_IMAGE_SCENE]), bank.images[OBS_IMAGE_SCENE][:3].numpy())
    # Labels are the named prop's position: on the table, inside the layout region.
    xyz = bank.env_state[:, :3]
    assert ((xyz[:, 0] > 0.2) & (xyz[:, 0] < 0.65) & (xyz[:, 2].abs() < 0.1)).all()
    env = E.make_env("pick")
    env.reset(seed=0)
    home = env.unwrapped.scene.tcp_pos()
    moved = (bank.state[:, 6:9] - torch.as_tensor(home, dtype=torch.float32)).norm(dim=1) > 0.03
    assert moved.any()  # most scenes pose the arm away from home, so views vary like mid-episode ones
    # Grounding labels: target, goal and the env's 3 landmarks (tool point, two points on the table's far
    # edge) in every camera, NaN where a point is out of view. The scene camera sees the target and the edge
    # in every scene; a pick's lift point above a prop at the table's side, or an arm posed high at the side,
    # can leave its frame.
    assert bank.pixels.shape == (6, 2, 5, 2)
    scene_uv = bank.pixels[:, 0]
    seen = torch.isfinite(scene_uv).all(-1)  # (6, 5)
    assert seen[:, [0, 3, 4]].all() and int(seen.sum()) >= 27, seen
    assert ((scene_uv[seen] > 0) & (scene_uv[seen] < 1)).all()
    # The table's far edge sits in the image's upper part and moves only with the camera jitter; the tool
    # point moves with the arm.
    edge = scene_uv[:, 3:]
    assert (edge[..., 1] < 0.35).all() and float(edge.std(0).max()) < 0.03
    assert float(scene_uv[seen[:, 2], 2].std(0).max()) > 0.05
    bank.save(tmp_path / "bank.safetensors")
    back = SceneBank.load(tmp_path / "bank.safetensors")
    assert back.instructions == bank.instructions and torch.equal(back.env_state, bank.env_state)
    assert torch.equal(back.pixels.nan_to_num(-1), bank.pixels.nan_to_num(-1))
    # Segmentation labels: colour and shape class per pixel; every scene-camera view shows some props.
    assert bank.semantics.shape == (6, 2, 2, 32, 32) and bank.semantic_classes == (9, 5)
    assert (bank.semantics[:, 0, 0] > 0).flatten(1).any(1).all() and int(bank.semantics[:, :, 0].max()) <= 8
    assert torch.equal(back.semantics, bank.semantics) and back.semantic_classes == (9, 5)
    # Point colours: the named prop's colour (the instruction's first colour word), and a place goal's bowl's
    # (its second); a pick goal is a point in the air, on no prop.
    from vla.envs.manipulation.props import COLOURS

    assert bank.point_colours.shape == (6, 2) and torch.equal(back.point_colours, bank.point_colours)
    for text, (target, goal) in zip(bank.instructions, bank.point_colours.tolist(), strict=True):
        named = [1 + list(COLOURS).index(w) for w in text.split() if w in COLOURS]
        assert named == ([target, goal] if "bowl" in text else [target]) and (goal == 0) == ("bowl" not in text)
    # Point shapes: the named prop's shape word, and a place goal's bowl; 0 where the colours have 0.
    from vla.envs.manipulation.scene import SEMANTIC_SHAPES

    assert torch.equal(back.point_shapes, bank.point_shapes)
    assert torch.equal(bank.point_shapes > 0, bank.point_colours > 0)
    for text, (target, goal) in zip(bank.instructions, bank.point_shapes.tolist(), strict=True):
        named = [1 + SEMANTIC_SHAPES.index(w) for w in text.split() if w in SEMANTIC_SHAPES]
        assert named == ([target, goal] if "bowl" in text else [target])
    assert all(torch.equal(back.images[k], bank.images[k]) for k in cams)


def test_scene_bank_draws_its_tasks_and_poses_independently_of_the_episodes(tmp_path):
    """The bank picks each scene's task from its own random stream. When it used the env's (seeded by the same
    number), a task's scenes covered a sliver of its layouts: every pick target a cube, every place bowl yellow
    or blue, every stack target pink or cyan (a 5,000-scene bank of version 1)."""
    import re

    from vla.constants import OBS_IMAGE_SCENE
    from vla.envs.manipulation.props import COLOURS
    from vla.policies.train.scenes import BANK_SAMPLING, SceneBank, generate_scene_bank

    bank = generate_scene_bank(48, ["pick", "place", "stack"], "train", 24, (OBS_IMAGE_SCENE,), seed=2, workers=1)
    assert bank.sampling == BANK_SAMPLING == 2
    colour = "|".join(COLOURS)
    bowls = {m.group(1) for s in bank.instructions if (m := re.search(rf"the ({colour}) bowl", s))}
    stacked = {m.group(1) for s in bank.instructions if (m := re.search(rf"the ({colour}) cube (on|on top)", s))}
    picked = {s.split()[-1] for s in bank.instructions if s.startswith(("pick up", "lift the"))}
    picked |= {s.split()[-4] for s in bank.instructions if s.startswith("grasp")}
    assert len(bowls) >= 4 and len(stacked) >= 3 and len(picked) >= 2, (bowls, stacked, picked)
    # A version-1 bank reads back as one (`vla train` then renders it again; files without the field read as 1).
    old = SceneBank(bank.images, bank.state, bank.env_state, bank.instructions, sampling=1)
    old.save(tmp_path / "old.safetensors")
    assert SceneBank.load(tmp_path / "old.safetensors").sampling == 1


def pick_rollouts(policy, seeds):
    """`vla eval`'s rollout of pick episodes with these seeds on 2 async envs."""
    from vla.policies.eval.rollout import make_vector_env, rollout_task

    c = policy.config
    envs = make_vector_env("pick", 2, "async", c.image_size, "train")
    try:
        return rollout_task(policy, envs, seeds, None, 0, c.ensembling, c.n_action_steps)
    finally:
        envs.close()


def bank_seeds(n, seed):
    from vla.policies.train.scenes import SCENE_SEED_OFFSET

    return np.arange(n) + SCENE_SEED_OFFSET + seed * 1_000_003


def test_aux_scenes_train_the_grounding_head_and_are_reused_on_resume(pick_demos, tmp_path):
    out = train(pick_demos, tmp_path / "aux", policy="tiny-l1", steps=4, pause_at=2, aux_scenes=8, aux_scene_batch=4)
    bank = out / "scene_bank.safetensors"
    assert bank.is_file()
    mtime = bank.stat().st_mtime_ns
    train(pick_demos, out, policy="tiny-l1", steps=4, aux_scenes=8, aux_scene_batch=4)
    assert bank.stat().st_mtime_ns == mtime  # rendered once, reused by the resumed run
    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    assert policy.config.env_state_dim == 6 and policy.aux is not None
    assert torch.isfinite(policy.aux.mean).all() and (policy.aux.std > 0).all()
    # The bank's camera projections train two grounding heatmaps (target, goal) per image.
    assert policy.config.backbone.vision_grounding_maps == 2 and policy.config.grounding_loss_weight == 1.0
    assert policy.config.backbone.vision_semantic_classes == ()  # per-cell classes are opt-in
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["grounding_loss"]) and r["grounding_loss"] > 0 for r in rows)
    assert all(r["loss"] > r["head_loss"] + r["grounding_loss"] for r in rows)  # the total includes both
    assert all(0 <= r["grounding_error_0"] < 1.5 for r in rows)
    assert not any("semantic_loss" in r for r in rows)
    # --semantic-labels re-renders the bank with class maps and trains per-cell colour/shape heads too.
    train(
        pick_demos, tmp_path / "sem", policy="tiny-l1", steps=2, aux_scenes=8, aux_scene_batch=4, semantic_labels=True
    )
    rows = [json.loads(line) for line in (tmp_path / "sem" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["semantic_loss"]) and r["semantic_loss"] > 0 for r in rows)
    assert load_policy(
        tmp_path / "sem" / "checkpoints" / "last" / "pretrained_model"
    ).config.backbone.vision_semantic_classes == (9, 5)


def test_grounding_weight_zero_trains_without_heatmaps(pick_demos, tmp_path):
    out = train(
        pick_demos, tmp_path / "plain", policy="tiny-l1", steps=2, aux_scenes=4, aux_scene_batch=4, grounding_weight=0.0
    )
    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    assert policy.config.backbone.vision_grounding_maps == 0 and policy.aux is not None
    with pytest.raises(VlaUserError, match="--grounding-weight must be >= 0"):
        train(pick_demos, tmp_path / "bad", policy="tiny-l1", steps=2, aux_scenes=4, grounding_weight=-1.0)
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_estimate_conditioning_feeds_the_gripper_to_object_offset_to_the_head(pick_demos, tmp_path):
    import vla.envs as E

    out = train(
        pick_demos, tmp_path / "est", policy="tiny-l1", steps=4, pause_at=2, aux_scenes=8, aux_scene_batch=4,
        estimate_conditioning=True,
    )  # fmt: skip
    train(pick_demos, out, policy="tiny-l1", steps=4, aux_scenes=8, aux_scene_batch=4, estimate_conditioning=True)
    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    c = policy.config
    assert c.env_state_conditioning and c.backbone.vision_grounding_maps == 2
    tcp = [c.state_names.index(f"tcp.{a}") for a in "xyz"]
    assert c.env_state_relative_to == (*tcp, *tcp)  # target.xyz - tcp.xyz, goal.xyz - tcp.xyz
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all(r["estimate_loss"] > 0 for r in rows)

    env = E.make_env("pick", image_size=48)
    obs, _ = env.reset(seed=11)
    env.close()
    policy.eval()
    with torch.no_grad():
        cond, _, features = policy._encode(obs)
        # The estimator reads 2 maps x (x, y, peak) x 2 cameras and the 13-d state.
        assert features.shape == (1, 12 + 13)
        estimate = policy.estimator.predict_normalized(features)
        metres = policy.estimator.unnormalize(estimate)
        assert torch.allclose(metres, policy.estimate_env_state(obs))
        rel = policy.env_conditioning.features(estimate, metres, torch.as_tensor(obs["observation.state"])[None])
        tcp_now = obs["observation.state"][tcp]
        m = metres[0].numpy()
        expected = np.concatenate([m[:3] - tcp_now, m[3:] - tcp_now]) / 0.1
        np.testing.assert_allclose(rel[0, 6:].numpy(), expected, rtol=1e-5, atol=1e-5)
        plain = policy.backbone(policy.prepare_images(obs), [obs["task"]], policy._state(obs))
        assert cond.tokens.shape[1] == plain.tokens.shape[1] + 1  # one more token for the head
        # The head reads the estimate: moving the estimated target 10 cm changes the action chunk.
        before = policy.head.sample(cond, noise=None)
        policy.estimator.mlp[-1].bias.data[0] += 0.1 / float(policy.estimator.std[0])
        after = policy.head.sample(policy.encode(obs), noise=None)
    assert (after - before).abs().max() > 1e-4

    with pytest.raises(VlaUserError, match="--estimate-conditioning needs grounding heatmaps"):
        train(pick_demos, tmp_path / "bad", policy="tiny-l1", steps=2, estimate_conditioning=True)  # no --aux-scenes
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_oracle_conditioning_reads_the_true_positions_in_training_and_in_eval(pick_demos, tmp_path):
    import vla.envs as E

    out = train(pick_demos, tmp_path / "oracle", policy="tiny-l1", steps=2, oracle_conditioning=True)
    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    c = policy.config
    assert c.reads_true_env_state and not c.reads_estimate and policy.estimator is None
    assert c.backbone.vision_grounding_maps == 0  # no scene bank, no heatmaps: the oracle needs neither
    tcp = [c.state_names.index(f"tcp.{a}") for a in "xyz"]
    assert c.env_state_relative_to == (*tcp, *tcp)

    env = E.make_env("pick", image_size=48)
    obs, _ = env.reset(seed=11)
    true = env.unwrapped.privileged_state()
    env.close()
    policy.eval()
    with pytest.raises(VlaUserError, match="reads the simulator's true 'observation.environment_state'"):
        policy.predict_action_chunk(obs)
    with torch.no_grad():
        cond, _, features = policy._encode({**obs, "observation.environment_state": true})
        assert features is None
        rel = policy.env_conditioning.features(
            policy.aux.normalize(torch.as_tensor(true)[None]), torch.as_tensor(true)[None],
            torch.as_tensor(obs["observation.state"])[None],
        )  # fmt: skip
        tcp_now = obs["observation.state"][tcp]
        expected = np.concatenate([true[:3] - tcp_now, true[3:] - tcp_now]) / 0.1
        np.testing.assert_allclose(rel[0, 6:].numpy(), expected, rtol=1e-5, atol=1e-5)
        moved = true.copy()
        moved[0] += 0.1  # the target 10 cm further along x changes the chunk
        before = policy.predict_action_chunk({**obs, "observation.environment_state": true})
        after = policy.predict_action_chunk({**obs, "observation.environment_state": moved})
    assert (after - before).abs().max() > 1e-4

    # vla eval's rollout hands each env's privileged state to the policy.
    result = pick_rollouts(policy, [11, 12])
    assert sorted(e.seed for e in result.episodes) == [11, 12]
    assert all(1 <= e.length <= 80 for e in result.episodes)

    with pytest.raises(VlaUserError, match="exclude each other"):
        train(pick_demos, tmp_path / "both", policy="tiny-l1", steps=2, oracle_conditioning=True,
              estimate_conditioning=True, aux_scenes=4)  # fmt: skip
    assert not (tmp_path / "both" / "checkpoints").exists()


def test_episode_start_conditioning_holds_the_reset_frame_estimate_until_reset(pick_demos, tmp_path):
    import vla.envs as E
    from vla.constants import OBS_ENV_STATE, OBS_ENV_STATE_START
    from vla.policies.train.data import load_demos

    demos = load_demos(str(pick_demos), ("observation.images.scene", "observation.images.wrist"), (48, 48))
    batch = demos.batch(torch.arange(len(demos)), chunk_size=2)
    ends = demos.episode_end.tolist()
    firsts = [0] + [i + 1 for i in range(len(ends) - 1) if ends[i] != ends[i + 1]]
    for f, last in zip(firsts, sorted(set(ends)), strict=True):  # every frame reads its episode's first frame
        assert torch.equal(batch[OBS_ENV_STATE_START][f : last + 1], demos.env_state[f].expand(last + 1 - f, -1))
    assert not torch.equal(batch[OBS_ENV_STATE_START], batch[OBS_ENV_STATE])  # the target moves once grasped

    out = train(
        pick_demos, tmp_path / "start", policy="tiny-l1", steps=2, aux_scenes=8, aux_scene_batch=4,
        estimate_conditioning=True, conditioning_at="episode_start", conditioning_noise=0.02,
    )  # fmt: skip
    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    c = policy.config
    assert c.holds_episode_start_state and c.reads_estimate and c.env_state_noise == 0.02
    env = E.make_env("pick", image_size=48)
    obs_a, _ = env.reset(seed=11)
    obs_b, _ = env.reset(seed=12)
    env.close()
    policy.eval()
    est_a, est_b = policy.estimate_env_state(obs_a), policy.estimate_env_state(obs_b)
    assert (est_a - est_b).abs().max() > 1e-4
    policy.reset()
    first = policy.predict_action_chunk(obs_a)  # holds A's estimate ...
    torch.testing.assert_close(policy._held_env_state, est_a)
    policy.predict_action_chunk(obs_b)  # ... for the rest of the episode
    torch.testing.assert_close(policy._held_env_state, est_a)
    held_b = policy.predict_action_chunk({**obs_b, OBS_ENV_STATE: est_a.numpy()[0]})  # what vla eval passes
    policy.reset()
    policy.predict_action_chunk(obs_b)
    torch.testing.assert_close(policy._held_env_state, est_b)
    policy.reset()
    torch.testing.assert_close(policy.predict_action_chunk(obs_a), first)
    assert held_b.shape == first.shape

    # Training noise: the head trains on perturbed first-frame positions, so two forward passes differ.
    policy.train()
    torch.manual_seed(0)
    loss_1, _ = policy(demos.batch(torch.arange(8), c.chunk_size))
    torch.manual_seed(1)
    loss_2, _ = policy(demos.batch(torch.arange(8), c.chunk_size))
    assert abs(float(loss_1) - float(loss_2)) > 1e-6
    policy.eval()

    assert sorted(e.seed for e in pick_rollouts(policy, [11, 12, 13]).episodes) == [11, 12, 13]

    with pytest.raises(VlaUserError, match="--conditioning-at/--conditioning-noise apply to"):
        train(pick_demos, tmp_path / "bad", policy="tiny-l1", steps=2, conditioning_at="episode_start")
    with pytest.raises(VlaUserError, match="--conditioning-noise perturbs true positions"):
        train(pick_demos, tmp_path / "bad", policy="tiny-l1", steps=2, aux_scenes=4, estimate_conditioning=True,
              conditioning_noise=0.01)  # fmt: skip
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_carried_conditioning_fits_the_table_before_training_and_carries_the_target_in_a_rollout(pick_demos, tmp_path):
    from vla.constants import OBS_ENV_STATE, OBS_ENV_STATE_START
    from vla.policies.eval.rollout import make_vector_env

    out = train(
        pick_demos, tmp_path / "carried", policy="tiny-l1", steps=2, aux_scenes=24, aux_scene_batch=4,
        locator=True, conditioning_at="carried", conditioning_noise=0.005,
    )  # fmt: skip
    summary = json.loads((out / "train_summary.json").read_text())
    fit = summary["locator_table_fit"]
    assert fit["table_fit_rows"] >= 10 and fit["table_fit_terms"] == 364
    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    c = policy.config
    assert c.carries_target and c.tracks_target and c.locator.table_fit and bool(policy.locator.table.fitted)
    assert float(policy.locator.table.coef.abs().sum()) > 0  # the fit came back from the checkpoint
    assert c.locator.colour_vote == 5.0 and c.locator.window_vote and c.locator.geometry_phrases  # the defaults
    assert c.locator.shape_vote == 0.0 and policy.locator.point_shape is None  # opt-in
    # Training reads the true current target and the first-frame goal, as 'tracked' does.
    now, start = torch.randn(2, 6), torch.randn(2, 6)
    teacher = policy._conditioning_positions({OBS_ENV_STATE: now, OBS_ENV_STATE_START: start}, None, 2, True)
    assert float((teacher - torch.cat([now[:, :3], start[:, 3:]], 1)).abs().max()) < 0.05  # + 5 mm noise

    # The policy's own tracker (vla serve's path): estimated once, then carried by select_action at every step.
    env = make_vector_env("pick", 1, "sync", c.image_size, "train")
    try:
        obs, infos = env.reset(seed=[21])
        obs = {k: v for k, v in obs.items() if k != "task"} | {"task": [str(infos["instruction"][0])]}
        policy.reset()
        policy.select_action(obs)
        first = policy._held_env_state.clone()
        assert policy._carry is not None and np.isfinite(policy._carry.pos).all()
        np.testing.assert_allclose(policy._carry.pos[0], first[0, :3].numpy(), atol=1e-6)
        for _ in range(5):
            obs, *_ = env.step(policy.select_action(obs).numpy())
            obs = {k: v for k, v in obs.items() if k != "task"} | {"task": [str(infos["instruction"][0])]}
        torch.testing.assert_close(policy._held_env_state, first)  # never re-estimated mid-episode
        policy.reset()
        assert policy._carry is None
    finally:
        env.close()
    assert sorted(e.seed for e in pick_rollouts(policy, [11, 12]).episodes) == [11, 12]


def test_locator_conditioning_alone_trains_on_a_one_camera_bank_and_drives_a_rollout(pick_demos, tmp_path):
    from vla.constants import OBS_IMAGE_SCENE
    from vla.policies.train.scenes import SceneBank

    out = train(
        pick_demos, tmp_path / "loc", policy="tiny-l1", steps=3, pause_at=2, aux_scenes=8, aux_scene_batch=4,
        locator=True, backbone_grounding=False, conditioning_at="tracked", conditioning_noise=0.005, shape_vote=5.0,
        shape_vote_from="start",
    )  # fmt: skip
    train(
        pick_demos,
        out,
        policy="tiny-l1",
        steps=3,
        aux_scenes=8,
        aux_scene_batch=4,
        locator=True,
        backbone_grounding=False,
        conditioning_at="tracked",
        conditioning_noise=0.005,
        shape_vote=5.0,
        shape_vote_from="start",
    )  # fmt: skip  (resumes, reuses the bank)
    bank = SceneBank.load(out / "scene_bank.safetensors")
    # The locator's bank: the scene camera only, segmentation labels, target/goal + 3 landmark points, and
    # (tracking the target) half of it mid-demonstration.
    assert set(bank.images) == {OBS_IMAGE_SCENE} and bank.semantics is not None and bank.pixels.shape[1:3] == (1, 5)
    assert bank.demo_fraction == 0.5
    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    c = policy.config
    assert c.reads_locator and c.tracks_target and not c.reads_estimate and policy.estimator is None
    assert c.backbone.vision_grounding_maps == 0  # --no-backbone-grounding: the locator alone learns from the bank
    assert c.locator.semantic_classes == bank.semantic_classes
    assert c.locator.shape_vote == 5.0 and policy.locator.point_shape is not None and bank.point_shapes is not None
    assert torch.isfinite(policy.locator.geometry.mean).all() and (policy.locator.geometry.std > 0).all()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert r["locator_loss"] > 0 and r["locator_geometry_loss"] > 0 and r["locator_semantic_loss"] > 0
        assert r["locator_geometry_own_loss"] > 0 and r["locator_colour_loss"] > 0  # the colour vote's head
        assert r["locator_shape_loss"] > 0 and r["locator_shape_view_loss"] > 0  # the shape vote's heads
        # The total includes the locator's losses, at the auxiliary weight (0.5).
        assert r["loss"] > r["head_loss"] + 0.5 * (r["locator_loss"] + r["locator_geometry_loss"])

    policy.eval()
    assert sorted(e.seed for e in pick_rollouts(policy, [11, 12, 13]).episodes) == [11, 12, 13]

    with pytest.raises(VlaUserError, match="--estimate-conditioning and --locator exclude each other"):
        train(pick_demos, tmp_path / "bad", policy="tiny-l1", steps=2, aux_scenes=4, locator=True,
              estimate_conditioning=True)  # fmt: skip
    with pytest.raises(VlaUserError, match="--locator needs the embedded backbone"):
        train(pick_demos, tmp_path / "bad", policy="tiny-l1", steps=2, locator=True)
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_late_shape_vote_trains_the_locator_alone_after_the_main_phase_and_resumes_exactly(pick_demos, tmp_path):
    late = dict(
        policy="tiny-l1", steps=2, aux_scenes=8, aux_scene_batch=4, locator=True, backbone_grounding=False,
        conditioning_at="carried", conditioning_noise=0.005, shape_vote=5.0, late_locator_steps=4, save_every=100,
    )  # fmt: skip
    a = train(pick_demos, tmp_path / "a", pause_at=2, **late)  # the main phase only: the EMA weights eval would load
    main = load_file(str(a / "checkpoints/last/pretrained_model/model.safetensors"))
    assert json.loads((a / "checkpoints/last/pretrained_model/config.json").read_text())["locator"]["shape_vote"] == 0
    assert not any(k.startswith("locator.point_shape") for k in main)
    train(pick_demos, a, pause_at=3, **late)  # one late step, saved in the phase
    progress = json.loads((a / "checkpoints/last/training_state/trainer.json").read_text())
    assert progress["late_phase"] and progress["late_step"] == 1
    train(pick_demos, a, **late)  # resumes inside the late phase
    b = train(pick_demos, tmp_path / "b", **late)

    def saved(out: Path, name: str) -> dict:
        return load_file(str(out / "checkpoints/last" / name))

    for name in ("training_state/model.safetensors", "training_state/optimizer.safetensors",
                 "pretrained_model/model.safetensors"):  # fmt: skip
        wa, wb = saved(a, name), saved(b, name)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name
    assert not (b / "checkpoints/last/training_state/ema.safetensors").exists()  # no EMA in the late phase

    final = saved(b, "pretrained_model/model.safetensors")
    # Only the locator trained: every other weight is the main phase's EMA weight, bit for bit.
    others = [k for k in main if not k.startswith("locator.")]
    assert len(others) > 20 and all(torch.equal(final[k], main[k]) for k in others)
    moved = [k for k in main if k.startswith("locator.") and not torch.equal(final[k], main[k])]
    assert len(moved) > 10
    policy = load_policy(b / "checkpoints" / "last" / "pretrained_model")
    assert policy.config.locator.shape_vote == 5.0 and policy.locator.point_shape is not None

    summary = json.loads((b / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["late_locator_phase"]["steps"] == 4
    rows = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r.get("phase") for r in rows] == [None, None] + ["late_locator"] * 4
    assert all("locator_shape_loss" not in r for r in rows[:2])  # the main phase has no shape head
    for r in rows[2:]:
        assert r["locator_shape_loss"] > 0 and r["locator_shape_view_loss"] > 0 and "head_loss" not in r
    lrs = [3e-4 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in (1, 2, 3, 4)]  # the phase's cosine, after each step
    assert [r["lr"] for r in rows[2:]] == pytest.approx(lrs, abs=1e-12)
    assert summary["late_locator_phase"]["final_loss"] == rows[5]["loss"]
    policy.eval()
    assert sorted(e.seed for e in pick_rollouts(policy, [11, 12]).episodes) == [11, 12]

    with pytest.raises(VlaUserError, match="--late-locator-minutes 6.0 leaves nothing of --max-minutes 5"):
        train(pick_demos, tmp_path / "bad", **{**late, "max_minutes": 5})
    with pytest.raises(VlaUserError, match="--late-locator-steps must be >= 1"):
        train(pick_demos, tmp_path / "bad", **{**late, "late_locator_steps": 0})
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_backbone_grounding_beside_the_locator_renders_every_camera_and_trains_both(pick_demos, tmp_path):
    from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST
    from vla.policies.train.scenes import SceneBank

    # backbone_grounding is on by default with the locator.
    out = train(
        pick_demos, tmp_path / "both", policy="tiny-l1", steps=2, aux_scenes=8, aux_scene_batch=4,
        locator=True, conditioning_at="carried", conditioning_noise=0.005,
    )  # fmt: skip
    bank = SceneBank.load(out / "scene_bank.safetensors")
    # Every camera, in the policy's order; the locator's points (target, goal, 3 landmarks) in each.
    assert list(bank.images) == [OBS_IMAGE_SCENE, OBS_IMAGE_WRIST] and bank.pixels.shape[1:3] == (2, 5)
    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    assert policy.config.reads_locator and policy.config.backbone.vision_grounding_maps == 2
    # The locator reads its own camera's labels out of the two-camera bank: the scene camera's, not the wrist's.
    labels = torch.arange(2 * 3, dtype=torch.float32).reshape(1, 2, 3)
    assert policy._locator_view(labels).tolist() == [[0.0, 1.0, 2.0]]
    assert policy._locator_view(labels[:, 1:]).tolist() == [[3.0, 4.0, 5.0]]  # a one-camera bank
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for r in rows:  # both sets of scene-bank losses, every step
        assert r["locator_loss"] > 0 and r["locator_geometry_loss"] > 0 and r["locator_semantic_loss"] > 0
        assert r["grounding_loss"] > 0 and r["aux_scene_loss"] > 0
        assert r["loss"] > r["head_loss"] + 0.5 * (r["locator_loss"] + r["aux_scene_loss"]) + r["grounding_loss"]
    fit = json.loads((out / "train_summary.json").read_text())["locator_table_fit"]
    assert fit["table_fit_rows"] >= 3  # solved on the scene camera's true image points


def test_head_instruction_grounding_trains_a_head_that_reads_no_words(pick_demos, tmp_path):
    kw = dict(
        policy="tiny-l1", steps=2, aux_scenes=8, aux_scene_batch=4, locator=True, conditioning_at="carried",
        conditioning_noise=0.005,
    )  # fmt: skip
    out = train(pick_demos, tmp_path / "g", head_instruction="grounding", **kw)
    policy = load_policy(out / "checkpoints" / "last" / "pretrained_model")
    backbone = policy.config.backbone
    assert not backbone.film and not backbone.instruction_tokens and backbone.vision_grounding_maps == 2
    weights = load_file(str(out / "checkpoints/last/pretrained_model/model.safetensors"))
    assert not any(".text_proj." in k or ".sentence_proj." in k or k.endswith("film_context.0.weight") for k in weights)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["grounding_loss"] > 0 and math.isfinite(r["head_loss"]) for r in rows)
    policy.eval()
    assert sorted(e.seed for e in pick_rollouts(policy, [11]).episodes) == [11]

    with pytest.raises(VlaUserError, match="--head-instruction grounding leaves the head only its conditioning"):
        train(pick_demos, tmp_path / "bad", policy="tiny-l1", steps=2, head_instruction="grounding")
    assert not (tmp_path / "bad" / "checkpoints").exists()

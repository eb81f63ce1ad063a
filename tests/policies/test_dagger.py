"""DAgger during `vla train` on navigation datasets: the policy drives real MuJoCo houses, the privileged
expert labels every visited state, the frames join the training set, and a resumed run is bit-identical."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vla.envs import make_env
from vla.errors import VlaUserError
from vla.policies.experts.navigation import NavigationExpert
from vla.policies.train.command import run_train
from vla.policies.train.config import TrainConfig
from vla.policies.train.dagger import DaggerRound

IMAGE = 32
DAGGER = dict(dagger_rounds=2, dagger_episodes=3, dagger_max_steps=25, dagger_beta=0.3)


@pytest.fixture(scope="module")
def nav_data(pointnav_demos) -> Path:
    return pointnav_demos  # conftest: 2 PointNav episodes at IMAGE px


def train(data: Path, out: Path, **kw) -> dict:
    cfg = TrainConfig(dataset=str(data), out=out, policy="tiny-categorical", batch_size=8, threads=1, **DAGGER)
    for k, v in kw.items():
        setattr(cfg, k, v)
    assert run_train(cfg) == 0
    return json.loads((out / "train_summary.json").read_text())


@pytest.fixture(scope="module")
def straight_run(nav_data, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("dagger_run") / "run"
    return out, train(nav_data, out, steps=9)


def test_rounds_add_expert_labelled_frames_of_the_states_the_policy_visited(nav_data, straight_run):
    out, summary = straight_run
    rounds = [DaggerRound.load(out / "dagger" / f"round_{k:02d}.safetensors") for k in range(2)]
    demo_frames = json.loads((nav_data / "meta" / "info.json").read_text())["total_frames"]
    added = sum(sum(r.lengths) for r in rounds)
    assert summary["frames"] == demo_frames + added and summary["dagger"]["frames_added"] == added
    assert [r["beta"] for r in summary["dagger"]["rounds"]] == [0.3, 0.15]  # halved every round
    assert summary["episodes"] == 2 + 2 * 3
    policy_steps = 0
    env = make_env("pointnav", image_size=IMAGE, split="train")
    expert = NavigationExpert(env)
    for r in rounds:
        assert len(r.lengths) == 3 and all(1 <= n <= 25 for n in r.lengths)
        assert r.images["observation.images.rgb"].shape == (sum(r.lengths), 3, IMAGE, IMAGE)
        start = 0
        for seed, n, text in zip(r.seeds, r.lengths, r.instructions, strict=True):
            # Replay what was executed: every recorded observation and label must be the env's and expert's own.
            obs, _ = env.reset(seed=seed)
            expert.reset()
            assert obs["task"] == text
            for t in range(start, start + n):
                np.testing.assert_array_equal(obs["observation.state"], r.state[t].numpy())
                rgb = r.images["observation.images.rgb"][t].permute(1, 2, 0).numpy()
                np.testing.assert_array_equal(obs["observation.images.rgb"], rgb)
                assert int(expert.act()) == int(r.action[t, 0])
                executed = int(r.executed[t, 0])
                if executed != int(r.action[t, 0]):
                    policy_steps += 1
                    expert.drop_commitment()
                obs, *_ = env.step(executed)
            start += n
    env.close()
    assert policy_steps > 0  # the policy, not only the expert, drove


def test_resumed_dagger_run_is_bit_identical(nav_data, straight_run, tmp_path):
    """Pause between the two rounds (at step 5; rounds run at steps 3 and 6) and resume: same rounds, same
    weights as the uninterrupted run."""
    out, _ = straight_run
    train(nav_data, tmp_path / "run", steps=9, pause_at=5)
    assert (tmp_path / "run" / "dagger" / "round_00.safetensors").is_file()
    assert not (tmp_path / "run" / "dagger" / "round_01.safetensors").is_file()
    train(nav_data, tmp_path / "run", steps=9)
    for k in range(2):
        a = load_file(str(out / "dagger" / f"round_{k:02d}.safetensors"))
        b = load_file(str(tmp_path / "run" / "dagger" / f"round_{k:02d}.safetensors"))
        assert all(torch.equal(a[n], b[n]) for n in a)
    a = load_file(str(out / "checkpoints/last/training_state/model.safetensors"))
    b = load_file(str(tmp_path / "run" / "checkpoints/last/training_state/model.safetensors"))
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_dagger_on_a_tabletop_dataset_is_a_one_line_error(pick_demos, tmp_path):
    with pytest.raises(VlaUserError, match="needs a navigation dataset"):
        train(pick_demos, tmp_path / "run", steps=2)
    assert not (tmp_path / "run").exists()


def test_budget_fit_measures_optimizer_speed_and_keeps_the_rollout_reserve():
    from vla.policies.train.trainer import BudgetFit

    cfg = TrainConfig(dataset="x", steps=10**6, max_minutes=10.0)
    fit = BudgetFit(cfg, step=0, elapsed_s=0.0, schedule_steps=0)
    # 20 steps in 10 s: 0.5 s/step; 590 s left, 100 s reserved for rollouts -> 0.97 * 490 / 0.5 more steps
    assert fit.update(20, 10.0, rollout_s=0.0, reserve_s=100.0) == 20 + int(0.97 * 490 / 0.5)
    fit.force()  # after a 60 s round: 40 more steps in 20 s of optimizer time (0.5 s/step), nothing reserved
    assert fit.update(60, 90.0, rollout_s=60.0, reserve_s=0.0) == 60 + int(0.97 * 510 / 0.5)


def test_a_refit_right_after_a_dagger_round_waits_for_enough_timed_steps():
    """Round 7 of the ObjectNav bench: the 50% refit and the DAgger round fell on the same step, so the forced
    refit after the round timed a single step (plus the round's checkpoint), read 0.8 s/step instead of 0.25,
    and ended the schedule 19 minutes before the 60-minute budget."""
    from vla.policies.train.trainer import CALIBRATION_STEPS, BudgetFit

    cfg = TrainConfig(dataset="x", steps=10**6, max_minutes=60.0)  # 3600 s
    fit = BudgetFit(cfg, step=0, elapsed_s=0.0, schedule_steps=0)
    assert fit.update(20, 5.0) is not None  # 0.25 s/step
    for frac in (0.05, 0.1, 0.2, 0.3, 0.4):  # refits at 0.25 s/step of optimizer time, 250 s of rollouts at 25%
        t = frac * 3600
        rollout = 250.0 if frac > 0.25 else 0.0
        assert fit.update(int((t - rollout) / 0.25), t, rollout_s=rollout, reserve_s=500.0) is not None
    s_half = int((1800 - 250) / 0.25)
    assert fit.update(s_half, 1800.0, rollout_s=250.0, reserve_s=500.0) is not None  # the 50% refit
    fit.force()  # the DAgger round (250 s) runs right after it; its checkpoint took 0.6 s of optimizer time
    assert fit.update(s_half + 1, 2050.85, rollout_s=500.0, reserve_s=250.0) is None  # one step: not timed yet
    for k in range(2, CALIBRATION_STEPS):
        assert fit.update(s_half + k, 2050.85 + 0.25 * (k - 1), rollout_s=500.0, reserve_s=250.0) is None
    n = s_half + CALIBRATION_STEPS
    elapsed = 2050.85 + 0.25 * (CALIBRATION_STEPS - 1)
    refit = fit.update(n, elapsed, rollout_s=500.0, reserve_s=250.0)
    per_step = (elapsed - 500.0 - (1800.0 - 250.0)) / CALIBRATION_STEPS  # 0.6 s spread over 20 steps
    assert refit == n + int(0.97 * (3600 - elapsed - 250.0) / per_step)
    assert refit - n > 4000  # about 21 minutes of optimizer steps left, not the 1,500 steps round 7 got

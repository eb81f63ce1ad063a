"""The exploring teacher for object search (`vla collect --expert explore`): it finds every goal, it never
acts on where an unseen goal is, and DAgger labels with the collection's own teacher."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from vla.envs import make_env
from vla.envs.navigation.tasks import objects_goal
from vla.errors import VlaUserError
from vla.policies.collect.command import collect
from vla.policies.collect.config import CollectConfig
from vla.policies.experts import make_nav_expert
from vla.policies.experts.exploring import ExploringExpert
from vla.policies.train.command import run_train
from vla.policies.train.config import TrainConfig
from vla.policies.train.dagger import DaggerRound

IMAGE = 32


def run_episode(env, expert, seed: int) -> tuple[dict, list[int]]:
    obs, _ = env.reset(seed=seed)
    actions = []
    for _ in range(500):
        actions.append(int(expert.act(obs)))
        obs, _, terminated, truncated, info = env.step(actions[-1])
        if terminated or truncated:
            return info, actions
    raise AssertionError("the episode did not end")


@pytest.mark.parametrize("task", ["objectnav", "instructnav"])
def test_exploring_teacher_finds_every_goal_on_a_longer_path(task):
    env = make_env(task, image_size=16, split="test")
    explore, shortest = make_nav_expert(env, "explore"), make_nav_expert(env, "shortest")
    spl = {"explore": [], "shortest": []}
    for seed in range(10):
        info, actions = run_episode(env, explore, seed)
        assert info["success"], seed
        assert explore.seen and explore.env.house.room_at(*info["agent_path"][-1]) in explore.goal_rooms()
        spl["explore"].append(info["spl"])
        spl["shortest"].append(run_episode(env, shortest, seed)[0]["spl"])
    assert np.mean(spl["explore"]) < np.mean(spl["shortest"]) - 0.05, spl  # it searched, not walked straight
    assert np.mean(spl["explore"]) > 0.5, spl


def test_exploring_teacher_stops_a_margin_inside_the_success_region():
    """STOP lands within view_radius - STOP_DEPTH (0.6 m) of a goal object, where the shortest-path expert
    stops on the region's edge (about 0.75-1.0 m away): the cloned STOP gets 0.4 m of slack."""
    from vla.policies.experts.exploring import STOP_DEPTH

    def gap(o, x, y) -> float:  # distance from (x, y) to the object's footprint rectangle
        (cx, cy), (hx, hy) = o.footprint.center, o.footprint.half
        return float(np.hypot(max(abs(x - cx) - hx, 0.0), max(abs(y - cy) - hy, 0.0)))

    env = make_env("objectnav", image_size=16, split="test")
    u = env.unwrapped
    gaps = {"explore": [], "shortest": []}
    for kind in gaps:
        expert = make_nav_expert(env, kind)
        for seed in range(8):
            info, _ = run_episode(env, expert, seed)
            assert info["success"], (kind, seed)
            gaps[kind].append(min(gap(u.house.objects[i], u.pose.x, u.pose.y) for i in u.episode.goal_objects))
    deep = u.config.view_radius - STOP_DEPTH
    assert max(gaps["explore"]) <= deep + 0.05, gaps  # one 5 cm grid cell of slack
    assert np.median(gaps["shortest"]) > deep + 0.15, gaps


def test_choices_before_the_goal_is_seen_do_not_depend_on_where_it_is():
    """Two copies of one episode whose goals lie in different rooms: the same actions until one sees its goal."""
    compared = 0
    for seed in range(12):
        a, b = make_env("objectnav", image_size=16, split="test"), make_env("objectnav", image_size=16, split="test")
        a.reset(seed=seed)
        b.reset(seed=seed)
        ua, ub = a.unwrapped, b.unwrapped
        start_room = ua.house.room_at(ua.pose.x, ua.pose.y)
        taken = {ua.house.objects[i].room for i in ua.episode.goal_objects} | {start_room}
        others = [o for o in ua.house.objects if o.room not in taken]
        if not others:
            continue
        field = objects_goal(ub.grid, ub.graph, ub.house, [others[0]], ub.config.view_radius)
        if field is None or not np.isfinite(field.distance(ub.pose.x, ub.pose.y)):
            continue
        ub.episode = dataclasses.replace(ub.episode, goal_objects=(others[0].index,), field=field)
        ta, tb = ExploringExpert(a), ExploringExpert(b)
        for _ in range(500):
            act_a, act_b = int(ta.act()), int(tb.act())
            if ta.seen or tb.seen:
                break
            assert act_a == act_b, f"seed {seed}: the teacher peeked at the goal"
            compared += 1
            a.step(act_a)
            b.step(act_b)
        assert ta.seen or tb.seen
    assert compared >= 50


def test_with_the_semantic_map_the_goal_counts_as_seen_once_the_map_shows_it():
    """The teacher never searches on while its own map shows the goal (its labels would walk away from a goal
    in plain view), and the map does show goals before their room is entered."""
    env = make_env("objectnav", image_size=IMAGE, split="test", semantic_map=True)
    u = env.unwrapped
    teacher = ExploringExpert(env)
    before_room = 0  # steps heading for a goal the map showed before the same-room rule would have fired
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        room_rule = False
        while True:
            action = teacher.act(obs)
            assert teacher.seen or not u.egomap.seen_goal.any(), f"seed {seed}: searching past a mapped goal"
            room_rule |= u.house.room_at(u.pose.x, u.pose.y) in teacher.goal_rooms()
            before_room += teacher.seen and not room_rule
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        assert info["success"], seed
    assert before_room >= 50, before_room  # 164 on these seeds


def test_exploring_teacher_refuses_pointnav():
    with pytest.raises(VlaUserError, match="shortest-path expert"):
        ExploringExpert(make_env("pointnav", image_size=16))
    with pytest.raises(VlaUserError, match="--expert explore searches for objects"):
        collect(
            CollectConfig(task="pointnav", out=Path("/nonexistent/x"), episodes=1, expert="explore"), progress=False
        )
    with pytest.raises(VlaUserError, match="--expert explore-clearance searches for objects"):
        collect(CollectConfig(task="pointnav", out=Path("/nonexistent/x"), episodes=1, expert="explore-clearance"),
                progress=False)  # fmt: skip
    with pytest.raises(VlaUserError, match="unknown navigation expert"):
        make_nav_expert(make_env("objectnav", image_size=16), "oracle")


def test_collection_and_dagger_use_the_exploring_teacher(tmp_path):
    data = tmp_path / "data"
    collect(CollectConfig(task="objectnav", out=data, episodes=2, image_size=IMAGE, seed=2, expert="explore"),
            progress=False)  # fmt: skip
    record = json.loads((data / "meta" / "vla_collect.json").read_text())
    assert record["settings"]["expert"] == "explore"
    out = tmp_path / "run"
    cfg = TrainConfig(dataset=str(data), out=out, policy="tiny-categorical", batch_size=8, threads=1, steps=4,
                      dagger_rounds=1, dagger_episodes=3, dagger_max_steps=40, dagger_beta=0.3)  # fmt: skip
    assert run_train(cfg) == 0
    r = DaggerRound.load(out / "dagger" / "round_00.safetensors")
    env = make_env("objectnav", image_size=IMAGE, split="train")
    teacher = ExploringExpert(env)
    start, policy_steps = 0, 0
    for seed, n in zip(r.seeds, r.lengths, strict=True):
        env.reset(seed=seed)
        for t in range(start, start + n):
            assert int(teacher.act()) == int(r.action[t, 0]), "labels are the exploring teacher's"
            executed = int(r.executed[t, 0])
            if executed != int(r.action[t, 0]):
                policy_steps += 1
                teacher.drop_commitment()
            env.step(executed)
        start += n
    assert policy_steps > 0

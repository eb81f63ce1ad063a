"""`vla collect`: roll out the scripted experts and write their demonstrations as a LeRobotDataset v3.

Crash-safe and resumable: each kept episode is committed as its own small dataset in OUT's staging
area (see staging.py) the moment it ends, so killing the process loses at most the episode in
progress and rerunning the same command continues where it stopped. While recording goes on, runs
of staged shards are compacted into blocks on a worker thread (compaction.py). When every task has
its episodes, the staged blocks and shards (after the dataset OUT already holds, when extending it)
are merged with lerobot's `aggregate_datasets` into a scratch directory, checked against the
collection record, and swapped into OUT (outdir.py).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vla.errors import VlaUserError
from vla.policies.experts import SEARCH_EXPERTS

from .compaction import BackgroundCompactor
from .config import CollectConfig
from .features import dataset_features, env_fps, max_episode_steps, robot_type
from .merge import aggregate, datasets_cache, datasets_progress_off, disable_datasets_progress
from .outdir import COLLECT_RECORD, check_settings, finish_swap, inspect_out, swap_in
from .plan import attempt_seed, is_navigation, max_attempts, resolve_tasks
from .record import attempts_from_record, build_record, collection_settings, task_summary
from .recorder import AttemptResult, ShardWriterSpec, prepare_writer, record_attempt
from .staging import STAGING_FORMAT, Staging, Unit, atomic_write_json, read_json, remove_leftovers

# Committed one-episode shards of a task are compacted into a block (in the background) once this
# many have accumulated, and a task's remaining shards when the next task starts (see compaction.py).
BLOCK_EPISODES = 25


@dataclass
class Session:
    """What the steps of one `collect` call share."""

    cfg: CollectConfig
    tasks: tuple[str, ...]
    repo_id: str
    staging: Staging
    finished: dict | None  # record of the dataset OUT already holds (when resuming after it / extending it)
    compactor: BackgroundCompactor
    block_episodes: int
    progress: bool
    stderr: object  # the terminal, captured up front: merges briefly redirect sys.stderr


@dataclass
class CollectSummary:
    out: Path
    repo_id: str
    tasks: dict[str, dict] = field(default_factory=dict)  # task -> task_summary of the whole dataset
    new_episodes: int = 0
    total_episodes: int = 0
    collect_seconds: float = 0.0
    merge_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def run_collect(cfg: CollectConfig) -> int:
    summary = collect(cfg)
    for note in summary.notes:
        print(f"note: {note}")
    for task, s in summary.tasks.items():
        rate = f"{100 * s['success_rate']:.0f}%" if s["success_rate"] is not None else "-"
        fps = f"{s['frames_per_second']:.1f}" if s["frames_per_second"] else "-"
        print(
            f"{task:>8}: {s['episodes']} episodes from {s['attempts']} attempts (expert success {rate}), "
            f"{fps} frames/s recorded"
        )
    if summary.new_episodes:
        print(
            f"wrote {summary.new_episodes} new episodes ({summary.total_episodes} in total) to {summary.out} "
            f"[repo_id {summary.repo_id}] in {summary.collect_seconds:.0f} s + {summary.merge_seconds:.1f} s merge"
        )
    else:
        print(f"{summary.out} already holds the requested episodes ({summary.total_episodes} in total)")
    return 0


def collect(cfg: CollectConfig, *, block_episodes: int = BLOCK_EPISODES, progress: bool = True) -> CollectSummary:
    """Collect, resume or extend the dataset described by `cfg`; see the module docstring."""
    import vla.envs

    stderr = sys.stderr
    tasks = resolve_tasks(cfg.task)
    if cfg.expert_noise and not is_navigation(tasks[0]):
        raise VlaUserError(
            f"--expert-noise is for navigation tasks only (a random tabletop action can knock objects over); "
            f"drop it for --task {cfg.task}"
        )
    if cfg.expert != "shortest" and not is_navigation(tasks[0]):
        raise VlaUserError(f"--expert {cfg.expert} is a navigation teacher; drop it for --task {cfg.task}")
    if cfg.expert in SEARCH_EXPERTS:
        _object_search_only(tasks, f"--expert {cfg.expert} searches for objects", "use --expert shortest")
    if cfg.egomap and not is_navigation(tasks[0]):
        raise VlaUserError(
            f"--egomap is for navigation tasks only (a top-down map of a house); drop it for --task {cfg.task}"
        )
    if cfg.semantic_map:
        _object_search_only(tasks, "--semantic-map marks where goal objects were seen", "drop --semantic-map")
    out = cfg.out.expanduser().absolute()
    repo_id = cfg.resolved_repo_id()
    settings = collection_settings(cfg, tasks)
    state = inspect_out(out)
    if state.finished:
        check_settings(out, settings, state.finished["settings"], "already holds a dataset that")
    summary = CollectSummary(out=out, repo_id=repo_id)

    # Probe the env before creating anything: it may reject the image size, and its spaces fix the schema.
    first_env = vla.envs.make_env(tasks[0], **env_kwargs(cfg, tasks[0]))
    try:
        features = dataset_features(first_env)
        fps = env_fps(first_env)
        if state.finished:
            _check_features(out, features, fps, out / "meta" / "info.json", "already holds a dataset whose")
        if state.finished and not state.has_staging and _all_done(cfg, tasks, state.finished):
            remove_leftovers(out)
            return _finished_summary(summary, state.finished)

        plan = {"format": STAGING_FORMAT, "settings": settings, "repo_id": repo_id, "fps": fps, "features": features}
        prepare_writer()
        with Staging.open(out, plan) as staging, datasets_progress_off():
            staged_plan = staging.plan()
            check_settings(out, settings, staged_plan.get("settings", {}), "has an unfinished collection that")
            if staged_plan.get("fps") != fps or _jsonable(staged_plan.get("features")) != _jsonable(features):
                raise VlaUserError(
                    f"--out {out} has an unfinished collection recorded with a different env version "
                    f"(features or fps differ); delete {staging.root} to start it over"
                )
            if finish_swap(staging):
                summary.notes.append("completed the swap of a run that was interrupted at its very end")
                state = inspect_out(out)
                if state.finished:
                    check_settings(out, settings, state.finished["settings"], "already holds a dataset that")
            finished = state.finished
            finished_attempts = {t: {a.attempt for a in attempts_from_record(finished) if a.task == t} for t in tasks}
            summary.notes += staging.recover(finished_attempts)

            env_info = {
                "fps": fps,
                "robot_type": robot_type(first_env),
                "image_size": cfg.image_size,
                "state_names": features["observation.state"]["names"],
                "action_names": features["action"]["names"],
                "max_episode_steps": {},
            }
            session = Session(
                cfg=cfg,
                tasks=tasks,
                repo_id=repo_id,
                staging=staging,
                finished=finished,
                compactor=BackgroundCompactor(staging, repo_id),
                block_episodes=block_episodes,
                progress=progress,
                stderr=stderr,
            )
            try:
                _collect_tasks(session, first_env, features, env_info)
                _merge_and_swap(session, settings, env_info, summary)
            finally:
                session.compactor.wait()  # never leave a thread writing to a staging area we no longer lock
            staging.discard()
    finally:
        first_env.close()
    return summary


def _collect_tasks(session: Session, first_env, features: dict, env_info: dict) -> None:
    """Record every task in turn (one env per task); give up with a user error if an expert fails too often."""
    import vla.envs

    cfg, tasks = session.cfg, session.tasks
    failures: list[str] = []
    for i, task in enumerate(tasks):
        env = first_env if i == 0 else vla.envs.make_env(task, **env_kwargs(cfg, task))
        try:
            if dataset_features(env) != features:
                raise RuntimeError(f"task {task!r} has another observation/action schema than {tasks[0]!r}")
            steps = max_episode_steps(env) or getattr(env.unwrapped, "max_steps", None) or None
            env_info["max_episode_steps"][task] = steps
            spec = ShardWriterSpec(
                session.repo_id, env_info["fps"], features, cfg.vcodec, steps or 0, env_info["robot_type"]
            )
            failure = _collect_task(session, task, env, spec, last=i == len(tasks) - 1)
            # Envs that enforce their own time limit may only know it once reset (as the tabletop env does).
            env_info["max_episode_steps"][task] = steps or getattr(env.unwrapped, "max_steps", None) or None
        finally:
            if env is not first_env:
                env.close()
        if failure:
            failures.append(failure)
    session.compactor.join()
    if failures:
        raise VlaUserError(
            "; ".join(failures) + f". Kept episodes stay staged in {session.staging.root}: rerun with a larger "
            "--max-attempts-factor to continue"
        )


def _collect_task(session: Session, task: str, env, spec: ShardWriterSpec, *, last: bool) -> str | None:
    """Record attempts of `task` until it has cfg.episodes successes; returns an error text on giving up."""
    cfg, staging = session.cfg, session.staging
    attempts = [a for a in attempts_from_record(session.finished) if a.task == task]
    attempts += [r for (t, _), r in staging.records().items() if t == task]
    successes = sum(a.success and a.kept for a in attempts)
    next_attempt = max((a.attempt for a in attempts), default=-1) + 1
    limit = max_attempts(cfg.episodes, cfg.max_attempts_factor)
    if successes >= cfg.episodes:
        return None

    expert = make_expert(env, task, cfg.expert)
    noise = None
    if cfg.expert_noise:
        from vla.policies.experts.perturbation import ExecutionNoise

        noise = ExecutionNoise(env.action_space, cfg.expert_noise)
    bar = _progress_bar(task, cfg.episodes, successes, session)
    try:
        _update_bar(bar, attempts)
        while successes < cfg.episodes:
            if next_attempt >= limit:
                s = task_summary(attempts)
                return (
                    f"task '{task}': the expert succeeded in {s['successes']} of {s['attempts']} attempts "
                    f"({100 * (s['success_rate'] or 0):.0f}%), short of --episodes {cfg.episodes} within "
                    f"--max-attempts-factor {cfg.max_attempts_factor:g}"
                )
            disable_datasets_progress()  # lerobot may have switched `datasets` bars back on
            result = record_attempt(
                env,
                expert,
                spec=spec,
                shard_dir=staging.shard_path(task, next_attempt),
                task=task,
                attempt=next_attempt,
                seed=attempt_seed(cfg.seed, task, next_attempt),
                keep_failures=cfg.keep_failures,
                noise=noise,
            )
            staging.commit_attempt(result)
            attempts.append(result)
            next_attempt += 1
            if result.success and result.kept:
                successes += 1
                bar.update(1)
            _update_bar(bar, attempts)
            _maybe_compact(session, task, session.block_episodes)
    finally:
        bar.close()
    if not last:  # compact this task's remaining shards while the next task records
        _maybe_compact(session, task, 2)
    return None


def _object_search_only(tasks: tuple[str, ...], what: str, fix: str) -> None:
    """One-line error for an option that only object-search tasks (objectnav, instructnav) take."""
    from vla.policies.experts.exploring import EXPLORING_TASKS

    wrong = [t for t in tasks if t not in EXPLORING_TASKS]
    if wrong:
        raise VlaUserError(f"{what} ({', '.join(EXPLORING_TASKS)}), not {', '.join(wrong)}: {fix}")


def env_kwargs(cfg: CollectConfig, task: str) -> dict:
    """make_env arguments of a task: navigation envs also take the action type and the map option."""
    kwargs = {"image_size": cfg.image_size, "split": cfg.split}
    if is_navigation(task):
        kwargs["action_type"] = cfg.action_type
        if cfg.egomap:
            kwargs["egomap"] = True
        if cfg.semantic_map:
            kwargs["semantic_map"] = True
    return kwargs


def make_expert(env, task: str, kind: str = "shortest"):
    """The scripted expert of a task's env: a navigation teacher by name (--expert), else the tabletop one."""
    if is_navigation(task):
        from vla.policies.experts import make_nav_expert

        return make_nav_expert(env, kind)
    from vla.policies.experts import make_expert as make_tabletop_expert

    return make_tabletop_expert(env)


def _maybe_compact(session: Session, task: str, at_least: int) -> None:
    session.compactor.check()
    if session.compactor.busy:
        return
    shards = [u for u in session.staging.units((task,)) if not u.is_block]
    if len(shards) >= at_least:
        session.compactor.submit(task, shards)


def _merge_and_swap(session: Session, settings: dict, env_info: dict, summary: CollectSummary) -> None:
    staging, finished, tasks, repo_id = session.staging, session.finished, session.tasks, session.repo_id
    units: list[Unit] = staging.units(tasks)
    records = staging.records()
    new_attempts = [r for (t, _), r in records.items() if t in tasks]
    summary.collect_seconds = sum(a.seconds for a in new_attempts)
    if finished and not units:
        _finished_summary(summary, finished)
        return
    order = [(u.task, a) for u in units for a in u.attempts]
    sources = ([staging.out] if finished else []) + [u.path for u in units]
    if session.progress:
        print(f"merging {len(order)} new episodes into {staging.out} ...", file=session.stderr, flush=True)
    start = time.perf_counter()
    merged = staging.scratch("merged")
    aggregate(sources, repo_id, merged, staging.tmp_dir)
    summary.merge_seconds = time.perf_counter() - start
    record = build_record(
        previous=finished,
        cfg=session.cfg,
        settings=settings,
        repo_id=repo_id,
        env_info=env_info,
        new_attempts=new_attempts,
        new_episode_order=order,
        merge_seconds=summary.merge_seconds,
    )
    _verify_merged(merged, repo_id, record, staging.tmp_dir)
    atomic_write_json(merged / "meta" / COLLECT_RECORD, record)
    swap_in(staging, merged)
    summary.tasks = record["tasks"]
    summary.new_episodes = len(order)
    summary.total_episodes = len(record["episodes"])


def _verify_merged(merged: Path, repo_id: str, record: dict, scratch: Path) -> None:
    """The merged dataset must hold exactly the recorded episodes, in order, before it replaces OUT."""
    from lerobot.datasets.dataset_metadata import LeRobotDatasetMetadata

    with datasets_cache(scratch / "hf_datasets_cache"):
        meta = LeRobotDatasetMetadata(repo_id, root=merged)
    expected = [(e["length"], e["instruction"]) for e in record["episodes"]]
    got = [(int(n), list(t)) for n, t in zip(meta.episodes["length"], meta.episodes["tasks"], strict=True)]
    if meta.total_episodes != len(expected) or [(n, [t]) for n, t in expected] != got:
        raise RuntimeError(
            f"merged dataset at {merged} does not match the collection record "
            f"({meta.total_episodes} episodes, expected {len(expected)}); OUT was left unchanged"
        )


def _check_features(out: Path, features: dict, fps: int, info_path: Path, where: str) -> None:
    info = read_json(info_path)
    theirs = {k: info["features"].get(k) for k in features}
    mismatch = [
        k
        for k, ft in features.items()
        if theirs[k] is None
        or theirs[k].get("dtype") != ft["dtype"]
        or list(theirs[k].get("shape", [])) != list(ft["shape"])
        or theirs[k].get("names") != ft["names"]
    ]
    if mismatch or info.get("fps") != fps:
        what = ", ".join(mismatch) if mismatch else "fps"
        raise VlaUserError(f"--out {out} {where} {what} differ from the current env; choose another --out")


def _all_done(cfg: CollectConfig, tasks: tuple[str, ...], finished: dict) -> bool:
    attempts = attempts_from_record(finished)
    return all(sum(a.success and a.kept for a in attempts if a.task == t) >= cfg.episodes for t in tasks)


def _finished_summary(summary: CollectSummary, finished: dict) -> CollectSummary:
    summary.tasks = finished["tasks"]
    summary.total_episodes = len(finished["episodes"])
    return summary


def _jsonable(obj):
    """Normalise tuples to lists (as a JSON round trip would) for comparisons."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


# ------------------------------------------------------------------ progress
def _progress_bar(task: str, total: int, initial: int, session: Session):
    from tqdm import tqdm

    interactive = getattr(session.stderr, "isatty", lambda: False)()
    return tqdm(
        total=total,
        initial=initial,
        desc=task,
        unit="ep",
        disable=not session.progress,
        mininterval=0.5 if interactive else 30.0,
        dynamic_ncols=True,
        file=session.stderr,
    )


def _update_bar(bar, attempts: list[AttemptResult]) -> None:
    if not attempts:
        return
    successes = sum(a.success for a in attempts)
    seconds = sum(a.seconds for a in attempts)
    frames = sum(a.length for a in attempts)
    bar.set_postfix_str(
        f"attempts={len(attempts)} success={100 * successes / len(attempts):.0f}% "
        f"{frames / seconds if seconds else 0:.0f} frames/s",
        refresh=False,
    )

"""Our policies against lerobot's own DiffusionPolicy and ACT, side by side in one run: the same
dataset, the same training seed, batch size and wall-clock budget, the same eval seeds and rollout
code. Reports success per task (+ mean with a 95% Wilson interval), training samples/s and
inference ms per chunk at batch 1 (preprocessing included), as a markdown table and JSON.

    MUJOCO_GL=egl .venv/bin/python bench/bench_vs_lerobot.py --quick          # smoke test, a few minutes
    MUJOCO_GL=egl .venv/bin/python bench/bench_vs_lerobot.py                  # 10 min per policy, 20 eps/task
    MUJOCO_GL=egl .venv/bin/python bench/bench_vs_lerobot.py --dataset DIR --minutes 30 --eval-episodes 50
    # ours with the recipe of the best bench_policy.py run (target locator, the target carried by the gripper,
    # the locator's word dropout):
    MUJOCO_GL=egl .venv/bin/python bench/bench_vs_lerobot.py --dataset DIR --locator --word-dropout 0.15 \
        --batch-size 64 ...

Our four heads (vla-diffusion, vla-flow, vla-tokens, vla-l1) train through `vla train`'s Trainer;
lerobot's policies (configs in vla/baselines/configuration_lerobot.py) through the same harness
(vla/baselines/training.py: same batch order, augmentation, LR schedule, grad clip and EMA; each
with lerobot's optimizer preset). With --locator ours are built and their scene bank rendered exactly as
`vla train --locator --conditioning-at carried` does (the bank once, its time charged to each of ours).
All evaluate their EMA weights. lerobot's policies do not read
the instruction; ours do. Without --dataset (or when it does not exist) demos are recorded first
with `vla collect`. Inference latency is measured at the end, round-robin across all trained
policies on one observation, so load from other processes on a shared machine falls on all alike
(training samples/s cannot be interleaved; the JSON records the load average around each run).
Checkpoints and the JSON land in --out.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from machine import machine  # noqa: E402  (bench/machine.py; scripts run from bench/)
from tqdm import tqdm  # noqa: E402

OURS = ("vla-diffusion", "vla-flow", "vla-tokens", "vla-l1")
BASELINES = ("lerobot-diffusion", "lerobot-act")
QUICK = {
    "episodes_per_task": 2,
    "minutes": 0.25,
    "aux_scenes": 32,
    "eval_episodes": 1,
    "latency_repeats": 5,
    "num_envs": 1,
    "vector": "sync",  # one episode per task: worker processes would cost more than they save
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--dataset", type=Path, default=None, help="LeRobotDataset dir; recorded with `vla collect` if absent"
    )
    p.add_argument("--episodes-per-task", type=int, default=25, help="expert episodes per task when recording")
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget per policy (same for all)")
    p.add_argument("--eval-episodes", type=int, default=20, help="evaluation episodes per task")
    p.add_argument("--seed", type=int, default=0, help="training seed (model init, batch order, augmentation)")
    p.add_argument("--eval-seed", type=int, default=100_000, help="first eval episode seed (demos use small seeds)")
    p.add_argument("--policies", default=",".join(OURS + BASELINES), help="comma list of policies to compare")
    p.add_argument("--tasks", default="all", help="comma list of tasks (recorded and evaluated), or 'all'")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--max-steps",
        type=int,
        default=100_000,
        help="step cap; under a time budget the cosine LR schedule is fitted to the steps that fit (all policies)",
    )
    p.add_argument(
        "--aux-scenes",
        type=int,
        default=4000,
        help="scene bank for our policies' auxiliary grounding loss (0: off); its render time is taken out of "
        "each of our policies' budget, so the wall-clock comparison stays fair",
    )
    p.add_argument(
        "--locator",
        action="store_true",
        help="our policies train and act as `vla train --locator` does (the target locator, its one-camera scene "
        "bank with segmentation labels, charged to ours like the grounding bank); default: the plain recipe",
    )
    p.add_argument(
        "--conditioning-at",
        choices=["current", "episode_start", "tracked", "carried"],
        default="carried",
        help="with --locator: which positions our action heads read (vla train flag)",
    )
    p.add_argument("--conditioning-noise", type=float, default=0.005, help="with --locator: std (m) of training noise")
    p.add_argument(
        "--word-dropout",
        type=float,
        default=0.0,
        help="with --locator: instruction word dropout for our locator (vla train --word-dropout, scope locator)",
    )
    p.add_argument("--baseline-lr", type=float, default=None, help="peak LR of lerobot's policies (preset: 1e-4)")
    p.add_argument("--chunk-size", type=int, default=None, help="action chunk H for all policies (default: ours)")
    p.add_argument("--n-action-steps", type=int, default=None, help="actions executed per chunk (default: ours)")
    p.add_argument(
        "--ensembling",
        choices=["none", "temporal", "adaptive"],
        default=None,
        help="chunk execution for all policies (default: our preset's)",
    )
    p.add_argument("--image-size", type=int, default=None, help="camera frames resized to this (default: dataset's)")
    p.add_argument("--split", choices=["train", "heldout"], default="train", help="eval object/instruction split")
    p.add_argument("--num-envs", type=int, default=2, help="vectorized eval envs")
    p.add_argument("--vector", choices=["async", "sync"], default="async")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads for training and inference")
    p.add_argument(
        "--latency-repeats",
        type=int,
        default=30,
        help="timed batch-1 inference calls per policy, interleaved across policies",
    )
    p.add_argument("--out", type=Path, default=Path("outputs/bench_vs_lerobot"))
    p.add_argument("--json", type=Path, default=None, help="results JSON (default: OUT/results.json)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 2 demos/task, 15 s training per policy, 1 eval episode per task in 1 env",
    )
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    args.policies = [s.strip() for s in args.policies.split(",") if s.strip()]
    unknown = [s for s in args.policies if s not in OURS + BASELINES]
    if unknown:
        p.error(f"unknown policies {unknown}; choose from {', '.join(OURS + BASELINES)}")
    for name in ("episodes_per_task", "eval_episodes", "batch_size", "max_steps", "num_envs", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.minutes <= 0:
        p.error("--minutes must be > 0")
    if not 0 <= args.word_dropout < 1:
        p.error(f"--word-dropout must be in [0, 1) (got {args.word_dropout})")
    if args.word_dropout and not args.locator:
        p.error("--word-dropout drops words from the locator's instructions; add --locator")
    return args


# ---------------------------------------------------------------------------------------- data
def prepare_dataset(args: argparse.Namespace, tasks: list[str]) -> Path:
    """The given dataset as is, or one recorded (or resumed) with `vla collect` under --out."""
    if args.dataset is not None and (args.dataset / "meta" / "info.json").is_file():
        return args.dataset
    dataset = args.dataset or args.out / ("dataset_quick" if args.quick else "dataset")
    cmd = [
        sys.executable,
        "-m",
        "vla.cli.main",
        "collect",
        "--task",
        ",".join(tasks),
        "--episodes",
        str(args.episodes_per_task),
        "--out",
        str(dataset),
        "--seed",
        str(args.seed),
    ]
    print(f"[bench] recording demos: {' '.join(cmd[2:])}", flush=True)
    subprocess.run(cmd, check=True)
    return dataset


# ---------------------------------------------------------------------------------------- training
def our_train_config(name: str, args, dataset: Path, out: Path, scene_minutes: float = 0.0):
    """Our policy's `vla train` config: the settings shared with lerobot's policies, plus with --locator the
    locator recipe (`vla train --locator --conditioning-at ... --word-dropout ...`)."""
    from vla.policies.train.config import TrainConfig

    recipe = {}
    if args.locator:
        recipe = {
            "locator": True,
            "conditioning_at": args.conditioning_at,
            "conditioning_noise": args.conditioning_noise,
            "aux_scenes": args.aux_scenes,
            "word_dropout": args.word_dropout,
        }
    return TrainConfig(
        dataset=str(dataset),
        policy=name,
        out=out,
        steps=args.max_steps,
        max_minutes=args.minutes - scene_minutes,
        batch_size=args.batch_size,
        seed=args.seed,
        resume=False,
        device="cpu",
        save_every=10**9,
        **recipe,
    )


def our_config(name: str, demos, cfg, overrides: dict):
    """Our policy's config, built as `vla train` builds it from `cfg` (the locator recipe with --locator)."""
    from vla.policies.train.command import with_estimate_conditioning, with_grounding_maps
    from vla.policy.configuration_vla import make_config

    config = make_config(
        name,
        **overrides,
        image_size=tuple(demos.image_size),
        state_dim=demos.state.shape[1],
        action_dim=demos.action.shape[1],
        state_names=tuple(demos.state_names),
        action_names=tuple(demos.action_names),
        env_state_dim=demos.env_state.shape[1] if demos.env_state is not None else 0,
    )
    if not cfg.locator:
        return config
    return with_estimate_conditioning(with_grounding_maps(config, cfg), cfg, demos)


def train_ours(name: str, demos, args, dataset: Path, overrides: dict, scenes=None, scene_minutes: float = 0.0):
    from vla.policies.train.trainer import Trainer
    from vla.policy.checkpoint import load_policy

    out = args.out / "train" / name
    cfg = our_train_config(name, args, dataset, out, scene_minutes)
    config = our_config(name, demos, cfg, overrides)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    trainer = Trainer(cfg, config, demos, out, scenes=scenes)
    params = sum(p.numel() for p in trainer.policy.parameters())
    trainable = sum(p.numel() for p in trainer.params)
    summary = trainer.train()
    del trainer
    gc.collect()
    policy = load_policy(summary["checkpoint"])  # the EMA weights, as `vla eval` would load them
    info = {"params": params, "trainable_params": trainable, "reads_instruction": True, "config": config.to_dict()}
    return policy, summary, info


def train_lerobot(name: str, demos, args, overrides: dict):
    from vla.baselines import BASELINE_PRESETS, LeRobotBaseline, train_baseline
    from vla.policies.train.config import TrainConfig

    torch.manual_seed(args.seed)
    policy = LeRobotBaseline.from_demos(demos, name, lr=args.baseline_lr, **overrides)
    cfg = TrainConfig(
        dataset="-",
        policy=name,
        steps=args.max_steps,
        max_minutes=args.minutes,
        batch_size=args.batch_size,
        seed=args.seed,
        device="cpu",
    )
    summary = train_baseline(policy, demos, cfg)
    summary.pop("loss_curve")
    params = sum(p.numel() for p in policy.parameters())
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    lr_cfg = policy.lerobot_config
    info = {
        "params": params,
        "trainable_params": trainable,
        "reads_instruction": False,
        "description": BASELINE_PRESETS[name].description,
        "lerobot_config": {k: _jsonable(v) for k, v in vars(lr_cfg).items() if not k.startswith("_")},
        "optimizer": _jsonable(vars(lr_cfg.get_optimizer_preset())),
    }
    return policy, summary, info


def _jsonable(v):
    try:
        json.dumps(v)
        return v
    except TypeError:
        return str(v)


# ---------------------------------------------------------------------------------------- evaluation
def evaluate(policy, tasks: list[str], args, ensembling: str, n_action_steps: int) -> dict:
    from vla.policies.eval.rollout import make_vector_env, rollout_task
    from vla.policies.eval.stats import wilson_interval

    policy.eval()
    result: dict = {"tasks": {}}
    for task in tasks:
        envs = make_vector_env(task, args.num_envs, args.vector, tuple(policy.config.image_size), args.split)
        seeds = [args.eval_seed + k for k in range(args.eval_episodes)]
        torch.manual_seed(args.eval_seed)  # the same sampling noise stream for every policy
        try:
            with tqdm(total=len(seeds), desc=f"eval {task}", unit="ep") as bar:
                r = rollout_task(policy, envs, seeds, None, 0, ensembling, n_action_steps, bar)
        finally:
            envs.close()
        wins = sum(e.success for e in r.episodes)
        result["tasks"][task] = {
            "episodes": len(r.episodes),
            "successes": wins,
            "success_rate": wins / len(r.episodes),
            "ci95": list(wilson_interval(wins, len(r.episodes))),
            "mean_length": float(np.mean([e.length for e in r.episodes])),
            "failed_seeds": [e.seed for e in r.episodes if not e.success],
        }
    wins = sum(t["successes"] for t in result["tasks"].values())
    n = sum(t["episodes"] for t in result["tasks"].values())
    result["mean_success_rate"] = wins / n
    result["ci95"] = list(wilson_interval(wins, n))
    return result


@torch.no_grad()
def interleaved_latency(policies: dict, task: str, image_size: tuple[int, int], args) -> dict[str, dict]:
    """Batch-1 predict_action_chunk wall time (preprocessing included) on one real observation, measured
    round-robin across the policies so that load from other processes falls on all of them alike."""
    from vla.constants import TASK
    from vla.policies.eval.rollout import make_vector_env
    from vla.policies.eval.stats import percentiles

    envs = make_vector_env(task, 1, "sync", image_size, args.split)
    try:
        obs, infos = envs.reset(seed=[args.eval_seed + 10**6])
    finally:
        envs.close()
    single = {k: v[:1] for k, v in obs.items() if k != TASK}
    single[TASK] = [str(infos["instruction"][0])]
    for policy in policies.values():
        policy.eval()
        for _ in range(3):
            policy.predict_action_chunk(single)
    times: dict[str, list[float]] = {name: [] for name in policies}
    for _ in range(args.latency_repeats):
        for name, policy in policies.items():
            t0 = time.perf_counter()
            policy.predict_action_chunk(single)
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: percentiles(t) for name, t in times.items()}


# ---------------------------------------------------------------------------------------- report


def _millions(n: int) -> str:
    return f"{n / 1e6:.1f} M"


def _task_cell(t: dict) -> str:
    return f"{t['success_rate'] * 100:.0f}% ({t['successes']}/{t['episodes']})"


def markdown_table(rows: dict, tasks: list[str]) -> str:
    head = ["policy", "reads instruction", "params (trainable)", "train steps", "samples/s"]
    head += [*tasks, "mean success [95% CI]", "inference ms p50 / p95"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        ev, tr = r["eval"], r["train"]
        lat = r["latency_ms_batch1"]
        lo, hi = ev["ci95"]
        cells = [
            name,
            "yes" if r["reads_instruction"] else "no",
            f"{_millions(r['params'])} ({_millions(r['trainable_params'])})",
            str(tr["steps"]),
            f"{tr['samples_per_second']:.1f}",
            *[_task_cell(ev["tasks"][t]) for t in tasks],
            f"{ev['mean_success_rate'] * 100:.1f}% [{lo * 100:.0f}, {hi * 100:.0f}]",
            f"{lat['p50']:.1f} / {lat['p95']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def checks(rows: dict) -> dict:
    """The issue's claims, per our policy: which lerobot policies it beats on mean success, and its
    inference speed-up over lerobot's DiffusionPolicy."""
    base = {k: v for k, v in rows.items() if k in BASELINES}
    if any("latency_ms_batch1" not in r for r in rows.values()):
        return {}
    out = {}
    for name, r in rows.items():
        if name in BASELINES or not base:
            continue
        c = {
            "ahead_on_success_of": sorted(
                b for b, v in base.items() if r["eval"]["mean_success_rate"] > v["eval"]["mean_success_rate"]
            ),
        }
        if "lerobot-diffusion" in base:
            theirs = base["lerobot-diffusion"]["latency_ms_batch1"]["p50"]
            c["inference_speedup_vs_lerobot_diffusion"] = round(theirs / r["latency_ms_batch1"]["p50"], 2)
        out[name] = c
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from vla.envs import TASK_NAMES
    from vla.policies.train.data import load_demos
    from vla.policy.configuration_vla import make_config

    tasks = list(TASK_NAMES) if args.tasks == "all" else [t.strip() for t in args.tasks.split(",") if t.strip()]
    bad = [t for t in tasks if t not in TASK_NAMES]
    if bad:
        raise SystemExit(f"unknown tasks {bad}; choose from {', '.join(TASK_NAMES)} or 'all'")
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.json or args.out / "results.json"
    dataset = prepare_dataset(args, tasks)

    ours_default = make_config(OURS[0], **({"chunk_size": args.chunk_size} if args.chunk_size else {}))
    chunk_size = ours_default.chunk_size
    n_action_steps = args.n_action_steps or min(ours_default.n_action_steps, chunk_size)
    ensembling = args.ensembling or ours_default.ensembling
    size = (args.image_size, args.image_size) if args.image_size else None  # None: the dataset's own
    demos = load_demos(str(dataset), ours_default.camera_keys, size)
    print(
        f"[bench] {dataset}: {demos.num_episodes} episodes, {len(demos)} frames; {args.minutes} min per policy, "
        f"batch {args.batch_size}, chunk {chunk_size}, {n_action_steps} actions per chunk, ensembling {ensembling}",
        flush=True,
    )
    shared = {"chunk_size": chunk_size, "n_action_steps": n_action_steps}

    report = {
        "machine": machine(f"torch {torch.__version__}"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "dataset": {"path": str(dataset), "episodes": demos.num_episodes, "frames": len(demos)},
        "chunk_size": chunk_size,
        "n_action_steps": n_action_steps,
        "ensembling": ensembling,
        "policies": {},
    }
    scenes, scene_minutes = None, 0.0
    if args.aux_scenes > 0 and demos.env_state is not None and any(n in OURS for n in args.policies):
        from vla.policies.train.scenes import generate_scene_bank

        settings = json.loads((dataset / "meta" / "vla_collect.json").read_text())["settings"]
        t0 = time.perf_counter()
        if args.locator:  # the locator's bank, exactly as `vla train --locator` renders it (the same for all heads)
            from vla.policies.train.command import scene_bank

            first = next(n for n in args.policies if n in OURS)
            bank_dir = args.out / "scene_bank"
            cfg = our_train_config(first, args, dataset, bank_dir)
            (bank_dir / "scene_bank.safetensors").unlink(missing_ok=True)  # rendered (and timed) afresh
            scenes = scene_bank(cfg, our_config(first, demos, cfg, shared), bank_dir)
        else:
            scenes = generate_scene_bank(
                args.aux_scenes, list(settings["tasks"]), settings["split"], int(settings["image_size"]),
                ours_default.camera_keys, seed=args.seed,
            )  # fmt: skip
        scene_minutes = (time.perf_counter() - t0) / 60
        print(f"[bench] scene bank: {args.aux_scenes} scenes in {scene_minutes * 60:.0f} s (charged to ours)")
        if scene_minutes >= args.minutes:
            raise SystemExit(f"the scene bank took {scene_minutes:.1f} min, the whole budget; lower --aux-scenes")
    report["aux_scenes"] = {"scenes": args.aux_scenes if scenes is not None else 0, "minutes": round(scene_minutes, 2)}
    trained: dict = {}  # kept for the interleaved latency measurement at the end
    for name in args.policies:
        print(f"\n[bench] === {name} ===", flush=True)
        load_before = os.getloadavg()[0]
        if name in OURS:
            policy, summary, info = train_ours(name, demos, args, dataset, shared, scenes, scene_minutes)
        else:
            policy, summary, info = train_lerobot(name, demos, args, shared)
        print(
            f"[bench] {name}: {summary['steps']} steps in {summary['train_seconds']} s "
            f"({summary['samples_per_second']} samples/s), final loss {summary['final_loss']:.4f}",
            flush=True,
        )
        t0 = time.perf_counter()
        ev = evaluate(policy, tasks, args, ensembling, n_action_steps)
        print(
            f"[bench] {name}: mean success {ev['mean_success_rate'] * 100:.1f}% "
            f"(eval {time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        report["policies"][name] = {
            **info,
            "train": summary,
            "eval": ev,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        json_path.write_text(json.dumps(report, indent=2))
        trained[name] = policy
        gc.collect()

    print(f"\n[bench] inference latency, batch 1, {args.latency_repeats} calls per policy, interleaved", flush=True)
    for name, lat in interleaved_latency(trained, tasks[0], tuple(demos.image_size), args).items():
        report["policies"][name]["latency_ms_batch1"] = lat
    report["checks"] = checks(report["policies"])

    table = markdown_table(report["policies"], tasks)
    report["markdown"] = table
    json_path.write_text(json.dumps(report, indent=2))
    print(
        f"\nMachine: {report['machine']}; torch threads {args.threads}; dataset {demos.num_episodes} episodes "
        f"({len(demos)} frames); {args.minutes} min training per policy at batch {args.batch_size}; "
        f"{args.eval_episodes} eval episodes per task (seeds {args.eval_seed}+), chunk {chunk_size}, "
        f"{n_action_steps} actions per chunk, ensembling {ensembling}.\n"
    )
    print(table)
    print("\nInference: batch 1, preprocessing included. lerobot's policies do not read the instruction.")
    for name, c in report["checks"].items():
        print(
            f"  {name}: ahead on success of {c['ahead_on_success_of'] or 'none'}"
            + (
                f"; {c['inference_speedup_vs_lerobot_diffusion']}x lerobot-diffusion's inference speed"
                if "inference_speedup_vs_lerobot_diffusion" in c
                else ""
            )
        )
    print(f"[bench] results: {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Navigation policies: collect expert demos in train-split houses, train a VLA policy per task on a
wall-clock budget, evaluate in unseen test-split houses, and print SR / SPL / SoftSPL per task.

    MUJOCO_GL=egl .venv/bin/python bench/bench_nav_policy.py --out outputs/bench_nav_policy
    MUJOCO_GL=egl .venv/bin/python bench/bench_nav_policy.py --tasks pointnav --train-minutes 10 --threads 1
    MUJOCO_GL=egl .venv/bin/python bench/bench_nav_policy.py --tasks objectnav --recipe plain --expert explore

--recipe best (the default) trains each task with its best measured setting (see --recipe in --help);
--recipe plain is the shortest-path teacher on RGB + depth; a flag given explicitly overrides the recipe.

Every stage is a `vla` command (collect, train, eval), so this measures exactly what users run. Training
runs --dagger-rounds DAgger rounds inside its budget (`vla train --dagger-rounds`: the policy drives in
training houses, the privileged expert labels the states it visits). Targets
(2 CPU cores, 60 min of training per task): PointNav SR >= 90% and SPL >= 0.75, ObjectNav SR >= 60%, over
>= 50 test episodes. The load average is sampled every 10 s during training and reported, because
other jobs on a shared machine slow training down and the budget is wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from vla.policies.experts import NAV_EXPERTS

REPORTED = ("episodes", "success_rate", "success_ci95", "spl", "spl_ci95", "softspl", "softspl_ci95")
REPORTED += ("distance_to_goal", "distance_to_goal_ci95", "collisions_per_episode", "mean_steps", "failure_modes")
TARGETS = {"pointnav": {"success_rate": 0.90, "spl": 0.75}, "objectnav": {"success_rate": 0.60}}
PLAIN = {
    "expert": "shortest", "egomap": False, "semantic_map": False, "cameras": None,
    "turn_reversal": True, "stop_threshold": 0.0, "stuck_recovery": False,
}  # fmt: skip
SEARCH = {"expert": "explore-clearance", "egomap": False, "semantic_map": True, "cameras": "semantic_map"}
# Eval decoding rules measured on ObjectNav (README: ObjectNav round 5, "STOP threshold chosen on val houses").
SEARCH_RULES = {"turn_reversal": False, "stop_threshold": 0.45}
RECIPES = {
    # The benchmark's first defaults: shortest-path teacher, RGB + depth, no map.
    "plain": {},
    # The best measured setting per task (README: PointNav round 8; ObjectNav round 5, privileged semantics).
    "best": {
        "pointnav": {"expert": "clearance", "egomap": True, "semantic_map": False, "cameras": "depth,egomap"},
        "objectnav": SEARCH | SEARCH_RULES,
        "instructnav": SEARCH,
    },
}
"""--recipe: per-task values of the options in PLAIN (--expert ... --stop-threshold) that were not given."""
ON_OFF = argparse.BooleanOptionalAction
RECIPE_FLAGS = {
    "--expert": {
        "choices": NAV_EXPERTS,
        "help": "demonstration and DAgger teacher (vla collect --expert); clearance: keeps clear of furniture; "
        "explore, explore-clearance: objectnav/instructnav only",
    },
    "--egomap": {
        "action": ON_OFF,
        "help": "record and read the egocentric top-down map built from depth + GPS/compass (vla collect --egomap)",
    },
    "--semantic-map": {
        "action": ON_OFF,
        "help": "objectnav/instructnav: record the map plus where goal objects were seen, from ground-truth "
        "segmentation (vla collect --semantic-map; privileged next to the RGB-D-only Habitat challenge)",
    },
    "--cameras": {"help": "cameras to train on (vla train --cameras), e.g. depth,egomap; plain recipe: all"},
    "--turn-reversal": {
        "action": ON_OFF,
        "help": "eval: --no-turn-reversal never turns straight back (vla eval --no-turn-reversal)",
    },
    "--stop-threshold": {
        "type": float,
        "help": "eval: STOP only where the policy gives it at least this probability (vla eval --stop-threshold; "
        "0 = off)",
    },
    "--stuck-recovery": {
        "action": ON_OFF,
        "help": "eval: turn instead of driving forward again after a MOVE_FORWARD that left the agent in place "
        "(vla eval --stuck-recovery)",
    },
}
"""The options --recipe fills in (argparse keywords; default None = take the recipe's)."""


def task_settings(recipe: str, task: str, args: argparse.Namespace) -> dict:
    """The options in PLAIN for one task: the flag where given, else the recipe's, else PLAIN's."""
    base = RECIPES[recipe].get(task, PLAIN)
    return {k: getattr(args, k) if getattr(args, k) is not None else base.get(k, PLAIN[k]) for k in PLAIN}


def vla(*args: str) -> float:
    t0 = time.perf_counter()
    print("$ vla " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "vla.cli.main", *args], check=True)
    return time.perf_counter() - t0


class LoadSampler:
    """1-minute load average every `period` s on a background thread (Linux os.getloadavg)."""

    def __init__(self, period: float = 10.0):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period,), daemon=True)

    def _run(self, period: float) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(period)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        s = self.samples or [float("nan")]
        return {"mean": round(sum(s) / len(s), 2), "min": round(min(s), 2), "max": round(max(s), 2)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_nav_policy"))
    parser.add_argument("--tasks", default="pointnav,objectnav", help="comma list of navigation tasks")
    parser.add_argument(
        "--policy", default="vla-categorical", help="preset; vla-categorical trains discrete actions with cross-entropy"
    )
    parser.add_argument("--action-type", default="discrete", choices=["discrete", "velocity"])
    parser.add_argument("--episodes", type=int, default=400, help="demonstrations per task (train-split houses)")
    parser.add_argument(
        "--expert-noise", type=float, default=0.0,
        help="DART: probability a demo step executes a random action (the label stays the expert's)",
    )  # fmt: skip
    parser.add_argument(
        "--dagger-rounds", type=int, default=3,
        help="DAgger rounds inside the training budget (0 = behaviour cloning only)",
    )  # fmt: skip
    parser.add_argument("--dagger-episodes", type=int, default=150, help="policy-driven episodes per DAgger round")
    parser.add_argument(
        "--action-history", type=int, default=0,
        help="feed the policy its last k executed actions (vla train --action-history); 0 = reactive policy",
    )  # fmt: skip
    parser.add_argument(
        "--recipe", default="best", choices=list(RECIPES),
        help="per-task defaults for the seven options below. best: the best measured setting per task "
        "(pointnav: --expert clearance --egomap --cameras depth,egomap; objectnav, instructnav: --expert "
        "explore-clearance --semantic-map --cameras semantic_map, a privileged sensor; objectnav evaluated "
        "with --no-turn-reversal --stop-threshold 0.45); plain: shortest-path teacher, no map, all cameras, no "
        "decoding rules (the benchmark's defaults before round 8)",
    )  # fmt: skip
    for flag, options in RECIPE_FLAGS.items():
        parser.add_argument(flag, default=None, **options | {"help": options["help"] + "; default: from --recipe"})
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--train-minutes", type=float, default=60.0, help="wall-clock training budget per task")
    parser.add_argument("--steps", type=int, default=100_000, help="upper bound; the minute budget stops first")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--n-action-steps", type=int, default=1, help="actions executed per chunk at eval")
    parser.add_argument("--eval-episodes", type=int, default=50, help="per task, test-split houses")
    parser.add_argument("--num-envs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    threads = ["--threads", str(args.threads)] if args.threads else []
    rows = {}
    for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        out = args.out / task
        setting = task_settings(args.recipe, task, args)
        print(f"{task}: " + ", ".join(f"{k}={v}" for k, v in setting.items()), flush=True)
        t_collect = vla(
            "collect", "--task", task, "--episodes", str(args.episodes), "--split", "train",
            "--action-type", args.action_type, "--image-size", str(args.image_size), "--seed", str(args.seed),
            "--expert-noise", str(args.expert_noise), *(["--egomap"] if setting["egomap"] else []),
            *(["--semantic-map"] if setting["semantic_map"] else []), "--expert", setting["expert"],
            "--out", str(out / "dataset"),
        )  # fmt: skip
        with LoadSampler() as load:
            t_train = vla(
                "train", "--dataset", str(out / "dataset"), "--policy", args.policy, "--out", str(out / "train"),
                "--steps", str(args.steps), "--max-minutes", str(args.train_minutes),
                "--batch-size", str(args.batch_size), "--chunk-size", str(args.chunk_size),
                "--seed", str(args.seed), "--dagger-rounds", str(args.dagger_rounds),
                "--dagger-episodes", str(args.dagger_episodes), "--action-history", str(args.action_history),
                *(["--cameras", setting["cameras"]] if setting["cameras"] else []), *threads,
            )  # fmt: skip
        ckpt = out / "train" / "checkpoints" / "last" / "pretrained_model"
        t_eval = vla(
            "eval", "--checkpoint", str(ckpt), "--task", task, "--split", "test",
            "--episodes", str(args.eval_episodes), "--n-action-steps", str(args.n_action_steps),
            "--num-envs", str(args.num_envs), "--out", str(out / "eval"), *threads,
            *([] if setting["turn_reversal"] else ["--no-turn-reversal"]),
            "--stop-threshold", str(setting["stop_threshold"]),
            *(["--stuck-recovery"] if setting["stuck_recovery"] else []),
        )  # fmt: skip
        full_report = json.loads((out / "eval" / "report.json").read_text())
        report = full_report["tasks"][task]
        summary = json.loads((out / "train" / "train_summary.json").read_text())
        rows[task] = {
            "policy": args.policy,
            "action_type": args.action_type,
            "demo_episodes": args.episodes,
            "expert_noise": args.expert_noise,
            "action_history": args.action_history,
            "recipe": args.recipe,
            **setting,
            "cameras": setting["cameras"] or "all",
            "train_frames": summary["frames"],
            "collect_minutes": round(t_collect / 60, 1),
            "train_minutes": round(summary["train_seconds"] / 60, 1),
            "train_command_minutes": round(t_train / 60, 1),
            "train_steps": summary["steps"],
            "samples_per_second": summary["samples_per_second"],
            "final_loss": summary["final_loss"],
            "dagger": summary.get("dagger", {"rounds": []}),
            "load_average_during_training": load.summary(),
            "eval_minutes": round(t_eval / 60, 1),
            "decoding": full_report.get("decoding", ""),
            **{k: report[k] for k in REPORTED},
            "latency_p50_ms": report["latency_ms_batch1"]["p50"],
            "targets": TARGETS.get(task, {}),
        }
        (args.out / "bench_nav_policy.json").write_text(json.dumps({"args": vars(args) | {"out": str(args.out)},
                                                                    "tasks": rows}, indent=2))  # fmt: skip
    print(
        "\n| task | SR [95% Wilson] | SPL [95% bootstrap] | SoftSPL | dist. to goal (m) | failures: early STOP / "
        "time-out colliding / other time-out | train | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for task, r in rows.items():
        (slo, shi), (plo, phi), f = r["success_ci95"], r["spl_ci95"], r["failure_modes"]
        print(
            f"| {task} | {r['success_rate'] * 100:.0f}% [{slo * 100:.0f}-{shi * 100:.0f}] | {r['spl']:.3f} "
            f"[{plo:.3f}-{phi:.3f}] | {r['softspl']:.3f} | {r['distance_to_goal']:.2f} | "
            f"{f['early_stop']} / {f['timeout_colliding']} / {f['timeout_other']} | "
            f"{r['train_minutes']} min, {r['train_steps']} steps | {r['load_average_during_training']['mean']} |"
        )


if __name__ == "__main__":
    main()

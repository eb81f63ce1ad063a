"""Quality target of the embedded default: collect demos, train within a wall-clock budget, evaluate
on training wordings and on held-out wordings + colour-shape combinations.

    MUJOCO_GL=egl .venv/bin/python bench/bench_policy.py --out outputs/bench_policy
    MUJOCO_GL=egl .venv/bin/python bench/bench_policy.py --episodes-per-task 50 --total-minutes 45 --eval-episodes 50

With --total-minutes, training gets whatever the budget leaves after collection (the scene bank for
the auxiliary grounding loss is rendered inside `vla train` and counts as training time).

Every stage is a `vla` command (collect, train, eval), so this measures exactly what users run.
Target (2 CPU cores, collection + training <= 45 min): >= 80% mean success on training wordings and
>= 70% on held-out wordings and combinations, over >= 50 episodes per task.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def vla(*args: str) -> float:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "vla.cli.main", *args]
    print("$ vla " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs/bench_policy"))
    parser.add_argument("--policy", default="vla-diffusion")
    parser.add_argument("--episodes-per-task", type=int, default=50)
    parser.add_argument("--train-minutes", type=float, default=30.0)
    parser.add_argument(
        "--total-minutes", type=float, default=None, help="collection + training budget; overrides --train-minutes"
    )
    parser.add_argument("--aux-scenes", type=int, default=4000, help="scene bank size for the grounding loss")
    parser.add_argument(
        "--grounding-weight", type=float, default=1.0, help="weight of the dense grounding loss (0: no heatmaps)"
    )
    parser.add_argument(
        "--estimate-conditioning",
        action="store_true",
        help="the action head reads the policy's own estimate of the target/goal positions (vla train flag)",
    )
    parser.add_argument(
        "--locator",
        action="store_true",
        help="the action head reads a separate target locator's estimate (vla train flag; with "
        "--no-backbone-grounding its bank shows one camera and renders at about 21 scenes/s instead of 18)",
    )
    parser.add_argument(
        "--no-backbone-grounding",
        action="store_true",
        help="with --locator: the scene bank trains the locator alone, on one camera, and the backbone gets no "
        "grounding maps (vla train flag; the default trains both, on every camera)",
    )
    parser.add_argument(
        "--colour-vote",
        type=float,
        default=None,
        help="with --locator: weight of the locator's colour vote (vla train flag; default: vla train's, 5; 0: off)",
    )
    parser.add_argument(
        "--shape-vote",
        type=float,
        default=None,
        help="with --locator: weight of the locator's shape vote (vla train flag; default: vla train's, 0: off)",
    )
    parser.add_argument(
        "--shape-vote-from",
        choices=("late", "start"),
        default=None,
        help="with --shape-vote: when it joins (vla train flag; default: vla train's, late: a locator-only phase in "
        "the budget's last --late-locator-minutes)",
    )
    parser.add_argument(
        "--late-locator-minutes",
        type=float,
        default=None,
        help="with a late shape vote: minutes of the training budget for its phase (vla train flag; default 6)",
    )
    parser.add_argument(
        "--oracle-conditioning",
        action="store_true",
        help="ablation: the action head reads the simulator's true target/goal positions (vla train flag)",
    )
    parser.add_argument(
        "--conditioning-at",
        default="current",
        choices=("current", "episode_start", "tracked", "carried"),
        help="positions of the current frame, of the episode's first frame held, tracked: the target's from "
        "every frame and the goal's from the first, or carried: the first frame's, the target then carried by "
        "the gripper's state (vla train flag)",
    )
    parser.add_argument(
        "--conditioning-noise", type=float, default=0.0, help="std (m) of training noise on true positions"
    )
    parser.add_argument(
        "--geometry-phrases",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --locator: whether its geometry also reads each point's own instruction phrases (vla train flag; "
        "default: vla train's, on)",
    )
    parser.add_argument(
        "--window-vote",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --locator: whether its colour vote also weights the cells around each chosen peak (vla train "
        "flag; default: vla train's, on)",
    )
    parser.add_argument(
        "--word-dropout",
        type=float,
        default=0.0,
        help="instruction word dropout (vla train flag): half the training instructions lose each word with this "
        "probability",
    )
    parser.add_argument(
        "--word-dropout-scope",
        default="locator",
        choices=("locator", "all"),
        help="what reads the word-dropped instructions: the locator alone, or all of training (vla train flag)",
    )
    parser.add_argument(
        "--head-instruction",
        default="words",
        choices=("words", "grounding"),
        help="what of the instruction reaches the action head: its words, or only the grounding maps' positions "
        "(vla train flag; grounding needs --locator)",
    )
    parser.add_argument("--splits", default="train,heldout", help="evaluation splits, comma-separated")
    parser.add_argument("--steps", type=int, default=20000, help="upper bound; the minute budget usually stops first")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--eval-episodes", type=int, default=50, help="per task and split")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = args.out
    threads = ["--threads", str(args.threads)] if args.threads else []
    t_collect = vla(
        "collect", "--task", "all", "--episodes", str(args.episodes_per_task), "--out", str(out / "dataset")
    )
    train_minutes = args.train_minutes
    bank_path = out / "train" / "scene_bank.safetensors"
    if args.total_minutes is not None:
        # The scene bank is rendered before the training clock starts; budget it from its measured rate
        # (about 20 scenes/s on 2 idle cores with the grounding labels, slower under load), plus about a minute
        # for decoding the dataset and start-up (measured: 4.9 min of a 39.7-minute `vla train` with 5,000 scenes).
        # A locator that follows the target (tracked, carried) renders half its bank mid-demonstration, each scene
        # after up to 100 expert steps: measured 12.8 scenes/s on 2 idle cores, where the budget used 21 and a
        # carried run went 3 minutes over.
        mid_demo = args.locator and args.conditioning_at in ("tracked", "carried")
        rate = 12 if mid_demo else 21 if args.locator and args.no_backbone_grounding else 18
        bank_minutes = 0 if bank_path.exists() else args.aux_scenes / rate / 60
        train_minutes = args.total_minutes - t_collect / 60 - bank_minutes - 1.0
        if train_minutes <= 1:
            sys.exit(f"bench_policy: collection took {t_collect / 60:.1f} min, leaving no training budget")
    t_train = vla(
        "train", "--dataset", str(out / "dataset"), "--policy", args.policy, "--out", str(out / "train"),
        "--steps", str(args.steps), "--max-minutes", f"{train_minutes:.2f}", "--batch-size", str(args.batch_size),
        "--aux-scenes", str(args.aux_scenes), "--grounding-weight", str(args.grounding_weight), *threads,
        *(["--estimate-conditioning"] if args.estimate_conditioning else []),
        *(["--oracle-conditioning"] if args.oracle_conditioning else []),
        *(["--locator"] if args.locator else []),
        *(["--no-backbone-grounding"] if args.no_backbone_grounding else []),
        *(["--colour-vote", str(args.colour_vote)] if args.colour_vote is not None else []),
        *(["--shape-vote", str(args.shape_vote)] if args.shape_vote is not None else []),
        *(["--shape-vote-from", args.shape_vote_from] if args.shape_vote_from else []),
        *(["--late-locator-minutes", str(args.late_locator_minutes)] if args.late_locator_minutes else []),
        *(["--conditioning-at", args.conditioning_at] if args.conditioning_at != "current" else []),
        *(["--conditioning-noise", str(args.conditioning_noise)] if args.conditioning_noise else []),
        *({None: [], True: ["--geometry-phrases"], False: ["--no-geometry-phrases"]}[args.geometry_phrases]),
        *({None: [], True: ["--window-vote"], False: ["--no-window-vote"]}[args.window_vote]),
        *(["--word-dropout", str(args.word_dropout)] if args.word_dropout else []),
        *(["--word-dropout-scope", args.word_dropout_scope] if args.word_dropout else []),
        *(["--head-instruction", args.head_instruction] if args.head_instruction != "words" else []),
    )  # fmt: skip
    ckpt = str(out / "train" / "checkpoints" / "last" / "pretrained_model")
    results = {}
    for split in args.splits.split(","):
        vla(
            "eval",
            "--checkpoint",
            ckpt,
            "--split",
            split,
            "--episodes",
            str(args.eval_episodes),
            "--out",
            str(out / f"eval_{split}"),
            *threads,
        )
        results[split] = json.loads((out / f"eval_{split}" / "report.json").read_text())
    summary = json.loads((out / "train" / "train_summary.json").read_text())
    saved = json.loads((Path(ckpt) / "config.json").read_text())
    row = {
        "policy": args.policy,
        "collect_minutes": round(t_collect / 60, 1),
        "train_minutes": round(summary["train_seconds"] / 60, 1),
        "aux_scenes": args.aux_scenes,
        "grounding_weight": args.grounding_weight,
        "estimate_conditioning": args.estimate_conditioning,
        "oracle_conditioning": args.oracle_conditioning,
        "locator": args.locator,
        "backbone_grounding": bool(saved["backbone"].get("vision_grounding_maps")),
        "colour_vote": saved["locator"].get("colour_vote"),
        "geometry_phrases": saved["locator"].get("geometry_phrases", False),
        "window_vote": saved["locator"].get("window_vote", False),
        "shape_vote": saved["locator"].get("shape_vote", 0.0),
        "late_locator_phase": summary.get("late_locator_phase"),
        "conditioning_at": args.conditioning_at,
        "conditioning_noise": args.conditioning_noise,
        "word_dropout": args.word_dropout,
        "word_dropout_scope": args.word_dropout_scope if args.word_dropout else None,
        "head_instruction": args.head_instruction,
        "load_average_at_end": os.getloadavg(),
        "train_command_minutes": round(t_train / 60, 1),
        "train_steps": summary["steps"],
        "samples_per_second": summary["samples_per_second"],
        **{f"{s}_mean_success": results[s]["mean_success_rate"] for s in results},
        **{f"{s}_{t}": results[s]["tasks"][t]["success_rate"] for s in results for t in results[s]["tasks"]},
        "latency_p50_ms": next(iter(results.values()))["latency_ms_batch1"]["p50"],
    }
    (out / "bench_policy.json").write_text(json.dumps(row, indent=2))
    tasks = list(next(iter(results.values()))["tasks"])
    print("\n| split | " + " | ".join(tasks) + " | mean |")
    print("|---|" + "---|" * (len(tasks) + 1))
    for s, r in results.items():
        cells = []
        for t in tasks:
            x = r["tasks"][t]
            cells.append(f"{x['success_rate'] * 100:.0f}% [{x['ci95'][0] * 100:.0f}-{x['ci95'][1] * 100:.0f}]")
        print(f"| {s} | " + " | ".join(cells) + f" | {r['mean_success_rate'] * 100:.0f}% |")
    print(f"\ncollection {row['collect_minutes']} min + training {row['train_minutes']} min "
          f"({row['train_steps']} steps, "
          f"{row['samples_per_second']} samples/s); inference p50 {row['latency_p50_ms']:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()

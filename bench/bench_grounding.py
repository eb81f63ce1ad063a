"""How well the embedded backbone's grounding heatmaps find the named object.

    # A trained checkpoint, on the reset frames of new layouts (and, with --eval-report, against the
    # success of the episodes `vla eval` ran on the same seeds):
    MUJOCO_GL=egl .venv/bin/python bench/bench_grounding.py checkpoint \\
        --checkpoint outputs/bench_policy/train/checkpoints/last/pretrained_model \\
        --eval-report outputs/bench_policy/eval_train/report.json

    # Closed-loop pick episodes: how far from the named object the gripper is when it first closes:
    MUJOCO_GL=egl .venv/bin/python bench/bench_grounding.py grasps --checkpoint CHECKPOINT --episodes 30

    # Grounding-only training of a fresh vla-diffusion backbone on a scene bank (variants of the heatmaps):
    MUJOCO_GL=egl .venv/bin/python bench/bench_grounding.py probe --scenes 3000 --minutes 7
    MUJOCO_GL=egl .venv/bin/python bench/bench_grounding.py probe --stage -3 --semantic-labels

`checkpoint` reports, per task and split, how often the scene camera's target heatmap peaks within one
cell of the named object (argmax within 1/grid of the image side) and the mean distance, and how far
the target and goal positions estimated from the image are from the truth (median, cm): the position
estimator's (`--estimate-conditioning`, what the action head reads), else the auxiliary head's. `probe` trains
only the grounding loss (batch 32, AdamW) and prints the soft-argmax error on 300 new layouts of each
split every 500 steps, per camera (scene, wrist) and map (target, goal), as a fraction of the image side.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TASKS = ("pick", "place", "push", "stack")
CAMERAS = ("scene", "wrist")


def heatmap_peak(logits: torch.Tensor) -> tuple[float, float]:
    """(h, w) logits -> the centre of the highest cell as (x, y) fractions of the image."""
    h, w = logits.shape
    idx = int(logits.flatten().argmax())
    return (idx % w + 0.5) / w, (idx // w + 0.5) / h


def run_checkpoint(args) -> None:
    import vla.envs as E
    from vla.policy.checkpoint import load_policy

    policy = load_policy(args.checkpoint)
    policy.eval()
    if not getattr(policy.config.backbone, "vision_grounding_maps", 0):
        raise SystemExit(f"bench_grounding: {args.checkpoint} has no grounding heatmaps (trained without --aux-scenes)")
    results = {}
    for split in ("train", "heldout"):
        for task in TASKS:
            env = E.make_env(task, image_size=policy.config.image_size[0], split=split)
            hits, errors, estimate_cm = [], [], []
            for seed in range(args.seed, args.seed + args.scenes):
                obs, _ = env.reset(seed=seed)
                u = env.unwrapped
                truth = u.privileged_state()
                target = u.scene.project("scene", truth[None, :3])[0]
                with torch.no_grad():
                    cond, cognition, features = policy._encode(obs)
                    logits = cond.grounding[0, 0, 0]  # batch 0, scene camera, target map
                    if policy.aux is not None:  # target and goal positions: the estimator's, else the aux head's
                        head = policy.estimator if features is not None else policy.aux
                        guess = head.predict(features if features is not None else cognition)[0].numpy()
                        estimate_cm.append(np.linalg.norm((guess - truth).reshape(-1, 3), axis=1) * 100)
                x, y = heatmap_peak(logits)
                d = float(np.hypot(x - target[0], y - target[1]))
                errors.append(d)
                hits.append(d < 1.0 / logits.shape[-1])
            env.close()
            row = {"peak_within_one_cell": float(np.mean(hits)), "mean_peak_error": float(np.mean(errors))}
            line = (
                f"{split:8s} {task:6s} target heatmap peak within one cell {np.mean(hits):4.0%}, "
                f"mean distance {np.mean(errors):.3f} of the image side"
            )
            if estimate_cm:
                med = np.median(np.stack(estimate_cm), axis=0)
                row.update(estimate_target_median_cm=float(med[0]), estimate_goal_median_cm=float(med[1]))
                line += f"; position estimate off by (median) {med[0]:.1f} cm target, {med[1]:.1f} cm goal"
            results[f"{split}/{task}"] = row
            print(f"{line} ({args.scenes} scenes)", flush=True)
    if args.eval_report:
        results["eval"] = episodes_vs_heatmap(policy, json.loads(Path(args.eval_report).read_text()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def episodes_vs_heatmap(policy, report: dict) -> dict:
    """Per task of a `vla eval` report: is the first frame's target-heatmap peak nearest the named prop, and
    how often did the episode succeed in each case."""
    import vla.envs as E

    out = {}
    for task, r in report["tasks"].items():
        env = E.make_env(task, image_size=policy.config.image_size[0], split=report["split"])
        failed = set(r["failed_seeds"])
        right, success = [], []
        for seed in range(report["seed"], report["seed"] + r["episodes"]):
            obs, _ = env.reset(seed=seed)
            u = env.unwrapped
            with torch.no_grad():
                peak = np.array(heatmap_peak(policy.encode(obs).grounding[0, 0, 0]))
            nearest = min(
                u.scene.layout.props,
                key=lambda p: float(np.linalg.norm(u.scene.project("scene", u.scene.prop_pos(p.body)[None])[0] - peak)),
            )
            right.append(nearest.body == u.episode.target)
            success.append(seed not in failed)
        env.close()
        right_a, success_a = np.array(right), np.array(success)
        row = {
            "heatmap_on_target": float(right_a.mean()),
            "success": float(success_a.mean()),
            "success_when_on_target": float(success_a[right_a].mean()) if right_a.any() else None,
            "success_when_not": float(success_a[~right_a].mean()) if (~right_a).any() else None,
        }
        out[task] = row
        print(f"eval {task:6s} heatmap on the named prop in {row['heatmap_on_target']:.0%} of episodes; success "
              f"{row['success']:.0%} overall, {row['success_when_on_target'] or 0:.0%} when on it, "
              f"{row['success_when_not'] or 0:.0%} when not", flush=True)  # fmt: skip
    return out


def run_grasps(args) -> None:
    """Closed-loop pick episodes: where the gripper is, relative to the named object, when it first closes."""
    import vla.envs as E
    from vla.policy.checkpoint import load_policy

    policy = load_policy(args.checkpoint)
    policy.eval()
    env = E.make_env("pick", image_size=policy.config.image_size[0], split="train")
    rows = []
    for seed in range(args.seed, args.seed + args.episodes):
        obs, _ = env.reset(seed=seed)
        policy.reset()
        u = env.unwrapped
        closed_at, success, on_other, from_estimate = None, False, False, None
        for _ in range(u._task.max_steps):
            action = policy.select_action(obs).reshape(-1).numpy()
            if closed_at is None and action[-1] > 0:
                tcp = u.scene.tcp_pos()
                closed_at = tcp - u.scene.prop_pos(u.episode.target)  # (3,) tool centre minus object centre, m
                if policy.estimator is not None:  # where the policy itself thinks the target is, at this frame
                    with torch.no_grad():
                        guess = policy.estimate_env_state(obs)[0, :3].numpy()
                    from_estimate = float(np.hypot(*(tcp - guess)[:2]))
                nearest = min(u.scene.layout.props, key=lambda p: np.hypot(*(u.scene.prop_pos(p.body) - tcp)[:2]))
                nearest_xy = float(np.hypot(*(u.scene.prop_pos(nearest.body) - tcp)[:2]))
                on_other = nearest.body != u.episode.target and nearest_xy < 0.03
            obs, _, terminated, truncated, info = env.step(action)
            success = success or bool(info["is_success"])
            if terminated or truncated:
                break
        rows.append((seed, closed_at, success, on_other, from_estimate))
        where = "never closed" if closed_at is None else f"closed {np.hypot(*closed_at[:2]) * 100:4.1f} cm off in xy, "
        where += "" if closed_at is None else f"{closed_at[2] * 100:+.1f} cm in z"
        where += "" if from_estimate is None else f", {from_estimate * 100:4.1f} cm from its own estimate"
        where += " (on another prop)" if on_other else ""
        print(f"seed {seed}: {where}; {'success' if success else 'failure'}", flush=True)
    env.close()
    closed = [r for r in rows if r[1] is not None]
    xy = np.array([np.hypot(*r[1][:2]) for r in closed])
    print(
        f"{len(closed)}/{len(rows)} episodes closed the gripper; xy offset at closing: median "
        f"{np.median(xy) * 100:.1f} cm, within 1.5 cm: {np.mean(xy < 0.015):.0%}; within 3 cm of another prop: "
        f"{np.mean([r[3] for r in closed]):.0%}; success {np.mean([r[2] for r in rows]):.0%}"
        + (
            f"; xy distance from the policy's own target estimate: median "
            f"{np.median([r[4] for r in closed]) * 100:.1f} cm"
            if closed and closed[0][4] is not None
            else ""
        )
    )


def run_probe(args) -> None:
    from vla.policies.train.augment import augment_images
    from vla.policies.train.scenes import SEMANTIC_CLASSES, generate_scene_bank
    from vla.policy.configuration_vla import make_config
    from vla.policy.grounding import AUX_PIXELS, AUX_SEMANTICS, grounding_error, grounding_loss, semantic_loss
    from vla.policy.modeling_vla import VLAPolicy

    torch.set_num_threads(args.threads)
    cams = tuple(f"observation.images.{c}" for c in CAMERAS)
    sem = args.semantic_labels
    train = generate_scene_bank(args.scenes, list(TASKS), "train", 96, cams, seed=0, semantics=sem)
    tests = {
        s: generate_scene_bank(300, list(TASKS), s, 96, cams, seed=5 + i) for i, s in enumerate(("train", "heldout"))
    }
    cfg = make_config(args.policy, env_state_dim=6, state_dim=13, action_dim=5)
    backbone = dataclasses.replace(
        cfg.backbone,
        vision_grounding_maps=2,
        vision_grounding_stage=args.stage,
        vision_semantic_classes=SEMANTIC_CLASSES if sem else (),
    )
    policy = VLAPolicy(dataclasses.replace(cfg, backbone=backbone))
    opt = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=args.lr)
    state = torch.zeros(32, 13)

    def evaluate(bank) -> list[list[float]]:
        policy.eval()
        with torch.no_grad():
            b = bank.batch(torch.arange(len(bank)))
            g = policy.backbone(policy.prepare_images(b), b["task"], torch.zeros(len(bank), 13)).grounding
            errs = [grounding_error(g[:, c : c + 1], b[AUX_PIXELS][:, c : c + 1]).tolist() for c in range(len(cams))]
        policy.train()
        return [[round(e, 3) for e in row] for row in errs]

    t0, step = time.perf_counter(), 0
    while time.perf_counter() - t0 < args.minutes * 60:
        g = torch.Generator().manual_seed(step)
        b = train.batch(torch.randint(len(train), (32,), generator=g))
        b.update(augment_images({k: b[k] for k in cams}, g, pixels=b[AUX_PIXELS], semantics=b.get(AUX_SEMANTICS)))
        out = policy.backbone(policy.prepare_images(b), b["task"], state)
        loss = grounding_loss(out.grounding, b[AUX_PIXELS])
        if sem:
            loss = loss + semantic_loss(out.semantics, b[AUX_SEMANTICS], SEMANTIC_CLASSES)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 500 == 0:
            line = " ".join(f"{s}: {evaluate(bank)}" for s, bank in tests.items())
            print(f"step {step} ({time.perf_counter() - t0:.0f} s) [scene, wrist] x [target, goal] {line}", flush=True)
    final = {s: evaluate(bank) for s, bank in tests.items()}
    print(f"final after {step} steps: {final}")
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": step, "errors": final, **vars(args)}, indent=2, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("checkpoint", help="heatmap quality of a trained checkpoint on new layouts")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--scenes", type=int, default=30, help="reset scenes per task and split")
    c.add_argument("--seed", type=int, default=500_000, help="first env seed (away from collection seeds)")
    c.add_argument("--eval-report", default=None, help="a `vla eval` report.json to relate heatmaps to success")
    c.add_argument("--json", default=None)
    g = sub.add_parser("grasps", help="closed-loop pick episodes: gripper offset from the object when it closes")
    g.add_argument("--checkpoint", required=True)
    g.add_argument("--episodes", type=int, default=30)
    g.add_argument("--seed", type=int, default=100_000, help="first env seed (vla eval's test seeds)")
    p = sub.add_parser("probe", help="grounding-only training of a fresh backbone on a scene bank")
    p.add_argument("--policy", default="vla-diffusion")
    p.add_argument("--scenes", type=int, default=3000)
    p.add_argument("--minutes", type=float, default=7.0)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--stage", type=int, default=-2, help="conv stage of the heatmaps (-2: 12x12, -3: 24x24)")
    p.add_argument("--semantic-labels", action="store_true", help="also train per-cell colour/shape classes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(getattr(args, "threads", 2))
    from vla.errors import VlaUserError

    try:
        {"checkpoint": run_checkpoint, "grasps": run_grasps, "probe": run_probe}[args.mode](args)
    except VlaUserError as e:
        raise SystemExit(f"bench_grounding: {e}") from None


if __name__ == "__main__":
    main()

"""How precisely the target locator (`vla train --locator`) finds the target and goal, on reset frames and mid-task.

    # Train a fresh locator alone on a scene bank for a few minutes, then measure it:
    MUJOCO_GL=egl .venv/bin/python bench/bench_locator.py train --scenes 3000 --minutes 5 --out /tmp/locator

    # Measure the locator inside a trained checkpoint (--colour-vote 0: the same weights without the colour vote;
    # --no-window-vote / --window-vote: the vote choosing the peak only, or also weighting its window):
    MUJOCO_GL=egl .venv/bin/python bench/bench_locator.py checkpoint --checkpoint RUN/checkpoints/last/pretrained_model

    # Give a trained checkpoint's locator the shape vote late (1,000 locator-only steps on the run's own bank;
    # README, "Policy quality": b15 64.5% -> 73.5% held out), save it to OUT, measure it; then `vla eval` OUT:
    MUJOCO_GL=egl .venv/bin/python bench/bench_locator.py shape-finetune \
        --checkpoint RUN/checkpoints/last/pretrained_model --out /tmp/shape_ft

Both report, per task and split (training wordings and combinations; held-out ones), on the reset frames of
new layouts (seeds from 500000; the arm at home, as `--conditioning-at episode_start` reads them): the median
and 90th-percentile xy error of the target and goal estimates (cm; the target's from the table fit where the
checkpoint has one), the share of target estimates within 1 cm and 2 cm, the share of target and goal
estimates more than 3 cm off (on another prop, in practice), the median image error of each heatmap (pixels),
and the geometry's own error (the target estimate from the true image points); and, for the same layouts
partway through the scripted expert's demonstration (a random number of steps, as a tracking bank's
mid-demonstration scenes), the target's xyz error (what `--conditioning-at tracked` reads at every frame). The
oracle head's success falls from 95% to 74% at 1 cm of error per axis (README, "Policy quality"), so 1 cm is
the bar. `train` optimizes only the locator's losses (heatmaps, per-pixel classes, geometry), batch 32 + 1,024
label rows, AdamW at --lr (default 1e-3, the locator's rate in `vla train`) with a cosine decay over the time
budget, 2 threads; it saves the bank for reuse and the policy to OUT/locator_policy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TASKS = ("pick", "place", "push", "stack")
SPLITS = ("train", "heldout")


def fresh_policy(bank):
    """A vla-diffusion policy whose head reads the locator, with the bank's statistics."""
    from vla.policies.train.scenes import SEMANTIC_CLASSES
    from vla.policy.configuration_vla import make_config
    from vla.policy.locator import LocatorConfig
    from vla.policy.modeling_vla import VLAPolicy

    config = make_config(
        "vla-diffusion",
        env_state_dim=6,
        env_state_conditioning=True,
        env_state_source="locator",
        env_state_at="episode_start",
        locator=LocatorConfig(semantic_classes=SEMANTIC_CLASSES, colour_vote=5.0),  # vla train --locator's default
    )
    policy = VLAPolicy(config)
    stats = {
        "observation.state": {"mean": bank.state.mean(0).numpy(), "std": bank.state.std(0).numpy()},
        "action": {"mean": np.zeros(5), "std": np.ones(5), "min": -np.ones(5), "max": np.ones(5)},
    }
    policy.normalizer.set_stats(stats, "observation.state", "action")
    env = bank.env_state.numpy()
    policy.locator.geometry.set_stats({"mean": env.mean(0), "std": env.std(0)})
    return policy


def train_locator(args) -> object:
    from vla.constants import OBS_IMAGE_SCENE
    from vla.policies.train.augment import augment_images
    from vla.policies.train.scenes import BANK_SAMPLING, SceneBank, generate_scene_bank
    from vla.policy.grounding import AUX_PIXELS, AUX_SEMANTICS

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "locator_bank.safetensors"
    bank = SceneBank.load(path) if path.is_file() else None
    if (
        bank is None
        or len(bank) != args.scenes
        or bank.sampling != BANK_SAMPLING  # drawn before the bank had its own random stream
        or bank.demo_fraction != args.demo_fraction
        or bank.point_colours is None  # saved before the colour vote
    ):
        bank = generate_scene_bank(
            args.scenes, list(TASKS), "train", 96, (OBS_IMAGE_SCENE,), seed=3, semantics=True, posed_fraction=0.5,
            demo_fraction=args.demo_fraction,
        )  # fmt: skip
        bank.save(path)
    policy = fresh_policy(bank)
    params = list(policy.locator.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    t0, step, budget = time.perf_counter(), 0, args.minutes * 60
    policy.train()
    while (elapsed := time.perf_counter() - t0) < budget:
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        idx = torch.randint(len(bank), (32,), generator=g)
        sb = bank.batch(idx)
        sb.update(augment_images({OBS_IMAGE_SCENE: sb[OBS_IMAGE_SCENE]}, g, pixels=sb[AUX_PIXELS],
                                 semantics=sb[AUX_SEMANTICS]))  # fmt: skip
        rows = bank.labels(torch.randint(len(bank), (policy.config.locator.geometry_batch,), generator=g))
        loss, info = policy._locator_loss(sb, rows)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            errs = " ".join(f"{info[f'locator_error_{i}'] * 96:.1f}" for i in range(policy.locator.num_maps))
            print(
                f"step {step} ({elapsed / 60:.1f} min): heatmap loss {info['locator_loss']:.3f}, "
                f"geometry {info['locator_geometry_loss']:.4f}, image error px (batch) {errs}",
                flush=True,
            )
    print(f"trained {step} steps in {(time.perf_counter() - t0) / 60:.1f} min")
    from vla.policy.checkpoint import save_policy

    save_policy(policy, args.out / "locator_policy")  # measure it again with `checkpoint --checkpoint`
    return policy


def shape_finetune(args) -> object:
    """Give a trained checkpoint's locator the shape vote late: its point-shape head and the per-pixel shape
    classes' colour-permuted views, trained for --steps on the run's own scene bank with the locator alone
    (everything else frozen), then save the policy to --out and measure it."""
    from accelerate import Accelerator

    from vla.constants import TASK
    from vla.policies.train.augment import WordDropout, augment_images, channel_permuted, grounded_words
    from vla.policies.train.config import TrainConfig
    from vla.policies.train.late_shape import LateShapePhase
    from vla.policies.train.scenes import SceneBank
    from vla.policy.checkpoint import load_policy, save_policy
    from vla.policy.grounding import AUX_PIXELS, AUX_SEMANTICS, AUX_SHAPE_VIEW

    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"bench_locator: {args.out} is not empty; pass a new --out")
    if args.shape_vote <= 0 or args.steps < 1:
        raise SystemExit(f"bench_locator: --shape-vote {args.shape_vote} and --steps {args.steps} must be > 0")
    policy = load_policy(args.checkpoint)
    loc = policy.locator
    if loc is None or loc.point_colour is None or len(loc.semantic_classes) < 2:
        raise SystemExit(f"bench_locator: {args.checkpoint} has no locator with a colour vote (vla train --locator)")
    if loc.point_shape is not None:
        raise SystemExit(f"bench_locator: {args.checkpoint} already has a shape vote; fine-tune one trained without")
    bank_path = args.bank or args.checkpoint.parents[2] / "scene_bank.safetensors"
    if not bank_path.is_file():
        raise SystemExit(f"bench_locator: no scene bank at {bank_path}; pass the run's one with --bank")
    bank = SceneBank.load(bank_path)
    if bank.point_shapes is None:  # a bank from before the shape vote: read them off its segmentation
        one = bank.pixels.shape[1] == 1  # a locator-only bank, else every camera in the policy's order
        bank.point_shapes = shapes_from_segmentation(
            bank, 0 if one else list(policy.config.camera_keys).index(loc.config.camera)
        )
    # The phase `vla train --shape-vote W` runs after its main phase: the same head, optimizer, schedule and step.
    cfg = TrainConfig(dataset=str(bank_path), lr=args.lr, shape_vote=args.shape_vote)
    phase = LateShapePhase(cfg, policy, Accelerator(cpu=True))
    phase.enter(lambda: args.steps)
    drop = WordDropout(args.word_dropout, keep=grounded_words()) if args.word_dropout else None
    g = torch.Generator().manual_seed(0)
    policy.train()
    t0 = time.perf_counter()
    for step in range(args.steps):
        sb = bank.batch(torch.randint(len(bank), (32,), generator=g))
        cams = {k: sb[k] for k in policy.config.camera_keys if k in bank.images}
        sb.update(augment_images(cams, g, pixels=sb[AUX_PIXELS], semantics=sb[AUX_SEMANTICS]))
        sb[AUX_SHAPE_VIEW] = channel_permuted(sb[loc.config.camera], g)
        rows = bank.labels(torch.randint(len(bank), (loc.config.geometry_batch,), generator=g))
        if drop is not None:
            sb[TASK], rows[TASK] = drop(sb[TASK], g), drop(rows[TASK], g)
        _, info = phase.step(sb, rows)
        if (step + 1) % 100 == 0:
            print(
                f"step {step + 1}/{args.steps} ({(time.perf_counter() - t0) / 60:.1f} min): shape "
                f"{info['locator_shape_loss']:.3f}, shape view {info['locator_shape_view_loss']:.3f}",
                flush=True,
            )
    policy.eval()
    save_policy(policy, args.out)  # `vla eval --checkpoint OUT` evaluates it
    return policy


def shapes_from_segmentation(bank, camera: int) -> torch.Tensor:
    """(N, points) shape class of the prop each labelled point is on, read off the bank's segmentation at the
    point's pixel (0 where it is on no prop, by the bank's point colours, or out of view)."""
    h, w = bank.semantics.shape[-2:]
    pixels = bank.pixels[:, camera, : bank.point_colours.shape[1]]  # (N, points, 2)
    seen = torch.isfinite(pixels).all(-1)
    cols = (pixels[..., 0].nan_to_num(0) * w).long().clamp(0, w - 1)
    rows = (pixels[..., 1].nan_to_num(0) * h).long().clamp(0, h - 1)
    shapes = bank.semantics[torch.arange(len(bank))[:, None], camera, 1, rows, cols]
    return torch.where(seen & (bank.point_colours > 0), shapes, torch.zeros_like(shapes))


def measure(policy, scenes: int) -> dict:
    import vla.envs as E
    from vla.policies.train.scenes import BANK_RNG_STREAM, play_expert

    policy.eval()
    results = {}
    for split in SPLITS:
        for task in TASKS:
            env = E.make_env(task, image_size=96, split=split)
            target_err, goal_err, pix, geometry_err, tracked_err = [], [], [], [], []
            try:
                for seed in range(500_000, 500_000 + scenes):
                    # Mid-demonstration (the expert played a random number of steps, as in a tracking bank):
                    # how well the locator follows the target into the gripper.
                    env.reset(seed=seed)
                    obs = play_expert(env, np.random.default_rng([seed, BANK_RNG_STREAM]))
                    truth = env.unwrapped.privileged_state()
                    est = policy.estimate_env_state({k: v for k, v in obs.items()})[0].numpy()
                    tracked_err.append(np.linalg.norm(est[:3] - truth[:3]) * 100)
                    obs, _ = env.reset(seed=seed)
                    truth = env.unwrapped.privileged_state()
                    batch = {k: v for k, v in obs.items()}
                    est = policy.estimate_env_state(batch, reset_frame=True)[0].numpy()
                    target_err.append(np.linalg.norm(est[:2] - truth[:2]) * 100)
                    goal_err.append(np.linalg.norm(est[3:5] - truth[3:5]) * 100)
                    labels = env.unwrapped.scene.project(
                        "scene", np.concatenate([truth.reshape(-1, 3), env.unwrapped.landmark_points()])
                    )
                    with torch.inference_mode():
                        maps = policy._locator_maps(batch)
                        points = policy.locator.image_points(maps.logits)[0].numpy()
                        exact = torch.as_tensor(labels, dtype=torch.float32)[None]
                        from_labels = policy.locator.estimate(exact, maps.state, maps.sentence, phrases=maps.phrases)
                        from_labels = from_labels[0].numpy()
                    pix.append(np.linalg.norm(points - labels[: len(points)], axis=-1) * 96)
                    geometry_err.append(np.linalg.norm(from_labels[:2] - truth[:2]) * 100)
            finally:
                env.close()
            t, gl, p, tr = np.array(target_err), np.array(goal_err), np.array(pix), np.array(tracked_err)
            results[f"{split}/{task}"] = {
                "target_cm_median": float(np.median(t)),
                "target_cm_p90": float(np.percentile(t, 90)),
                "target_within_1cm": float((t < 1).mean()),
                "target_within_2cm": float((t < 2).mean()),
                "target_over_3cm": float((t > 3).mean()),  # on another prop, in practice
                "goal_over_3cm": float((gl > 3).mean()),
                "goal_cm_median": float(np.median(gl)),
                "goal_cm_p90": float(np.percentile(gl, 90)),
                "image_px_median": [float(x) for x in np.nanmedian(p, 0)],
                "target_cm_median_from_true_image_points": float(np.median(geometry_err)),
                "mid_demo_target_xyz_cm_median": float(np.median(tr)),
                "mid_demo_target_xyz_cm_p90": float(np.percentile(tr, 90)),
            }
            r = results[f"{split}/{task}"]
            print(
                f"| {split} | {task} | {r['target_cm_median']:.2f} | {r['target_cm_p90']:.2f} | "
                f"{r['target_within_1cm']:.0%} | {r['target_within_2cm']:.0%} | {r['target_over_3cm']:.0%} | "
                f"{r['goal_cm_median']:.2f} | {r['goal_cm_p90']:.2f} | {r['goal_over_3cm']:.0%} | "
                + " / ".join(f"{x:.1f}" for x in r["image_px_median"])
                + f" | {r['target_cm_median_from_true_image_points']:.2f} | {r['mid_demo_target_xyz_cm_median']:.2f} / "
                f"{r['mid_demo_target_xyz_cm_p90']:.2f} |",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    tr = sub.add_parser("train", help="train a fresh locator alone on a scene bank, then measure it")
    tr.add_argument("--scenes", type=int, default=3000, help="scene-bank size (scene camera, 96 px)")
    tr.add_argument("--minutes", type=float, default=5.0, help="training budget")
    tr.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (the locator's default in vla train)")
    tr.add_argument(
        "--demo-fraction",
        type=float,
        default=0.5,
        help="share of mid-demonstration bank scenes (vla train --locator --conditioning-at tracked uses 0.5)",
    )
    tr.add_argument("--out", type=Path, default=Path("outputs/bench_locator"))
    ck = sub.add_parser("checkpoint", help="measure the locator of a checkpoint trained with --locator")
    ck.add_argument("--checkpoint", type=Path, required=True)
    ck.add_argument("--out", type=Path, default=None)
    ck.add_argument(
        "--colour-vote",
        type=float,
        default=None,
        help="override the checkpoint's colour-vote weight (0: off), to measure the vote on the same weights",
    )
    ck.add_argument(
        "--shape-vote",
        type=float,
        default=None,
        help="override the checkpoint's shape-vote weight (0: off), to measure the vote on the same weights",
    )
    ck.add_argument(
        "--window-vote",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override whether the colour vote also weights each chosen peak's window (the checkpoint's "
        "locator.window_vote), to measure it on the same weights",
    )
    sf = sub.add_parser(
        "shape-finetune",
        help="give a trained checkpoint's locator the shape vote late (a locator-only fine-tune), then measure it",
    )
    sf.add_argument("--checkpoint", type=Path, required=True, help="RUN/checkpoints/last/pretrained_model")
    sf.add_argument("--bank", type=Path, default=None, help="its scene bank (default: RUN/scene_bank.safetensors)")
    sf.add_argument("--out", type=Path, required=True, help="a new directory for the fine-tuned policy")
    sf.add_argument("--steps", type=int, default=1000)
    sf.add_argument("--lr", type=float, default=3e-4)
    sf.add_argument("--shape-vote", type=float, default=5.0)
    sf.add_argument("--word-dropout", type=float, default=0.15, help="as vla train --word-dropout (0: none)")
    for p in (tr, ck, sf):
        p.add_argument("--eval-scenes", type=int, default=40, help="reset frames per task and split")
        p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.mode == "train":
        policy = train_locator(args)
    elif args.mode == "shape-finetune":
        policy = shape_finetune(args)
    else:
        from vla.policy.checkpoint import load_policy

        policy = load_policy(args.checkpoint)
        if policy.locator is None:
            raise SystemExit(f"bench_locator: {args.checkpoint} has no target locator (trained without --locator)")
        for name, head in (("colour", policy.locator.point_colour), ("shape", policy.locator.point_shape)):
            weight = getattr(args, f"{name}_vote")
            if weight is None:
                continue
            if weight < 0 or (weight > 0 and head is None):
                raise SystemExit(
                    f"bench_locator: --{name}-vote {weight} needs a weight >= 0 and, above 0, a checkpoint "
                    f"trained with the {name} vote (vla train --locator --{name}-vote W)"
                )
            setattr(policy.locator.config, f"{name}_vote", weight)
        if args.window_vote is not None:
            if args.window_vote and not policy.locator.config.colour_vote:
                raise SystemExit(
                    "bench_locator: --window-vote needs the colour vote (a checkpoint trained with it, and no "
                    "--colour-vote 0)"
                )
            policy.locator.config.window_vote = args.window_vote
    print(
        "| split | task | target median cm | target p90 cm | within 1 cm | within 2 cm | over 3 cm | goal median cm"
        " | goal p90 cm | goal over 3 cm"
        " | image error px (target / goal / landmarks) | target median cm from true image points"
        " | mid-demonstration target xyz cm median / p90 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    results = measure(policy, args.eval_scenes)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_locator.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

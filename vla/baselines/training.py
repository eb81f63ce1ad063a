"""Train a LeRobot baseline with the harness our Trainer uses, so comparisons differ only in the model.

Same as `vla.policies.train.trainer.Trainer` (single process): batch order (a permutation per epoch
seeded by (seed, epoch)), per-step reseeding, image augmentation, linear warm-up + cosine schedule,
gradient clipping, EMA of the weights (the EMA weights are what gets evaluated), and the wall-clock
budget `max_minutes`, checked before every step. The optimizer type, betas, eps and weight decay
come from lerobot's preset for the policy (`get_optimizer_preset`), the learning rate from the
baseline config; TrainConfig's lr and weight_decay are not used.
"""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

from vla.errors import VlaUserError
from vla.policies.train.augment import augment_images
from vla.policies.train.config import TrainConfig
from vla.policies.train.data import DemoDataset
from vla.policies.train.trainer import EMA, STEP_SEED_STRIDE, BudgetFit, lr_lambda

from .modeling_lerobot import LeRobotBaseline


def epoch_batches(num_frames: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """The frame indices of every full batch of one epoch, in the order Trainer uses (one process)."""
    g = torch.Generator().manual_seed(seed * 7919 + epoch)
    perm = torch.randperm(num_frames, generator=g)
    n = num_frames // batch_size
    if n == 0:
        raise VlaUserError(f"dataset has {num_frames} frames, fewer than one batch of {batch_size}; lower --batch-size")
    return [perm[i * batch_size : (i + 1) * batch_size] for i in range(n)]


def train_baseline(policy: LeRobotBaseline, demos: DemoDataset, cfg: TrainConfig, progress: bool = True) -> dict:
    """Train in place until cfg.steps or cfg.max_minutes; leaves the EMA weights in the policy. Returns a summary."""
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = policy.make_optimizer()
    horizon = {"steps": 0}  # the LR schedule's length: fitted to --max-minutes once measured, as in Trainer
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(cfg.warmup_steps, lambda: horizon["steps"] or cfg.steps)
    )
    ema = EMA(params, cfg.ema_decay) if cfg.ema_decay > 0 else None
    cams = policy.config.camera_keys
    step, epoch, batches, position = 0, 0, epoch_batches(len(demos), cfg.batch_size, cfg.seed, 0), 0
    loss_value, stop_reason, losses = float("nan"), "steps", []
    policy.train()
    bar = tqdm(total=cfg.steps, desc=f"train {policy.config.preset}", unit="step", disable=not progress)
    t_start = time.perf_counter()
    budget = BudgetFit(cfg, 0, 0.0, 0)
    while step < (horizon["steps"] or cfg.steps):
        if cfg.max_minutes is not None and (time.perf_counter() - t_start) / 60 >= cfg.max_minutes:
            stop_reason = "max_minutes"
            break
        if position >= len(batches):
            epoch, position = epoch + 1, 0
            batches = epoch_batches(len(demos), cfg.batch_size, cfg.seed, epoch)
        idx = batches[position]
        position += 1
        torch.manual_seed(cfg.seed * STEP_SEED_STRIDE + step)
        batch = demos.batch(idx, policy.train_chunk_size)
        batch = {k: v.to(policy.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        if cfg.augment:
            g = torch.Generator().manual_seed(cfg.seed * STEP_SEED_STRIDE + step)
            batch.update(augment_images({k: batch[k] for k in cams}, g))
        loss, _ = policy(batch)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if ema:
            ema.update(step)
        step += 1
        loss_value = float(loss.detach())
        fitted = budget.update(step, time.perf_counter() - t_start)
        if fitted is not None:
            horizon["steps"] = fitted
            bar.total = horizon["steps"]
        if step % cfg.log_every == 0:
            losses.append((step, loss_value))
            bar.set_postfix(loss=f"{loss_value:.4f}")
        bar.update(1)
    elapsed = time.perf_counter() - t_start
    if stop_reason == "steps" and horizon["steps"] and horizon["steps"] < cfg.steps:
        stop_reason = "max_minutes"
    bar.close()
    if ema:
        ema.swap()  # evaluate the averaged weights, as `vla train` checkpoints do
    policy.eval()
    return {
        "steps": step,
        "stopped_by": stop_reason,
        "train_seconds": round(elapsed, 1),
        "samples_per_second": round(step * cfg.batch_size / max(elapsed, 1e-9), 1),
        "final_loss": loss_value,
        "loss_curve": losses,
    }

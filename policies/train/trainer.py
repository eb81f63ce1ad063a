"""The training loop: data order, augmentation, loss, optimizer, EMA, logging and checkpoints.

Determinism: the batch order of epoch e is a permutation seeded by (seed, e), and every step
reseeds torch from (seed, step) before augmentation and noise sampling. Together with the saved
optimizer/scheduler/EMA state this makes a resumed run bit-identical to an uninterrupted one.
Multi-GPU / multi-node: run the same command under `accelerate launch`; each process trains on
its shard of every permutation and accelerate averages the gradients.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from vla.constants import OBS_ENV_STATE, TASK
from vla.errors import VlaUserError
from vla.policy.checkpoint import CONFIG_NAME, save_policy
from vla.policy.configuration_vla import VLAConfig
from vla.policy.grounding import AUX_PIXELS, AUX_SEMANTICS, AUX_SHAPE_VIEW
from vla.policy.modeling_vla import AUX_SCENES, LOCATOR_LABELS, LOCATOR_TASK, VLAPolicy

from .augment import WordDropout, augment_images, channel_permuted, grounded_words
from .config import TrainConfig
from .data import DemoDataset
from .late_shape import LateShapePhase, in_late_phase, uses_late_shape_phase
from .state import Progress, load_training_state, save_training_state

STEP_SEED_STRIDE = 1_000_003


CALIBRATION_STEPS = 20  # steps timed before a --max-minutes run fixes the length of its LR schedule


def lr_lambda(warmup: int, total):
    """Linear warm-up then cosine decay to 0 at `total()` steps (a callable: budgets fix it mid-run)."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = (step - warmup) / max(1, total() - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def budget_schedule_steps(
    cfg: TrainConfig,
    step: int,
    elapsed_s: float,
    per_step_s: float | None = None,
    reserve_s: float = 0.0,
    cap: int | None = None,
) -> int:
    """Steps that fit in --max-minutes at the measured speed (at most `cap`, default --steps), so that the cosine
    schedule ends when the budget does instead of being cut off at a high learning rate. The speed is
    `per_step_s` when given, else the mean since the start; `reserve_s` is budget kept for other work
    (DAgger rollouts still to come, the late locator phase)."""
    remaining_s = cfg.max_minutes * 60 - elapsed_s - reserve_s
    per_step = per_step_s if per_step_s is not None else elapsed_s / max(step, 1)
    fit = step + int(0.97 * remaining_s / max(per_step, 1e-9))  # a little slack for saving and logging
    return max(min(cfg.steps if cap is None else cap, fit), step + 1)


REFIT_AT = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)  # fractions of --max-minutes at which the schedule is refitted


class BudgetFit:
    """Keeps the LR schedule's length fitted to --max-minutes. The first fit comes after CALIBRATION_STEPS;
    it is refitted at REFIT_AT fractions of the budget with the speed since the previous fit, because the
    first steps are slow (caches, compilation, a neighbour's job finishing) and a schedule fitted to them
    alone ends long before the budget. No refits after half the budget (the LR's tail stays smooth), except
    right after a DAgger round, whose real cost replaces the reserve that was guessed for it.

    Speeds are measured on optimizer time only: `update` takes the seconds spent in DAgger rollouts so far
    (`rollout_s`) and the seconds to keep for the rounds still to come (`reserve_s`)."""

    def __init__(self, cfg: TrainConfig, step: int, elapsed_s: float, schedule_steps: int, rollout_s: float = 0.0):
        self.cfg = cfg
        self.fitted = schedule_steps > 0
        self._last = (step, elapsed_s - rollout_s) if self.fitted else (0, 0.0)
        self._next = 0
        self._forced = False
        if cfg.max_minutes is not None:
            self._skip_passed(elapsed_s)

    def _due(self, elapsed_s: float) -> bool:
        """Whether a REFIT_AT fraction of the budget has passed that no fit has used yet."""
        return self._next < len(REFIT_AT) and elapsed_s >= REFIT_AT[self._next] * self.cfg.max_minutes * 60

    def _skip_passed(self, elapsed_s: float) -> None:
        while self._due(elapsed_s):
            self._next += 1

    def force(self) -> None:
        """Refit at the next update whatever the time (after a DAgger round)."""
        self._forced = True

    def update(self, step: int, elapsed_s: float, rollout_s: float = 0.0, reserve_s: float = 0.0) -> int | None:
        """The new schedule length when this step (re)fits it, else None."""
        cfg = self.cfg
        if cfg.max_minutes is None:
            return None
        active_s = elapsed_s - rollout_s
        if not self.fitted:
            if step < CALIBRATION_STEPS:
                return None
            self.fitted, self._last = True, (step, active_s)
            return budget_schedule_steps(cfg, step, elapsed_s, active_s / max(step, 1), reserve_s)
        if not (self._due(elapsed_s) or self._forced):
            return None
        s0, a0 = self._last
        if step - s0 < CALIBRATION_STEPS:
            # Too few steps since the last fit to time: a speed from one or two steps right after a DAgger round
            # (a new epoch over the grown dataset, a fit that was due at the same moment) can be off several-fold
            # and end the schedule long before the budget. The refit stays pending until enough steps are timed.
            return None
        self._skip_passed(elapsed_s)
        self._forced = False
        self._last = (step, active_s)
        return budget_schedule_steps(cfg, step, elapsed_s, (active_s - a0) / (step - s0), reserve_s)


class EMA:
    """Exponential moving average of trainable weights with the usual warm-up of the decay."""

    def __init__(self, params: list[torch.nn.Parameter], decay: float):
        self.params, self.decay = params, decay
        self.shadow = [p.detach().clone() for p in params]

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1 - d)

    @torch.no_grad()
    def swap(self) -> None:
        for p, s in zip(self.params, self.shadow, strict=True):
            tmp = p.detach().clone()
            p.copy_(s)
            s.copy_(tmp)


class Trainer:
    def __init__(self, cfg: TrainConfig, config: VLAConfig, demos: DemoDataset, out: Path, scenes=None):
        from accelerate import Accelerator

        self.cfg, self.demos, self.out, self.scenes = cfg, demos, out, scenes
        self.table_fit: dict[str, float] = {}
        cpu = cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())
        self.accelerator = Accelerator(cpu=cpu)
        torch.manual_seed(cfg.seed)
        self.policy = VLAPolicy(config)
        self.policy.normalizer.set_stats(demos.stats, "observation.state", "action")
        if self.policy.aux is not None:
            self.policy.aux.set_stats(demos.stats[OBS_ENV_STATE])
        if self.policy.estimator is not None:
            self.policy.estimator.set_stats(demos.stats[OBS_ENV_STATE])
        if self.policy.locator is not None:
            self.policy.locator.geometry.set_stats(demos.stats[OBS_ENV_STATE])
            if self.policy.locator.table is not None and scenes is not None:
                fit = self.policy.fit_locator_table(scenes.labels(torch.arange(len(scenes))))
                self.table_fit = fit  # reported in train_summary.json
                median, p90 = (fit[f"table_fit_heldout_{q}_m"] * 100 for q in ("median", "p90"))
                rows = int(fit["table_fit_rows"])
                print(f"locator table fit: {rows} bank rows, held-out error median {median:.2f} / p90 {p90:.2f} cm")
                if fit.get("goal_table_fit_rows"):
                    median, p90 = (fit[f"goal_table_fit_heldout_{q}_m"] * 100 for q in ("median", "p90"))
                    rows = int(fit["goal_table_fit_rows"])
                    print(f"locator goal table fit (bowls, base cubes): {rows} bank rows, held-out error median "
                          f"{median:.2f} / p90 {p90:.2f} cm")  # fmt: skip
        self.params = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.policy.param_groups(cfg.lr), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.progress = Progress()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(cfg.warmup_steps, lambda: self.progress.schedule_steps or cfg.steps)
        )
        self.ema = EMA(self.params, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.last_dir = out / "checkpoints" / "last"
        self.late = LateShapePhase(cfg, self.policy, self.accelerator) if uses_late_shape_phase(cfg) else None
        self._late_loss = float("nan")
        if cfg.resume and (self.last_dir / "training_state").is_dir():
            if self.late is not None and in_late_phase(self.last_dir / "training_state"):
                self._enter_late_phase(from_ema=False)  # the shape head and the optimizer that checkpoint saved
            self.progress = load_training_state(
                self.last_dir / "training_state",
                self.policy,
                self.ema.shadow if self.ema else None,
                self.optimizer,
                self.scheduler,
            )
        self.word_dropout = None
        if cfg.word_dropout > 0:  # the colour and shape names stay: they name the props the labels are about
            self.word_dropout = WordDropout(cfg.word_dropout, seed=cfg.seed, keep=grounded_words())
        self.dagger = None
        if cfg.dagger_rounds > 0:
            from .dagger import NavDagger

            if self.accelerator.num_processes > 1:
                raise VlaUserError("--dagger-rounds runs in one process; drop it or launch without accelerate")
            self.dagger = NavDagger(cfg, demos, out)
            self.dagger.reload(self.progress.dagger_rounds)
        self.model, self.optimizer = self.accelerator.prepare(self.policy, self.optimizer)
        self.metrics_path = out / "metrics.jsonl"

    # ------------------------------------------------------------------ data order
    def _epoch_batches(self, epoch: int) -> list[torch.Tensor]:
        acc = self.accelerator
        g = torch.Generator().manual_seed(self.cfg.seed * 7919 + epoch)
        perm = torch.randperm(len(self.demos), generator=g)
        per_step = self.cfg.batch_size * acc.num_processes
        n = len(perm) // per_step
        if n == 0:
            raise VlaUserError(
                f"dataset has {len(self.demos)} frames, fewer than one batch of {per_step}; lower --batch-size"
            )
        return [perm[i * per_step : (i + 1) * per_step][acc.process_index :: acc.num_processes] for i in range(n)]

    def _next_indices(self) -> torch.Tensor:
        p = self.progress
        batches = self._epoch_batches(p.epoch)
        if p.position >= len(batches):
            p.epoch, p.position = p.epoch + 1, 0
            batches = self._epoch_batches(p.epoch)
        idx = batches[p.position]
        p.position += 1
        return idx

    # ------------------------------------------------------------------ loop
    def train(self) -> dict:
        cfg, p, acc = self.cfg, self.progress, self.accelerator
        writer = self._tensorboard() if acc.is_main_process else None
        start_step, t_start = p.step, time.perf_counter() - p.elapsed_s
        bar = tqdm(total=cfg.steps, initial=p.step, desc="train", unit="step", disable=not acc.is_main_process)
        loss_value, stop_reason = float("nan"), "steps"
        budget = BudgetFit(cfg, p.step, p.elapsed_s, p.schedule_steps, p.rollout_s)
        late_reserve_s = self.late.reserve_s() if self.late is not None else 0.0
        main_budget_s = cfg.max_minutes * 60 - late_reserve_s if cfg.max_minutes is not None else math.inf
        self.model.train()
        try:
            while not p.late_phase and p.step < (p.schedule_steps or cfg.steps):
                if time.perf_counter() - t_start >= main_budget_s:
                    stop_reason = "max_minutes"
                    break
                if cfg.pause_at is not None and p.step >= cfg.pause_at:
                    stop_reason = "pause_at"
                    break
                if self.dagger is not None and self.dagger.due(p.dagger_rounds, p.step, time.perf_counter() - t_start):
                    self._dagger_round(writer)
                    p.elapsed_s = time.perf_counter() - t_start
                    budget.force()
                idx = self._next_indices()
                torch.manual_seed(cfg.seed * STEP_SEED_STRIDE + p.step)
                batch = self.demos.batch(idx, self.policy.config.chunk_size, self.policy.config.action_history)
                batch = {k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch.items()}
                if cfg.augment:
                    g = torch.Generator().manual_seed(cfg.seed * STEP_SEED_STRIDE + p.step)
                    cams = {k: batch[k] for k in self.policy.config.camera_keys}
                    batch.update(augment_images(cams, g))
                if cfg.word_dropout_scope == "all":
                    batch = self._drop_words(batch, p.step, 41)
                if self.scenes is not None:
                    batch[AUX_SCENES] = self._scene_batch(p.step, acc.device)
                    if self.policy.locator is not None:
                        batch[LOCATOR_LABELS] = self._label_batch(p.step, acc.device)
                loss, info = self.model(batch)
                acc.backward(loss)
                if cfg.grad_clip > 0:
                    for group in self.optimizer.param_groups:  # per group: the locator's loss has its own scale
                        acc.clip_grad_norm_(group["params"], cfg.grad_clip)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.ema:
                    self.ema.update(p.step)
                p.step += 1
                loss_value = float(loss.detach())
                p.elapsed_s = time.perf_counter() - t_start
                fitted = budget.update(p.step, p.elapsed_s, p.rollout_s, self._rollout_reserve_s() + late_reserve_s)
                if fitted is not None:
                    p.schedule_steps = fitted
                    bar.total = p.schedule_steps
                    bar.refresh()
                if p.step % cfg.log_every == 0 or p.step == cfg.steps:
                    self._log(writer, loss_value, info, p)
                    bar.set_postfix(loss=f"{loss_value:.4f}", sps=f"{self._samples_per_s(start_step, p):.0f}")
                bar.update(1)
                if p.step % cfg.save_every == 0 and p.step < cfg.steps:
                    self.save()
            if stop_reason == "steps" and p.schedule_steps and p.schedule_steps < cfg.steps:
                stop_reason = "max_minutes"
            if self.late is not None and stop_reason != "pause_at":
                stop_reason = self._late_phase(writer, bar, t_start) or stop_reason
        except KeyboardInterrupt:
            self.save()
            bar.close()
            raise
        bar.close()
        self.save()
        summary = {
            "steps": p.step,
            "stopped_by": stop_reason,
            "train_seconds": round(p.elapsed_s, 1),
            "samples_per_second": round(self._samples_per_s(0, p, total=True), 1),
            "final_loss": loss_value,
            "episodes": self.demos.num_episodes,
            "frames": len(self.demos),
            "checkpoint": str(self.last_dir / "pretrained_model"),
        }
        if self.dagger is not None:
            summary["dagger"] = self.dagger.summary()
        if self.late is not None:
            summary["late_locator_phase"] = {
                "steps": p.late_step,
                "seconds": round(p.elapsed_s - p.late_start_s, 1) if p.late_phase else 0.0,
                "shape_vote": self.cfg.shape_vote,
                "final_loss": self._late_loss,  # the locator's loss
            }
        if self.table_fit:
            summary["locator_table_fit"] = self.table_fit
        if acc.is_main_process:
            (self.out / "train_summary.json").write_text(json.dumps(summary, indent=2))
            self._plot()
        if writer:
            writer.close()
        return summary

    def _enter_late_phase(self, from_ema: bool) -> None:
        """Switch to the late locator-only phase (late_shape.py): from the EMA weights when it starts now (what
        `vla eval` would have loaded), or as its saved checkpoint left it (resume). No EMA from here on."""
        if from_ema and self.ema:
            self.ema.swap()
        self.ema = None
        self.late.enter(lambda: self.progress.late_schedule_steps or self.cfg.late_locator_steps)
        self.optimizer, self.scheduler, self.params = self.late.optimizer, self.late.scheduler, self.late.params

    def _late_phase(self, writer, bar, t_start: float) -> str | None:
        """Run the late locator-only phase (or what is left of it); the stop reason when something other than
        its step count ended it."""
        cfg, p, acc = self.cfg, self.progress, self.accelerator
        if not p.late_phase:
            if cfg.pause_at is not None and p.step >= cfg.pause_at:
                return "pause_at"  # saved as the main phase left it
            self._enter_late_phase(from_ema=True)
            p.late_phase, p.late_start_s = True, p.elapsed_s
            tqdm.write(f"[train] late locator phase: the shape vote ({cfg.shape_vote}), step {p.step}")
        total = lambda: p.late_schedule_steps or cfg.late_locator_steps  # noqa: E731
        bar.total = p.step + total()
        bar.set_description("late locator")
        while p.late_step < total():
            at = p.step + p.late_step  # a global step: the seeds of every batch and augmentation
            if cfg.max_minutes is not None and time.perf_counter() - t_start >= cfg.max_minutes * 60:
                return "max_minutes"
            if cfg.pause_at is not None and at >= cfg.pause_at:
                return "pause_at"
            torch.manual_seed(cfg.seed * STEP_SEED_STRIDE + at)
            loss, info = self.late.step(self._scene_batch(at, acc.device), self._label_batch(at, acc.device))
            p.late_step += 1
            self._late_loss = loss
            p.elapsed_s = time.perf_counter() - t_start
            if cfg.max_minutes is not None and p.late_step == CALIBRATION_STEPS and not p.late_schedule_steps:
                per_step = (p.elapsed_s - p.late_start_s) / p.late_step  # fit the phase to what is left
                p.late_schedule_steps = budget_schedule_steps(
                    cfg, p.late_step, p.elapsed_s, per_step, cap=cfg.late_locator_steps
                )
                bar.total = p.step + total()
            if (p.step + p.late_step) % cfg.log_every == 0:
                self._log(writer, loss, info, p, phase="late_locator")
                bar.set_postfix(loss=f"{loss:.4f}")
            bar.update(1)
            if p.late_step % cfg.save_every == 0 and p.late_step < total():
                self.save()
        return None

    def _dagger_round(self, writer) -> None:
        """One DAgger round with the EMA weights (what `vla eval` runs), then a checkpoint that includes it."""
        p = self.progress
        policy = self.accelerator.unwrap_model(self.model)
        t0 = time.perf_counter()
        if self.ema:
            self.ema.swap()
        policy.eval()
        try:
            r = self.dagger.run_round(p.dagger_rounds, policy)
        finally:
            if self.ema:
                self.ema.swap()
            self.model.train()
        p.rollout_s += time.perf_counter() - t0
        p.dagger_rounds += 1
        tqdm.write(
            f"[train] DAgger round {p.dagger_rounds}/{self.cfg.dagger_rounds} at step {p.step}: policy success "
            f"{r.info['success_rate']:.0%} in {r.info['episodes']} training-house episodes, +{r.info['frames']} "
            f"frames (now {len(self.demos)}), {r.info['seconds']:.0f} s"
        )
        if writer is not None:
            writer.add_scalar("dagger/success_rate", r.info["success_rate"], p.step)
            writer.add_scalar("dagger/frames", len(self.demos), p.step)
        t_save = time.perf_counter()
        self.save()
        p.rollout_s += time.perf_counter() - t_save  # the checkpoint after the round is not optimizer time either

    def _rollout_reserve_s(self) -> float:
        """Seconds of the budget kept for the DAgger rounds still to come: the mean cost of the rounds done,
        or a guess of ~60 steps per episode at 30 ms per step before the first one."""
        if self.dagger is None:
            return 0.0
        p = self.progress
        left = self.cfg.dagger_rounds - p.dagger_rounds
        per_round = p.rollout_s / p.dagger_rounds if p.dagger_rounds else self.cfg.dagger_episodes * 60 * 0.03
        return left * per_round

    def _scene_batch(self, step: int, device) -> dict:
        g = torch.Generator().manual_seed(self.cfg.seed * STEP_SEED_STRIDE + step + 17)
        idx = torch.randint(len(self.scenes), (self.cfg.aux_scene_batch,), generator=g)
        sb = {k: v.to(device) if torch.is_tensor(v) else v for k, v in self.scenes.batch(idx).items()}
        if self.cfg.augment:
            # The bank's cameras (the locator's: one) in the order its labels were rendered: the policy's.
            cams = {k: sb[k] for k in self.policy.config.camera_keys if k in self.scenes.images}
            sb.update(augment_images(cams, g, pixels=sb.get(AUX_PIXELS), semantics=sb.get(AUX_SEMANTICS)))
        locator = self.policy.locator
        if locator is not None and locator.point_shape is not None:  # the shape head's colour-blind view
            g_view = torch.Generator().manual_seed(self.cfg.seed * STEP_SEED_STRIDE + step + 89)
            sb[AUX_SHAPE_VIEW] = channel_permuted(sb[locator.config.camera], g_view)
        return self._drop_words(sb, step, 53)

    def _label_batch(self, step: int, device) -> dict:
        """Bank rows without images (true image points, state, env state, instruction) for the locator's
        geometry MLP: a larger batch than the image batch costs almost nothing."""
        g = torch.Generator().manual_seed(self.cfg.seed * STEP_SEED_STRIDE + step + 29)
        idx = torch.randint(len(self.scenes), (self.policy.config.locator.geometry_batch,), generator=g)
        rows = self._drop_words(self.scenes.labels(idx), step, 67)
        return {k: v.to(device) if torch.is_tensor(v) else v for k, v in rows.items()}

    def _drop_words(self, batch: dict, step: int, stream: int) -> dict:
        """`batch` with its instructions word-dropped (--word-dropout), from a generator of its own per step and
        stream, so a resumed run drops the same words: in place of the task (--word-dropout-scope all) or beside
        it for the locator alone (LOCATOR_TASK)."""
        if self.word_dropout is None or not isinstance(batch.get(TASK), list | tuple):
            return batch
        g = torch.Generator().manual_seed(self.cfg.seed * STEP_SEED_STRIDE + step + stream)
        key = TASK if self.cfg.word_dropout_scope == "all" else LOCATOR_TASK
        return {**batch, key: self.word_dropout(list(batch[TASK]), g)}

    def _samples_per_s(self, start_step: int, p: Progress, total: bool = False) -> float:
        """Training samples per second of the main phase (the late locator phase's time is not in it)."""
        steps = p.step if total else p.step - start_step
        elapsed = p.late_start_s if p.late_phase else p.elapsed_s
        return steps * self.cfg.batch_size * self.accelerator.num_processes / max(elapsed, 1e-9)

    def _tensorboard(self):
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.out / "logs"))
        if self.cfg.wandb:
            try:
                import wandb
            except ImportError:
                raise VlaUserError("--wandb needs the wandb package: pip install wandb") from None
            wandb.init(project="vla", config=self.cfg.__dict__, dir=str(self.out), sync_tensorboard=True)
        return writer

    def _log(self, writer, loss: float, info: dict, p: Progress, phase: str = "train") -> None:
        """TensorBoard scalars under `phase`/ and a metrics.jsonl row (the late phase's rows say so)."""
        if writer is None:
            return
        lr = self.scheduler.get_last_lr()[0]
        step = p.step + p.late_step
        writer.add_scalar(f"{phase}/loss", loss, step)
        writer.add_scalar(f"{phase}/lr", lr, step)
        for k, v in info.items():
            writer.add_scalar(f"{phase}/{k}", float(v), step)
        parts = {f"head_{k}" if k == "loss" else k: round(float(v), 5) for k, v in info.items()}
        record = {"step": step, "loss": loss, "lr": lr, "elapsed_s": round(p.elapsed_s, 2), **parts}
        if phase != "train":
            record["phase"] = phase
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def _plot(self) -> None:
        if not self.metrics_path.is_file():
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]
        rows = list({r["step"]: r for r in rows}.values())  # a resumed run may repeat steps
        maps = sorted({k for r in rows for k in r if k.startswith("grounding_error_")})
        fig, axes = plt.subplots(1, 2 if maps else 1, figsize=(11 if maps else 6, 3.5), squeeze=False)
        ax = axes[0, 0]
        main = [r for r in rows if "phase" not in r]
        late = [r for r in rows if r.get("phase") == "late_locator"]
        ax.plot([r["step"] for r in main], [r["loss"] for r in main], label="training loss")
        if late:  # another loss (the locator's alone) on the same axis
            ax.plot([r["step"] for r in late], [r["loss"] for r in late], label="late locator phase (locator loss)")
            ax.legend()
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.set_title(f"{self.cfg.policy} on {Path(self.cfg.dataset).name}")
        ax.grid(alpha=0.3)
        if maps:  # the scene bank's grounding heatmaps: how far each peak is from its label
            ax = axes[0, 1]
            for k, name in zip(maps, ("target", "goal", *maps[2:]), strict=False):
                pts = [(r["step"], 100 * r[k]) for r in rows if k in r and math.isfinite(r[k])]
                ax.plot([s for s, _ in pts], [e for _, e in pts], label=name)
            ax.set_xlabel("step")
            ax.set_ylabel("grounding error (% of image side)")
            ax.set_title("scene-bank grounding heatmaps")
            ax.legend()
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(self.out / "loss_curve.png", dpi=120)
        plt.close(fig)

    def save(self) -> None:
        acc = self.accelerator
        acc.wait_for_everyone()
        if not acc.is_main_process:
            return
        policy = acc.unwrap_model(self.model)
        save_training_state(
            self.last_dir / "training_state",
            policy,
            self.ema.shadow if self.ema else None,
            self.optimizer,
            self.scheduler,
            self.progress,
        )
        if self.ema:
            self.ema.swap()
        try:
            save_policy(policy, self.last_dir / "pretrained_model", extra={"train_step": self.progress.step})
        finally:
            if self.ema:
                self.ema.swap()


def saved_config(out: Path) -> dict | None:
    path = out / "checkpoints" / "last" / "pretrained_model" / CONFIG_NAME
    return json.loads(path.read_text()) if path.is_file() else None

"""Exact-resume training state, written with safetensors + JSON (no pickle anywhere).

checkpoints/last/
  pretrained_model/      config.json + model.safetensors (EMA weights when enabled): what `vla eval` loads
  training_state/
    model.safetensors    raw (non-EMA) weights
    ema.safetensors      EMA shadow weights
    optimizer.safetensors + optimizer.json   AdamW moments and param groups
    trainer.json         step, epoch, position in the epoch's permutation, LR scheduler state
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vla.errors import VlaUserError


@dataclass
class Progress:
    step: int = 0
    epoch: int = 0
    position: int = 0  # batches consumed in the current epoch
    elapsed_s: float = 0.0
    schedule_steps: int = 0  # length of the LR schedule; 0 = --steps (set from --max-minutes once measured)
    dagger_rounds: int = 0  # DAgger rounds done (their data is in out/dagger/)
    rollout_s: float = 0.0  # seconds of elapsed_s spent in DAgger rollouts rather than optimizer steps
    late_phase: bool = False  # the run is in the late locator-only phase (late_shape.py): the shape head exists
    late_step: int = 0  # steps of that phase done
    late_schedule_steps: int = 0  # that phase's length; 0 = --late-locator-steps (set from --max-minutes)
    late_start_s: float = 0.0  # elapsed_s when that phase began


def optimizer_to_safetensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_safetensors(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for key, value in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_state(
    directory: Path,
    model: torch.nn.Module,
    ema_params: list[torch.Tensor] | None,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    progress: Progress,
) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    if ema_params is not None:
        save_file(
            {str(i): p.detach().cpu().contiguous() for i, p in enumerate(ema_params)}, str(tmp / "ema.safetensors")
        )
    tensors, meta = optimizer_to_safetensors(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    (tmp / "optimizer.json").write_text(json.dumps(meta))
    trainer = {**progress.__dict__, "scheduler": scheduler.state_dict()}
    (tmp / "trainer.json").write_text(json.dumps(trainer, indent=2))
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(tmp, directory)


def load_training_state(
    directory: Path,
    model: torch.nn.Module,
    ema_params: list[torch.Tensor] | None,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> Progress:
    try:
        state = load_file(str(directory / "model.safetensors"))
        model.load_state_dict(state, strict=True)
    except (RuntimeError, FileNotFoundError) as e:
        raise VlaUserError(
            f"cannot resume from {directory}: it was written by another policy config "
            f"({str(e).splitlines()[0][:160]}); "
            f"use a new --out or --no-resume"
        ) from None
    if ema_params is not None and (directory / "ema.safetensors").is_file():
        ema = load_file(str(directory / "ema.safetensors"))
        for i, p in enumerate(ema_params):
            p.data.copy_(ema[str(i)])
    meta = json.loads((directory / "optimizer.json").read_text())
    optimizer.load_state_dict(optimizer_from_safetensors(load_file(str(directory / "optimizer.safetensors")), meta))
    trainer = json.loads((directory / "trainer.json").read_text())
    scheduler.load_state_dict(trainer.pop("scheduler"))
    return Progress(**trainer)

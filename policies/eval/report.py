"""Evaluation outputs people look at: a success-rate plot with 95% intervals and MP4 rollouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_video(path: Path, frames: list[np.ndarray], fps: int) -> None:
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=1) as w:
        for f in frames:
            w.append_data(f)


def plot_success(path: Path, report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(report["tasks"])
    rates = [report["tasks"][t]["success_rate"] * 100 for t in tasks]
    lo = [r - report["tasks"][t]["ci95"][0] * 100 for r, t in zip(rates, tasks, strict=True)]
    hi = [report["tasks"][t]["ci95"][1] * 100 - r for r, t in zip(rates, tasks, strict=True)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    ax.bar(tasks, rates, yerr=[lo, hi], capsize=5, color="#4C72B0")
    for i, r in enumerate(rates):
        ax.text(i, r + 2, f"{r:.0f}%", ha="center", fontsize=9)
    ax.set_ylim(0, 110)
    ax.set_ylabel("success rate (%)  [95% Wilson CI]")
    ax.set_title(f"{report['split']} split, {report['episodes_per_task']} episodes/task")
    ax = axes[1]
    for t in tasks:
        lengths = report["tasks"][t]["lengths"]
        ax.hist(lengths, bins=15, alpha=0.5, label=t)
    ax.set_xlabel("episode length (steps)")
    ax.set_ylabel("episodes")
    ax.legend(fontsize=8)
    fig.suptitle(Path(report["checkpoint"]).as_posix()[-60:], fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)

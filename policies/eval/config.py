"""`vla eval` configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class EvalConfig:
    """Roll out a trained policy in the MuJoCo suite (tabletop or navigation); write a JSON report, plots and videos."""

    checkpoint: str
    """Checkpoint directory (e.g. outputs/train/checkpoints/last/pretrained_model) or a Hub repo id."""
    task: str = "all"
    """Task name, comma list, or 'all'."""
    episodes: int = 50
    """Episodes per task."""
    split: Literal["train", "heldout", "val", "test"] = "train"
    """Tabletop: 'heldout' = unseen instruction wordings and colour-shape combinations. Navigation: houses
    from the train, val or test layout seeds ('heldout' = test: unseen scenes)."""
    instructions: Path | None = None
    """File of user wordings per task (JSON or 'task: template' lines); episodes cycle through them."""
    out: Path = Path("outputs/eval")
    num_envs: int = 2
    """Environments stepped in parallel (vectorized); the policy runs batched across them."""
    vector: Literal["async", "sync"] = "async"
    """'async': one process per env (uses all cores); 'sync': all envs in this process."""
    seed: int = 100_000
    """First episode seed (collection uses small seeds, so evaluation scenes are new)."""
    videos: int = 2
    """MP4 videos per task."""
    ensembling: Literal["checkpoint", "none", "temporal", "adaptive"] = "checkpoint"
    """Chunk execution: the checkpoint's setting, or override it."""
    decoding: Literal["checkpoint", "argmax", "sample"] = "checkpoint"
    """Categorical (discrete-action) heads: 'sample' draws each action from the predicted class
    probabilities, 'argmax' takes the most likely one; 'checkpoint' keeps the checkpoint's choice. Sampling
    is seeded by --seed, so a report is reproducible for the same --num-envs."""
    temperature: float | None = None
    """Categorical heads, decoding 'sample': softmax temperature (default: the checkpoint's)."""
    top_p: float | None = None
    """Categorical heads, decoding 'sample': nucleus size, 0 < p <= 1 (default: the checkpoint's)."""
    n_action_steps: int | None = None
    """Override actions executed per chunk (ensembling 'none')."""
    turn_reversal: bool = True
    """Navigation, discrete actions: --no-turn-reversal never executes TURN_RIGHT right after TURN_LEFT or the
    reverse (the class is removed before decoding). The teachers almost never do it (4 of 512 turns), while a
    reactive policy can flip between two headings until the episode times out."""
    stop_threshold: float = 0.0
    """Navigation, discrete actions: STOP is decoded only where the policy gives it at least this probability
    (softmax at temperature 1); below it, STOP is removed before decoding and the agent keeps moving. Sampling
    at temperature 0.5 otherwise draws an unlikely STOP now and then, which ends the episode (0 = off)."""
    stuck_recovery: bool = False
    """Navigation, discrete actions: after a MOVE_FORWARD that moved the agent's GPS less than 5 cm (it is pressed
    against an obstacle), MOVE_FORWARD is removed for the next step, so the agent turns away instead of pushing
    until the time limit: a minimal recovery behaviour (cf. Nav2's). Reads the observation's GPS only."""
    device: str = "cpu"
    threads: int | None = None
    """torch intra-op threads (default: all cores)."""
    env_address: str | None = None
    """Navigation: evaluate in env servers (`vla env-server`, e.g. vla/Habitat-v0 in its own conda env)
    instead of in-process envs; comma-separated ZeroMQ addresses, one per parallel env (stepped
    concurrently). --task names the one task for the report; scenes, split and image size are the
    server's own (its --env-kwargs). No top-down maps (they need the local simulator)."""
    env_timeout_s: float = 120.0
    """--env-address: seconds to wait for a server's reply before a one-line timeout error."""
    transport: Literal["inprocess", "ros2"] = "inprocess"
    """'ros2': run episodes through `vla sim-robot` (lockstep) and `vla serve` over real DDS (needs the ros extra)."""

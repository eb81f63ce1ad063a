"""Turn a `--locator --conditioning-at tracked` checkpoint into a `carried` one, without retraining; or give a
`carried` checkpoint saved before the goal's table fit that fit.

'tracked' and 'carried' train alike (the head reads the true current target and the first-frame goal; half
the locator's scene bank is mid-demonstration scenes); they differ at inference, and 'carried' keeps a
least-squares table fit solved on the scene bank. This script solves that fit on the run's own bank, exactly
as `vla train --conditioning-at carried` does before its first step (with the colour vote, the goal's fit too:
bowls and base cubes), and writes a new checkpoint directory:

    .venv/bin/python bench/carry_checkpoint.py --checkpoint RUN/train/checkpoints/last/pretrained_model \
        --bank RUN/train/scene_bank.safetensors --out RUN/carried
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a --locator checkpoint trained 'tracked' (or 'carried' before the goal's fit)",
    )
    parser.add_argument("--bank", type=Path, required=True, help="the run's scene_bank.safetensors")
    parser.add_argument("--out", type=Path, required=True, help="new checkpoint directory (must not exist)")
    args = parser.parse_args()
    import dataclasses

    import torch
    from safetensors.torch import load_file

    from vla.policies.train.scenes import SceneBank
    from vla.policy.checkpoint import WEIGHTS_NAME, load_config, save_policy
    from vla.policy.modeling_vla import VLAPolicy

    if args.out.exists():
        sys.exit(f"carry_checkpoint: {args.out} exists; pass a new directory (nothing was overwritten)")
    config = load_config(args.checkpoint)
    if not config.reads_locator or config.env_state_at not in ("tracked", "carried"):
        sys.exit("carry_checkpoint: the checkpoint must be trained with --locator --conditioning-at tracked or carried")
    goal_fit = config.locator.colour_vote > 0  # as vla train --conditioning-at carried sets it
    config = dataclasses.replace(
        config,
        env_state_at="carried",
        locator=dataclasses.replace(config.locator, table_fit=True, goal_table_fit=goal_fit),
    )
    policy = VLAPolicy(config)
    state = load_file(str(args.checkpoint / WEIGHTS_NAME))
    missing = set(policy.state_dict()) - set(state)
    fits = ("locator.table.", "locator.goal_table.")  # solved below
    if not all(k.startswith(fits) for k in missing) or set(state) - set(policy.state_dict()):
        sys.exit(f"carry_checkpoint: {args.checkpoint} does not match a locator policy ({sorted(missing)[:2]})")
    policy.load_state_dict(state, strict=False)
    bank = SceneBank.load(args.bank)
    fit = policy.fit_locator_table(bank.labels(torch.arange(len(bank))))
    save_policy(policy.eval(), args.out)
    print(json.dumps(fit, indent=2))


if __name__ == "__main__":
    main()

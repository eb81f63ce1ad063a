"""Checkpoint directories: config.json + model.safetensors (+ normalization.json for people).

The layout is Hugging Face Hub-compatible: `push_to_hub` uploads the folder and `load_policy`
accepts a Hub repo id where the user is online. Weights are safetensors only: we never unpickle
a file a user hands us, and say how to convert one instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

import vla
from vla.errors import VlaUserError

from .configuration_vla import CONFIG_VERSION, VLAConfig
from .modeling_vla import VLAPolicy

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
STATS_NAME = "normalization.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # raw pickle protocol 2+, torch.save zip archives


def save_policy(policy: VLAPolicy, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the checkpoint atomically (a temp dir renamed into place), so a crash never leaves half of one."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt", "vla_version": vla.__version__})
    config = {**policy.config.to_dict(), "vla_version": vla.__version__, **(extra or {})}
    (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2))
    n = policy.normalizer
    stats = {k: getattr(n, k).tolist() for k in ("state_mean", "state_std", "action_min", "action_max")}
    (tmp / STATS_NAME).write_text(json.dumps(stats, indent=2))
    if directory.exists():
        old = directory.with_name(directory.name + ".old")
        os.replace(directory, old)
        os.replace(tmp, directory)
        _rmtree(old)
    else:
        os.replace(tmp, directory)
    return directory


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def migrate_config(d: dict[str, Any]) -> dict[str, Any]:
    """Upgrade an older config dict to CONFIG_VERSION.

    v1 -> v2: the embedded backbone gained spatial-softmax keypoint tokens (on by default); v1
    checkpoints were trained without them.
    """
    version = int(d.get("version", 0))
    if version > CONFIG_VERSION:
        raise VlaUserError(
            f"checkpoint config version {version} is newer than this vla ({CONFIG_VERSION}); upgrade vla to load it"
        )
    if version < 1:
        raise VlaUserError(
            f"checkpoint config version {version} predates vla checkpoints (version 1); retrain or convert it"
        )
    d = dict(d)
    if version < 2 and d.get("backbone", {}).get("type") == "embedded":
        d["backbone"] = {"vision_keypoints": 0, **d["backbone"]}
    d["version"] = CONFIG_VERSION
    return d


def resolve_checkpoint_dir(path_or_repo: str | Path) -> Path:
    """A local checkpoint dir, or a Hub repo id downloaded to the local cache (online only)."""
    p = Path(path_or_repo)
    if p.is_file():
        if p.suffix in PICKLE_SUFFIXES or _looks_pickled(p):
            raise VlaUserError(
                f"{p} is a pickle file; vla never unpickles user files. Convert it to a checkpoint directory "
                f"with model.safetensors (safetensors.torch.save_file) and config.json"
            )
        raise VlaUserError(f"{p} is a file; pass the checkpoint directory that holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    if p.is_dir():
        return p
    if "/" in str(path_or_repo) and not str(path_or_repo).startswith((".", "/")) and len(p.parts) == 2:
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(str(path_or_repo), allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, STATS_NAME]))
        except Exception as e:  # offline, missing repo, auth
            raise VlaUserError(
                f"could not fetch checkpoint '{path_or_repo}' from the Hub ({type(e).__name__})"
            ) from None
    raise VlaUserError(f"checkpoint {p} does not exist; pass a directory written by `vla train`")


def _looks_pickled(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    return any(head.startswith(m) for m in PICKLE_MAGIC)


def _missing_file_error(d: Path, name: str) -> VlaUserError:
    pickles = [f.name for f in d.iterdir() if f.suffix in PICKLE_SUFFIXES]
    hint = f" (found {pickles}, but pickle files are never loaded)" if pickles else ""
    return VlaUserError(f"{d} has no {name}; it is not a vla checkpoint{hint}")


def load_config(path_or_repo: str | Path) -> VLAConfig:
    d = resolve_checkpoint_dir(path_or_repo)
    cfg_path = d / CONFIG_NAME
    if not cfg_path.is_file():
        raise _missing_file_error(d, CONFIG_NAME)
    try:
        raw = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise VlaUserError(f"{cfg_path} is not valid JSON ({e.msg}, line {e.lineno})") from None
    raw = migrate_config(raw)
    raw.pop("vla_version", None)
    for key in [k for k in raw if k.startswith("train_")]:
        raw.pop(key)
    return VLAConfig.from_dict(raw)


def load_policy(path_or_repo: str | Path, device: str | torch.device = "cpu") -> VLAPolicy:
    d = resolve_checkpoint_dir(path_or_repo)
    config = load_config(d)
    weights = d / WEIGHTS_NAME
    if not weights.is_file():
        raise _missing_file_error(d, WEIGHTS_NAME)
    policy = VLAPolicy(config)
    try:
        state = load_file(str(weights))
    except Exception as e:
        raise VlaUserError(f"{weights} is not a readable safetensors file ({e})") from None
    missing, unexpected = set(policy.state_dict()) - set(state), set(state) - set(policy.state_dict())
    if missing or unexpected:
        raise VlaUserError(
            f"{weights} does not match its config.json ({len(missing)} missing, {len(unexpected)} unexpected tensors, "
            f"e.g. {sorted(missing or unexpected)[:2]}); was it written by another config or vla version?"
        )
    for k, v in policy.state_dict().items():
        if v.shape != state[k].shape:
            raise VlaUserError(
                f"{weights}: tensor {k} has shape {tuple(state[k].shape)}, config expects {tuple(v.shape)}"
            )
    policy.load_state_dict(state, strict=True)
    return policy.to(device).eval()


def push_to_hub(checkpoint_dir: str | Path, repo_id: str, private: bool = True) -> str:
    """Upload a checkpoint directory to the Hugging Face Hub (needs network and a token)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(checkpoint_dir), repo_id=repo_id, allow_patterns=["*.json", "*.safetensors", "*.md"]
    )
    return str(info)

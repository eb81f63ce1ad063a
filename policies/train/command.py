"""`vla train`: validate inputs, build the policy from a preset and the dataset, train, report."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict
from pathlib import Path

from vla.constants import OBS_IMAGES_PREFIX
from vla.errors import VlaUserError

from .config import TrainConfig
from .late_shape import check_late_shape_flags, uses_late_shape_phase

IGNORED_ON_RESUME = {
    "steps",
    "pause_at",
    "max_minutes",
    "save_every",
    "log_every",
    "resume",
    "device",
    "wandb",
    "threads",
}


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise VlaUserError(f"--out {out} is a file; pass a directory")
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK):
        raise VlaUserError(f"--out {out} is not writable ({probe} denies write access); choose another directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "train_config.json").is_file():
        raise VlaUserError(f"--out {out} exists and is not a vla training directory; choose an empty or new folder")


def check_action_history_dataset(dataset: str) -> None:
    """--action-history needs discrete actions whose recorded label is what the env executed."""
    record = Path(dataset) / "meta" / "vla_collect.json"
    settings = json.loads(record.read_text()).get("settings", {}) if record.is_file() else {}
    if settings.get("action_type") != "discrete":
        raise VlaUserError(
            f"--action-history feeds back discrete actions; {dataset} is not a discrete-action navigation dataset "
            f"from `vla collect` (use --action-history 0)"
        )
    if settings.get("expert_noise"):
        raise VlaUserError(
            f"--action-history needs the executed actions, and {dataset} was collected with --expert-noise (it "
            f"records only the expert's labels); use a clean collection or --action-history 0"
        )


def camera_selection(cameras: str | None) -> tuple[str, ...]:
    """--cameras 'depth,observation.images.egomap' -> full feature keys, in the order given (empty: not set)."""
    if cameras is None:
        return ()
    keys = [c.strip() for c in cameras.split(",") if c.strip()]
    if not keys:
        raise VlaUserError("--cameras is empty; name one or more cameras, e.g. --cameras depth,egomap")
    full = tuple(k if k.startswith(OBS_IMAGES_PREFIX) else OBS_IMAGES_PREFIX + k for k in keys)
    if len(set(full)) != len(full):
        raise VlaUserError(f"--cameras {cameras!r} names a camera twice")
    return full


def run_train(cfg: TrainConfig) -> int:
    import torch

    from vla.policy.configuration_vla import make_config

    from .data import demos_discrete_actions, load_demos
    from .trainer import Trainer, saved_config

    for name in ("steps", "batch_size"):
        if getattr(cfg, name) < 1:
            raise VlaUserError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(cfg, name)})")
    if cfg.lr <= 0:
        raise VlaUserError(f"--lr must be > 0 (got {cfg.lr})")
    if not 0 <= cfg.word_dropout < 1:
        raise VlaUserError(f"--word-dropout must be in [0, 1) (got {cfg.word_dropout})")
    if cfg.word_dropout and cfg.word_dropout_scope == "locator" and not cfg.locator:
        raise VlaUserError(
            "--word-dropout with --word-dropout-scope locator needs --locator; add it, or pass --word-dropout-scope all"
        )
    if cfg.grounding_weight < 0:
        raise VlaUserError(f"--grounding-weight must be >= 0 (got {cfg.grounding_weight})")
    out = Path(cfg.out)
    _check_out_dir(out)
    previous = out / "train_config.json"
    if cfg.resume and previous.is_file():
        old = json.loads(previous.read_text())
        changed = {k for k, v in asdict(cfg).items() if k not in IGNORED_ON_RESUME and str(old.get(k)) != str(v)}
        if changed:
            raise VlaUserError(
                f"{out} holds a run with different {sorted(changed)}; use a new --out, or --no-resume to start over"
            )
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    overrides = {"chunk_size": cfg.chunk_size} if cfg.chunk_size else {}
    # Validates the preset name and chunk size before any heavy work. A 2-class discrete probe builds for every
    # head, the discrete-only ones included; the real action space comes from the dataset below.
    probe = make_config(cfg.policy, **overrides, action_space="discrete(2)", action_dim=2)
    if cfg.image_size is not None and not (16 <= cfg.image_size <= 512):
        raise VlaUserError(f"--image-size {cfg.image_size} is out of range; use 16..512")
    size = (cfg.image_size, cfg.image_size) if cfg.image_size else None
    if cfg.dagger_rounds:
        from .dagger import collection_settings

        collection_settings(cfg.dataset)  # a navigation dataset from `vla collect`, checked before decoding
    if cfg.action_history:
        check_action_history_dataset(cfg.dataset)  # before decoding
    cameras = camera_selection(cfg.cameras)
    demos = load_demos(cfg.dataset, cameras or probe.camera_keys, size, episodes=cfg.episodes, exact=bool(cameras))
    action_dim = demos.action.shape[1]
    n_discrete = demos_discrete_actions(demos)
    if n_discrete:
        action_dim = n_discrete  # one-hot targets; the policy returns the argmax index
        overrides["ensembling"] = "none"
        overrides["n_action_steps"] = 1  # closed loop: re-plan after every discrete step (a few ms per call)
    if cfg.action_history:
        overrides["action_history"] = cfg.action_history
    config = make_config(
        cfg.policy,
        **overrides,
        camera_keys=demos.camera_keys,
        action_space=demos.action_space,
        image_size=demos.image_size,
        state_dim=demos.state.shape[1],
        action_dim=action_dim,
        state_names=tuple(demos.state_names),
        action_names=tuple(demos.action_names),
        env_state_dim=demos.env_state.shape[1] if demos.env_state is not None and cfg.aux_weight > 0 else 0,
        aux_loss_weight=cfg.aux_weight,
    )
    config = with_grounding_maps(config, cfg)
    config = with_estimate_conditioning(config, cfg, demos)
    config = with_head_instruction(config, cfg)
    if n_discrete and not type(config.head).discrete_actions_only:
        print(
            f"[train] note: head '{config.head_name}' fits the {n_discrete} one-hot scores of a discrete action "
            f"space; the categorical head (--policy vla-categorical) trains them with cross-entropy"
        )
    old_model = saved_config(out)
    if cfg.resume and old_model is not None:
        new_model = json.loads(json.dumps(config.to_dict()))
        if uses_late_shape_phase(cfg) and old_model.get("locator", {}).get("shape_vote"):
            new_model["locator"]["shape_vote"] = cfg.shape_vote  # saved in the late phase, which set it
        diff = [k for k in new_model if old_model.get(k) != new_model[k]]
        if diff:
            raise VlaUserError(
                f"checkpoint in {out} was trained with another config (differs in {diff}); "
                f"use a new --out or --no-resume"
            )
    elif not cfg.resume and (out / "checkpoints").exists():
        import shutil

        shutil.rmtree(out / "checkpoints")
        shutil.rmtree(out / "dagger", ignore_errors=True)
        for f in ("metrics.jsonl", "train_summary.json"):
            (out / f).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    previous.write_text(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}, indent=2))

    print(
        f"[train] {cfg.policy}: {demos.num_episodes} episodes, {len(demos)} frames, "
        f"state {config.state_dim}, action {config.action_dim} ({config.action_space}), "
        f"cameras {list(config.camera_keys)}, chunk {config.chunk_size}"
        + (f", auxiliary environment_state {config.env_state_dim}" if config.env_state_dim else "")
        + f" -> {out}"
    )
    scenes = scene_bank(cfg, config, out, point_shapes=uses_late_shape_phase(cfg)) if cfg.aux_scenes > 0 else None
    trainer = Trainer(cfg, config, demos, out, scenes=scenes)
    n_params = sum(p.numel() for p in trainer.policy.parameters())
    n_train = sum(p.numel() for p in trainer.params)
    print(
        f"[train] {n_params / 1e6:.2f} M parameters ({n_train / 1e6:.2f} M trainable); "
        f"starting at step {trainer.progress.step}"
    )
    try:
        summary = trainer.train()
    except KeyboardInterrupt:
        print(
            f"[train] interrupted; checkpoint saved at step {trainer.progress.step}. Rerun the same command to resume."
        )
        return 130
    print(f"[train] done: {json.dumps(summary)}")
    return 0


def with_grounding_maps(config, cfg: TrainConfig):
    """Give the embedded backbone one grounding heatmap per labelled point (target, goal) when a scene bank
    will supervise them; other backbones train without (noted once)."""
    from vla.backbones.embedded.configuration_embedded import EmbeddedBackboneConfig

    if cfg.aux_scenes == 0 or cfg.grounding_weight == 0 or config.env_state_dim == 0:
        return config
    if cfg.locator and not cfg.backbone_grounding:  # --no-backbone-grounding: the bank trains only the locator
        return config
    if not isinstance(config.backbone, EmbeddedBackboneConfig):
        print(
            f"[train] note: backbone '{config.backbone_name}' has no grounding heatmaps; the scene bank trains "
            "only the auxiliary position head"
        )
        return config
    from .scenes import SEMANTIC_CLASSES

    backbone = dataclasses.replace(
        config.backbone,
        vision_grounding_maps=config.env_state_dim // 3,
        vision_semantic_classes=SEMANTIC_CLASSES if cfg.semantic_labels else (),
    )
    return dataclasses.replace(config, backbone=backbone, grounding_loss_weight=cfg.grounding_weight)


def with_head_instruction(config, cfg: TrainConfig):
    """--head-instruction grounding: the embedded backbone passes the head no words (no text tokens, no FiLM);
    the instruction then acts only through the grounding maps and the conditioning positions."""
    from vla.backbones.embedded.configuration_embedded import EmbeddedBackboneConfig

    if cfg.head_instruction == "words":
        return config
    if not isinstance(config.backbone, EmbeddedBackboneConfig):
        raise VlaUserError(
            f"--head-instruction grounding applies to the embedded backbone, not '{config.backbone_name}'; "
            "drop the flag"
        )
    if not (cfg.locator or cfg.estimate_conditioning or cfg.oracle_conditioning):
        raise VlaUserError(
            "--head-instruction grounding leaves the head only its conditioning positions to tell tasks apart; "
            "add --locator (or --estimate-conditioning / --oracle-conditioning)"
        )
    backbone = dataclasses.replace(config.backbone, film=False, instruction_tokens=False)
    return dataclasses.replace(config, backbone=backbone)


def with_estimate_conditioning(config, cfg: TrainConfig, demos):
    """--estimate-conditioning: the action head reads the position estimator's environment-state estimate,
    and each estimated `<object>.<axis>` relative to the state's `tcp.<axis>` where the state has one;
    --oracle-conditioning: the same with the true environment state (an ablation)."""
    sources = [f for f in ("estimate_conditioning", "locator", "oracle_conditioning") if getattr(cfg, f)]
    if len(sources) > 1:
        flags = " and ".join("--" + f.replace("_", "-") for f in sources)
        raise VlaUserError(f"{flags} exclude each other; pick one")
    if (cfg.conditioning_at != "current" or cfg.conditioning_noise) and not sources:
        raise VlaUserError(
            "--conditioning-at/--conditioning-noise apply to --estimate-conditioning, --locator or "
            "--oracle-conditioning; add one"
        )
    if cfg.conditioning_noise and not cfg.oracle_conditioning and cfg.conditioning_at == "current":
        raise VlaUserError(
            "--conditioning-noise perturbs true positions, which the head reads only with --oracle-conditioning or "
            "--conditioning-at episode_start|tracked|carried; add one of those"
        )
    if cfg.conditioning_noise < 0:
        raise VlaUserError(f"--conditioning-noise {cfg.conditioning_noise} must be >= 0 (metres)")
    if cfg.conditioning_at == "carried":
        from vla.policy.carry_tracker import state_indices

        state_indices(demos.state_names)  # the tracker's gripper gap and tool centre: fail now, not at eval
    conditioning = {
        "env_state_conditioning": True,
        "env_state_relative_to": relative_state_indices(demos.env_state_names, demos.state_names),
        "env_state_at": cfg.conditioning_at,
        "env_state_noise": cfg.conditioning_noise,
    }
    if cfg.oracle_conditioning:
        if config.env_state_dim == 0:
            raise VlaUserError(
                "--oracle-conditioning needs a `vla collect` dataset (with observation.environment_state) and "
                "--aux-weight > 0"
            )
        return dataclasses.replace(config, env_state_source="privileged", **conditioning)
    if cfg.locator:
        from vla.backbones.embedded.configuration_embedded import EmbeddedBackboneConfig

        from .scenes import SEMANTIC_CLASSES

        if config.env_state_dim == 0 or cfg.aux_scenes == 0 or not isinstance(config.backbone, EmbeddedBackboneConfig):
            raise VlaUserError(
                "--locator needs the embedded backbone, a `vla collect` dataset (with observation.environment_state), "
                "--aux-scenes N and --aux-weight > 0"
            )
        table_fit = cfg.conditioning_at == "carried"  # the target's reset-frame table position
        if cfg.colour_vote < 0:
            raise VlaUserError(f"--colour-vote {cfg.colour_vote} must be >= 0 (0: no colour vote)")
        if cfg.shape_vote < 0:
            raise VlaUserError(f"--shape-vote {cfg.shape_vote} must be >= 0 (0: no shape vote)")
        if uses_late_shape_phase(cfg):
            check_late_shape_flags(cfg)
        from_start = cfg.colour_vote > 0 and cfg.shape_vote_from == "start"  # on_prop comes from the colour head
        locator = dataclasses.replace(
            config.locator,
            semantic_classes=SEMANTIC_CLASSES,
            table_fit=table_fit,
            goal_table_fit=table_fit and cfg.colour_vote > 0,  # the vote's head tells a prop goal from a point
            colour_vote=cfg.colour_vote,
            geometry_phrases=cfg.geometry_phrases,
            window_vote=cfg.window_vote and cfg.colour_vote > 0,
            shape_vote=cfg.shape_vote if from_start else 0.0,  # late: the late locator phase sets it
        )
        return dataclasses.replace(config, env_state_source="locator", locator=locator, **conditioning)
    if not cfg.estimate_conditioning:
        return config
    if config.env_state_dim == 0 or not getattr(config.backbone, "vision_grounding_maps", 0):
        raise VlaUserError(
            "--estimate-conditioning needs grounding heatmaps: the embedded backbone, a `vla collect` dataset "
            "(with observation.environment_state), --aux-scenes N, --aux-weight > 0 and --grounding-weight > 0"
        )
    return dataclasses.replace(config, **conditioning)


def relative_state_indices(env_state_names: list[str], state_names: list[str]) -> tuple[int, ...]:
    """Per environment-state entry `<object>.<axis>`, the index of the state's `tcp.<axis>` (-1 where there is
    none); () when no entry has a match."""
    index = {name: i for i, name in enumerate(state_names)}
    pairs = tuple(index.get("tcp." + name.rsplit(".", 1)[-1], -1) if "." in name else -1 for name in env_state_names)
    return pairs if any(i >= 0 for i in pairs) else ()


def scene_bank(cfg: TrainConfig, config, out: Path, point_shapes: bool = False):
    """The run's scene bank: loaded from out/ when it has the requested size, else rendered and saved. With
    `point_shapes` (a late shape vote), or a shape vote in `config`, it must have its point shapes."""
    from .scenes import BANK_SAMPLING, SceneBank, generate_scene_bank

    if config.env_state_dim == 0:
        raise VlaUserError(
            "--aux-scenes needs a dataset recorded by `vla collect` (with observation.environment_state) "
            "and --aux-weight > 0"
        )
    path = out / "scene_bank.safetensors"
    # The locator reads one camera; its bank shows the arm at home (the reset frame it reads) half the time,
    # or, when it tracks the target through the episode, half the bank is mid-demonstration scenes.
    cameras = (
        (config.locator.camera,) if config.reads_locator and not config.backbone_grounds else tuple(config.camera_keys)
    )
    demo_fraction = 0.5 if config.reads_locator and config.tracks_target else 0.0
    point_shapes = point_shapes or (config.reads_locator and bool(config.locator.shape_vote))
    if path.is_file():
        bank = SceneBank.load(path)
        wants_pixels = config.backbone_grounds or config.reads_locator
        wants_semantics = bool(getattr(config.backbone, "vision_semantic_classes", ())) or config.reads_locator
        if (
            len(bank) == cfg.aux_scenes
            and bank.sampling == BANK_SAMPLING
            and set(bank.images) == set(cameras)
            and bank.demo_fraction == demo_fraction
            and (bank.pixels is not None or not wants_pixels)
            and (bank.semantics is not None or not wants_semantics)
            and (bank.point_colours is not None or not (config.reads_locator and config.locator.colour_vote))
            and (bank.point_shapes is not None or not point_shapes)
        ):
            return bank
    record = Path(cfg.dataset) / "meta" / "vla_collect.json"
    if not record.is_file():
        raise VlaUserError(f"--aux-scenes needs a local dataset recorded by `vla collect` ({record} is missing)")
    settings = json.loads(record.read_text())["settings"]
    print(f"[train] rendering a scene bank of {cfg.aux_scenes} labelled scenes for the auxiliary loss")
    bank = generate_scene_bank(
        cfg.aux_scenes,
        list(settings["tasks"]),
        settings.get("split", "train"),
        int(settings["image_size"]),
        cameras,
        seed=cfg.seed,
        semantics=bool(getattr(config.backbone, "vision_semantic_classes", ())) or config.reads_locator,
        posed_fraction=0.5 if config.reads_locator else 0.8,
        demo_fraction=demo_fraction,
    )
    out.mkdir(parents=True, exist_ok=True)
    bank.save(path)
    return bank

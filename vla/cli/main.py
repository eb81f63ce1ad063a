"""The `vla` command. Each subcommand is a typed dataclass config plus a runner, imported lazily
so that `vla --help` stays fast and optional extras stay optional."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass

from vla.errors import VlaUserError


@dataclass(frozen=True)
class Command:
    config: str  # "module:DataclassName"
    runner: str  # "module:function" taking the config


COMMANDS: dict[str, Command] = {
    "tasks": Command("vla.envs.manipulation.cli:TasksConfig", "vla.envs.manipulation.cli:run_tasks"),
    "collect": Command("vla.policies.collect.config:CollectConfig", "vla.policies.collect.command:run_collect"),
    "train": Command("vla.policies.train.config:TrainConfig", "vla.policies.train.command:run_train"),
    "eval": Command("vla.policies.eval.config:EvalConfig", "vla.policies.eval.command:run_eval"),
    "sim-robot": Command(
        "vla.ros_nodes.sim_robot.config:SimRobotConfig", "vla.ros_nodes.sim_robot.command:run_sim_robot"
    ),
    "convert-bag": Command("vla.ros_nodes.bags.config:ConvertBagConfig", "vla.ros_nodes.bags.command:run_convert_bag"),
    "env-server": Command("vla.envs.server.config:EnvServerConfig", "vla.envs.server.server:run_env_server"),
    "quickstart": Command(
        "vla.policies.collect.quickstart:QuickstartConfig", "vla.policies.collect.quickstart:run_quickstart"
    ),
    "serve": Command("vla.ros_nodes.policy_server.config:ServeConfig", "vla.ros_nodes.policy_server.command:run_serve"),
}


def _load(ref: str):
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> int:
    import tyro

    os.environ.setdefault("MUJOCO_GL", "egl")
    argv = sys.argv[1:] if argv is None else argv
    if "--ros-args" in argv:  # appended by `ros2 run` / `ros2 launch`; our nodes take their options from ours
        argv = argv[: argv.index("--ros-args")]
    configs = {name: _load(cmd.config) for name, cmd in COMMANDS.items()}
    try:
        cfg = tyro.extras.subcommand_cli_from_dict(
            configs,
            args=argv,
            prog="vla",
            description="vla: vision-language-action policies, from simulated demonstrations to ROS 2 robots.",
        )
        name = next(n for n, c in configs.items() if type(cfg) is c)
        result = _load(COMMANDS[name].runner)(cfg)
    except VlaUserError as e:
        print(f"vla: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vla: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

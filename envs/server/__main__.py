"""`python -m vla.envs.server --env ID [--bind ENDPOINT] [--env-kwargs JSON]`: the server without the `vla` CLI.

Uses argparse rather than tyro so that it runs where only numpy, pyzmq and gymnasium are installed
(e.g. a conda env with habitat-sim and a `pip install --no-deps` of this package).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from vla.errors import VlaUserError

from .config import EnvServerConfig
from .server import run_env_server


def parse_args(argv: list[str] | None = None) -> EnvServerConfig:
    parser = argparse.ArgumentParser(prog="python -m vla.envs.server", description=EnvServerConfig.__doc__)
    defaults = {f.name: f.default for f in dataclasses.fields(EnvServerConfig)}
    parser.add_argument("--env", required=True, help="gymnasium id, e.g. vla/PickObject-v0 or vla/Habitat-v0")
    parser.add_argument("--bind", default=defaults["bind"], help="ZeroMQ endpoint (default: %(default)s)")
    parser.add_argument("--env-kwargs", default=defaults["env_kwargs"], help="JSON object of gymnasium.make kwargs")
    parser.add_argument("--max-message-mb", type=int, default=defaults["max_message_mb"])
    args = parser.parse_args(argv)
    return EnvServerConfig(env=args.env, bind=args.bind, env_kwargs=args.env_kwargs, max_message_mb=args.max_message_mb)


def main(argv: list[str] | None = None) -> int:
    try:
        return run_env_server(parse_args(argv))
    except VlaUserError as e:
        print(f"vla env-server: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

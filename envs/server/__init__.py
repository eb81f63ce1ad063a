"""Env server: any registered gymnasium env in its own process (or Python environment) behind ZeroMQ.

`python -m vla.envs.server --env ID` or `vla env-server --env ID` serves; `RemoteEnv(address)` (gymnasium
id `vla/Remote-v0`) is the client. Importing this package imports numpy, pyzmq and gymnasium only, never
torch or lerobot, so servers run in other Python environments (e.g. conda with habitat-sim).
"""

from .client import RemoteEnv, RemoteEnvError, RemoteEnvTimeout
from .config import DEFAULT_BIND, EnvServerConfig
from .protocol import PROTOCOL_VERSION
from .server import EnvServer, run_env_server

__all__ = [
    "DEFAULT_BIND",
    "PROTOCOL_VERSION",
    "EnvServer",
    "EnvServerConfig",
    "RemoteEnv",
    "RemoteEnvError",
    "RemoteEnvTimeout",
    "run_env_server",
]

"""Start an env server as a child process and wait until it serves (tests, benchmarks, local evaluation).

`python` may be another interpreter, e.g. the one of a conda env with habitat-sim, as long as this
package is importable there (`pip install --no-deps -e .`).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass

from vla.errors import VlaUserError

READY = re.compile(r"serving \S+ on (\S+) ")


@dataclass
class ServerProcess:
    process: subprocess.Popen
    address: str

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (the server closes its env), then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server_process(
    env: str,
    bind: str = "tcp://127.0.0.1:*",
    env_kwargs: dict | None = None,
    python: str = sys.executable,
    timeout_s: float = 120.0,
    extra_env: dict[str, str] | None = None,
) -> ServerProcess:
    """Run `python -m vla.envs.server` and return once it printed its endpoint (port '*' = a free port)."""
    cmd = [python, "-m", "vla.envs.server", "--env", env, "--bind", bind, "--env-kwargs", json.dumps(env_kwargs or {})]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, **(extra_env or {})})
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.2):
                line = proc.stdout.readline()
                match = READY.search(line)
                if match:
                    return ServerProcess(proc, match.group(1))
                if not line:  # EOF: the server exited (its error went to stderr)
                    break
            elif proc.poll() is not None:
                break
    rc = proc.poll()
    ServerProcess(proc, bind).stop()
    if rc is None:
        raise VlaUserError(f"the env server for {env} did not start within {timeout_s:g} s")
    raise VlaUserError(f"the env server for {env} exited with code {rc} before serving (see its error above)")

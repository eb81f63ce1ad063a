"""One line describing the machine a benchmark ran on (CPU model, cores, OS, Python): benchmark
numbers mean little without it."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine(extra: str = "") -> str:
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{cpu_model()}, {os.cpu_count()} cores, " + (f"{extra}, " if extra else "") + system

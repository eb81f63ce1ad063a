"""Why a real-time control thread inside a Python process still misses its ticks under load: the GIL.

    python bench/bench_gil_inversion.py [--seconds 8] [--load 2]

A 50 Hz loop (time.sleep to absolute deadlines) measures how late each tick starts, while --load
busy-looping processes share the cores, in four variants: normal or SCHED_FIFO priority for the loop's
thread, alone or next to one more Python thread of the same process (a stand-in for the rclpy executor
or the model). SCHED_FIFO needs root or CAP_SYS_NICE (otherwise that variant is reported as skipped).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

import numpy as np


def run(seconds: float, load: int, fifo: bool, python_neighbour: bool) -> str:
    sys.setswitchinterval(0.0005)  # as the policy server sets it
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    stop = threading.Event()
    late: list[float] = []

    def neighbour() -> None:
        x = 0
        while not stop.is_set():
            for i in range(1000):
                x += i

    def control() -> None:
        if fifo:
            try:
                os.sched_setscheduler(threading.get_native_id(), os.SCHED_FIFO, os.sched_param(50))
            except PermissionError:
                return stop.set()
        period, deadline = 0.02, time.monotonic() + 0.02
        while not stop.is_set():
            if (d := deadline - time.monotonic()) > 0:
                time.sleep(d)
            late.append(time.monotonic() - deadline)
            deadline += period

    threads = [threading.Thread(target=control)] + ([threading.Thread(target=neighbour)] if python_neighbour else [])
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    for b in busy:
        b.kill()
    if len(late) <= 10:
        return "skipped (SCHED_FIFO not permitted)"
    a = np.array(late[10:]) * 1e3
    return (f"late p50 {np.percentile(a, 50):6.2f} ms  p99 {np.percentile(a, 99):7.2f} ms  max {a.max():7.1f} ms  "
            f"ticks > 10 ms late: {int((a > 10).sum()):3d}  (load {os.getloadavg()[0]:.1f})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--load", type=int, default=2)
    args = ap.parse_args()
    for neighbour in (False, True):
        for fifo in (False, True):
            name = f"{'SCHED_FIFO' if fifo else 'normal'} loop{' + a Python thread' if neighbour else ' alone'}"
            print(f"{name:36s} {run(args.seconds, args.load, fifo, neighbour)}", flush=True)


if __name__ == "__main__":
    main()

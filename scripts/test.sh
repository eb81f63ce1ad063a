#!/usr/bin/env bash
# Set up (if needed) and run the test suite offline and headless. Extra arguments go to pytest.
# As root, the suite runs in a loopback-only network namespace so DDS discovery never leaves the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" sim,train,dev,ros
export MUJOCO_GL=egl HF_HUB_OFFLINE=1 ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( RANDOM % 100 + 1 ))}"
cd "$ROOT"
PYTEST=("$ROOT/.venv/bin/python" -m pytest "$@")
if [[ "$(id -u)" == 0 ]] && command -v unshare >/dev/null && unshare --net true 2>/dev/null; then
    exec unshare --net sh -c 'ip link set lo up 2>/dev/null || true; exec "$@"' sh "${PYTEST[@]}"
fi
exec "${PYTEST[@]}"

#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded defaults. Extra arguments go to `vla quickstart`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" sim,train,dev,ros
export MUJOCO_GL="${MUJOCO_GL:-egl}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec "$ROOT/.venv/bin/vla" quickstart "$@"

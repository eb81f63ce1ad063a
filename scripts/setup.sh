#!/usr/bin/env bash
# Create .venv with Python 3.12 and install vla with the given extras (default: sim,train,dev,ros).
# Idempotent: re-running with an unchanged pyproject.toml installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLA_VENV:-$ROOT/.venv}"
EXTRAS="${1:-sim,train,dev,ros}"

find_python312() {
    local candidates=()
    [[ -n "${VLA_PYTHON:-}" ]] && candidates+=("$VLA_PYTHON")
    candidates+=(python3.12)
    if command -v pyenv >/dev/null 2>&1; then
        candidates+=("$(pyenv root)"/versions/3.12*/bin/python3.12)
    fi
    candidates+=("$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12
                 /opt/homebrew/bin/python3.12 "$HOME"/.local/bin/python3.12 python3)
    local c
    for c in "${candidates[@]}"; do
        # A pyenv shim can exist and still fail; only accept an interpreter that runs and is 3.12.
        if "$c" -c 'import sys, venv; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1; then
            echo "$c"; return 0
        fi
    done
    return 1
}

if [[ ! -x "$VENV/bin/python" ]]; then
    PY="$(find_python312)" || {
        echo "error: Python 3.12 not found (tried python3.12, pyenv and common paths); install it or set VLA_PYTHON=/path/to/python3.12" >&2
        exit 1
    }
    echo "[setup] creating $VENV with $PY"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

STAMP="$VENV/.vla-installed-$(echo "$EXTRAS" | tr ',' '-')"
HASH="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$HASH" ]]; then
    echo "[setup] installing vla[$EXTRAS] into $VENV (first time: a few minutes, torch is large)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[$EXTRAS]"
    echo "$HASH" > "$STAMP"
fi

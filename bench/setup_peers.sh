#!/usr/bin/env bash
# Create bench/.venv-steamship with steamship==2.17.34 for the peer benchmark
# (bench/peers/steamship_dispatch.py). Idempotent: a working venv is left as is.
set -euo pipefail

STEAMSHIP_VERSION="2.17.34"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/bench/.venv-steamship"
PY="$VENV/bin/python"

if [[ -x "$PY" ]] && "$PY" -c "import steamship" >/dev/null 2>&1; then
    exit 0
fi

python3 -m venv "$VENV"
"$PY" -m pip install -qq --disable-pip-version-check "steamship==$STEAMSHIP_VERSION"
"$PY" -c "import steamship"

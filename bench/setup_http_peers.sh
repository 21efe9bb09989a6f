#!/usr/bin/env bash
# Create bench/.venv-http for the HTTP benchmark (bench/http.py): this repository
# installed editable (so it always runs the current source) plus the peers and servers
# it is compared with: gunicorn, granian, flask, fastapi, uvicorn (with its "standard"
# extra: uvloop and httptools, as `pip install fastapi[standard]` gets in production).
# Idempotent: a working venv is left as is unless pyproject.toml changed since it was
# made (the project's dependencies may have), in which case it is reinstalled.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/bench/.venv-http"
PY="$VENV/bin/python"
STAMP="$VENV/.pyproject.sha256"
PEERS=(gunicorn granian flask fastapi "uvicorn[standard]")

want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [[ -x "$PY" ]] && [[ "$(cat "$STAMP" 2>/dev/null)" == "$want" ]] \
    && "$PY" -c "import dockyard, gunicorn, granian, flask, fastapi, uvicorn, uvloop, httptools" \
        >/dev/null 2>&1; then
    exit 0
fi

[[ -x "$PY" ]] || python3 -m venv "$VENV"
"$PY" -m pip install -qq --disable-pip-version-check -e "$ROOT" "${PEERS[@]}"
"$PY" -c "import dockyard, gunicorn, granian, flask, fastapi, uvicorn, uvloop, httptools"
echo "$want" > "$STAMP"

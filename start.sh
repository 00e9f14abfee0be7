#!/usr/bin/env bash
# Order Tracker: the one entry point. Makes .venv and installs requirements.txt, its indirect
# dependencies pinned by constraints.txt, when needed (again only when either changed), then
# runs `python -m app COMMAND`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.requirements.sha256"

find_python() {
    for candidate in "${PYTHON:-}" python3 python; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "start.sh: Python 3.11 or newer is needed; set PYTHON=/path/to/python3." >&2
    return 1
}

bootstrap() {
    local wanted have=""
    wanted="$(cat "$ROOT/requirements.txt" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
    [ -f "$STAMP" ] && have="$(cat "$STAMP")"
    if [ -x "$VENV/bin/python" ] && [ "$have" = "$wanted" ]; then
        return 0
    fi
    local python
    python="$(find_python)"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "Creating $VENV ..." >&2
        "$python" -m venv "$VENV"
    fi
    echo "Installing requirements.txt into .venv (first run takes a minute) ..." >&2
    # The install's log goes with the install, not into a data directory (which may be elsewhere).
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt" \
        >"$VENV/pip.log" 2>&1; then
        echo "start.sh: installing requirements.txt failed; see .venv/pip.log." >&2
        tail -n 5 "$VENV/pip.log" >&2
        exit 1
    fi
    echo "$wanted" >"$STAMP"
}

bootstrap
cd "$ROOT"
exec "$VENV/bin/python" -m app "$@"

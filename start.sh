#!/usr/bin/env bash
# Order Tracker: the one entry point. Makes .venv and installs requirements.txt, its indirect
# dependencies pinned by constraints.txt, when needed (again only when either changed), then
# runs `python -m app COMMAND`.
set -euo pipefail

# Through the link, if this was run as one (~/bin/order-tracker): the checkout is where the script is.
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
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
    # A .venv without pip is one whose creation failed half-way (ensurepip is missing on Debian
    # or Ubuntu without python3-venv): made again, or every later run fails at the install.
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        echo "Creating $VENV ..." >&2
        if ! "$python" -m venv --clear "$VENV"; then
            echo "start.sh: $python could not create .venv; on Debian or Ubuntu, install python3-venv first." >&2
            exit 1
        fi
    fi
    echo "Installing requirements.txt into .venv (first run takes a minute) ..." >&2
    # The install's log goes with the install, not into a data directory (which may be elsewhere).
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt" \
        >"$VENV/pip.log" 2>&1; then
        echo "start.sh: installing requirements.txt failed; see $VENV/pip.log." >&2
        tail -n 5 "$VENV/pip.log" >&2
        exit 1
    fi
    echo "$wanted" >"$STAMP"
}

bootstrap
# The app runs from the checkout: a relative data directory means the one where this was run.
case "${ORDER_TRACKER_DATA_DIR:-/}" in
    /*) ;;
    *) export ORDER_TRACKER_DATA_DIR="$PWD/$ORDER_TRACKER_DATA_DIR" ;;
esac
cd "$ROOT"
exec "$VENV/bin/python" -m app "$@"

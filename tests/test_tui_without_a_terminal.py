"""`./start.sh` (the TUI) started without a terminal to talk to: one sentence, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

from app.config import ROOT


def test_the_tui_with_stdin_closed_says_it_needs_a_terminal(tmp_path):
    """With stdin closed (`./start.sh 0<&-`, as cron or a service manager may start it),
    sys.stdin is None: the check raised AttributeError, and the operator got "Sorry, something
    unexpected went wrong" instead of being told to use the order commands."""
    env = {k: v for k, v in os.environ.items() if k not in ("ORDER_TRACKER_DEBUG", "TEMPORAL_ADDRESS", "DATABASE_URL")}
    env["ORDER_TRACKER_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        ["bash", "-c", 'exec "$0" -m app tui 0<&-', sys.executable],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "The TUI needs an interactive terminal; without one, use the order commands (./start.sh order --help)."
    )

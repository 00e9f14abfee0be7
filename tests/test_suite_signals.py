"""The suite itself, launched the way a script starts a background job."""

from __future__ import annotations

import signal
import subprocess
import sys

from app.config import ROOT


def test_the_ctrl_c_tests_pass_when_the_suite_starts_with_sigint_ignored():
    """`nohup ./.ci/run &` from a script starts pytest with SIGINT ignored: a test that presses
    Ctrl-C in-process then waited for ever (a CI run hung at tests/test_cli_refusals.py)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cli_refusals.py",
         "-k", "ctrl_c_after_a_create_was_sent"],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert "1 passed" in done.stdout

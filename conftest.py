"""Whole-suite hooks. The Temporal SDK's native runtime can crash while the interpreter
finalises after workers ran in-process (a known PyGILState_Release segfault); by then every
test has run and every environment has been shut down inside the session, so the run leaves
with pytest's own exit status instead of letting finalisation decide it. And Ctrl-C is Python's
KeyboardInterrupt in every run, however the suite was launched."""

from __future__ import annotations

import os
import signal
import sys

import pytest

_exit_status: int | None = None


def pytest_configure(config: pytest.Config) -> None:
    """A shell that starts a job in the background without job control (`./.ci/run &` in a
    script, nohup) ignores SIGINT in it, and Python then leaves it ignored: the tests that press
    Ctrl-C in-process waited for ever, and the processes they drive inherited the deafness."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status is None or os.environ.get("ORDER_TRACKER_NO_HARD_EXIT"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)

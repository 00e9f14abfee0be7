"""Whole-suite hooks. The Temporal SDK's native runtime can crash while the interpreter
finalises after workers ran in-process (a known PyGILState_Release segfault); by then every
test has run and every environment has been shut down inside the session, so the run leaves
with pytest's own exit status instead of letting finalisation decide it."""

from __future__ import annotations

import os
import sys

import pytest

_exit_status: int | None = None


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

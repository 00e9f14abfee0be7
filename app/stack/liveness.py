"""Proof that a worker's event loop still turns: the worker rewrites a small file next to its
pid file every BEAT_INTERVAL_S; `status` reads how long ago the last beat was.

A poller seen on the task queue is not enough: Temporal remembers it for up to 90 s after a
worker froze (SIGSTOP), and with only the event loop wedged, sdk-core's own threads may go on
polling for tasks that the stuck loop will never run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from app.stack.processes import write_whole

log = logging.getLogger("app.stack.liveness")

# Set by the stack for the workers it starts; a worker started by hand does not beat.
PATH_VARIABLE = "ORDER_TRACKER_LIVENESS_FILE"
BEAT_INTERVAL_S = 2.0
# Five missed beats: a busy loop answers within a beat, a frozen one never does.
STALE_AFTER_S = 10.0


def path_for(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.alive"


def write(path: Path, pid: int | None = None, at: float | None = None) -> None:
    """Record a beat: the pid and the time on the system-wide monotonic clock, which a wall
    clock step (NTP) cannot move. Replaced whole, so a reader never sees half a line."""
    pid = os.getpid() if pid is None else pid
    at = time.monotonic() if at is None else at
    write_whole(path, f"{pid} {at}\n")


def seconds_since_beat(path: Path, pid: int) -> float | None:
    """How long ago process ``pid`` last beat; None if it never did (the file is missing,
    unreadable, or left by an earlier process)."""
    try:
        pid_text, at_text = path.read_text().split()
        if int(pid_text) != pid:
            return None
        return max(0.0, time.monotonic() - float(at_text))
    except (OSError, ValueError):
        return None


async def beat(path: Path) -> None:
    """Beat from the event loop until cancelled, then remove the file. A beat that cannot be
    written (a full disk) is logged once and tried again: the worker itself is fine."""
    failing = False
    try:
        while True:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write(path)
                failing = False
            except OSError as error:
                if not failing:
                    log.warning("event=liveness_write_failed path=%s error=%r", path, str(error))
                failing = True
            await asyncio.sleep(BEAT_INTERVAL_S)
    finally:
        path.unlink(missing_ok=True)

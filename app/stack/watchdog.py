"""The watchdog: a small process `up` starts beside the workers, which starts a worker again
when it has died (killed, crashed), so that the orders it held go on without an operator
running `./start.sh up`. `down` stops it first.

It restarts only a worker whose process is gone: one stopped with SIGSTOP is alive, and is
left to the operator (`status` says how to resume it). One that keeps dying is started less
and less often. It starts a worker the way `up` does, under the same lock, so the two never
start one twice. ORDER_TRACKER_RESTART_WORKERS=0 leaves crashed workers down (`up` then
starts no watchdog, and stops one an earlier `up` started).
"""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from dataclasses import dataclass

from app.logging_setup import configure_logging
from app.stack.processes import running_pid
from app.stack.parts import WORKERS
from app.stack.stack import Stack

log = logging.getLogger("app.stack.watchdog")

CHECK_EVERY_S = 1.0
# How long it waits at start for `up` to write its pid file.
START_GRACE_S = 5.0
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0
# A worker that ran this long since its last restart starts with the first delay again.
STEADY_S = 60.0


@dataclass
class Backoff:
    """When a dead worker may be started again: at once the first time, then after a delay
    that doubles with each restart that did not last (STEADY_S, from its start until it was
    first seen dead)."""

    delay_s: float = 0.0
    not_before: float = 0.0
    restarted_at: float | None = None
    dead_since: float | None = None
    restarts: int = 0

    def alive(self) -> None:
        self.dead_since = None

    def due(self, now: float) -> bool:
        """The worker is seen dead at ``now``: whether to start it now."""
        if self.dead_since is None:
            self.dead_since = now
        return now >= self.not_before

    def started(self, now: float) -> None:
        ran = None if self.restarted_at is None else (self.dead_since or now) - self.restarted_at
        self.delay_s = FIRST_DELAY_S if ran is None or ran >= STEADY_S else min(MAX_DELAY_S, self.delay_s * 2)
        self.restarted_at = now
        self.dead_since = None
        self.not_before = now + self.delay_s
        self.restarts += 1


def restart_dead_workers(stack: Stack, backoffs: dict[str, Backoff], now: float) -> list[str]:
    """Start each worker whose process is gone and whose back-off allows; the ones started."""
    specs = {name: stack.worker_spec(name) for name in WORKERS}
    started = []
    for name in WORKERS:
        if running_pid(specs[name]) is not None:
            backoffs[name].alive()
            continue
        first_seen = backoffs[name].dead_since is None
        if not backoffs[name].due(now):
            if first_seen:  # said once per death, so that a long back-off is not a silent one
                log.warning(
                    "event=worker_dead worker=%s restart_in_s=%.0f restarts=%d",
                    name, backoffs[name].not_before - now, backoffs[name].restarts,
                )
            continue
        with stack.lock(wait=False) as locked:
            if not locked or running_pid(specs[name]) is not None:  # up or down at work, or already back
                continue
            pid = stack.start_worker(name)
        backoffs[name].started(now)
        started.append(name)
        log.warning(
            "event=worker_restarted worker=%s pid=%d restarts=%d next_restart_after_s=%.0f",
            name, pid, backoffs[name].restarts, backoffs[name].delay_s,
        )
    return started


def _stopped(signum: int, _frame) -> None:
    log.info("event=watchdog_stopped signal=%s", signal.Signals(signum).name)
    raise SystemExit(0)


def still_the_watchdog(stack: Stack) -> bool | None:
    """Whether the stack's watchdog pid file names this process; None while it names none yet
    (`up` writes it just after starting us). A watchdog whose file names another, or is gone
    (the data directory deleted without `down`), is no longer the stack's: `down` could not
    stop it, and the workers it would start would run beside others."""
    try:
        named = int(stack.watchdog_pid_path().read_text().split()[0])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, IndexError):
        return False
    return named == os.getpid()


def main() -> None:
    # platformdirs (via the SDK's env config) warns when XDG_RUNTIME_DIR is unset, as under root.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    configure_logging()
    signal.signal(signal.SIGTERM, _stopped)  # down, or up with restarts off
    stack = Stack()
    backoffs = {name: Backoff() for name in WORKERS}
    deadline = time.monotonic() + START_GRACE_S
    while still_the_watchdog(stack) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    log.info("event=watchdog_started workers=%s pid=%d", ",".join(WORKERS), os.getpid())
    while True:  # until `down` stops it (SIGTERM: _stopped)
        if not (ours := still_the_watchdog(stack)):
            reason = "pid_file_gone" if ours is None else "pid_file_names_another"
            log.warning("event=watchdog_exiting reason=%s path=%s", reason, stack.watchdog_pid_path())
            return
        try:
            restart_dead_workers(stack, backoffs, time.monotonic())
        except Exception:  # a missing binary mid-reinstall, a full disk: try again next time
            log.exception("event=watchdog_pass_failed")
        time.sleep(CHECK_EVERY_S)


if __name__ == "__main__":
    main()

"""The CPU the stack's own processes used during a run, per order, read from the kernel's
counters before and after it.

On a machine that the whole stack shares, this is what an order's time in flight follows: at
a fixed concurrency the cores are busy, so the orders finish at the rate the CPU allows. On the
reference machine p50 at C=100 was 0.046 s per stack CPU-ms per order, whatever else changed
(docs/performance.md, "p50 is the machine's CPU per order"), and the same code measured 63 to
108 CPU-ms per order in different hours. So a run's p50 is read together with this.

Only the parts this machine runs are counted (not a Temporal or PostgreSQL the user brings),
and not the watchdog, which reads two files a second. A part that was restarted during the
run (a new pid) is left out: its counters began again.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from app.config import Settings
from app.stack.processes import running_pid
from app.stack.parts import WATCHDOG
from app.stack.stack import Stack

BENCH = "bench"  # the benchmark's own process


@dataclass(frozen=True)
class Sample:
    pid: int
    cpu_s: float


def sample(settings: Settings) -> dict[str, Sample]:
    """CPU seconds used so far by each local part of the stack (with its children: PostgreSQL's
    backends) and by this process."""
    found: dict[str, Sample] = {}
    for name, spec in Stack(settings).specs().items():
        if name == WATCHDOG or (pid := running_pid(spec)) is None:
            continue
        try:
            found[name] = Sample(pid, tree_cpu_s(psutil.Process(pid)))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    me = psutil.Process()
    times = me.cpu_times()
    found[BENCH] = Sample(me.pid, times.user + times.system)
    return found


def tree_cpu_s(process: psutil.Process) -> float:
    """User and system CPU seconds of the process and of every descendant, living or reaped."""
    total = _own_and_reaped(process)
    for child in process.children(recursive=True):
        try:
            total += _own_and_reaped(child)
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # ended meanwhile: its parent reaps it
            continue
    return total


def _own_and_reaped(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def per_order(before: dict[str, Sample], after: dict[str, Sample], orders: int) -> dict | None:
    """Milliseconds of CPU per order, by part and for the local stack in all; None without a
    part measured at both ends."""
    same = [name for name in after if name in before and before[name].pid == after[name].pid]
    parts = [name for name in same if name != BENCH]
    if orders <= 0 or not parts:
        return None

    def ms(name: str) -> float:
        return round((after[name].cpu_s - before[name].cpu_s) * 1000 / orders, 1)

    by_part = {name: ms(name) for name in parts}
    return {
        "stack_ms_per_order": round(sum(by_part.values()), 1),
        "by_part": by_part,
        "bench_ms_per_order": ms(BENCH) if BENCH in same else None,
        # Restarted (a new pid), started or gone during the run: the total is short of them.
        "left_out": sorted(name for name in {*before, *after} if name not in same and name != BENCH),
    }

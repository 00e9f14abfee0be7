"""The bench's CPU per order of the stack's processes: the kernel's counters of each part and
its children, before and after the run."""

from __future__ import annotations

import subprocess
import sys

import psutil
from rich.console import Console

from app.bench.report import summary_table
from app.bench.stack_cpu import BENCH, Sample, per_order, tree_cpu_s

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nprint('done', flush=True)\ninput()"


def test_a_process_is_counted_with_its_children_living_and_reaped():
    """PostgreSQL's work is in its backends, children of the postmaster that live for a while."""
    me = psutil.Process()
    before = tree_cpu_s(me)
    child = subprocess.Popen([sys.executable, "-c", BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "done\n"  # it burnt 0.3 s and waits, alive
        living = tree_cpu_s(me) - before
        assert living >= 0.25  # the kernel counts in 10 ms ticks
    finally:
        child.communicate("\n")
    reaped = tree_cpu_s(me) - before  # now in this process's children_* counters
    assert reaped >= 0.25


def test_cpu_per_order_by_part_leaves_out_a_part_restarted_during_the_run():
    before = {"temporal": Sample(10, 5.0), "order-worker": Sample(11, 2.0), "postgres": Sample(12, 1.0), BENCH: Sample(1, 0.5)}
    after = {"temporal": Sample(10, 8.0), "order-worker": Sample(13, 0.4), "postgres": Sample(12, 1.6), BENCH: Sample(1, 0.6)}
    cpu = per_order(before, after, 100)
    assert cpu == {
        "stack_ms_per_order": 36.0, "by_part": {"temporal": 30.0, "postgres": 6.0}, "bench_ms_per_order": 1.0,
        "left_out": ["order-worker"],  # and said so: the figure is smaller than what the stack spent
    }
    # A part started during the run, or gone by its end, is left out too.
    assert per_order(before, {**after, "order-worker": Sample(11, 2.5)}, 100)["left_out"] == []
    del after["postgres"]
    assert per_order(before, after, 100)["left_out"] == ["order-worker", "postgres"]
    assert per_order(before, after, 0) is None
    assert per_order({BENCH: Sample(1, 0.5)}, {BENCH: Sample(1, 0.6)}, 100) is None  # nothing of the stack here


def test_the_report_shows_it():
    summary = {
        "orders": 3, "concurrency": 1, "shipped": 3, "failed": 0, "lost_orders": 0, "p50_s": 1.0, "p95_s": 1.0,
        "p99_s": 1.0, "max_s": 1.0, "sla_15s_hit_rate": 1.0, "throughput_orders_per_s": 1.0, "attempts_per_order": 20.0,
        "double_charges": 0, "refunded_payments": 0, "wall_s": 3.0,
        "cpu": {"stack_ms_per_order": 36.0, "by_part": {"temporal": 30.0, "postgres": 6.0}, "bench_ms_per_order": 1.0},
    }
    console = Console(width=200, record=True)
    console.print(summary_table(summary))
    assert "36 ms (temporal 30, postgres 6; the bench itself 1)" in console.export_text()
    summary["cpu"]["left_out"] = ["order-worker"]
    console = Console(width=200, record=True)
    console.print(summary_table(summary))
    text = console.export_text()
    assert "36 ms (temporal 30, postgres 6; the bench itself 1; not counted: order-worker, restarted or stopped during the run)" in text

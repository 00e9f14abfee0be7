"""The benchmark against the real stack: every order it starts ships, is charged once and is
accounted for in PostgreSQL and Temporal. Behaviour only: timings depend on the machine."""

from __future__ import annotations

import json

from eval_tests.conftest import PrivateStack

FIELDS = {
    "orders", "concurrency", "shipped", "failed", "p50_s", "p95_s", "p99_s", "max_s", "sla_15s_hit_rate",
    "throughput_orders_per_s", "attempts_per_order", "double_charges", "lost_orders", "wall_s",
}


def test_bench_ships_every_order_once_and_writes_its_json(stack: PrivateStack, tmp_path):
    out = tmp_path / "bench.json"
    result = stack.ok("bench", "--orders", "10", "--concurrency", "5", "--json", str(out), timeout=300)
    summary = json.loads(out.read_text())
    assert FIELDS <= set(summary)
    assert summary["orders"] == 10 and summary["concurrency"] == 5
    assert summary["shipped"] == 10 and summary["failed"] == 0
    assert summary["double_charges"] == 0
    assert summary["lost_orders"] == 0
    # Every step retries past the flaky dependency: at least one attempt per step and order.
    assert summary["attempts_per_order"] >= 6
    assert 0 <= summary["sla_15s_hit_rate"] <= 1
    assert summary["p50_s"] <= summary["p95_s"] <= summary["p99_s"] <= summary["max_s"]
    assert "Targets" in result.stdout and "lost_orders" in result.stdout
    # The server's share, read from the dev server's own /metrics: every order writes through
    # the history shard more than ten times (two workflows, five workflow tasks, the child's
    # start and end recorded in the parent).
    assert summary["server"]["shard_writes_per_order"] >= 10
    assert summary["server"]["shard_write_gate_wait_mean_ms"] is not None
    assert "Temporal server, per order" in result.stdout

    # The orders are real: each one is in the database, shipped.
    listed = stack.json("order", "list", "--state", "SHIPPED")
    bench_ids = {o["order_id"] for o in listed["orders"] if o["order_id"].startswith(f"bench-{summary['run_id']}-")}
    assert len(bench_ids) == 10


def test_bench_with_a_bare_json_flag_prints_only_the_json(stack: PrivateStack):
    result = stack.ok("bench", "--orders", "2", "--concurrency", "2", "--json", timeout=300)
    summary = json.loads(result.stdout)
    assert summary["shipped"] == 2 and summary["lost_orders"] == 0


def test_bench_refuses_a_non_positive_order_count(stack: PrivateStack):
    result = stack.run("bench", "--orders", "0")
    assert result.returncode == 1
    assert "--orders must be at least 1." in result.stderr

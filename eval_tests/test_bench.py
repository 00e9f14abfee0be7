"""The benchmark against the real stack: every order it starts ships, is charged once and is
accounted for in PostgreSQL and Temporal. Behaviour only: timings depend on the machine."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import asyncpg
import pytest

from app.bench import new_run_id, results
from app.bench.driver import BENCH_ADDRESS, BENCH_ITEMS, order_id_prefix
from app.bench.stats import broken_invariants, summarize
from app.service import OrderService
from db.migrate import MIGRATIONS_DIR
from eval_tests.conftest import PrivateStack, wait_for_state
from workflows.model import OrderState, order_workflow_id

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
    # The CPU the stack's four processes spent per order, which the latencies follow on a
    # machine they share: each of them did part of the work.
    cpu = summary["cpu"]
    assert set(cpu["by_part"]) == {"temporal", "postgres", "order-worker", "shipping-worker"}
    assert all(ms > 0 for ms in cpu["by_part"].values()) and cpu["bench_ms_per_order"] > 0
    assert cpu["stack_ms_per_order"] == round(sum(cpu["by_part"].values()), 1)
    assert "stack CPU per order" in result.stdout

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
    assert result.returncode == 2  # a usage error, as any number the command line cannot take
    assert "argument --orders: give a whole number of orders from 1 to 1,000,000, not '0'." in result.stderr


CHARGE_TIME_CHECK, CHARGE_TIME_MIGRATION = "payments_charge_has_its_time", "005_charge_has_its_time.sql"


async def test_the_bench_counts_a_real_double_charge_and_an_unfinished_order(stack: PrivateStack, monkeypatch):
    """double_charges and lost_orders come from PostgreSQL and Temporal, not the driver's own
    bookkeeping: orders shipped by the real stack, one of them then charged a second time as a
    bug would, and one left in review, read back through the checker the bench itself runs."""
    run_id = new_run_id()
    shipped, in_review = [f"{order_id_prefix(run_id)}{n}" for n in (1, 2, 3)], f"{order_id_prefix(run_id)}4"
    started = [*shipped, in_review]
    # The workflows are awaited below; an order still running counts as lost at once.
    monkeypatch.setattr(results, "COMPLETION_GRACE_S", 0.0)
    service = await OrderService.connect(stack.settings)
    lifted = False
    try:
        for order_id in started:
            await service.create_order(order_id=order_id, items=BENCH_ITEMS, address=BENCH_ADDRESS)

        async def ship(order_id: str) -> None:
            await wait_for_state(service.pool, order_id, OrderState.AWAITING_APPROVAL.value)
            await service.approve(order_id, by="test")
            assert (await service.client.get_workflow_handle(order_workflow_id(order_id)).result())["state"] == "SHIPPED"

        await asyncio.gather(*(ship(order_id) for order_id in shipped))
        await wait_for_state(service.pool, in_review, OrderState.AWAITING_APPROVAL.value)

        async def checked() -> dict:
            facts = await results.collect(
                service, run_id=run_id, orders=len(started), concurrency=len(started), started_ids=started,
                not_started=0, elapsed_s=1.0,
            )
            return summarize(facts)

        clean = await checked()
        assert (clean["double_charges"], clean["lost_orders"], clean["shipped"]) == (0, 1, 3)

        # A second charge of a shipped order under a payment id of its own, as a charge keyed
        # on the attempt number would make it. The schema refuses it, with its charge time or
        # without (payments_one_charge_per_order, payments_charge_has_its_time).
        doubled = shipped[0]
        second_charge = (
            "INSERT INTO payments (payment_id, order_id, status, amount_cents, charged_at)"
            " SELECT $1, id, 'CHARGED', amount_cents, $3::timestamptz FROM orders WHERE id = $2"
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await service.pool.execute(second_charge, f"pay-{doubled}-attempt-2", doubled, datetime.now(timezone.utc))
        with pytest.raises(asyncpg.CheckViolationError):
            await service.pool.execute(second_charge, f"pay-{doubled}-attempt-2", doubled, None)
        # With the check lifted (a schema that lacks it), only the bench's own check sees it.
        async with service.pool.acquire() as conn:
            await conn.execute(f"ALTER TABLE payments DROP CONSTRAINT {CHARGE_TIME_CHECK}")
            lifted = True
            await conn.execute(second_charge, f"pay-{doubled}-attempt-2", doubled, None)
        summary = await checked()
        assert (summary["double_charges"], summary["lost_orders"], summary["shipped"]) == (1, 1, 3)
        assert "1 order charged twice" in (broken_invariants(summary) or "")
        await service.reject(in_review, reason="the test is over", by="test")
    finally:
        await service.pool.execute("DELETE FROM payments WHERE payment_id LIKE $1", f"pay-{order_id_prefix(run_id)}%-attempt-2")
        if lifted:  # put back as the migration made it
            await service.pool.execute((MIGRATIONS_DIR / CHARGE_TIME_MIGRATION).read_text())
        await service.close()

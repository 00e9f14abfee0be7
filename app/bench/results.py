"""After a run: what PostgreSQL and Temporal say about the benchmark's orders. Nothing here
trusts the driver's own bookkeeping beyond the list of ids it started."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from app.bench.driver import TERMINAL_STATES, order_id_prefix
from app.bench.stats import AttemptStats, OrderResult, RunFacts
from app.service import OrderService
from workflows.model import order_workflow_id

ORDERS_SQL = """
SELECT id, state, processing_ms, review_ms, created_at, state = ANY($2::text[]) AS terminal
FROM orders WHERE id = ANY($1::text[])
"""
RUN_ORDERS_SQL = "SELECT id FROM orders WHERE id LIKE $1"
# First workflow start to last terminal state, both on the database's clock.
WALL_SQL = """
SELECT EXTRACT(EPOCH FROM max(finished_at) - min(created_at))::float8
FROM orders WHERE id = ANY($1::text[])
"""
ATTEMPTS_SQL = """
SELECT activity, outcome, count(*) AS n, COALESCE(sum(duration_ms), 0) AS total_ms
FROM activity_attempts WHERE order_id = ANY($1::text[]) GROUP BY activity, outcome
"""
# Charged at some point, refunded or not: more than one such payment is a double charge.
DOUBLE_CHARGES_SQL = """
SELECT count(*) FROM (
    SELECT order_id FROM payments
    WHERE order_id = ANY($1::text[]) AND (charged_at IS NOT NULL OR status IN ('CHARGED', 'REFUNDED'))
    GROUP BY order_id HAVING count(*) > 1
) doubled
"""
REFUNDED_SQL = "SELECT count(*) FROM payments WHERE order_id = ANY($1::text[]) AND status = 'REFUNDED'"

DESCRIBE_CONCURRENCY = 20
# The database row turns terminal a moment before the workflow itself completes.
COMPLETION_GRACE_S = 10.0


async def collect(
    service: OrderService, *, run_id: str, orders: int, concurrency: int, started_ids: list[str],
    not_started: int, elapsed_s: float, client: dict | None = None,
) -> RunFacts:
    pool = service.pool
    # An order whose start call failed may have started all the same: the database knows it.
    known = [r["id"] for r in await pool.fetch(RUN_ORDERS_SQL, order_id_prefix(run_id) + "%")]
    started_anyway = [order_id for order_id in known if order_id not in set(started_ids)]
    started_ids = [*started_ids, *started_anyway]
    not_started = max(0, not_started - len(started_anyway))
    rows = {r["id"]: r for r in await pool.fetch(ORDERS_SQL, started_ids, TERMINAL_STATES)}
    completed = await workflows_completed(service, started_ids)
    results = [
        OrderResult(
            order_id=order_id,
            state=rows[order_id]["state"] if order_id in rows else None,
            processing_ms=rows[order_id]["processing_ms"] if order_id in rows else None,
            review_ms=rows[order_id]["review_ms"] if order_id in rows else None,
            terminal_in_db=bool(rows[order_id]["terminal"]) if order_id in rows else False,
            workflow_completed=order_id in completed,
            # A cross-check of the two clocks: orders.created_at is the workflow's start as
            # Temporal recorded it (ReceiveOrder stores it), so this stays ~0 (once, before
            # that, it was the first task's start, and the wait for it went uncounted).
            first_task_wait_ms=_ms_between(completed.get(order_id), rows[order_id]["created_at"] if order_id in rows else None),
        )
        for order_id in started_ids
    ]
    attempts = [
        AttemptStats(r["outcome"], r["n"], r["total_ms"], r["activity"]) for r in await pool.fetch(ATTEMPTS_SQL, started_ids)
    ]
    return RunFacts(
        orders=orders,
        concurrency=concurrency,
        results=results,
        attempts=attempts,
        double_charges=await pool.fetchval(DOUBLE_CHARGES_SQL, started_ids),
        refunded_payments=await pool.fetchval(REFUNDED_SQL, started_ids),
        wall_s=await pool.fetchval(WALL_SQL, started_ids) if started_ids else None,
        elapsed_s=elapsed_s,
        not_started=not_started,
        run_id=run_id,
        client=client or {},
    )


def _ms_between(earlier: datetime | None, later: datetime | None) -> int | None:
    if earlier is None or later is None:
        return None
    return max(0, int((later - earlier).total_seconds() * 1000))


async def workflows_completed(service: OrderService, order_ids: list[str]) -> dict[str, datetime]:
    """The orders whose workflow has completed, with when each workflow started, asking
    Temporal about each one; those still running are asked again for a few seconds before
    they count as not completed."""
    limit = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

    async def completed(order_id: str) -> datetime | None:
        async with limit:
            try:
                description = await service.client.get_workflow_handle(order_workflow_id(order_id)).describe()
            except RPCError:
                return None
            if description.status != WorkflowExecutionStatus.COMPLETED:
                return None
            return description.start_time

    pending = list(order_ids)
    done: dict[str, datetime] = {}
    deadline = time.monotonic() + COMPLETION_GRACE_S
    while pending:
        answers = await asyncio.gather(*(completed(order_id) for order_id in pending))
        done.update((order_id, started) for order_id, started in zip(pending, answers) if started is not None)
        pending = [order_id for order_id, started in zip(pending, answers) if started is None]
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    return done

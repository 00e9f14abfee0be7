"""Time the dashboard's refresh with 10,000 orders (SPEC section 7: under 100 ms), reproducibly.

Runs on the stack's PostgreSQL (`./start.sh up` first) but in a scratch database of its own,
created, migrated, filled and dropped here: the operator's orders are never touched. The orders
are synthetic (most ended, some in flight or awaiting review, ~20 attempt rows each, as the
benchmark leaves them); a refresh is the dashboard's own `fetch_view`, Temporal left out (the
overdue line's workflow check is cached per order, so a refresh rarely asks it).

    .venv/bin/python -m tools.dashboard_timing [--orders 10000] [--refreshes 30]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.cli_numbers import whole_number
from app.config import Settings
from app.service import OrderService
from app.tui import dashboard
from app.tui.dashboard_layout import rows_for_height
from db.migrate import apply_migrations

# Ended states outnumber the rest, as on a stack that has run for a while.
STATES = ["SHIPPED"] * 6 + ["CANCELLED", "FAILED", "REJECTED", "EXPIRED", "AWAITING_APPROVAL", "PAID", "DISPATCHED"]
ATTEMPTS_PER_ORDER = 20


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _fill(url: str, orders: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO orders (id, workflow_id, state, items_json, address_json, amount_cents, payment_id, created_at)"
            " SELECT 'dash-' || g, 'order-dash-' || g, ($2::text[])[1 + g % array_length($2::text[], 1)],"
            " '[{\"sku\": \"WIDGET-1\", \"quantity\": 1}]', '{}', 1999, 'pay-dash-' || g,"
            " now() - g * interval '1 second' FROM generate_series(1, $1) g",
            orders,
            STATES,
        )
        await conn.execute(
            "INSERT INTO activity_attempts (order_id, workflow_id, activity, activity_id, attempt, outcome, error,"
            " started_at, finished_at, duration_ms)"
            " SELECT 'dash-' || g, 'order-dash-' || g, 'ChargePayment', '1', a,"
            " CASE WHEN a % 3 = 0 THEN 'ok' WHEN a % 3 = 1 THEN 'error' ELSE 'timeout' END,"
            " CASE WHEN a % 3 = 1 THEN 'RuntimeError: Forced failure for testing' END,"
            " now() - g * interval '1 second', now() - g * interval '1 second', 120"
            " FROM generate_series(1, $1) g, generate_series(1, $2) a",
            orders,
            ATTEMPTS_PER_ORDER,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _time_refreshes(settings: Settings, refreshes: int) -> list[float]:
    service = await OrderService.connect(settings, temporal=False)
    try:
        rows = rows_for_height(40)
        await dashboard.fetch_view(service, state_filter=None, rows=rows)  # the pool's first connection
        took = []
        for _ in range(refreshes):
            began = time.perf_counter()
            await dashboard.fetch_view(service, state_filter=None, rows=rows)
            took.append((time.perf_counter() - began) * 1000)
        return took
    finally:
        await service.close()


async def main(orders: int, refreshes: int) -> None:
    settings = Settings.from_env()
    scratch = f"dashboard_timing_{os.getpid()}"
    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        try:
            url = _with_database(settings.database_url, scratch)
            await apply_migrations(url)
            await _fill(url, orders)
            took = await _time_refreshes(dataclasses.replace(settings, external_database_url=url), refreshes)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    finally:
        await admin.close()
    print(
        f"dashboard refresh with {orders:,} orders ({orders * ATTEMPTS_PER_ORDER:,} attempt rows), {refreshes} refreshes:"
        f" median {statistics.median(took):.1f} ms, max {max(took):.1f} ms (target: under 100 ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=whole_number("orders", 1), default=10_000)
    parser.add_argument("--refreshes", type=whole_number("refreshes", 1), default=30)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.orders, args.refreshes))
    except OSError as error:  # one sentence, no traceback
        sys.exit(f"The stack's PostgreSQL does not answer ({error}); start it with ./start.sh up.")
    except asyncpg.PostgresError as error:  # a role that may not create a database, say
        sys.exit(f"The stack's PostgreSQL refused the timing's scratch database: {error}.")

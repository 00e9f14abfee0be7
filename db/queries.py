"""The read side: what operators see. Each function is one query; the dashboard's page is
one indexed query however many orders there are."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass
class Product:
    sku: str
    name: str
    price_cents: int


async def catalog(conn: asyncpg.Connection | asyncpg.Pool) -> list[Product]:
    rows = await conn.fetch("SELECT sku, name, price_cents FROM products ORDER BY sku")
    return [Product(r["sku"], r["name"], r["price_cents"]) for r in rows]


async def reserve_payment_id(conn: asyncpg.Connection, payment_id: str, order_id: str) -> tuple[str, bool]:
    """Reserve the payment id for the order, atomically. Returns the order that holds it (this
    one, or the one that had it first) and whether this call made the reservation. Orders or
    payments that hold it without a reservation (started by other means than the operator's
    tools) hold it all the same."""
    owner = await conn.fetchval(
        "INSERT INTO payment_id_reservations (payment_id, order_id)"
        " SELECT $1, COALESCE("
        "   (SELECT order_id FROM payments WHERE payment_id = $1"
        "    UNION ALL SELECT id FROM orders WHERE payment_id = $1 LIMIT 1), $2)"
        " ON CONFLICT (payment_id) DO NOTHING RETURNING order_id",
        payment_id,
        order_id,
    )
    if owner is not None:
        return owner, owner == order_id
    # Held already: read in a statement of its own, which sees a holder that just committed.
    owner = await conn.fetchval("SELECT order_id FROM payment_id_reservations WHERE payment_id = $1", payment_id)
    return owner, False


async def release_payment_id(conn: asyncpg.Connection | asyncpg.Pool, payment_id: str, order_id: str) -> None:
    """Undo a reservation this create made, for an order it did not start (its caller's
    business: only a reservation the same call made may go, else a second create of a live
    order would free that order's id)."""
    await conn.execute(
        "DELETE FROM payment_id_reservations WHERE payment_id = $1 AND order_id = $2"
        " AND NOT EXISTS (SELECT 1 FROM orders WHERE id = $2)",
        payment_id,
        order_id,
    )


_ORDER_COLUMNS = """
    o.id, o.state, o.items_json, o.address_json, o.amount_cents, o.payment_id, o.failure_reason,
    o.tracking_number, o.awaiting_approval_since, o.review_ms, o.processing_ms, o.created_at,
    o.updated_at, o.finished_at, p.status AS payment_status,
    a.attempts, a.failures, a.retries, e.last_error, e.last_error_activity, e.last_error_at,
    e.last_error_resolved
"""

# Attempt statistics per order, computed from the index on activity_attempts(order_id). A retry
# is an attempt after the first (attempt > 1): the one definition, shown by the list, the
# dashboard and `order status` alike. A step that ran again (its workflow task retried, its
# worker lost) starts over at attempt 1, which follows no failure and is no retry: counted as
# one, an order whose success was lost with its worker had more retries than failed attempts.
# The last error is resolved when a later attempt of the same invocation (workflow_id,
# activity_id) succeeded: with a dependency that fails two times out of three nearly every
# order has an error behind it, and only an unresolved one needs an operator's eye.
_ATTEMPTS_LATERAL = """
    LEFT JOIN payments p ON p.payment_id = o.payment_id
    LEFT JOIN LATERAL (
        SELECT count(*) AS attempts,
               count(*) FILTER (WHERE outcome <> 'ok') AS failures,
               count(*) FILTER (WHERE attempt > 1) AS retries
        FROM activity_attempts t WHERE t.order_id = o.id
    ) a ON true
    LEFT JOIN LATERAL (
        SELECT f.error AS last_error, f.activity AS last_error_activity, f.finished_at AS last_error_at,
               EXISTS (
                   SELECT 1 FROM activity_attempts k
                   WHERE k.order_id = o.id AND k.workflow_id = f.workflow_id AND k.activity_id = f.activity_id
                     AND k.outcome = 'ok' AND k.started_at > f.started_at
               ) AS last_error_resolved
        FROM activity_attempts f WHERE f.order_id = o.id AND f.outcome <> 'ok'
        ORDER BY f.started_at DESC LIMIT 1
    ) e ON true
"""


async def list_orders(
    conn: asyncpg.Connection | asyncpg.Pool, *, state: str | None = None, limit: int = 50, offset: int = 0
) -> list[asyncpg.Record]:
    """A page of orders, newest first, with their retries and last error."""
    return await conn.fetch(
        f"SELECT {_ORDER_COLUMNS} FROM (SELECT * FROM orders WHERE ($1::text IS NULL OR state = $1)"
        " ORDER BY created_at DESC, id LIMIT $2 OFFSET $3) o"
        f" {_ATTEMPTS_LATERAL} ORDER BY o.created_at DESC, o.id",
        state,
        limit,
        offset,
    )


async def get_order(conn: asyncpg.Connection | asyncpg.Pool, order_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ORDER_COLUMNS}, o.workflow_first_run_id FROM orders o {_ATTEMPTS_LATERAL} WHERE o.id = $1", order_id
    )


async def order_state(conn: asyncpg.Connection | asyncpg.Pool, order_id: str) -> str | None:
    return await conn.fetchval("SELECT state FROM orders WHERE id = $1", order_id)


async def order_states(conn: asyncpg.Connection | asyncpg.Pool, order_ids: list[str]) -> dict[str, str]:
    """The state of each of these orders that has a row (by primary key, however many others exist)."""
    rows = await conn.fetch("SELECT id, state FROM orders WHERE id = ANY($1::text[])", order_ids)
    return {row["id"]: row["state"] for row in rows}


async def order_exists(conn: asyncpg.Connection | asyncpg.Pool, order_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM orders WHERE id = $1", order_id))


async def overdue(
    conn: asyncpg.Connection | asyncpg.Pool, *, states: list[str], budget_s: float, limit: int = 3
) -> list[asyncpg.Record]:
    """Orders still in ``states`` whose processing clock (time since start, minus the wait for a
    human once it is over) has passed ``budget_s``, oldest first. In-flight orders are few, and
    each state is read through the (state, created_at) index."""
    return await conn.fetch(
        "SELECT id, state, created_at, review_ms, workflow_first_run_id FROM orders WHERE state = ANY($1::text[])"
        " AND created_at + coalesce(review_ms, 0) * interval '1 millisecond' < now() - $2 * interval '1 second'"
        " ORDER BY created_at, id LIMIT $3",
        states,
        budget_s,
        limit,
    )


async def state_counts(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    rows = await conn.fetch("SELECT state, count(*) AS n FROM orders GROUP BY state")
    return {r["state"]: r["n"] for r in rows}


async def attempts_by_activity(conn: asyncpg.Connection | asyncpg.Pool, order_id: str) -> dict[str, int]:
    # In the order the steps first ran, as the lifecycle goes.
    rows = await conn.fetch(
        "SELECT activity, count(*) AS n FROM activity_attempts WHERE order_id = $1"
        " GROUP BY activity ORDER BY min(started_at)",
        order_id,
    )
    return {r["activity"]: r["n"] for r in rows}


async def shipping_runs(conn: asyncpg.Connection | asyncpg.Pool, order_id: str) -> int:
    """How many shipping runs the order had, as its attempts show: the highest run number of
    the shipping children that recorded one (workflows.model.shipping_workflow_id)."""
    return await conn.fetchval(
        "SELECT coalesce(max(substring(workflow_id FROM '-([0-9]+)$')::int), 0) FROM activity_attempts"
        " WHERE order_id = $1 AND workflow_id LIKE 'shipping-%'",
        order_id,
    )


async def events(conn: asyncpg.Connection | asyncpg.Pool, order_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, type, payload_json, ts FROM events WHERE order_id = $1 ORDER BY ts, id", order_id
    )


async def attempts(conn: asyncpg.Connection | asyncpg.Pool, order_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT workflow_id, activity, activity_id, attempt, outcome, error, started_at, finished_at, duration_ms"
        " FROM activity_attempts WHERE order_id = $1 ORDER BY started_at, attempt",
        order_id,
    )

"""The write side: what the activities record. Every statement is parameterised and every
write is idempotent by key (order id, payment id, event dedupe key), so an activity may run
any number of times and leave the same rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from db.ownership import _check_owner, _check_run, _owned


async def insert_event(
    conn: asyncpg.Connection,
    order_id: str,
    event_type: str,
    key: str,
    payload: dict,
    workflow_id: str | None = None,
    before_row: bool = False,
) -> bool:
    """Record a business fact once; returns False when it was already recorded, or when the
    order's row is another workflow's than ``workflow_id`` (given when no statement before in
    the transaction checked it). With no row to be seen (none stored, or its ReceiveOrder still
    committing), only a workflow that may come ``before_row`` (the order's own by id) records:
    another could be racing the order's own workflow for it (a workflow started by hand under
    another id records only once its ReceiveOrder has stored the row: OrderWorkflow._row_before_audit)."""
    row = await conn.fetchrow(
        "INSERT INTO events (order_id, type, dedupe_key, payload_json) SELECT $1, $2, $3, $4::jsonb"
        " WHERE $5::text IS NULL OR COALESCE((SELECT workflow_id = $5 FROM orders WHERE id = $1), $6)"
        " ON CONFLICT (order_id, dedupe_key) DO NOTHING RETURNING id",
        order_id,
        event_type,
        key,
        payload,
        workflow_id,
        before_row,
    )
    return row is not None


async def event_type(conn: asyncpg.Connection, order_id: str, key: str) -> str | None:
    return await conn.fetchval("SELECT type FROM events WHERE order_id = $1 AND dedupe_key = $2", order_id, key)


async def approve_reviewed(conn: asyncpg.Connection, order_id: str) -> bool:
    """APPROVED, from AWAITING_APPROVAL only; whether the row moved. An approval recorded as the
    order ends before its review (one sent early, then a cancel) is on record, but the order was
    never APPROVED."""
    moved = await conn.fetchval(
        "UPDATE orders SET state = 'APPROVED', updated_at = now() WHERE id = $1 AND state = 'AWAITING_APPROVAL'"
        " RETURNING true",
        order_id,
    )
    return bool(moved)


async def advance_state(
    conn: asyncpg.Connection, order_id: str, state: str, *, workflow_id: str | None, **fields: Any
) -> None:
    """Move the order forward to ``state`` (never back) and set the given columns; refused
    (AnotherWorkflowsOrder) if the row is another workflow's (None: not checked)."""
    allowed = {"failure_reason", "tracking_number", "awaiting_approval_since", "review_ms", "processing_ms", "finished_at"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown order columns: {sorted(unknown)}")
    names = sorted(fields)
    assignments = "".join(f", {name} = ${i + 4}" for i, name in enumerate(names))
    # One statement: the owner comes back whether the row moved or was already past ``state``.
    owner = await conn.fetchval(
        f"WITH moved AS (UPDATE orders SET state = $2, updated_at = now(){assignments}"
        " WHERE id = $1 AND order_state_rank(state) < order_state_rank($2)"
        " AND ($3::text IS NULL OR workflow_id = $3) RETURNING 1)"
        " SELECT workflow_id FROM orders WHERE id = $1",
        order_id,
        state,
        workflow_id,
        *(fields[name] for name in names),
    )
    _check_owner(order_id, owner, workflow_id)


async def finish(
    conn: asyncpg.Connection,
    order_id: str,
    state: str,
    failure_reason: str = "",
    review_ended_at: datetime | None = None,
    *,
    workflow_id: str,
) -> asyncpg.Record | None:
    """Move the order to a terminal state once, stamping its processing time: from the
    workflow's start to now, minus the time it waited for a human. A review still open (no
    decision recorded) ends now, or at ``review_ended_at`` (when the cancel that ends it was
    sent), never later than now and never before the review began. An order the carrier has (a
    tracking number) ends SHIPPED or not at all: its row stays DISPATCHED. None if there is no
    row; refused (AnotherWorkflowsOrder) if it is another workflow's."""
    await conn.execute(
        """
        UPDATE orders SET
            state = $2,
            failure_reason = $3,
            updated_at = now(),
            finished_at = now(),
            review_ms = COALESCE(review_ms, GREATEST(0,
                (EXTRACT(EPOCH FROM LEAST(now(), COALESCE($5, now())) - awaiting_approval_since) * 1000)::bigint), 0),
            processing_ms = GREATEST(0,
                (EXTRACT(EPOCH FROM now() - created_at) * 1000)::bigint
                - COALESCE(review_ms, GREATEST(0,
                    (EXTRACT(EPOCH FROM LEAST(now(), COALESCE($5, now())) - awaiting_approval_since) * 1000)::bigint), 0))
        WHERE id = $1 AND order_state_rank(state) < order_state_rank($2)
            AND ($2 = 'SHIPPED' OR tracking_number = '') AND workflow_id = $4
        """,
        order_id,
        state,
        failure_reason,
        workflow_id,
        review_ended_at,
    )
    row = await conn.fetchrow(
        "SELECT state, failure_reason, processing_ms, review_ms, tracking_number, workflow_id"
        " FROM orders WHERE id = $1",
        order_id,
    )
    return _owned(order_id, row, workflow_id)


async def event_sent(conn: asyncpg.Connection, order_id: str, key: str) -> asyncpg.Record | None:
    """When an operator's command on record was sent (its decided_at, text as the client gave
    it, or None) and when it was recorded (ts); None if it is not on record."""
    return await conn.fetchrow(
        "SELECT payload_json->>'decided_at' AS decided_at, ts FROM events WHERE order_id = $1 AND dedupe_key = $2",
        order_id,
        key,
    )


async def mark_awaiting_approval(conn: asyncpg.Connection, order_id: str, *, workflow_id: str) -> datetime:
    """Start the review clock once; returns when it started. Refused (AnotherWorkflowsOrder) if
    the row is another workflow's."""
    await conn.execute(
        "UPDATE orders SET state = 'AWAITING_APPROVAL', updated_at = now(),"
        " awaiting_approval_since = COALESCE(awaiting_approval_since, now())"
        " WHERE id = $1 AND order_state_rank(state) < order_state_rank('AWAITING_APPROVAL') AND workflow_id = $2",
        order_id,
        workflow_id,
    )
    row = await conn.fetchrow("SELECT awaiting_approval_since, workflow_id FROM orders WHERE id = $1", order_id)
    _owned(order_id, row, workflow_id)
    return row["awaiting_approval_since"] if row is not None else None


async def stop_review_clock(
    conn: asyncpg.Connection, order_id: str, decided_at: datetime | None = None, *, workflow_id: str
) -> int:
    """Stop the review clock once; returns how long the order waited for a human, in ms.

    The wait ends when the human decided (decided_at, from the client that sent the
    decision), never later than now and never before the review began; the time the system
    then takes to act on the decision is processing time. Refused (AnotherWorkflowsOrder) if
    the row is another workflow's; 0 if there is no row (the workflow divides the answer, and
    RecordDecision answers 0 for an order never stored too)."""
    row = await conn.fetchrow(
        "WITH stopped AS (UPDATE orders SET review_ms = COALESCE(review_ms,"
        " GREATEST(0, (EXTRACT(EPOCH FROM LEAST(now(), COALESCE($2, now())) - awaiting_approval_since)"
        " * 1000)::bigint), 0)"
        " WHERE id = $1 AND workflow_id = $3 RETURNING review_ms)"
        " SELECT (SELECT review_ms FROM stopped) AS review_ms, (SELECT workflow_id FROM orders WHERE id = $1) AS owner",
        order_id,
        decided_at,
        workflow_id,
    )
    _check_owner(order_id, row["owner"], workflow_id)
    return row["review_ms"] if row["review_ms"] is not None else 0


async def insert_order(
    conn: asyncpg.Connection,
    *,
    order_id: str,
    workflow_id: str,
    first_run_id: str = "",
    items: list[dict],
    address: dict,
    amount_cents: int,
    payment_id: str,
    created_at: datetime,
) -> asyncpg.Record:
    """Create the order row once, owned by ``workflow_id`` and the run chain ``first_run_id``;
    returns its created_at and amount (the first write wins). A row another workflow created is
    refused (AnotherWorkflowsOrder), and so is one another run chain of the same workflow id
    created (AnotherRunsOrder): the order is theirs."""
    await conn.execute(
        "INSERT INTO orders (id, workflow_id, workflow_first_run_id, state, items_json, address_json, amount_cents,"
        " payment_id, created_at) VALUES ($1, $2, NULLIF($8, ''), 'RECEIVED', $3::jsonb, $4::jsonb, $5, $6, $7)"
        " ON CONFLICT (id) DO NOTHING",
        order_id,
        workflow_id,
        items,
        address,
        amount_cents,
        payment_id,
        created_at,
        first_run_id,
    )
    row = await conn.fetchrow(
        "SELECT created_at, amount_cents, workflow_id, workflow_first_run_id FROM orders WHERE id = $1", order_id
    )
    _check_owner(order_id, row["workflow_id"], workflow_id)
    _check_run(order_id, row, first_run_id)
    return row


async def prices(conn: asyncpg.Connection, skus: list[str]) -> dict[str, int]:
    rows = await conn.fetch("SELECT sku, price_cents FROM products WHERE sku = ANY($1::text[])", skus)
    return {r["sku"]: r["price_cents"] for r in rows}


async def lock_order(conn: asyncpg.Connection, order_id: str, *, workflow_id: str) -> None:
    """Take the order's row lock (charge, refund, hand-over and a recorded cancel take it first);
    refused (AnotherWorkflowsOrder) if the row is another workflow's."""
    owner = await conn.fetchval("SELECT workflow_id FROM orders WHERE id = $1 FOR UPDATE", order_id)
    _check_owner(order_id, owner, workflow_id)


async def lock_for_handover(
    conn: asyncpg.Connection, order_id: str, *, workflow_id: str | None
) -> asyncpg.Record | None:
    """The current address, whether the carrier has the package already (the hand-over sets the
    tracking number) and the state (an order that ended otherwise gets no hand-over). Refused
    (AnotherWorkflowsOrder) if the row is another workflow's (None: a read, not checked)."""
    row = await conn.fetchrow(
        "SELECT address_json, state, tracking_number, tracking_number <> '' AS dispatched, workflow_id"
        " FROM orders WHERE id = $1 FOR UPDATE",
        order_id,
    )
    return _owned(order_id, row, workflow_id)


async def set_address(conn: asyncpg.Connection, order_id: str, address: dict) -> None:
    await conn.execute("UPDATE orders SET address_json = $2::jsonb, updated_at = now() WHERE id = $1", order_id, address)

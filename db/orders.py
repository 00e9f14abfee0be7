"""The write side: what the activities record. Every statement is parameterised and every
write is idempotent by key (order id, payment id, event dedupe key), so an activity may run
any number of times and leave the same rows."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import asyncpg


class PaymentConflict(Exception):
    """The payment id is already used by another order, or the order was charged under another id."""


class AnotherWorkflowsOrder(Exception):
    """The order's row was created by another workflow (orders.workflow_id): one started by hand
    for an order that exists, say. An order belongs to the workflow that created its row, and
    no other writes to it; the transaction is rolled back."""

    def __init__(self, order_id: str, owner: str, workflow_id: str) -> None:
        super().__init__(f"Order {order_id} belongs to workflow {owner}; workflow {workflow_id} may not act on it.")
        self.owner = owner


class AnotherRunsOrder(AnotherWorkflowsOrder):
    """The order's row is its workflow id's, but another run chain's (orders.workflow_first_run_id):
    a run started by hand under order-<id> once the order's own workflow had closed. It may not
    act on the order at all; the transaction is rolled back."""

    def __init__(self, order_id: str, owner_run: str, started: datetime) -> None:
        when = started.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        Exception.__init__(
            self, f"Order {order_id} belongs to another workflow run (started {when}); this run changes nothing."
        )
        self.owner = owner_run


def _check_owner(order_id: str, owner: str | None, workflow_id: str | None) -> None:
    """Refuse a workflow that is not the row's (None: no row, or no workflow to check)."""
    if owner is not None and workflow_id is not None and owner != workflow_id:
        raise AnotherWorkflowsOrder(order_id, owner, workflow_id)


def _owned(order_id: str, row: asyncpg.Record | None, workflow_id: str | None) -> asyncpg.Record | None:
    """``row`` (read with its workflow_id), once _check_owner has let ``workflow_id`` through."""
    _check_owner(order_id, row["workflow_id"] if row is not None else None, workflow_id)
    return row


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


def _check_run(order_id: str, row: asyncpg.Record, first_run_id: str) -> None:
    """Refuse a run of another chain than the row's (after _check_owner: same workflow id). A
    row stored before the chain was recorded (NULL), or a caller that does not say (""), is
    not checked: such orders are their workflow id's, as they were."""
    owner_run = row["workflow_first_run_id"]
    if owner_run is not None and first_run_id and owner_run != first_run_id:
        raise AnotherRunsOrder(order_id, owner_run, row["created_at"])


async def check_owner(conn: asyncpg.Connection, order_id: str, *, workflow_id: str, first_run_id: str) -> None:
    """Refuse (AnotherWorkflowsOrder, AnotherRunsOrder) a workflow run that does not own the
    order's row; nothing if there is no row yet. A read: no lock, nothing written."""
    row = await conn.fetchrow(
        "SELECT workflow_id, workflow_first_run_id, created_at FROM orders WHERE id = $1", order_id
    )
    if row is not None:
        _check_owner(order_id, row["workflow_id"], workflow_id)
        _check_run(order_id, row, first_run_id)


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


async def charge(
    conn: asyncpg.Connection, *, payment_id: str, order_id: str, amount_cents: int, workflow_id: str
) -> asyncpg.Record:
    """Charge once per payment id: a repeat returns the existing payment unchanged, and so does
    a payment id a refund has voided (status FAILED: the order ended before any charge). An
    order that has already ended is not charged: its payment id is voided.

    The order's row lock comes first, as in the refund and the hand-over, so that a charge and a
    refund never overlap (nor deadlock). Concurrent charges with one payment id serialise on
    that lock and the primary key; the partial unique index on payments(order_id) refuses a
    second charge for the order under any id. An order another workflow owns is refused
    (AnotherWorkflowsOrder).
    """
    order = await conn.fetchrow(
        "SELECT order_state_rank(state) >= order_state_rank('SHIPPED') AS ended, workflow_id FROM orders"
        " WHERE id = $1 FOR UPDATE",
        order_id,
    )
    _owned(order_id, order, workflow_id)
    ended = order is not None and order["ended"]
    # An order that has ended takes no money: a charge that comes now is from a try of the
    # workflow task that was lost but whose worker was only slow. Its payment id is voided
    # instead (or found as it stands), as a refund of a payment never charged does.
    status, amount = ("FAILED", 0) if ended else ("CHARGED", amount_cents)
    try:
        row = await conn.fetchrow(
            "INSERT INTO payments (payment_id, order_id, status, amount_cents, charged_at)"
            " VALUES ($1, $2, $3, $4, CASE WHEN $3 = 'CHARGED' THEN now() END) ON CONFLICT (payment_id) DO NOTHING"
            " RETURNING payment_id, order_id, status, amount_cents",
            payment_id,
            order_id,
            status,
            amount,
        )
    except asyncpg.UniqueViolationError:  # payments_one_charge_per_order
        raise PaymentConflict(f"order {order_id} is already charged under another payment id") from None
    if row is None:
        row = await conn.fetchrow(
            "SELECT payment_id, order_id, status, amount_cents FROM payments WHERE payment_id = $1",
            payment_id,
        )
        if row["order_id"] != order_id:
            raise PaymentConflict(f"payment id {payment_id} belongs to order {row['order_id']}")
    return row


async def refund(
    conn: asyncpg.Connection, order_id: str, payment_id: str, *, workflow_id: str | None
) -> asyncpg.Record | None:
    """Refund the order's charged payment once, and return the payment as it then stands; None
    if the payment id is another order's.

    A payment not charged (yet) is voided instead: a FAILED row under its id, so that a charge
    still on its way (a try of the workflow task that was lost but whose worker is only slow)
    finds it and takes no money. The payment of an order the carrier has (a tracking number)
    stays charged. The order's row lock comes first, as in the charge and the hand-over, so that
    none of them overlap: one still committing is waited for, and what it did is seen here. An
    order another workflow owns is refused (AnotherWorkflowsOrder)."""
    order = await conn.fetchrow(
        "SELECT tracking_number <> '' AS handed_over, workflow_id FROM orders WHERE id = $1 FOR UPDATE", order_id
    )
    _owned(order_id, order, workflow_id)
    handed_over = order is not None and order["handed_over"]
    if not handed_over:
        row = await conn.fetchrow(
            "UPDATE payments SET status = 'REFUNDED', refunded_at = now(), updated_at = now()"
            " WHERE payment_id = $1 AND order_id = $2 AND status = 'CHARGED'"
            " RETURNING payment_id, order_id, status, amount_cents",
            payment_id,
            order_id,
        )
        if row is not None:
            return row
        voided = await conn.fetchrow(
            "INSERT INTO payments (payment_id, order_id, status, amount_cents)"
            " VALUES ($1, $2, 'FAILED', 0) ON CONFLICT (payment_id) DO NOTHING"
            " RETURNING payment_id, order_id, status, amount_cents",
            payment_id,
            order_id,
        )
        if voided is not None:
            return voided
    return await conn.fetchrow(
        "SELECT payment_id, order_id, status, amount_cents FROM payments WHERE payment_id = $1 AND order_id = $2",
        payment_id,
        order_id,
    )


async def refund_forgotten_charge(conn: asyncpg.Connection, order_id: str) -> asyncpg.Record | None:
    """At an ending other than SHIPPED: refund a charge the workflow does not know of, and
    return it; None if there is none. One can be left by a try of the workflow task that
    charged and was then lost (a worker killed) when the try that replaced it never saw the
    approval: a cancel or rejection applied first, or the server lost the Update. A payment the
    carrier's hand-over covers (a tracking number) stays charged, as in ``refund``. Call it
    holding the order's row lock (``finish`` takes it)."""
    return await conn.fetchrow(
        "UPDATE payments SET status = 'REFUNDED', refunded_at = now(), updated_at = now()"
        " WHERE order_id = $1 AND status = 'CHARGED'"
        " AND NOT EXISTS (SELECT 1 FROM orders WHERE id = $1 AND tracking_number <> '')"
        " RETURNING payment_id, status, amount_cents",
        order_id,
    )


async def order_payment(conn: asyncpg.Connection, order_id: str) -> asyncpg.Record | None:
    """The order's payment as it stands: the one charged (now or before), else a voided one."""
    return await conn.fetchrow(
        "SELECT payment_id, status, amount_cents FROM payments WHERE order_id = $1"
        " ORDER BY (charged_at IS NOT NULL) DESC, updated_at DESC LIMIT 1",
        order_id,
    )


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


async def payment_refunded(conn: asyncpg.Connection, order_id: str) -> bool:
    """Whether the order's payment went back (or was voided). Read after ``lock_for_handover``,
    in a statement of its own: a refund that held the lock meanwhile has committed, and only a
    new statement sees it (the row lock's statement reads the payments as they were when it
    began)."""
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM payments WHERE order_id = $1 AND status IN ('REFUNDED', 'FAILED'))", order_id
    )


async def set_address(conn: asyncpg.Connection, order_id: str, address: dict) -> None:
    await conn.execute("UPDATE orders SET address_json = $2::jsonb, updated_at = now() WHERE id = $1", order_id, address)


async def record_attempt(
    pool: asyncpg.Pool,
    *,
    order_id: str,
    workflow_id: str,
    activity: str,
    activity_id: str,
    attempt: int,
    outcome: str,
    error: str | None,
    started_at: datetime,
    finished_at: datetime,
    duration_ms: int,
) -> None:
    await pool.execute(
        "INSERT INTO activity_attempts (order_id, workflow_id, activity, activity_id, attempt, outcome, error,"
        " started_at, finished_at, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (workflow_id, activity_id, attempt, started_at) DO NOTHING",
        order_id,
        workflow_id,
        activity,
        activity_id,
        attempt,
        outcome,
        error,
        started_at,
        finished_at,
        duration_ms,
    )


async def correct_attempt(pool: asyncpg.Pool, row: dict[str, Any], *, outcome: str, error: str) -> None:
    """An attempt recorded as ok whose time ran out before Temporal heard of its result."""
    await pool.execute(
        "UPDATE activity_attempts SET outcome = $5, error = $6"
        " WHERE workflow_id = $1 AND activity_id = $2 AND attempt = $3 AND started_at = $4",
        row["workflow_id"],
        row["activity_id"],
        row["attempt"],
        row["started_at"],
        outcome,
        error,
    )

"""The payments: charged once per payment id, refunded or voided once, and what the ending
and the carrier's hand-over read of them. Charge and refund take the order's row lock first, as
the hand-over does, so that none of them overlap."""

from __future__ import annotations

import asyncpg

from db.ownership import _owned


class PaymentConflict(Exception):
    """The payment id is already used by another order, or the order was charged under another id."""


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


async def payment_refunded(conn: asyncpg.Connection, order_id: str) -> bool:
    """Whether the order's payment went back (or was voided). Read after ``lock_for_handover``,
    in a statement of its own: a refund that held the lock meanwhile has committed, and only a
    new statement sees it (the row lock's statement reads the payments as they were when it
    began)."""
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM payments WHERE order_id = $1 AND status IN ('REFUNDED', 'FAILED'))", order_id
    )

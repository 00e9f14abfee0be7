"""The order worker's bookkeeping steps, which OrderActivities runs: the review clock, decisions,
address changes, refunds, endings and audit events, in our own database."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from datetime import datetime

import asyncpg

from activities import storable
from activities.business import (
    acting_as_the_order,
    acting_workflow,
    refused_if_another_workflows,
    unwritten_if_another_workflows,
)
from db import orders as orders_db
from db import ownership
from db import payments as payments_db
from workflows.activity_io import (
    AddressChange,
    EventInput,
    FinishInput,
    Finished,
    RefundInput,
    ReviewInput,
)
from workflows.model import (
    CANCEL_REQUESTED_EVENT,
    OrderState,
    Payment,
    PaymentStatus,
    decided_instant,
)


log = logging.getLogger("activities.orders")


async def mark_awaiting_approval(pool: asyncpg.Pool, input: ReviewInput) -> str:
    """Start the review clock; returns when it started (database time)."""
    async with refused_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        since = await orders_db.mark_awaiting_approval(conn, input.order_id, workflow_id=acting_workflow())
        await orders_db.insert_event(
            conn,
            input.order_id,
            "awaiting_approval",
            "awaiting_approval",
            {"state": OrderState.AWAITING_APPROVAL.value, "review_window_seconds": input.review_window_seconds},
        )
    return since.isoformat()


async def record_decision(pool: asyncpg.Pool, input: ReviewInput) -> int:
    """Record who decided what and why; returns the review wait in ms."""
    decision = input.decision
    assert decision is not None
    if _never_stored(input.order_id):
        return 0
    async with unwritten_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        decided_at = decided_instant(decision.decided_at)
        review_ms = await orders_db.stop_review_clock(
            conn, input.order_id, decided_at, workflow_id=acting_workflow()
        )
        payload = {"by": decision.by, "reason": decision.reason, "review_ms": review_ms}
        if decided_at is not None:  # the audit's time is the record's: after an outage, much later
            payload["decided_at"] = decided_at.isoformat()
        if decision.approved and await orders_db.approve_reviewed(conn, input.order_id):
            payload["state"] = OrderState.APPROVED.value
        await orders_db.insert_event(
            conn,
            input.order_id,
            "approved" if decision.approved else "rejected",
            "decision",
            payload,
            workflow_id=acting_workflow(),  # no row seen: the order's own workflow only
            before_row=acting_as_the_order(input.order_id),
        )
        return review_ms
    return 0  # another workflow's order: as for one never stored


async def record_address_change(pool: asyncpg.Pool, input: AddressChange) -> bool | str:
    """Persist the new address with old and new in the audit log: True once applied. Too
    late, what the order's row says stood in the way: DISPATCHED (the carrier has the
    package) or the ending it already has, which may be ahead of the workflow (recorded by
    a try of its task that was lost); False if there is no row."""
    new = asdict(input.address)
    # The sequence alone could repeat with another change: a try of the workflow task that
    # was lost may have recorded its change under the number a different one gets in the
    # try that replaced it (a signal applied first). With the content it cannot.
    content = json.dumps({"address": new, "by": input.by}, sort_keys=True)
    key = f"address_changed:{input.sequence}:{hashlib.sha256(content.encode()).hexdigest()[:12]}"
    if _never_stored(input.order_id):
        return False
    async with unwritten_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        row = await orders_db.lock_for_handover(conn, input.order_id, workflow_id=acting_workflow())
        if row is None:
            return False
        # States only move forward: what stood in the way of a refused change still does.
        in_the_way = OrderState.DISPATCHED.value if row["dispatched"] else row["state"]
        # The event is the idempotency key: a retry returns the first answer and must not
        # overwrite "old" with "new".
        prior = await orders_db.event_type(conn, input.order_id, key)
        if prior is not None:
            return True if prior == "address_changed" else in_the_way
        sent = {"by": input.by}
        if (decided_at := decided_instant(input.decided_at)) is not None:  # the row's time is the record's
            sent["decided_at"] = decided_at.isoformat()
        if row["dispatched"] or OrderState(row["state"]).terminal:
            reason = "the carrier already has the package" if row["dispatched"] else f"the order ended {row['state']}"
            await orders_db.insert_event(
                conn, input.order_id, "address_change_refused", key, {"new": new, **sent, "reason": reason}
            )
            return in_the_way
        await orders_db.insert_event(
            conn, input.order_id, "address_changed", key, {"old": row["address_json"], "new": new, **sent}
        )
        await orders_db.set_address(conn, input.order_id, new)
        return True
    return False  # another workflow's order: as for one never stored


async def refund_payment(pool: asyncpg.Pool, input: RefundInput) -> Payment:
    if _never_stored(input.order_id):
        return Payment(payment_id=input.payment_id, status=PaymentStatus.PENDING)
    async with unwritten_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        row = await payments_db.refund(conn, input.order_id, input.payment_id, workflow_id=acting_workflow())
        if row is None:
            return Payment(payment_id=input.payment_id, status=PaymentStatus.PENDING)
        kind = "payment_refunded"
        payload = {"payment_id": input.payment_id, "amount_cents": row["amount_cents"], "reason": input.reason}
        if row["status"] == PaymentStatus.FAILED.value:  # never charged: voided, so it never will be
            kind = "payment_voided"
        elif row["status"] != PaymentStatus.REFUNDED.value:  # the carrier has the package: money kept
            log.warning(
                "event=refund_refused order_id=%s payment_id=%s reason=handed_over", input.order_id, input.payment_id
            )
            kind = "refund_refused"
            payload["refused"] = "the carrier has the package"
        await orders_db.insert_event(conn, input.order_id, kind, kind, payload)
        return Payment(
            payment_id=row["payment_id"], status=PaymentStatus(row["status"]), amount_cents=row["amount_cents"]
        )
    return Payment(payment_id=input.payment_id, status=PaymentStatus.PENDING)  # another workflow's order


async def finish_order(pool: asyncpg.Pool, input: FinishInput) -> Finished:
    if _never_stored(input.order_id):
        return Finished(processing_ms=0, review_ms=0)
    async with unwritten_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        row = await orders_db.finish(
            conn,
            input.order_id,
            input.state.value,
            input.reason,
            await _cancel_sent(conn, input) if input.state == OrderState.CANCELLED else None,
            workflow_id=acting_workflow(),
        )
        if row is None:  # no row to end (ReceiveOrder never succeeded)
            return Finished(processing_ms=0, review_ms=0)
        if row["state"] != OrderState.SHIPPED.value:
            # Money must not stay on an order that did not ship, even a charge this run of
            # the workflow never saw (payments_db.refund_forgotten_charge says how).
            if refunded := await payments_db.refund_forgotten_charge(conn, input.order_id):
                log.warning(
                    "event=forgotten_charge_refunded order_id=%s payment_id=%s ending=%s",
                    input.order_id, refunded["payment_id"], row["state"],
                )
                await orders_db.insert_event(
                    conn,
                    input.order_id,
                    "payment_refunded",
                    "payment_refunded",
                    {
                        "payment_id": refunded["payment_id"],
                        "amount_cents": refunded["amount_cents"],
                        "reason": f"charged by a try of the workflow that was lost; refunded as the order ended {row['state']}",
                    },
                )
        if row["state"] == OrderState.DISPATCHED.value:
            # The carrier has the package (a hand-over from before a reset of the workflow):
            # refused, and the workflow ships the order; on record, why it did not end so.
            await orders_db.insert_event(
                conn,
                input.order_id,
                "ending_refused",
                f"ending_refused:{input.state.value}",
                {"wanted": input.state.value, "reason": input.reason, "tracking_number": row["tracking_number"]},
            )
        # The first ending recorded wins (a try of the workflow task that the server refused
        # may have recorded one): the audit log gets only the ending the order has.
        if row["state"] == input.state.value:
            await orders_db.insert_event(
                conn,
                input.order_id,
                input.event_type,
                input.event_type,
                {"state": input.state.value, "reason": input.reason},
            )
        # The payment as the ending left it (a retry of this step, after a commit whose answer
        # was lost, must still tell the workflow of a refund made then).
        paid = await payments_db.order_payment(conn, input.order_id)
        return _finished(row, paid)
    return Finished(processing_ms=0, review_ms=0)  # another workflow's order: as for one never stored


async def record_event(pool: asyncpg.Pool, input: EventInput) -> None:
    if _never_stored(input.order_id):
        return
    async with unwritten_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        if input.first_run_id:  # another run chain of the order's workflow id records nothing
            await ownership.check_owner(
                conn, input.order_id, workflow_id=acting_workflow(), first_run_id=input.first_run_id
            )
        if input.event_type == CANCEL_REQUESTED_EVENT:
            # After the order's row lock, as the hand-over reads it: a dispatch that checked
            # for a cancel and is still committing finishes first (and the cancel then comes
            # too late, in the audit too), instead of a cancel that lost appearing before it.
            await orders_db.lock_order(conn, input.order_id, workflow_id=acting_workflow())
        # Checked in the insert itself: no round trip more for the events that take no lock.
        await orders_db.insert_event(
            conn,
            input.order_id,
            input.event_type,
            input.key,
            input.payload,
            workflow_id=acting_workflow(),
            before_row=acting_as_the_order(input.order_id),
        )


def _finished(row: asyncpg.Record, paid: asyncpg.Record | None) -> Finished:
    """FinishOrder's answer: the order's row and its payment as the ending left them."""
    payment = None
    if paid is not None:
        payment = Payment(
            payment_id=paid["payment_id"], status=PaymentStatus(paid["status"]), amount_cents=paid["amount_cents"]
        )
    return Finished(
        processing_ms=row["processing_ms"] or 0,
        review_ms=row["review_ms"] or 0,
        state=OrderState(row["state"]),
        reason=row["failure_reason"],
        payment=payment,
    )


async def _cancel_sent(conn: asyncpg.Connection, input: FinishInput) -> datetime | None:
    """When the operator sent the cancel that ends the order, as a decision's decided_at: sent
    while the order worker was stopped, it is recorded, and the order ended, much later, and the
    review it ends stopped then. The client's clock, so never after the cancel was recorded
    (nor, in finish, before the review began); None if the cancel on record does not say."""
    row = await orders_db.event_sent(conn, input.order_id, CANCEL_REQUESTED_EVENT)
    sent = decided_instant(row["decided_at"]) if row is not None else None
    return min(sent, row["ts"]) if sent is not None else None


def _never_stored(order_id: str) -> bool:
    """An order id PostgreSQL cannot store (NUL, bytes that are not UTF-8, too long to index: an
    order started by other means, which ReceiveOrder refused): no row has it, nor can any event.
    The steps that wind such an order up answer as for any order never stored, instead of
    failing for ever."""
    return storable.storable_id_problem("order id", order_id) is not None

"""The activities against the real PostgreSQL of the private stack, with a deterministic
stand-in for flaky_call passed through the constructor (the test seam)."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.order_activities import OrderActivities
from app.config import Settings
from app.service import OrderService
from activities.shipping_activities import ShippingActivities
from db import orders as orders_db
from db import payments as payments_db
from db import queries
from db.migrate import migration_files
from db.attempts import correct_attempt, record_attempt
from db.pool import create_pool
from eval_tests.conftest import PrivateStack
from workflows.activity_io import (
    AddressChange,
    ChargePaymentInput,
    DispatchInput,
    EventInput,
    FinishInput,
    HandoverInput,
    MarkShippedInput,
    PackageInput,
    ReceiveOrderInput,
    RefundInput,
    ReviewInput,
    ValidateOrderInput,
)
from workflows.model import (
    CANCEL_REQUESTED_EVENT,
    Address,
    Decision,
    OrderInput,
    OrderItem,
    OrderState,
    PaymentStatus,
    order_workflow_id,
)


async def no_trouble() -> None:
    """The flaky dependency on a good day."""


@pytest.fixture(autouse=True)
def run_as_the_orders_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker runs an order's steps in its workflow, order-<order_id>, the one that owns the
    order's row; so do these. ActivityEnvironment's own workflow id, "test", owns no order:
    left as it is, the activities would refuse to write. A test that sets another workflow id
    (a shipping child, a workflow started by hand) runs under that one."""
    run = ActivityEnvironment.run

    def run_in_the_orders_workflow(env: ActivityEnvironment, fn, *args, **kwargs):
        if env.info.workflow_id != ActivityEnvironment.default_info().workflow_id or not args:
            return run(env, fn, *args, **kwargs)
        input = args[0]
        order_id = input.order.order_id if isinstance(input, ReceiveOrderInput) else input.order_id
        # A copy: the activity reads its info when it asks for it. It shares the environment's
        # state (the activities running, to cancel).
        as_the_order = copy.copy(env)
        as_the_order.info = replace(env.info, workflow_id=order_workflow_id(order_id))
        return run(as_the_order, fn, *args, **kwargs)

    monkeypatch.setattr(ActivityEnvironment, "run", run_in_the_orders_workflow)


@pytest.fixture
async def pool(stack: PrivateStack):
    pool = await create_pool(stack.settings.database_url, max_size=10)
    try:
        yield pool
    finally:
        # These orders have no workflow behind them: leave the shared stack's tables as we found them.
        async with pool.acquire() as conn, conn.transaction():
            tables = (("activity_attempts", "order_id"), ("events", "order_id"), ("payments", "order_id"), ("orders", "id"))
            for table, column in tables:
                await conn.execute(f"DELETE FROM {table} WHERE {column} LIKE 'db-%'")  # constant names
        await pool.close()


async def received_order(pool: asyncpg.Pool) -> OrderInput:
    order = OrderInput(
        order_id=f"db-{uuid.uuid4().hex[:10]}",
        items=[OrderItem("WIDGET-1", 3)],
        address=Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
    )
    await receive(pool, order)
    return order


async def receive(pool: asyncpg.Pool, order: OrderInput) -> None:
    """ReceiveOrder of ``order``, as its own workflow (order-<order_id>) runs it."""
    await ActivityEnvironment().run(
        OrderActivities(pool, flaky=no_trouble).receive_order,
        ReceiveOrderInput(order=order, workflow_id=f"order-{order.order_id}", started_at=datetime.now(timezone.utc).isoformat()),
    )


async def refused_receipt(pool: asyncpg.Pool, order: OrderInput) -> str:
    """What ReceiveOrder says refusing ``order`` for good; nothing of it is stored."""
    with pytest.raises(ApplicationError) as refused:
        await receive(pool, order)
    assert refused.value.type == "InvalidOrder" and refused.value.non_retryable
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE id = $1", order.order_id) == 0
    return refused.value.message


async def charged_payments(pool: asyncpg.Pool, order_id: str) -> int:
    return await pool.fetchval("SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'CHARGED'", order_id)


async def events_of(pool: asyncpg.Pool, order_id: str, event_type: str) -> int:
    """How many audit rows of ``event_type`` the order has."""
    return await pool.fetchval("SELECT count(*) FROM events WHERE order_id = $1 AND type = $2", order_id, event_type)


def charge_input(order: OrderInput) -> ChargePaymentInput:
    return ChargePaymentInput(order_id=order.order_id, payment_id=order.payment_id, amount_cents=5997)


async def test_charge_twice_gives_one_charged_payment(pool):
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    first = await ActivityEnvironment().run(activities.charge_payment, charge_input(order))
    second = await ActivityEnvironment().run(activities.charge_payment, charge_input(order))
    assert first == second
    assert first.status == PaymentStatus.CHARGED and first.amount_cents == 5997
    rows = await pool.fetch("SELECT status, amount_cents FROM payments WHERE order_id = $1", order.order_id)
    assert [(r["status"], r["amount_cents"]) for r in rows] == [("CHARGED", 5997)]
    assert await events_of(pool, order.order_id, "payment_charged") == 1


async def test_concurrent_charges_with_one_payment_id_give_one_charge(pool):
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    results = await asyncio.gather(
        *(ActivityEnvironment().run(activities.charge_payment, charge_input(order)) for _ in range(8))
    )
    assert {r.status for r in results} == {PaymentStatus.CHARGED}
    assert await charged_payments(pool, order.order_id) == 1


async def test_a_second_payment_id_cannot_charge_the_same_order(pool):
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    await ActivityEnvironment().run(activities.charge_payment, charge_input(order))
    other = ChargePaymentInput(order_id=order.order_id, payment_id=f"other-{order.order_id}", amount_cents=5997)
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(activities.charge_payment, other)
    assert refused.value.type == "PaymentConflict" and refused.value.non_retryable
    assert await charged_payments(pool, order.order_id) == 1


async def test_refund_is_idempotent_and_never_recharges(pool):
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    await ActivityEnvironment().run(activities.charge_payment, charge_input(order))
    refund = RefundInput(order_id=order.order_id, payment_id=order.payment_id, reason="cancelled")
    first = await ActivityEnvironment().run(activities.refund_payment, refund)
    second = await ActivityEnvironment().run(activities.refund_payment, refund)
    assert first.status == second.status == PaymentStatus.REFUNDED
    # A late retry of the charge after the refund must not charge again: it gets the payment
    # as it stands (the workflow does not take a refunded payment for a charge).
    again = await ActivityEnvironment().run(activities.charge_payment, charge_input(order))
    assert again.status == PaymentStatus.REFUNDED
    rows = await pool.fetch("SELECT status FROM payments WHERE order_id = $1", order.order_id)
    assert [r["status"] for r in rows] == ["REFUNDED"]
    assert await events_of(pool, order.order_id, "payment_refunded") == 1


async def test_retried_steps_do_not_duplicate_their_events(pool):
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    # A retry after the side effect (the reply was lost) runs the whole step again.
    await receive(pool, order)
    validate = ValidateOrderInput(order_id=order.order_id, items=order.items, address=order.address)
    for _ in range(3):
        await ActivityEnvironment().run(activities.validate_order, validate)
    rows = await pool.fetch(
        "SELECT type, count(*) AS n FROM events WHERE order_id = $1 GROUP BY type ORDER BY type", order.order_id
    )
    assert {r["type"]: r["n"] for r in rows} == {"order_received": 1, "order_validated": 1}
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE id = $1", order.order_id) == 1


async def test_a_recorded_cancel_calls_the_dispatch_off_and_a_dispatch_first_wins(pool):
    shipping = ShippingActivities(pool, flaky=no_trouble)
    orders = OrderActivities(pool, flaky=no_trouble)

    def dispatch(order: OrderInput) -> DispatchInput:
        return DispatchInput(order_id=order.order_id, package_id=f"pkg-{order.order_id}", address=order.address)

    cancelled = await received_order(pool)
    cancel = EventInput(cancelled.order_id, CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT, {"reason": "r"})
    await ActivityEnvironment().run(orders.record_event, cancel)
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(shipping.dispatch_carrier, dispatch(cancelled))
    assert refused.value.type == "ShipmentCalledOff" and refused.value.non_retryable
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", cancelled.order_id) == "RECEIVED"

    shipped = await received_order(pool)
    sent = await ActivityEnvironment().run(shipping.dispatch_carrier, dispatch(shipped))
    # A cancel recorded after the hand-over changes nothing; a retried dispatch is the same one.
    await ActivityEnvironment().run(
        orders.record_event, EventInput(shipped.order_id, CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT)
    )
    assert await ActivityEnvironment().run(shipping.dispatch_carrier, dispatch(shipped)) == sent
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", shipped.order_id) == "DISPATCHED"


async def test_a_child_that_heard_of_a_cancel_gets_the_database_s_answer(pool):
    """DispatchCarrier with call_off hands nothing over, but reports a hand-over already made."""
    shipping = ShippingActivities(pool, flaky=no_trouble)

    def dispatch(order: OrderInput, call_off: bool) -> DispatchInput:
        return DispatchInput(order.order_id, f"pkg-{order.order_id}", order.address, call_off=call_off)

    not_yet = await received_order(pool)
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(shipping.dispatch_carrier, dispatch(not_yet, call_off=True))
    assert refused.value.type == "ShipmentCalledOff" and refused.value.non_retryable
    assert await pool.fetchval("SELECT tracking_number FROM orders WHERE id = $1", not_yet.order_id) == ""

    handed_over = await received_order(pool)
    sent = await ActivityEnvironment().run(shipping.dispatch_carrier, dispatch(handed_over, call_off=False))
    assert await ActivityEnvironment().run(shipping.dispatch_carrier, dispatch(handed_over, call_off=True)) == sent


async def test_the_first_ending_recorded_is_the_order_s_and_an_ended_order_gets_no_hand_over(pool):
    orders = OrderActivities(pool, flaky=no_trouble)
    shipping = ShippingActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    failed = await ActivityEnvironment().run(
        orders.finish_order, FinishInput(order.order_id, OrderState.FAILED, "order_failed", "Invalid order: x")
    )
    assert (failed.state, failed.reason) == (OrderState.FAILED, "Invalid order: x")
    # A later try with another ending gets the recorded one back, and leaves no event of its own.
    late = await ActivityEnvironment().run(
        orders.finish_order, FinishInput(order.order_id, OrderState.CANCELLED, "order_cancelled", "never mind")
    )
    assert (late.state, late.reason) == (OrderState.FAILED, "Invalid order: x")
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events WHERE order_id = $1", order.order_id)]
    assert "order_failed" in types and "order_cancelled" not in types
    # An order that ended without a hand-over does not get one, nor an address change.
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            shipping.dispatch_carrier, DispatchInput(order.order_id, f"pkg-{order.order_id}", order.address)
        )
    assert refused.value.type == "ShipmentCalledOff" and "already ended FAILED" in refused.value.message
    change = AddressChange(order_id=order.order_id, sequence=1, address=order.address, by="carol")
    assert await ActivityEnvironment().run(orders.record_address_change, change) == "FAILED"


async def test_the_payment_of_an_order_the_carrier_has_is_not_refunded(pool):
    orders = OrderActivities(pool, flaky=no_trouble)
    shipping = ShippingActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    await ActivityEnvironment().run(orders.charge_payment, charge_input(order))
    await ActivityEnvironment().run(
        shipping.dispatch_carrier, DispatchInput(order.order_id, f"pkg-{order.order_id}", order.address)
    )
    refund = RefundInput(order_id=order.order_id, payment_id=order.payment_id, reason="cancelled")
    kept = await ActivityEnvironment().run(orders.refund_payment, refund)
    assert kept.status == PaymentStatus.CHARGED
    assert await charged_payments(pool, order.order_id) == 1
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events WHERE order_id = $1", order.order_id)]
    assert "refund_refused" in types and "payment_refunded" not in types
    # Nor does it end otherwise than SHIPPED (a rejection after a reset of the workflow, say):
    # the row stays DISPATCHED and FinishOrder says so.
    ending = FinishInput(order.order_id, OrderState.REJECTED, "order_rejected", "changed my mind")
    refused = await ActivityEnvironment().run(orders.finish_order, ending)
    assert (refused.state, refused.payment and refused.payment.status) == (OrderState.DISPATCHED, PaymentStatus.CHARGED)
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", order.order_id) == "DISPATCHED"
    assert await events_of(pool, order.order_id, "order_rejected") == 0
    # On record, why the order did not end so (once, however often the step is retried).
    await ActivityEnvironment().run(orders.finish_order, ending)
    refusals = await pool.fetch("SELECT payload_json FROM events WHERE order_id = $1 AND type = 'ending_refused'", order.order_id)
    assert len(refusals) == 1
    payload = refusals[0]["payload_json"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["wanted"] == "REJECTED" and payload["tracking_number"].startswith("TRK")
    # The workflow then ships the order; MarkShipped finds the tracking number on the row.
    shipped = await ActivityEnvironment().run(orders.mark_shipped, MarkShippedInput(order.order_id, ""))
    assert shipped.tracking_number and shipped.tracking_number.startswith("TRK")
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", order.order_id) == "SHIPPED"


async def test_an_ending_refunds_a_charge_the_workflow_never_saw(pool):
    """A try of the workflow task charged and was lost; the run that replaced it never saw the
    approval (a rejection or cancel applied first) and ends the order without RefundPayment.
    FinishOrder refunds the charge, once; an order the carrier has keeps its money."""
    orders = OrderActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    await ActivityEnvironment().run(orders.charge_payment, charge_input(order))
    ending = FinishInput(order.order_id, OrderState.REJECTED, "order_rejected", "out of stock")
    finished = await ActivityEnvironment().run(orders.finish_order, ending)
    assert finished.state == OrderState.REJECTED
    assert finished.payment is not None and finished.payment.status == PaymentStatus.REFUNDED
    # A retry (the first commit's answer lost) refunds nothing more, and still tells of the refund.
    again = await ActivityEnvironment().run(orders.finish_order, ending)
    assert again.payment is not None and again.payment.status == PaymentStatus.REFUNDED
    rows = await pool.fetch("SELECT status FROM payments WHERE order_id = $1", order.order_id)
    assert [r["status"] for r in rows] == ["REFUNDED"]
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events WHERE order_id = $1 ORDER BY id", order.order_id)]
    assert types[-2:] == ["payment_refunded", "order_rejected"] and types.count("payment_refunded") == 1

    shipping = ShippingActivities(pool, flaky=no_trouble)
    handed_over = await received_order(pool)
    await ActivityEnvironment().run(orders.charge_payment, charge_input(handed_over))
    await ActivityEnvironment().run(
        shipping.dispatch_carrier, DispatchInput(handed_over.order_id, f"pkg-{handed_over.order_id}", handed_over.address)
    )
    kept = await ActivityEnvironment().run(
        orders.finish_order, FinishInput(handed_over.order_id, OrderState.FAILED, "order_failed", "x")
    )
    assert kept.payment is not None and kept.payment.status == PaymentStatus.CHARGED
    assert await charged_payments(pool, handed_over.order_id) == 1


async def test_a_change_under_a_sequence_number_a_lost_try_used_is_recorded_not_taken_for_that_one(pool):
    """A try of the workflow task recorded change X as number 1 and was lost; in the try that
    replaced it another change, Y, got number 1 (a signal applied first). Y must be applied,
    not answered "applied" from X's record; a retry of either stays idempotent."""
    orders = OrderActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    x = replace(order.address, street="2 Side St")
    y = replace(order.address, street="3 Other Rd")
    lost = AddressChange(order_id=order.order_id, sequence=1, address=x, by="alice")
    assert await ActivityEnvironment().run(orders.record_address_change, lost) is True
    replacing = AddressChange(order_id=order.order_id, sequence=1, address=y, by="bob")
    assert await ActivityEnvironment().run(orders.record_address_change, replacing) is True
    assert await ActivityEnvironment().run(orders.record_address_change, replacing) is True  # a retry
    row = await pool.fetchval("SELECT address_json FROM orders WHERE id = $1", order.order_id)
    stored = row if isinstance(row, dict) else json.loads(row)
    assert stored["street"] == "3 Other Rd"
    assert await events_of(pool, order.order_id, "address_changed") == 2


async def test_an_order_that_has_ended_is_not_charged(pool):
    """A charge that comes after the ending is from a try of the workflow task that was lost but
    whose worker was only slow: it takes no money, and the payment id is voided."""
    orders = OrderActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    await ActivityEnvironment().run(
        orders.finish_order, FinishInput(order.order_id, OrderState.REJECTED, "order_rejected", "out of stock")
    )
    late = await ActivityEnvironment().run(orders.charge_payment, charge_input(order))
    assert late.status == PaymentStatus.FAILED and late.amount_cents == 0
    assert await charged_payments(pool, order.order_id) == 0
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", order.order_id) == "REJECTED"
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events WHERE order_id = $1", order.order_id)]
    assert "payment_charged" not in types


async def test_a_refund_refunds_only_this_order_s_payment(pool):
    """The workflow asks for a refund whenever an approved order ends without a charge it saw;
    a payment id that turned out to be another order's must not be refunded for it."""
    orders = OrderActivities(pool, flaky=no_trouble)
    owner = await received_order(pool)
    await ActivityEnvironment().run(orders.charge_payment, charge_input(owner))
    other = await received_order(pool)
    refund = RefundInput(order_id=other.order_id, payment_id=owner.payment_id, reason="cancelled")
    answer = await ActivityEnvironment().run(orders.refund_payment, refund)
    assert answer.status == PaymentStatus.PENDING  # nothing of this order's to refund
    assert await charged_payments(pool, owner.order_id) == 1


async def test_a_refunded_order_is_never_handed_over(pool):
    orders = OrderActivities(pool, flaky=no_trouble)
    shipping = ShippingActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    await ActivityEnvironment().run(orders.charge_payment, charge_input(order))
    refund = RefundInput(order_id=order.order_id, payment_id=order.payment_id, reason="cancelled")
    assert (await ActivityEnvironment().run(orders.refund_payment, refund)).status == PaymentStatus.REFUNDED
    # A dispatch attempt left over from a shipping run the parent no longer waits for.
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            shipping.dispatch_carrier, DispatchInput(order.order_id, f"pkg-{order.order_id}", order.address)
        )
    assert refused.value.type == "ShipmentCalledOff" and "was refunded" in refused.value.message
    assert await pool.fetchval("SELECT tracking_number FROM orders WHERE id = $1", order.order_id) == ""


async def blocked_by(pool: asyncpg.Pool, holder: asyncpg.Connection, task: asyncio.Task, timeout: float = 10) -> None:
    """Until another session waits for a lock that ``holder``'s transaction holds."""
    deadline = time.monotonic() + timeout
    query = "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))"
    while not await pool.fetchval(query, holder.get_server_pid()):
        assert not task.done(), "it did not wait for the lock"
        assert time.monotonic() < deadline, "nothing waited for the lock"
        await asyncio.sleep(0.01)


async def test_a_refund_waits_for_a_hand_over_still_committing_and_then_keeps_the_money(pool):
    """The hand-over holds the order's row lock until it commits; the refund takes the same lock
    first, so it sees the tracking number instead of refunding an order the carrier has."""
    orders = OrderActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    await ActivityEnvironment().run(orders.charge_payment, charge_input(order))
    refund = RefundInput(order_id=order.order_id, payment_id=order.payment_id, reason="cancelled")
    async with pool.acquire() as handover, handover.transaction():
        await handover.execute("SELECT 1 FROM orders WHERE id = $1 FOR UPDATE", order.order_id)
        refunding = asyncio.create_task(ActivityEnvironment().run(orders.refund_payment, refund))
        await blocked_by(pool, handover, refunding)
        await handover.execute("UPDATE orders SET tracking_number = 'TRK-LATE' WHERE id = $1", order.order_id)
    kept = await refunding
    assert kept.status == PaymentStatus.CHARGED
    assert await charged_payments(pool, order.order_id) == 1


async def test_a_cancel_recorded_while_a_hand_over_commits_waits_and_comes_after_it(pool):
    """The hand-over checks for a cancel under the order's row lock; a cancel recorded without
    that lock could commit after the check and before the hand-over's commit, and lose while
    the audit showed it first."""
    orders = OrderActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    cancel = EventInput(order.order_id, CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT, {"reason": "r"})
    async with pool.acquire() as handover, handover.transaction():
        await handover.execute("SELECT 1 FROM orders WHERE id = $1 FOR UPDATE", order.order_id)
        recording = asyncio.create_task(ActivityEnvironment().run(orders.record_event, cancel))
        await blocked_by(pool, handover, recording)
        await orders_db.insert_event(handover, order.order_id, "carrier_dispatched", "carrier_dispatched", {})
    await recording
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events WHERE order_id = $1 ORDER BY ts, id", order.order_id)]
    assert types[-2:] == ["carrier_dispatched", CANCEL_REQUESTED_EVENT]


async def test_a_hand_over_waiting_behind_a_refund_sees_it_and_hands_nothing_over(pool):
    """The mirror case: the refund commits while the hand-over waits for the row lock. The
    refund changes no order column, so the hand-over must read the payment in a statement of
    its own after the lock (the locking statement reads the payments as they were)."""
    orders = OrderActivities(pool, flaky=no_trouble)
    shipping = ShippingActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    await ActivityEnvironment().run(orders.charge_payment, charge_input(order))
    async with pool.acquire() as refunder, refunder.transaction():
        owner = order_workflow_id(order.order_id)
        await payments_db.refund(refunder, order.order_id, order.payment_id, workflow_id=owner)
        dispatching = asyncio.create_task(ActivityEnvironment().run(
            shipping.dispatch_carrier, DispatchInput(order.order_id, f"pkg-{order.order_id}", order.address)
        ))
        await blocked_by(pool, refunder, dispatching)
    with pytest.raises(ApplicationError) as refused:
        await dispatching
    assert refused.value.type == "ShipmentCalledOff" and "was refunded" in refused.value.message
    assert await pool.fetchval("SELECT tracking_number FROM orders WHERE id = $1", order.order_id) == ""


async def test_a_refund_of_a_payment_never_charged_voids_it_so_that_a_late_charge_takes_nothing(pool):
    """An approved order that ends before its run saw a charge asks for a refund; a charge of a
    lost but only slow try of the workflow task may still be on its way."""
    orders = OrderActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    refund = RefundInput(order_id=order.order_id, payment_id=order.payment_id, reason="cancelled")
    voided = await ActivityEnvironment().run(orders.refund_payment, refund)
    assert voided.status == PaymentStatus.FAILED
    late = await ActivityEnvironment().run(orders.charge_payment, charge_input(order))
    assert late.status == PaymentStatus.FAILED
    assert await charged_payments(pool, order.order_id) == 0
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events WHERE order_id = $1", order.order_id)]
    assert "payment_voided" in types and "payment_charged" not in types
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", order.order_id) == "RECEIVED"


async def test_the_hand_over_status_is_the_database_s(pool):
    shipping = ShippingActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    before = await ActivityEnvironment().run(shipping.handover_status, HandoverInput(order.order_id))
    assert (before.dispatched, before.tracking_number) == (False, "")
    sent = await ActivityEnvironment().run(
        shipping.dispatch_carrier, DispatchInput(order.order_id, f"pkg-{order.order_id}", order.address)
    )
    after = await ActivityEnvironment().run(shipping.handover_status, HandoverInput(order.order_id))
    assert (after.dispatched, after.tracking_number, after.attempt) == (True, sent.tracking_number, 1)
    # Whether a lost workflow task began the check: the child's word, echoed into the history.
    assert before.begun_by_a_lost_task is False
    lost = await ActivityEnvironment().run(shipping.handover_status, HandoverInput(order.order_id, True))
    assert (lost.dispatched, lost.begun_by_a_lost_task) == (True, True)


async def _review(pool: asyncpg.Pool, decided: timedelta | None) -> tuple[int, float]:
    """An order under review for 5 s, then decided ``decided`` after the moment it is recorded
    (None: no stamp); returns (review_ms, ms since the review began)."""
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    env = ActivityEnvironment()
    now = datetime.fromisoformat(await env.run(activities.mark_awaiting_approval, ReviewInput(order_id=order.order_id)))
    began = now - timedelta(seconds=5)
    await pool.execute("UPDATE orders SET awaiting_approval_since = $2 WHERE id = $1", order.order_id, began)
    decision = Decision(approved=True, by="test", decided_at="" if decided is None else (now + decided).isoformat())
    review_ms = await env.run(activities.record_decision, ReviewInput(order_id=order.order_id, decision=decision))
    return review_ms, (datetime.now(timezone.utc) - began).total_seconds() * 1000


async def test_an_approval_recorded_as_the_order_ends_before_its_review_does_not_make_it_approved(pool):
    """Sent early (the order worker down), then a cancel: the order ended before its review, and
    recording the approval moved its row to APPROVED on the way; the audit showed
    "approved by operator -> APPROVED" for an order that never was."""
    activities = OrderActivities(pool, flaky=no_trouble)
    env = ActivityEnvironment()
    early = await received_order(pool)  # RECEIVED: its review never began
    decision = Decision(approved=True, by="dana")
    await env.run(activities.record_decision, ReviewInput(order_id=early.order_id, decision=decision))
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", early.order_id) == "RECEIVED"
    payload = await pool.fetchval("SELECT payload_json FROM events WHERE order_id = $1 AND type = 'approved'", early.order_id)
    assert "state" not in json.loads(payload) if isinstance(payload, str) else "state" not in payload
    # Under review: the approval moves it, and says so.
    reviewed = await received_order(pool)
    await env.run(activities.mark_awaiting_approval, ReviewInput(order_id=reviewed.order_id))
    await env.run(activities.record_decision, ReviewInput(order_id=reviewed.order_id, decision=decision))
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", reviewed.order_id) == "APPROVED"
    payload = await pool.fetchval("SELECT payload_json FROM events WHERE order_id = $1 AND type = 'approved'", reviewed.order_id)
    assert (json.loads(payload) if isinstance(payload, str) else payload)["state"] == "APPROVED"


async def test_the_review_clock_stops_when_the_human_decided_not_when_the_workflow_acted(pool):
    # Reviewed for 5 s, decided 2 s before the workflow records it: 3 s of review, and the 2 s
    # the system took to act count as processing.
    review_ms, _ = await _review(pool, timedelta(seconds=-2))
    assert 2900 <= review_ms <= 3100
    # No stamp (a signal from Temporal's own tools): the clock stops when the decision is recorded.
    review_ms, elapsed_ms = await _review(pool, None)
    assert 5000 <= review_ms <= elapsed_ms
    # A client clock ahead of ours cannot lengthen the review; one before the review began gives 0.
    review_ms, elapsed_ms = await _review(pool, timedelta(hours=1))
    assert 5000 <= review_ms <= elapsed_ms
    review_ms, _ = await _review(pool, timedelta(hours=-1))
    assert review_ms == 0


async def test_the_last_error_is_resolved_once_a_later_attempt_of_the_same_step_succeeded(pool):
    order = await received_order(pool)
    workflow_id = f"order-{order.order_id}"
    t0 = datetime.now(timezone.utc)

    async def attempt(activity_id: str, n: int, outcome: str, error: str | None) -> None:
        at = t0 + timedelta(milliseconds=100 * await pool.fetchval(
            "SELECT count(*) FROM activity_attempts WHERE order_id = $1", order.order_id))
        await record_attempt(
            pool, order_id=order.order_id, workflow_id=workflow_id, activity="ChargePayment" if activity_id == "2"
            else "ReceiveOrder", activity_id=activity_id, attempt=n, outcome=outcome, error=error,
            started_at=at, finished_at=at + timedelta(milliseconds=5), duration_ms=5,
        )

    async def last_error() -> tuple[str, bool]:
        row = await queries.get_order(pool, order.order_id)
        return row["last_error"], row["last_error_resolved"]

    await attempt("1", 1, "error", "RuntimeError: Forced failure for testing")
    assert await last_error() == ("RuntimeError: Forced failure for testing", False)
    await attempt("1", 2, "ok", None)
    assert await last_error() == ("RuntimeError: Forced failure for testing", True)
    # A later step's failure stands until that step succeeds; another step's success does not count.
    await attempt("2", 1, "timeout", "activity timed out")
    assert await last_error() == ("activity timed out", False)
    await attempt("1", 3, "ok", None)
    assert await last_error() == ("activity timed out", False)
    await attempt("2", 2, "ok", None)
    assert await last_error() == ("activity timed out", True)
    listed = [r for r in await queries.list_orders(pool, limit=1000) if r["id"] == order.order_id]
    assert listed[0]["last_error_resolved"] is True and listed[0]["failures"] == 2 and listed[0]["retries"] == 3


async def test_a_step_that_ran_again_after_its_success_was_lost_counts_no_retry_for_it(pool):
    """A worker killed after a step's attempt succeeded, before its workflow task completed:
    the next worker runs the step again from attempt 1. That attempt 1 follows no failure, so
    it is no retry; counted as one, an order showed '19 retries (18 failed attempts)'."""
    order = await received_order(pool)
    t0 = datetime.now(timezone.utc)
    for n, (attempt, outcome) in enumerate([(1, "ok"), (1, "timeout"), (2, "ok")]):
        at = t0 + timedelta(milliseconds=200 * n)
        await record_attempt(
            pool, order_id=order.order_id, workflow_id=f"order-{order.order_id}", activity="ValidateOrder",
            activity_id="2", attempt=attempt, outcome=outcome, error=None if outcome == "ok" else "timed out",
            started_at=at, finished_at=at + timedelta(milliseconds=120), duration_ms=120,
        )
    row = await queries.get_order(pool, order.order_id)
    assert (row["attempts"], row["failures"], row["retries"]) == (3, 1, 1)


async def test_the_audit_reads_the_row_and_its_timeline_from_one_snapshot(pool, monkeypatch):
    """`order audit` read the row, the events and the attempts in three queries: an attempt
    written between them was in the timeline and not in the row's counts shown beside it."""
    order = await received_order(pool)
    read_events = queries.events

    async def an_attempt_written_first(conn, order_id):  # by a worker, while the audit reads
        at = datetime.now(timezone.utc)
        await record_attempt(
            pool, order_id=order_id, workflow_id=f"order-{order_id}", activity="ValidateOrder", activity_id="2",
            attempt=1, outcome="error", error="RuntimeError: Forced failure for testing",
            started_at=at, finished_at=at + timedelta(milliseconds=5), duration_ms=5,
        )
        return await read_events(conn, order_id)

    monkeypatch.setattr(queries, "events", an_attempt_written_first)
    audit = await OrderService(Settings.from_env({}), client=None, pool=pool).audit(order.order_id)
    in_timeline = [entry for entry in audit["timeline"] if entry["kind"] == "attempt"]
    failed = [entry for entry in in_timeline if entry["outcome"] != "ok"]
    shown = audit["order"]
    assert (shown["attempts_total"], shown["failed_attempts"]) == (len(in_timeline), len(failed)), (
        f"the row counts {shown['attempts_total']} attempts ({shown['failed_attempts']} failed) beside a timeline"
        f" of {len(in_timeline)} ({len(failed)} failed)"
    )
    assert bool(shown["last_error"]) == bool(failed)


async def test_a_picker_lists_an_order_that_moves_on_while_it_reads_once(pool, monkeypatch):
    """The TUI's pickers read the newest orders of each state apart: an order that moved from one
    state to the next between two reads was listed in both (or in neither)."""
    from app.tui import actions

    order = await received_order(pool)  # RECEIVED
    read_page, first_read = queries.list_orders, asyncio.Event()

    async def moving_on_between_reads(conn, *, state, limit, offset):
        if state == OrderState.VALIDATED.value:  # the order validated after its RECEIVED page was read
            await first_read.wait()
            await pool.execute("UPDATE orders SET state = $1 WHERE id = $2", state, order.order_id)
        page = await read_page(conn, state=state, limit=limit, offset=offset)
        first_read.set()
        return page

    monkeypatch.setattr(queries, "list_orders", moving_on_between_reads)
    service = OrderService(Settings.from_env({}), client=None, pool=pool)
    listed = await actions._listed(service, [OrderState.RECEIVED, OrderState.VALIDATED])
    as_listed = [(o["order_id"], o["state"]) for o in listed if o["order_id"] == order.order_id]
    assert len(as_listed) == 1, f"order {order.order_id} listed as {as_listed}"


async def test_every_migration_can_run_again_on_a_schema_that_has_it(pool):
    """The migrations are re-runnable by themselves, not only through schema_migrations: a
    database whose tracking table was lost (or a file applied by hand) gets them again."""
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    async with pool.acquire() as conn:
        try:
            await conn.execute(f"CREATE SCHEMA {schema}")  # a generated name, no input
            await conn.execute(f"SET search_path TO {schema}")
            for _ in range(2):
                for path in migration_files():
                    async with conn.transaction():
                        await conn.execute(path.read_text())
        finally:
            await conn.execute("RESET search_path")
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def test_the_payment_reads_by_order_use_an_index(pool):
    """The hand-over (every DispatchCarrier attempt that gets that far) and FinishOrder read an
    order's payments by order_id under its row lock. The one index on payments(order_id) is
    partial (charged rows), which these reads cannot use: each scanned the whole table."""
    reads = [
        "SELECT EXISTS (SELECT 1 FROM payments WHERE order_id = $1 AND status IN ('REFUNDED', 'FAILED'))",
        "SELECT payment_id, status, amount_cents FROM payments WHERE order_id = $1"
        " ORDER BY (charged_at IS NOT NULL) DESC, updated_at DESC LIMIT 1",
        "UPDATE payments SET status = 'REFUNDED' WHERE order_id = $1 AND status = 'CHARGED'",
    ]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")  # as the planner would with many payments
        for sql in reads:
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", "db-none"))
            assert "Seq Scan" not in plan and "Index Cond: (order_id = " in plan, plan


async def test_reserving_a_payment_id_reads_the_orders_through_an_index(pool):
    """Every order created asks whether an order already holds its payment id (one started by
    other means than the operator's tools has no reservation): by orders.payment_id, which had
    no index, so each create scanned every order (1.8 ms at 10,000 orders)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")  # as the planner would with many orders
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN SELECT id FROM orders WHERE payment_id = $1", "pay-x"))
        assert "Seq Scan" not in plan and "Index Cond: (payment_id = " in plan, plan


async def test_an_attempt_cut_off_after_its_row_was_written_is_corrected_to_what_temporal_saw(pool):
    order = await received_order(pool)
    t0 = datetime.now(timezone.utc)
    row = dict(order_id=order.order_id, workflow_id=f"order-{order.order_id}", activity="ChargePayment",
               activity_id="3", attempt=1, outcome="ok", error=None, started_at=t0,
               finished_at=t0 + timedelta(milliseconds=110), duration_ms=110)
    await record_attempt(pool, **row)
    await record_attempt(pool, **{**row, "attempt": 2, "started_at": t0 + timedelta(milliseconds=200)})
    cut_off = "start-to-close timeout (0.12s) exceeded while its result was being recorded"
    await correct_attempt(pool, row, outcome="timeout", error=cut_off)
    outcomes = await pool.fetch(
        "SELECT attempt, outcome, error FROM activity_attempts WHERE order_id = $1 ORDER BY attempt", order.order_id
    )
    assert [tuple(r) for r in outcomes] == [(1, "timeout", cut_off), (2, "ok", None)]
    listed = await queries.get_order(pool, order.order_id)
    assert (listed["last_error"], listed["last_error_resolved"]) == (cut_off, True)


async def test_receive_order_refuses_for_good_what_the_database_cannot_store(pool):
    """Orders started by other means than the operator's tools: a NUL in the address made the
    INSERT fail on every attempt, for ever; now it is refused once and nothing is stored."""
    order = OrderInput(
        order_id=f"db-{uuid.uuid4().hex[:10]}",
        items=[OrderItem("WIDGET-1", 1)],
        address=Address(name="Ann\x00", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
    )
    assert "address name is not text the database can store" in await refused_receipt(pool, order)


def _unindexable_id(prefix: str) -> str:
    """Past PostgreSQL's limit on an index entry (2,704 bytes), and random so that it does not
    compress below it."""
    return prefix + "".join(uuid.uuid4().hex for _ in range(100))


UNSTORABLE = "The order id is not text the database can store (NUL, or bytes that are not UTF-8)."


@pytest.mark.parametrize(
    ("order_id", "problem"),
    [
        ("db-nul\x00", UNSTORABLE),
        ("db-broken\udcff", UNSTORABLE),
        (_unindexable_id("db-long-"), "The order id is longer than the database can index (1000 bytes)."),
    ],
    ids=["nul", "not-utf-8", "too-long-to-index"],
)
async def test_an_order_id_the_database_cannot_store_is_refused_once_and_its_ending_steps_pass(pool, order_id, problem):
    """Started by other means than the operator's tools, with a clean payment id of its own: an
    order id with a NUL made ReceiveOrder fail on every attempt, for ever (unstorable_problem did
    not look at it), and FinishOrder too once the order ended; so did one of thousands of
    characters (a Temporal whose id limit was raised), on the index. It is refused once, and the
    steps that wind such an order up find no row, as for any order never stored."""
    payment_id = f"pay-{uuid.uuid4().hex[:10]}"
    order = OrderInput(
        order_id=order_id,
        items=[OrderItem("WIDGET-1", 1)],
        address=Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
        payment_id=payment_id,
    )
    activities = OrderActivities(pool, flaky=no_trouble)
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as refused:
        await env.run(
            activities.receive_order,
            ReceiveOrderInput(order, workflow_id="order-db-hand-started", started_at=datetime.now(timezone.utc).isoformat()),
        )
    assert refused.value.type == "InvalidOrder" and refused.value.non_retryable
    assert refused.value.message == f"Invalid order: {problem}"
    assert await pool.fetchval("SELECT count(*) FROM payments WHERE payment_id = $1", payment_id) == 0
    decision = Decision(approved=True, by="test")
    await env.run(activities.record_event, EventInput(order_id, CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT, {}))
    assert await env.run(activities.record_decision, ReviewInput(order_id=order_id, decision=decision)) == 0
    assert await env.run(activities.record_address_change, AddressChange(order_id, 1, order.address, "test")) is False
    refund = await env.run(activities.refund_payment, RefundInput(order_id=order_id, payment_id=payment_id, reason="r"))
    assert refund.status == PaymentStatus.PENDING
    finished = await env.run(activities.finish_order, FinishInput(order_id, OrderState.FAILED, "order_failed", "r"))
    assert (finished.processing_ms, finished.state) == (0, None)


async def test_orders_past_the_budget_are_those_in_flight_whose_clock_passed_it(pool):
    """The dashboard's line: not orders waiting for a human, not ended ones, and the review wait
    does not count against the budget."""
    stuck, reviewing, ended, approved_late = [await received_order(pool) for _ in range(4)]
    long_ago = "now() - interval '10 minutes'"
    await pool.execute(f"UPDATE orders SET state = 'PAID', created_at = {long_ago} WHERE id = $1", stuck.order_id)
    await pool.execute(f"UPDATE orders SET state = 'AWAITING_APPROVAL', created_at = {long_ago} WHERE id = $1",
                       reviewing.order_id)
    await pool.execute(f"UPDATE orders SET state = 'SHIPPED', created_at = {long_ago} WHERE id = $1", ended.order_id)
    # Waited nearly ten minutes for a human, then approved: its clock is a few seconds.
    await pool.execute(f"UPDATE orders SET state = 'PAID', created_at = {long_ago}, review_ms = 598000 WHERE id = $1",
                       approved_late.order_id)
    in_flight = [s.value for s in OrderState if not s.terminal and s != OrderState.AWAITING_APPROVAL]
    rows = await queries.overdue(pool, states=in_flight, budget_s=15, limit=100)
    ours = {r["id"] for r in rows} & {o.order_id for o in (stuck, reviewing, ended, approved_late)}
    assert ours == {stuck.order_id}


async def test_a_decision_keeps_when_the_human_made_it_in_its_audit_event(pool):
    """The event's own time is its record's, which an outage can put minutes after the decision."""
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    env = ActivityEnvironment()
    await env.run(activities.mark_awaiting_approval, ReviewInput(order_id=order.order_id))
    decided = datetime(2026, 11, 26, 23, 37, 21, 31000, tzinfo=timezone(timedelta(hours=1)))
    decision = Decision(approved=True, by="test", decided_at=decided.isoformat())
    await env.run(activities.record_decision, ReviewInput(order_id=order.order_id, decision=decision))
    payload = await pool.fetchval("SELECT payload_json FROM events WHERE order_id = $1 AND type = 'approved'", order.order_id)
    assert (json.loads(payload) if isinstance(payload, str) else payload)["decided_at"] == "2026-11-26T22:37:21.031000+00:00"


async def test_an_unserved_country_written_in_lower_case_is_still_refused_by_the_carrier(pool):
    """ValidateOrder reads the country case- and space-blind (" aq" is Antarctica, valid), and
    the row keeps the address as the order was started with it (by other means than the
    operator's tools, which normalise it): the hand-over compared it as written, so an order to
    " aq" was handed to a carrier that does not deliver there."""
    orders = OrderActivities(pool, flaky=no_trouble)
    shipping = ShippingActivities(pool, flaky=no_trouble)
    order = OrderInput(
        order_id=f"db-{uuid.uuid4().hex[:10]}",
        items=[OrderItem("WIDGET-1", 1)],
        address=Address(name="Ann", street="1 Main St", city="McMurdo", postal_code="12345", country=" aq"),
    )
    started = datetime.now(timezone.utc).isoformat()
    await ActivityEnvironment().run(orders.receive_order, ReceiveOrderInput(order, f"order-{order.order_id}", started))
    await ActivityEnvironment().run(
        orders.validate_order, ValidateOrderInput(order.order_id, order.items, order.address)
    )
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            shipping.dispatch_carrier, DispatchInput(order.order_id, f"pkg-{order.order_id}", order.address)
        )
    assert refused.value.type == "CarrierRefused" and refused.value.non_retryable
    assert "AQ" in refused.value.message
    assert await pool.fetchval("SELECT tracking_number FROM orders WHERE id = $1", order.order_id) == ""


async def test_a_payment_id_too_long_to_index_is_refused_once(pool):
    """Started by other means than the operator's tools: a payment id of thousands of characters
    made ReceiveOrder's INSERT fail on the index of payment ids on every attempt, for ever
    (ProgramLimitExceededError: index row size exceeds btree maximum). It is refused once."""
    order = OrderInput(
        order_id=f"db-{uuid.uuid4().hex[:10]}",
        items=[OrderItem("WIDGET-1", 1)],
        address=Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
        payment_id=_unindexable_id("pay-"),
    )
    assert await refused_receipt(pool, order) == (
        "Invalid order: The payment id is longer than the database can index (1000 bytes)."
    )


async def test_an_order_id_too_long_for_its_shipping_workflow_s_id_is_refused_before_any_charge(pool):
    """Started by other means: an order id of 990 bytes makes a workflow id Temporal takes
    (order-<id>, 996 bytes) but not its shipping child's (shipping-<id>-1, 1001): the order was
    stored and charged, then its workflow task failed for ever (BadStartChildExecutionAttributes,
    seen on a private stack, the order PAID). ReceiveOrder refuses it once, before any charge."""
    order = OrderInput(
        order_id="db-" + "x" * 987,
        items=[OrderItem("WIDGET-1", 1)],
        address=Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
    )
    assert await refused_receipt(pool, order) == (
        "Invalid order: The order id is too long for the id of its shipping workflow (Temporal takes 1000 bytes)."
    )


async def test_a_shipment_called_off_by_a_hand_sent_signal_puts_the_cancel_on_record(pool):
    """A `cancel_shipping` signal sent by hand to a shipping child (the parent no longer sends
    one) called the hand-over off, and the order ended CANCELLED and refunded with no
    cancel_requested row: the audit did not say who or what cancelled it. The hand-over now
    records the request, once, and one already recorded (the operator's) is left alone."""
    orders = OrderActivities(pool, flaky=no_trouble)
    shipping = ShippingActivities(pool, flaky=no_trouble)
    called_off, cancelled_first = await received_order(pool), await received_order(pool)
    env = ActivityEnvironment()
    await env.run(
        orders.record_event,
        EventInput(cancelled_first.order_id, CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT, {"reason": "r", "by": "ann"}),
    )
    for order in (called_off, cancelled_first):
        env.info = replace(env.info, workflow_id=f"shipping-{order.order_id}-1")
        for _ in range(2):  # a retry records nothing more
            with pytest.raises(ApplicationError) as refused:
                await env.run(
                    shipping.dispatch_carrier,
                    DispatchInput(order.order_id, f"pkg-{order.order_id}", order.address, call_off=True),
                )
            assert refused.value.type == "ShipmentCalledOff"
    requests = {}
    for order in (called_off, cancelled_first):
        rows = await pool.fetch(
            "SELECT payload_json FROM events WHERE order_id = $1 AND type = $2", order.order_id, CANCEL_REQUESTED_EVENT
        )
        requests[order.order_id] = [r["payload_json"] for r in rows]
    assert requests[called_off.order_id] == [
        {"reason": f"cancel_shipping signal sent to shipping-{called_off.order_id}-1", "by": "Temporal"}
    ]
    assert requests[cancelled_first.order_id] == [{"reason": "r", "by": "ann"}]
    assert await pool.fetchval("SELECT tracking_number FROM orders WHERE id = $1", called_off.order_id) == ""


def as_workflow(workflow_id: str, run_id: str = "run-1") -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = replace(env.info, workflow_id=workflow_id, workflow_run_id=run_id)
    return env


async def order_rows(pool: asyncpg.Pool, order_id: str) -> tuple:
    """Everything of an order: its row, its payments and its events."""
    row = await pool.fetchrow("SELECT * FROM orders WHERE id = $1", order_id)
    payments = await pool.fetch("SELECT * FROM payments WHERE order_id = $1 ORDER BY payment_id", order_id)
    events = await pool.fetch("SELECT * FROM events WHERE order_id = $1 ORDER BY id", order_id)
    return dict(row), [dict(p) for p in payments], [dict(e) for e in events]


async def test_receive_order_of_another_workflow_fails_for_good_and_writes_nothing(pool):
    """A second OrderWorkflow started by hand for an order that exists: the order is its first
    workflow's. The retry of that workflow's own step, and the step after a reset (same
    workflow id, new run), find the order theirs."""
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    before = await order_rows(pool, order.order_id)
    now = datetime.now(timezone.utc).isoformat()
    for _ in range(2):  # refused the same way on every try
        with pytest.raises(ApplicationError) as refused:
            rogue = ReceiveOrderInput(order, workflow_id=f"rogue-{order.order_id}", started_at=now)
            await as_workflow(f"rogue-{order.order_id}").run(activities.receive_order, rogue)
        assert refused.value.type == "AnotherWorkflowsOrder" and refused.value.non_retryable
        assert refused.value.message == (
            f"Order {order.order_id} belongs to workflow order-{order.order_id};"
            f" workflow rogue-{order.order_id} may not act on it."
        )
    assert await order_rows(pool, order.order_id) == before
    own = ReceiveOrderInput(order, workflow_id=f"order-{order.order_id}", started_at=now)
    again = await as_workflow(f"order-{order.order_id}").run(activities.receive_order, own)
    after_reset = await as_workflow(f"order-{order.order_id}", run_id="run-2").run(activities.receive_order, own)
    assert again == after_reset and again.created_at == before[0]["created_at"].isoformat()
    assert await order_rows(pool, order.order_id) == before


async def test_no_step_of_another_workflow_writes_to_the_order(pool):
    """Every step that writes to an order refuses a workflow that does not own its row: the
    business steps fail for good, the bookkeeping that winds an order up answers as for an
    order never stored. The order's row, payment and audit are as they were."""
    orders = OrderActivities(pool, flaky=no_trouble)
    shipping = ShippingActivities(pool, flaky=no_trouble)
    order = await received_order(pool)
    oid = order.order_id
    await ActivityEnvironment().run(orders.charge_payment, charge_input(order))
    before = await order_rows(pool, oid)
    rogue = as_workflow(f"rogue-{oid}")
    business_steps = [
        (orders.validate_order, ValidateOrderInput(oid, order.items, order.address)),
        (orders.charge_payment, charge_input(order)),
        (orders.mark_awaiting_approval, ReviewInput(oid, review_window_seconds=60)),
        (orders.mark_shipped, MarkShippedInput(oid, "")),
    ]
    for step, input in business_steps:
        with pytest.raises(ApplicationError) as refused:
            await rogue.run(step, input)
        assert refused.value.type == "AnotherWorkflowsOrder" and refused.value.non_retryable, step
    child = as_workflow(f"shipping-{oid}-1")
    for step, input in [
        (shipping.prepare_package, PackageInput(oid, order.items, order_workflow_id=f"rogue-{oid}")),
        (shipping.dispatch_carrier, DispatchInput(oid, f"pkg-{oid}", order.address, order_workflow_id=f"rogue-{oid}")),
    ]:
        with pytest.raises(ApplicationError) as refused:
            await child.run(step, input)
        assert refused.value.type == "AnotherWorkflowsOrder", step
    assert await rogue.run(orders.record_decision, ReviewInput(oid, decision=Decision(approved=False, reason="x"))) == 0
    moved = Address(name="Eve", street="2 Side St", city="Elsewhere", postal_code="99999", country="US")
    assert await rogue.run(orders.record_address_change, AddressChange(oid, 1, moved, "eve")) is False
    refund = await rogue.run(orders.refund_payment, RefundInput(oid, order.payment_id, "x"))
    assert refund.status == PaymentStatus.PENDING
    finished = await rogue.run(orders.finish_order, FinishInput(oid, OrderState.REJECTED, "order_rejected", "x"))
    assert finished.state is None
    cancel = EventInput(oid, CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT, {"reason": "x"})
    await rogue.run(orders.record_event, cancel)
    await rogue.run(orders.record_event, EventInput(oid, "command_refused", "command_refused:1", {"reason": "x"}))
    assert await order_rows(pool, oid) == before
    # Its own workflow's steps still write (the shipping child's as its parent's).
    await child.run(shipping.prepare_package, PackageInput(oid, order.items, order_workflow_id=f"order-{oid}"))
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", oid) == OrderState.PACKED.value


async def test_another_workflow_records_nothing_for_an_order_whose_row_is_not_yet_seen(pool):
    """The order's own ReceiveOrder still committing (read committed: its row not yet visible), a
    workflow started by hand for that order and cancelled or decided then recorded its cancel
    and its decision under the order, whose dispatch the cancel then called off. The order's own
    workflow still records what comes before its row."""
    orders = OrderActivities(pool, flaky=no_trouble)
    shipping = ShippingActivities(pool, flaky=no_trouble)
    order = OrderInput(
        order_id=f"db-{uuid.uuid4().hex[:10]}",
        items=[OrderItem("WIDGET-1", 3)],
        address=Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
    )
    oid = order.order_id
    rogue = as_workflow(f"rogue-{oid}")
    cancel = EventInput(oid, CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT, {"reason": "x"})
    async with pool.acquire() as conn, conn.transaction():  # the order's ReceiveOrder, not yet committed
        await orders_db.insert_order(
            conn,
            order_id=oid,
            workflow_id=order_workflow_id(oid),
            items=[asdict(item) for item in order.items],
            address=asdict(order.address),
            amount_cents=5997,
            payment_id=order.payment_id,
            created_at=datetime.now(timezone.utc),
        )
        await rogue.run(orders.record_event, cancel)
        await rogue.run(orders.record_decision, ReviewInput(oid, decision=Decision(approved=False, reason="x")))
        await ActivityEnvironment().run(
            orders.record_event, EventInput(oid, "command_refused", "command_refused:1", {"reason": "y"})
        )
    events = await pool.fetch("SELECT type FROM events WHERE order_id = $1", oid)
    assert [e["type"] for e in events] == ["command_refused"]
    await ActivityEnvironment().run(orders.charge_payment, charge_input(order))
    await ActivityEnvironment().run(shipping.prepare_package, PackageInput(oid, order.items, order_workflow_id=f"order-{oid}"))
    dispatch = DispatchInput(oid, f"pkg-{oid}", order.address, order_workflow_id=f"order-{oid}")
    await ActivityEnvironment().run(shipping.dispatch_carrier, dispatch)
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", oid) == OrderState.DISPATCHED.value


async def test_a_shipping_child_not_the_orders_records_nothing_for_an_order_not_yet_stored(pool):
    """A ShippingWorkflow started by hand (acting as itself) for an order whose row is not to be
    seen (not stored yet, or its ReceiveOrder still committing) wrote its package_prepared and
    carrier_dispatched events, or a cancel it heard of, under the order: the order's own steps
    then found them (one key each), so its audit showed the stranger's, and a cancel recorded
    that way called off the order's own dispatch."""
    shipping = ShippingActivities(pool, flaky=no_trouble)
    oid = f"db-{uuid.uuid4().hex[:10]}"
    address = Address(name="Eve", street="2 Side St", city="Elsewhere", postal_code="99999", country="US")
    stranger = as_workflow(f"shipping-{oid}-1")
    await stranger.run(shipping.prepare_package, PackageInput(oid, [OrderItem("WIDGET-1", 1)], order_workflow_id=f"shipping-{oid}-1"))
    await stranger.run(shipping.dispatch_carrier, DispatchInput(oid, f"pkg-{oid}", address, order_workflow_id=f"shipping-{oid}-1"))
    with pytest.raises(ApplicationError):  # a cancel it heard of, by hand: called off
        await stranger.run(
            shipping.dispatch_carrier,
            DispatchInput(oid, f"pkg-{oid}", address, call_off=True, order_workflow_id=f"shipping-{oid}-1"),
        )
    assert [e["type"] for e in await pool.fetch("SELECT type FROM events WHERE order_id = $1", oid)] == []


async def test_another_run_chain_of_the_orders_workflow_id_is_refused_and_writes_nothing(pool):
    """A run started by hand under order-<id> once the order's own had closed (Temporal allows
    it): same workflow id, another chain (first run id). Its ReceiveOrder fails for good, and
    its bookkeeping (a cancel sent with it) writes nothing; the order's own chain, after a reset
    too (a new run id, the same first run id), acts on the order as before. An order stored
    before the chain was recorded (NULL) is its workflow id's, as it was."""
    order = OrderInput(
        order_id=f"db-{uuid.uuid4().hex[:10]}",
        items=[OrderItem("WIDGET-1", 3)],
        address=Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
    )
    oid, wid = order.order_id, order_workflow_id(order.order_id)
    activities = OrderActivities(pool, flaky=no_trouble)
    now = datetime.now(timezone.utc).isoformat()
    own = ReceiveOrderInput(order, workflow_id=wid, started_at=now, first_run_id="chain-1")
    await as_workflow(wid, run_id="chain-1").run(activities.receive_order, own)
    row = await pool.fetchrow("SELECT workflow_first_run_id, created_at FROM orders WHERE id = $1", oid)
    assert row["workflow_first_run_id"] == "chain-1"
    before = await order_rows(pool, oid)
    started = row["created_at"].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    stray = as_workflow(wid, run_id="chain-2")
    with pytest.raises(ApplicationError) as refused:
        await stray.run(activities.receive_order, replace(own, first_run_id="chain-2"))
    assert (refused.value.type, refused.value.non_retryable) == ("AnotherRunsOrder", True)
    assert refused.value.message == (
        f"Order {oid} belongs to another workflow run (started {started}); this run changes nothing."
    )
    for event in (CANCEL_REQUESTED_EVENT, "command_refused"):
        await stray.run(activities.record_event, EventInput(oid, event, event, {"reason": "x"}, first_run_id="chain-2"))
    assert await order_rows(pool, oid) == before

    # The order's own chain: a reset run (run id of its own) receives it again, and records.
    again = await as_workflow(wid, run_id="reset-1").run(activities.receive_order, own)
    assert again.created_at == before[0]["created_at"].isoformat()
    cancel = EventInput(oid, CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT, {"reason": "x"}, first_run_id="chain-1")
    await as_workflow(wid, run_id="reset-1").run(activities.record_event, cancel)
    assert [e["type"] for e in (await order_rows(pool, oid))[2]] == ["order_received", CANCEL_REQUESTED_EVENT]

    # Stored before the chain was recorded: any run of the workflow id acts on it, as before.
    await pool.execute("UPDATE orders SET workflow_first_run_id = NULL WHERE id = $1", oid)
    await stray.run(activities.receive_order, replace(own, first_run_id="chain-2"))

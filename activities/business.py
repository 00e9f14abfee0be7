"""The six business functions. Each calls the flaky dependency first and records its side
effect only after it returns, in one transaction, idempotently: running one twice leaves the
same rows as running it once."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import asdict
from datetime import datetime
from typing import AsyncIterator, Awaitable, Callable

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import attempts, rules, storable
from db import orders as orders_db
from db import ownership
from db import payments as payments_db
from workflows.activity_io import (
    Dispatch,
    DispatchInput,
    Finished,
    MarkShippedInput,
    ChargePaymentInput,
    Package,
    PackageInput,
    ReceivedOrder,
    ReceiveOrderInput,
    ValidateOrderInput,
)
from workflows.model import (
    CANCEL_REQUESTED_EVENT,
    OrderState,
    Payment,
    PaymentStatus,
    order_workflow_id,
)

FlakyCall = Callable[[], Awaitable[None]]

log = logging.getLogger("activities.orders")

# Our carrier does not deliver to uninhabited territories: dispatching there fails for good.


def acting_workflow() -> str:
    """The workflow this step runs for. An order's row belongs to the workflow that created it
    (orders.workflow_id: order-<order_id> from the operator's tools, kept by a reset), and no
    other writes to it: not one started by hand for an order that exists."""
    return activity.info().workflow_id


def acting_as_the_order(order_id: str) -> bool:
    """Whether this step's workflow is the order's own by id (order-<order_id>): the only one
    that may record an event before the order's row is seen (its ReceiveOrder still committing,
    or never stored). Another could be racing it, and its cancel would call the order off."""
    return acting_workflow() == order_workflow_id(order_id)


@contextlib.asynccontextmanager
async def refused_if_another_workflows() -> AsyncIterator[None]:
    """A business step of a workflow that does not own the order's row fails for good, with
    nothing written (its transaction rolled back)."""
    try:
        yield
    except ownership.AnotherWorkflowsOrder as error:
        log_refusal(error)
        # AnotherWorkflowsOrder, or AnotherRunsOrder: the workflow fails at once on the latter.
        raise ApplicationError(str(error), type=type(error).__name__, non_retryable=True) from None


@contextlib.asynccontextmanager
async def unwritten_if_another_workflows() -> AsyncIterator[None]:
    """A bookkeeping step of a workflow that does not own the order's row writes nothing (its
    transaction rolled back) and goes on after the block: it answers as for an order never
    stored, so that such a workflow winds itself up and no more."""
    try:
        yield
    except ownership.AnotherWorkflowsOrder as error:
        log_refusal(error)


def log_refusal(error: ownership.AnotherWorkflowsOrder) -> None:
    info = activity.info()
    event = "order_of_another_workflow"
    if isinstance(error, ownership.AnotherRunsOrder):
        event = "order_of_another_run"
        attempts.filed_under_its_run()
    log.warning(
        "event=%s activity=%s workflow_id=%s run_id=%s owner=%s",
        event, info.activity_type, info.workflow_id, info.workflow_run_id, error.owner,
    )


async def order_received(pool: asyncpg.Pool, flaky: FlakyCall, input: ReceiveOrderInput) -> ReceivedOrder:
    order = input.order
    # Anything else invalid is stored, and ValidateOrder refuses it with the order on record.
    problem = storable.unstorable_problem(
        order.items, order.address, order.payment_id, order.order_id
    ) or storable.shipping_id_problem(order.order_id, order.max_shipping_attempts)
    if problem is None:
        # A read, before the flaky dependency: a run the order's row refuses (another chain
        # under order-<id>, started by hand) fails at its first attempt, not after attempts
        # that failed or hung, and its one attempt is not on the order's record (AttemptRecorder).
        async with refused_if_another_workflows(), pool.acquire() as conn:
            await ownership.check_owner(
                conn, order.order_id, workflow_id=acting_workflow(), first_run_id=input.first_run_id
            )
    await flaky()
    if problem:
        raise ApplicationError(f"Invalid order: {problem}", type="InvalidOrder", non_retryable=True)
    async with refused_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        prices = await orders_db.prices(conn, [item.sku for item in order.items])
        # Unknown SKUs are priced at zero here; ValidateOrder refuses the order right after.
        amount_cents = sum(prices.get(item.sku, 0) * max(item.quantity, 0) for item in order.items)
        row = await orders_db.insert_order(
            conn,
            order_id=order.order_id,
            workflow_id=acting_workflow(),  # the server's word for input.workflow_id
            first_run_id=input.first_run_id,
            items=[asdict(item) for item in order.items],
            address=asdict(order.address),
            amount_cents=amount_cents,
            payment_id=order.payment_id,
            created_at=datetime.fromisoformat(input.started_at),
        )
        await orders_db.insert_event(
            conn,
            order.order_id,
            "order_received",
            "received",
            {"state": OrderState.RECEIVED.value, "amount_cents": row["amount_cents"], "payment_id": order.payment_id},
        )
    return ReceivedOrder(amount_cents=row["amount_cents"], created_at=row["created_at"].isoformat())


async def order_validated(pool: asyncpg.Pool, flaky: FlakyCall, input: ValidateOrderInput) -> None:
    await flaky()
    async with refused_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        known = await orders_db.prices(conn, [item.sku for item in input.items])
        problems = rules.item_problems(input.items, known) + rules.strict_address_problems(input.address)
        if problems:
            raise ApplicationError(problems[0], type="InvalidOrder", non_retryable=True)
        await orders_db.advance_state(conn, input.order_id, OrderState.VALIDATED.value, workflow_id=acting_workflow())
        await orders_db.insert_event(
            conn, input.order_id, "order_validated", "validated", {"state": OrderState.VALIDATED.value}
        )


async def payment_charged(pool: asyncpg.Pool, flaky: FlakyCall, input: ChargePaymentInput) -> Payment:
    await flaky()
    async with refused_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        try:
            row = await payments_db.charge(
                conn,
                payment_id=input.payment_id,
                order_id=input.order_id,
                amount_cents=input.amount_cents,
                workflow_id=acting_workflow(),
            )
        except payments_db.PaymentConflict as error:
            raise ApplicationError(str(error), type="PaymentConflict", non_retryable=True) from None
        # A payment found refunded or voided is returned as it stands: no money, no PAID.
        if row["status"] == PaymentStatus.CHARGED.value:
            await orders_db.advance_state(conn, input.order_id, OrderState.PAID.value, workflow_id=acting_workflow())
            await orders_db.insert_event(
                conn,
                input.order_id,
                "payment_charged",
                "payment_charged",
                {"state": OrderState.PAID.value, "payment_id": input.payment_id, "amount_cents": row["amount_cents"]},
            )
    return Payment(payment_id=row["payment_id"], status=PaymentStatus(row["status"]), amount_cents=row["amount_cents"])


async def package_prepared(pool: asyncpg.Pool, flaky: FlakyCall, input: PackageInput) -> Package:
    await flaky()
    package_id = f"pkg-{input.order_id}"
    async with refused_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        await orders_db.advance_state(
            conn, input.order_id, OrderState.PACKED.value, workflow_id=input.order_workflow_id or None
        )
        await orders_db.insert_event(
            conn,
            input.order_id,
            "package_prepared",
            "package_prepared",
            {"state": OrderState.PACKED.value, "package_id": package_id},
            workflow_id=input.order_workflow_id or None,  # no row seen: nothing (a child's order is stored)
        )
    return Package(package_id=package_id)


async def carrier_dispatched(pool: asyncpg.Pool, flaky: FlakyCall, input: DispatchInput) -> Dispatch:
    await flaky()
    tracking_number = "TRK" + hashlib.sha256(input.order_id.encode()).hexdigest()[:10].upper()
    async with refused_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        # The order row decides the race with an address change: whichever commits first wins,
        # so the carrier always gets the address the database says was current.
        row = await orders_db.lock_for_handover(conn, input.order_id, workflow_id=input.order_workflow_id or None)
        already_dispatched = row is not None and row["dispatched"]
        # Likewise with a cancel: one recorded (or that the child heard of) before the hand-over
        # calls the shipment off; a step run again after the hand-over just repeats it.
        recorded = None
        if not already_dispatched:
            recorded = await orders_db.event_type(conn, input.order_id, CANCEL_REQUESTED_EVENT)
        called_off = not already_dispatched and (input.call_off or recorded is not None)
        if called_off and recorded is None:
            await _hand_sent_cancel_on_record(conn, input)
        elif not called_off:
            await _hand_over(conn, input, row, tracking_number)
    if called_off:
        raise ApplicationError(
            f"Order {input.order_id} was cancelled before the carrier took the package.",
            type="ShipmentCalledOff",
            non_retryable=True,
        )
    return Dispatch(tracking_number=tracking_number, carrier=rules.CARRIER)


async def _hand_sent_cancel_on_record(conn: asyncpg.Connection, input: DispatchInput) -> None:
    """The child heard of a cancel its parent never recorded: a `cancel_shipping` signal sent to
    it by hand (parents no longer send one). On record, committed with the called-off hand-over,
    so that the audit says what cancelled the order, as it does for a Temporal cancel."""
    child = activity.info().workflow_id or "the shipping workflow"
    await orders_db.insert_event(
        conn,
        input.order_id,
        CANCEL_REQUESTED_EVENT,
        f"{CANCEL_REQUESTED_EVENT}:{child}",
        {"reason": f"cancel_shipping signal sent to {child}", "by": "Temporal"},
        workflow_id=input.order_workflow_id or None,
    )


async def _hand_over(
    conn: asyncpg.Connection, input: DispatchInput, row: asyncpg.Record | None, tracking_number: str
) -> None:
    """Give the carrier the package, under the order's row lock, unless the order's payment went
    back, the order ended, or the carrier does not deliver there; a hand-over already made is
    repeated as it was."""
    address = row["address_json"] if row is not None else asdict(input.address)
    already_dispatched = row is not None and row["dispatched"]
    if not already_dispatched and row is not None and await payments_db.payment_refunded(conn, input.order_id):
        raise ApplicationError(
            f"The payment of order {input.order_id} was refunded; the carrier does not get the package.",
            type="ShipmentCalledOff",
            non_retryable=True,
        )
    if not already_dispatched and row is not None and OrderState(row["state"]).terminal:
        raise ApplicationError(
            f"Order {input.order_id} already ended {row['state']}; the carrier does not get the package.",
            type="ShipmentCalledOff",
            non_retryable=True,
        )
    # As ValidateOrder reads it: an order started by other means than the operator's tools
    # keeps its address as written (" aq"), which is still Antarctica.
    country = str(address.get("country") or "").strip().upper()
    if country in rules.CARRIER_UNSERVED_COUNTRIES:
        raise ApplicationError(f"{rules.CARRIER} does not deliver to {country}.", type="CarrierRefused", non_retryable=True)
    await orders_db.advance_state(
        conn,
        input.order_id,
        OrderState.DISPATCHED.value,
        workflow_id=input.order_workflow_id or None,
        tracking_number=tracking_number,
    )
    await orders_db.insert_event(
        conn,
        input.order_id,
        "carrier_dispatched",
        "carrier_dispatched",
        {
            "state": OrderState.DISPATCHED.value,
            "carrier": rules.CARRIER,
            "tracking_number": tracking_number,
            "package_id": input.package_id,
            "address": address,
        },
        workflow_id=input.order_workflow_id or None,
    )


async def order_shipped(pool: asyncpg.Pool, flaky: FlakyCall, input: MarkShippedInput) -> Finished:
    await flaky()
    async with refused_if_another_workflows(), pool.acquire() as conn, conn.transaction():
        row = await orders_db.finish(conn, input.order_id, OrderState.SHIPPED.value, workflow_id=acting_workflow())
        tracking_number = input.tracking_number or row["tracking_number"]
        await orders_db.insert_event(
            conn,
            input.order_id,
            "order_shipped",
            "order_shipped",
            {"state": OrderState.SHIPPED.value, "tracking_number": tracking_number},
        )
    return Finished(
        processing_ms=row["processing_ms"] or 0, review_ms=row["review_ms"] or 0, tracking_number=tracking_number
    )

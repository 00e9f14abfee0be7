"""Activities of the order worker (task queue order-tq): the business steps of OrderWorkflow
and the bookkeeping around them (review, decisions, address changes, refunds, endings)."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities import bookkeeping, business
from activities.business import FlakyCall
from activities.flaky import flaky_call
from workflows.activity_io import (
    AddressChange,
    ChargePaymentInput,
    EventInput,
    FinishInput,
    Finished,
    MarkShippedInput,
    ReceivedOrder,
    ReceiveOrderInput,
    RefundInput,
    ReviewInput,
    ValidateOrderInput,
)
from workflows.model import Payment


class OrderActivities:
    def __init__(self, pool: asyncpg.Pool, flaky: FlakyCall = flaky_call) -> None:
        self._pool = pool
        self._flaky = flaky

    # The business steps: each goes through the flaky dependency.

    @activity.defn(name="ReceiveOrder")
    async def receive_order(self, input: ReceiveOrderInput) -> ReceivedOrder:
        return await business.order_received(self._pool, self._flaky, input)

    @activity.defn(name="ValidateOrder")
    async def validate_order(self, input: ValidateOrderInput) -> None:
        await business.order_validated(self._pool, self._flaky, input)

    @activity.defn(name="ChargePayment")
    async def charge_payment(self, input: ChargePaymentInput) -> Payment:
        return await business.payment_charged(self._pool, self._flaky, input)

    @activity.defn(name="MarkShipped")
    async def mark_shipped(self, input: MarkShippedInput) -> Finished:
        return await business.order_shipped(self._pool, self._flaky, input)

    # Bookkeeping: our own database only, no flaky dependency in the way. For a workflow that
    # does not own the order's row (business.acting_workflow) they write nothing.

    @activity.defn(name="MarkAwaitingApproval")
    async def mark_awaiting_approval(self, input: ReviewInput) -> str:
        return await bookkeeping.mark_awaiting_approval(self._pool, input)

    @activity.defn(name="RecordDecision")
    async def record_decision(self, input: ReviewInput) -> int:
        return await bookkeeping.record_decision(self._pool, input)

    @activity.defn(name="RecordAddressChange")
    async def record_address_change(self, input: AddressChange) -> bool | str:
        return await bookkeeping.record_address_change(self._pool, input)

    @activity.defn(name="RefundPayment")
    async def refund_payment(self, input: RefundInput) -> Payment:
        return await bookkeeping.refund_payment(self._pool, input)

    @activity.defn(name="FinishOrder")
    async def finish_order(self, input: FinishInput) -> Finished:
        return await bookkeeping.finish_order(self._pool, input)

    @activity.defn(name="RecordEvent")
    async def record_event(self, input: EventInput) -> None:
        await bookkeeping.record_event(self._pool, input)

    def all(self) -> list:
        return [
            self.receive_order,
            self.validate_order,
            self.charge_payment,
            self.mark_shipped,
            self.mark_awaiting_approval,
            self.record_decision,
            self.record_address_change,
            self.refund_payment,
            self.finish_order,
            self.record_event,
        ]

"""Stand-in activities for workflow tests: registered under the real activity names, they
record every call, and a test can make one fail, run a hook (say, send a signal) while the
step is in flight, or hold the step until something has happened elsewhere."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.activity_io import (
    AddressChange,
    ChargePaymentInput,
    Dispatch,
    DispatchInput,
    EventInput,
    Finished,
    FinishInput,
    Handover,
    HandoverInput,
    MarkShippedInput,
    Package,
    PackageInput,
    ReceivedOrder,
    ReceiveOrderInput,
    RefundInput,
    ReviewInput,
    ValidateOrderInput,
)
from workflows.model import (
    CANCEL_REQUESTED_EVENT,
    Address,
    OrderState,
    Payment,
    PaymentStatus,
)

Hook = Callable[[Any], Awaitable[None]]
Condition = Callable[[], Awaitable[bool]]

# How long a hold waits at most, over all its attempts, before the test fails: a hold whose
# release never came is the test's own mistake, and the step going ahead anyway could let the
# test pass for the wrong reason (conftest's _no_hold_ran_out fails it; the step fails too).
HOLD_LIMIT = 10.0


def carrier_refused(country: str = "AQ") -> ApplicationError:
    return ApplicationError(f"ACME Freight does not deliver to {country}.", type="CarrierRefused", non_retryable=True)


class FakeActivities:
    # Every instance made during the current test, so that conftest can check their holds.
    created: list[FakeActivities] = []

    def __init__(self) -> None:
        self.calls: dict[str, list[Any]] = defaultdict(list)
        self.sequence: list[str] = []  # every step's name, in the order the calls began
        self.hooks: dict[str, Hook] = {}
        # Per step, a condition that every attempt waits for (after the hook, if any). Unlike a
        # hook it is not used up by the first attempt: a business step's attempt is cut off
        # after 120 ms (policies.BUSINESS_START_TO_CLOSE), and its retry must wait as well.
        self.holds: dict[str, Condition] = {}
        self._hold_deadlines: dict[str, float] = {}
        # The holds that ran out: one sentence each, for the test's failure.
        self.holds_run_out: list[str] = []
        FakeActivities.created.append(self)
        # Per step, the attempts cut off by their timeout (cancelled) before they finished.
        self.cut_off: dict[str, int] = defaultdict(int)
        # Per step, per call: whether it ran as a local activity (else a regular one).
        self.ran_locally: dict[str, list[bool]] = defaultdict(list)
        # Errors to raise, one per call, before the step succeeds.
        self.failures: dict[str, list[BaseException]] = defaultdict(list)
        # The address each successful dispatch handed to the carrier.
        self.dispatched_to: list[Address] = []
        # Like the database: the order's row exists once ReceiveOrder has succeeded.
        self.received = False
        # Like the database: when each order began to await review (kept from the first time).
        self.awaiting_since: dict[str, str] = {}
        # Like the database: the first ending recorded is the order's.
        self.ended: tuple[OrderState, str] | None = None
        # Like the database: the payment as it stands (a charge repeats return it unchanged).
        self.payment: PaymentStatus | None = None
        self.order_task_queue = f"order-test-{uuid.uuid4().hex[:8]}"
        self.shipping_task_queue = f"shipping-test-{uuid.uuid4().hex[:8]}"

    async def _step(self, name: str, input: Any) -> None:
        self.calls[name].append(input)
        self.sequence.append(name)
        self.ran_locally[name].append(activity.info().is_local)
        try:
            if name in self.hooks:
                await self.hooks.pop(name)(input)
            if name in self.holds:
                await self._held(name)
        except asyncio.CancelledError:
            self.cut_off[name] += 1
            raise
        if self.failures[name]:
            raise self.failures[name].pop(0)

    async def _held(self, name: str) -> None:
        deadline = self._hold_deadlines.setdefault(name, time.monotonic() + HOLD_LIMIT)
        while not await self.holds[name]():
            if time.monotonic() >= deadline:
                ran_out = f"the hold on {name} was never released: it ran out after {HOLD_LIMIT:g} s"
                self.holds_run_out.append(ran_out)
                raise ApplicationError(ran_out, type="HoldRanOut", non_retryable=True)
            await asyncio.sleep(0.02)

    def names(self) -> list[str]:
        return list(self.calls)

    @activity.defn(name="ReceiveOrder")
    async def receive_order(self, input: ReceiveOrderInput) -> ReceivedOrder:
        await self._step("ReceiveOrder", input)
        self.received = True
        return ReceivedOrder(amount_cents=3998, created_at=datetime.now(timezone.utc).isoformat())

    @activity.defn(name="ValidateOrder")
    async def validate_order(self, input: ValidateOrderInput) -> None:
        await self._step("ValidateOrder", input)

    @activity.defn(name="MarkAwaitingApproval")
    async def mark_awaiting_approval(self, input: ReviewInput) -> str:
        await self._step("MarkAwaitingApproval", input)
        # Like the database: the first time is kept (a step run again, or after a reset).
        return self.awaiting_since.setdefault(input.order_id, datetime.now(timezone.utc).isoformat())

    @activity.defn(name="RecordDecision")
    async def record_decision(self, input: ReviewInput) -> int:
        await self._step("RecordDecision", input)
        return 1234

    @activity.defn(name="ChargePayment")
    async def charge_payment(self, input: ChargePaymentInput) -> Payment:
        await self._step("ChargePayment", input)
        self.payment = self.payment or PaymentStatus.CHARGED
        return Payment(payment_id=input.payment_id, status=self.payment, amount_cents=input.amount_cents)

    @activity.defn(name="RefundPayment")
    async def refund_payment(self, input: RefundInput) -> Payment:
        await self._step("RefundPayment", input)
        if self.payment is None:  # never charged: voided, so that a late charge takes nothing
            self.payment = PaymentStatus.FAILED
            return Payment(payment_id=input.payment_id, status=self.payment)
        if self.payment == PaymentStatus.CHARGED and not self.dispatched_to:  # the carrier's stays charged
            self.payment = PaymentStatus.REFUNDED
        return Payment(payment_id=input.payment_id, status=self.payment, amount_cents=3998)

    @activity.defn(name="MarkShipped")
    async def mark_shipped(self, input: MarkShippedInput) -> Finished:
        await self._step("MarkShipped", input)
        self.ended = self.ended or (OrderState.SHIPPED, "")
        tracking = input.tracking_number or ("TRK-TEST" if self.dispatched_to else "")
        return Finished(processing_ms=2000, review_ms=1234, tracking_number=tracking)

    @activity.defn(name="FinishOrder")
    async def finish_order(self, input: FinishInput) -> Finished:
        await self._step("FinishOrder", input)
        if self.ended is None and input.state != OrderState.SHIPPED and self.dispatched_to:
            # Like the database: an order the carrier has ends SHIPPED or not at all.
            paid = Payment(payment_id=f"pay-{input.order_id}", status=self.payment, amount_cents=3998) if self.payment else None
            return Finished(processing_ms=0, review_ms=0, state=OrderState.DISPATCHED, payment=paid)
        self.ended = self.ended or (input.state, input.reason)
        refunded = None
        # Like the database: a charge the workflow did not know of is refunded at an ending
        # other than SHIPPED, unless the carrier has the package.
        if self.ended[0] != OrderState.SHIPPED and self.payment == PaymentStatus.CHARGED and not self.dispatched_to:
            self.payment = PaymentStatus.REFUNDED
            refunded = Payment(payment_id=f"pay-{input.order_id}", status=self.payment, amount_cents=3998)
        return Finished(processing_ms=1000, review_ms=0, state=self.ended[0], reason=self.ended[1], payment=refunded)

    @activity.defn(name="RecordAddressChange")
    async def record_address_change(self, input: AddressChange) -> bool | str:
        await self._step("RecordAddressChange", input)
        # Like the database: a change is applied only to an order's row that exists, while the
        # carrier has not the package; refused, it says what stood in the way.
        if not self.received:
            return False
        if self.dispatched_to:
            return OrderState.DISPATCHED.value
        return self.ended[0].value if self.ended is not None else True

    @activity.defn(name="RecordEvent")
    async def record_event(self, input: EventInput) -> None:
        await self._step("RecordEvent", input)

    @activity.defn(name="PreparePackage")
    async def prepare_package(self, input: PackageInput) -> Package:
        await self._step("PreparePackage", input)
        return Package(package_id=f"pkg-{input.order_id}")

    @activity.defn(name="DispatchCarrier")
    async def dispatch_carrier(self, input: DispatchInput) -> Dispatch:
        await self._step("DispatchCarrier", input)
        # Like the database: a cancel recorded before the hand-over calls the shipment off, and
        # the carrier gets the address last recorded, whatever the child was told.
        # A step run again after the hand-over just repeats it.
        cancelled = any(e.event_type == CANCEL_REQUESTED_EVENT for e in self.calls.get("RecordEvent", []))
        if (cancelled or input.call_off) and not self.dispatched_to:
            raise ApplicationError("Cancelled before the carrier took it.", type="ShipmentCalledOff", non_retryable=True)
        if self.ended is not None and not self.dispatched_to:
            raise ApplicationError("The order already ended.", type="ShipmentCalledOff", non_retryable=True)
        if not self.dispatched_to:
            changes = self.calls.get("RecordAddressChange", [])
            self.dispatched_to.append(changes[-1].address if changes else input.address)
        return Dispatch(tracking_number="TRK-TEST", carrier="Test Carrier")

    def order_activities(self) -> list:
        return [
            self.receive_order,
            self.validate_order,
            self.mark_awaiting_approval,
            self.record_decision,
            self.charge_payment,
            self.refund_payment,
            self.mark_shipped,
            self.finish_order,
            self.record_address_change,
            self.record_event,
        ]

    @activity.defn(name="HandoverStatus")
    async def handover_status(self, input: HandoverInput) -> Handover:
        await self._step("HandoverStatus", input)
        tracking = "TRK-TEST" if self.dispatched_to else ""
        info = activity.info()
        return Handover(
            dispatched=bool(tracking), tracking_number=tracking, attempt=info.attempt, ran_locally=info.is_local,
            begun_by_a_lost_task=input.begun_by_a_lost_task,
        )

    def shipping_activities(self) -> list:
        return [self.prepare_package, self.dispatch_carrier, self.handover_status]

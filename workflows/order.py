"""OrderWorkflow: one order from receipt to shipment (or to its other endings).

``run`` is the business process; shipping (order_shipping.py) and the other endings
(order_ending.py) are steps of their own modules. The operator's commands (order_commands.py,
refused by the rules of command_rules.py) change the workflow's state (order_run.py), and the
run loop acts on it at the next step. Bookkeeping that must happen while a step is in flight
(persisting an address change, noting a refused signal) runs in a small companion coroutine
owned by ``run`` (bookkeeping.py); every step runs as order_steps.py says.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.order_activities import OrderActivities
    from workflows.activity_io import ChargePaymentInput, ReceiveOrderInput, ReviewInput, ValidateOrderInput
    from workflows.model import (
        ORDER_STATE_ATTRIBUTE,
        OrderInput,
        OrderState,
        OrderStatus,
        Payment,
        PaymentStatus,
        order_workflow_id,
    )
    from workflows.bookkeeping import Bookkeeping
    from workflows.order_commands import OrderCommands
    from workflows.order_ending import OrderEnding
    from workflows.order_run import OrderEnded
    from workflows.order_steps import OrderSteps
    from workflows.patches import (
        ANOTHER_RUN_ANSWERS_ADDRESS_CHANGES,
        ANOTHER_RUNS_ORDER_FAILS,
        AUDIT_AFTER_RECEIPT_BY_HAND,
        CANCEL_BEFORE_CHARGE,
        PAYMENT_FAILURE_ENDS_ORDER,
        REFUNDED_IS_NOT_PAID,
        TEMPORAL_CANCEL_IS_A_CANCEL,
        UNSTORABLE_ORDER_FAILS,
    )
    from workflows import order_checks, raw_input, summaries
    from workflows.steps import STEP_FAILED, failure_message, failure_type


@workflow.defn
class OrderWorkflow(OrderEnding, OrderCommands):
    @workflow.init
    def __init__(self, input: RawValue = raw_input.NO_INPUT) -> None:
        # Decoded here, not by the SDK: a malformed input fails the workflow with the reason
        # (run), where it failed its first workflow task for ever (workflows/raw_input.py).
        decoded = raw_input.decode(input, OrderInput)
        order = decoded.value if decoded.value is not None else order_checks.unusable_order(decoded.plain)
        super().__init__(order, decoded.problem)
        self._steps = OrderSteps(self._order, self._patched, self._write_state_attribute)
        self._books = Bookkeeping(self._order.order_id, self._patched, self._steps.bookkeeping, self._row_before_audit)

    # ----------------------------------------------------------------- the process

    @workflow.run
    async def run(self, input: RawValue = raw_input.NO_INPUT) -> OrderStatus:
        if self._input_problem is not None:
            self._fail_unusable_input()
        bookkeeper = asyncio.create_task(self._books.run())
        process = asyncio.create_task(self._process())
        while True:
            try:
                # Waited for, not awaited: a cancel requested through Temporal (Web UI, `temporal
                # workflow cancel`) must not cut a step off half done; it becomes the operator's
                # cancel. A bookkeeping step that failed for good fails the workflow task at once:
                # else the order went on, its later bookkeeping (an address change, its answer)
                # stopped, until its ending waited for the audit.
                await workflow.wait_condition(lambda: process.done() or self._books.failed())
                self._books.raise_failure()
                await process
                break
            except asyncio.CancelledError:
                if process.done() or not self._patched(TEMPORAL_CANCEL_IS_A_CANCEL):
                    process.cancel()
                    raise
                self._cancel_from_temporal()
        while True:
            try:
                await workflow.wait_condition(
                    lambda: (not self._books.jobs and workflow.all_handlers_finished()) or self._books.failed()
                )
                self._books.raise_failure()
                break
            except asyncio.CancelledError:
                # The order has ended; audit records and answers still owed are not dropped.
                if not self._patched(TEMPORAL_CANCEL_IS_A_CANCEL):
                    raise
                self._cancel_from_temporal()
        bookkeeper.cancel()
        return self.status()

    async def _process(self) -> None:
        try:
            try:
                await self._receive()
                await self._validate()
                await self._review()
                await self._charge()
                await self._ship()
                await self._mark_shipped()
            except OrderEnded as ended:
                await self._end(ended)
        finally:  # a step that failed for good fails the workflow in the state it was in
            self._write_state_attribute()

    def _fail_unusable_input(self) -> None:
        """No order can be made of the input: the workflow fails with the reason, and its
        OrderState says FAILED (the Temporal UI, `temporal workflow list --query`, the status
        Query). Nothing is written to the database: a row made of such input would be invented."""
        assert self._input_problem is not None
        workflow.logger.warning(
            "event=order_input_unusable order_id=%s reason=%r", self._order.order_id, self._input_problem
        )
        self._step = "done"
        workflow.upsert_search_attributes([ORDER_STATE_ATTRIBUTE.value_set(OrderState.FAILED.value)])
        raise raw_input.unusable(self._input_problem)

    async def _fail_another_runs_order(self, reason: str) -> None:
        """ReceiveOrder found the order's row owned by another run chain of this workflow id:
        this run was started by hand under order-<id> after the order's own had closed. It fails
        with the reason, and winds nothing up: the order, its payment and its audit are the
        other run's (the steps that end an order go by the workflow id, which they share). Its
        status says FAILED with no amount, so the tools show the order's row, not this run."""
        workflow.logger.warning("event=order_of_another_run order_id=%s reason=%r", self._order.order_id, reason)
        self._state = OrderState.FAILED
        self._failure_reason = reason
        self._another_runs_order = reason  # a decision or cancel sent with this run is refused with it
        self._step = "done"
        workflow.upsert_search_attributes([ORDER_STATE_ATTRIBUTE.value_set(OrderState.FAILED.value)])
        # An address change waits for the order's row or its ending (_apply_address_change),
        # and this run reaches neither: as ending, it is answered (refused: FAILED) instead of
        # holding the run Running for good.
        if self._address_change_pending() and self._patched(ANOTHER_RUN_ANSWERS_ADDRESS_CHANGES):
            self._ending = OrderState.FAILED
        # Bookkeeping under way (a cancel sent with the start, which the database refuses as
        # well) ends first: a workflow that fails with a local activity in flight never
        # completed its task, which timed out and ran again (seen on the test server).
        await workflow.wait_condition(lambda: not self._books.jobs or self._books.failed())
        raise ApplicationError(reason, type="AnotherRunsOrder", non_retryable=True)

    def _cancel_from_temporal(self) -> None:
        """Like the operator's cancel: honoured at the next step (with a refund if paid), or
        refused and audited once the carrier has the package."""
        workflow.logger.info("event=temporal_cancel_requested order_id=%s", self._order.order_id)
        if refusal := self._cancel_refusal(signal=True):
            self._books.note_refusal("cancel", refusal)
        else:
            self._request_cancel("cancel requested through Temporal", by="Temporal")

    async def _receive(self) -> None:
        receipt = ReceiveOrderInput(
            order=self._order,
            workflow_id=workflow.info().workflow_id,
            started_at=workflow.info().workflow_start_time.isoformat(),
            first_run_id=workflow.info().first_execution_run_id,
        )
        try:
            received = await self._steps.first(OrderActivities.receive_order, receipt)
        except STEP_FAILED as error:
            if failure_type(error) == "AnotherRunsOrder" and self._patched(ANOTHER_RUNS_ORDER_FAILS):
                await self._fail_another_runs_order(failure_message(error))
            if not self._patched(UNSTORABLE_ORDER_FAILS):
                raise
            raise OrderEnded(OrderState.FAILED, failure_message(error)) from None
        self._amount_cents = received.amount_cents
        self._received = True
        self._checkpoint()

    async def _validate(self) -> None:
        self._step = "validating"
        if problem := order_checks.input_problem(self._order, self._patched):
            raise OrderEnded(OrderState.FAILED, f"Invalid order: {problem}")
        try:
            await self._steps.business(
                OrderActivities.validate_order,
                ValidateOrderInput(order_id=self._order.order_id, items=self._order.items, address=self._address),
            )
        except STEP_FAILED as error:
            raise OrderEnded(OrderState.FAILED, f"Invalid order: {failure_message(error)}") from None
        self._transition(OrderState.VALIDATED)
        self._checkpoint()

    async def _review(self) -> None:
        self._transition(OrderState.AWAITING_APPROVAL, "awaiting review")
        since = await self._steps.bookkeeping(
            OrderActivities.mark_awaiting_approval,
            ReviewInput(order_id=self._order.order_id, review_window_seconds=self._order.review_window_seconds),
        )
        self._awaiting_since = datetime.fromisoformat(since)
        window = self._review_left(self._awaiting_since)
        # The timer starts when this task completes, so it cannot fire before this deadline.
        self._review_deadline = workflow.now() + window
        if window > timedelta(0):  # else it closed before a reset brought the order back
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(
                    lambda: self._decision is not None or self._cancel_reason is not None,
                    timeout=window,
                    timeout_summary=summaries.review_timer(round(window.total_seconds(), 1)),
                )
        if self._decision is None and self._cancel_reason is None:
            raise OrderEnded(
                OrderState.EXPIRED,
                f"No decision within the review window of {self._order.review_window_seconds:g} s.",
            )
        self._checkpoint()
        decision = self._decision
        assert decision is not None
        self._decision_recorded = True
        review_ms = await self._steps.bookkeeping(
            OrderActivities.record_decision, ReviewInput(order_id=self._order.order_id, decision=decision)
        )
        self._review_seconds = review_ms / 1000
        if not decision.approved:
            raise OrderEnded(OrderState.REJECTED, decision.reason)
        self._transition(OrderState.APPROVED, "charging payment")

    def _review_left(self, since: datetime) -> timedelta:
        """The review window; in a run a reset made, less the time since the review began on
        record (PostgreSQL's clock against Temporal's, so only there: elsewhere the review
        begins now, and a skew between the two servers cannot shorten anyone's window)."""
        window = timedelta(seconds=self._order.review_window_seconds)
        info = workflow.info()
        reset_run = info.run_id != info.original_execution_run_id  # a reset keeps the start event's run id
        if not (self._order.review_window_from_record and reset_run):
            return window
        return window - max(workflow.now() - since, timedelta(0))

    async def _charge(self) -> None:
        assert self._amount_cents is not None
        # A cancel accepted while the decision was being recorded wins before any money moves.
        if self._cancel_reason is not None and self._patched(CANCEL_BEFORE_CHARGE):
            raise OrderEnded(OrderState.CANCELLED, self._cancel_reason)
        try:
            self._payment = await self._steps.business(
                OrderActivities.charge_payment,
                ChargePaymentInput(
                    order_id=self._order.order_id, payment_id=self._order.payment_id, amount_cents=self._amount_cents
                ),
            )
        except STEP_FAILED as error:
            self._charge_answered = True
            # A payment that can never succeed (its id belongs to another order) ends the order
            # FAILED, recorded as such, instead of failing the workflow with the row left APPROVED.
            if not self._patched(PAYMENT_FAILURE_ENDS_ORDER):
                raise
            raise OrderEnded(OrderState.FAILED, f"Payment failed: {failure_message(error)}") from None
        self._charge_answered = True
        if self._payment.status != PaymentStatus.CHARGED and self._patched(REFUNDED_IS_NOT_PAID):
            if self._cancel_reason is not None:
                raise OrderEnded(OrderState.CANCELLED, self._cancel_reason)
            was = "voided" if self._payment.status == PaymentStatus.FAILED else self._payment.status.value.lower()
            raise OrderEnded(OrderState.FAILED, f"Payment {self._payment.payment_id} was already {was}.")
        self._transition(OrderState.PAID, "shipping")
        self._checkpoint()

    # ----------------------------------------------------------------- mechanics

    async def _row_before_audit(self) -> None:
        """An order started by hand under another id than order-<id> is its workflow's once its
        ReceiveOrder has stored the row; until then the database lets only order-<id> record
        (another workflow could be racing the order's own), so its jobs wait for the row, or
        for the order to end without one."""
        if self._received or workflow.info().workflow_id == order_workflow_id(self._order.order_id):
            return
        if self._ending is None and self._patched(AUDIT_AFTER_RECEIPT_BY_HAND):
            await workflow.wait_condition(lambda: self._received or self._ending is not None)

    # ----------------------------------------------------------------- query

    @workflow.query(description=summaries.ORDER_STATUS_QUERY)
    def status(self) -> OrderStatus:
        """The workflow's own view (OrderRun._status)."""
        return self._status()

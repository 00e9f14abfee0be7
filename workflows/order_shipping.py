"""Shipping an order: the ShippingWorkflow child, tried again a bounded number of times when the
dispatch fails, and the signals the child sends its parent."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities import storable
    from workflows import policies, summaries
    from activities.order_activities import OrderActivities
    from workflows.activity_io import MarkShippedInput
    from workflows.model import OrderState, ShippingInput, ShippingResult, shipping_workflow_id
    from workflows.order_run import OrderEnded, OrderRun
    from workflows.patches import (
        CANCEL_LEFT_TO_THE_DATABASE,
        CHILD_SIGNALS_WITHOUT_A_CHILD_REFUSED,
        DISPATCH_FAILED_TEXT_CHECKED,
        SHIPPING_ID_IN_USE,
    )
    from workflows.shipping import ShippingWorkflow
    from workflows.signals import checked_arguments
    from workflows.steps import failure_message


async def tell_child(order_id: str, handle: workflow.ChildWorkflowHandle, signal: Any, *args: Any) -> None:
    """Signal the shipping child; it may have finished in the meantime, which is no error:
    its result (dispatched or not) is what the run loop acts on."""
    try:
        await handle.signal(signal, *args)
    except ApplicationError as error:
        workflow.logger.info(
            "event=child_signal_missed order_id=%s child=%s reason=%r", order_id, handle.id, str(error)
        )


class OrderShipping(OrderRun):
    """Mixed into OrderWorkflow, whose handlers of the child's signals are these."""

    async def _ship(self) -> None:
        """Run the shipping child, retrying a failed dispatch a bounded number of times."""
        for attempt in range(1, self._order.max_shipping_attempts + 1):
            self._shipping_attempts = attempt
            self._dispatch_failure = None
            self._step = "packing and dispatching" if attempt == 1 else f"shipping, attempt {attempt}"
            self._child_running = True
            try:
                result = await self._run_shipping(attempt)
            finally:
                self._child_running = False
            if result.dispatched:
                self._tracking_number = result.tracking_number
                self._handed_over()
                return
            if result.cancelled or self._cancel_reason is not None:
                raise OrderEnded(OrderState.CANCELLED, self._cancel_reason or "cancelled")
            reason = self._dispatch_failure or result.reason
            self._failure_reason = reason
            workflow.logger.warning(
                "event=shipping_failed order_id=%s attempt=%d of=%d reason=%r",
                self._order.order_id, attempt, self._order.max_shipping_attempts, reason,
            )
            self._books.queue_event(
                "shipping_failed", f"shipping_failed:{attempt}", {"attempt": attempt, "reason": reason}
            )
            if attempt < self._order.max_shipping_attempts:
                # Give the carrier (or an operator's address fix) a moment; a cancel ends the wait.
                self._step = f"waiting to retry shipping ({reason})"
                with contextlib.suppress(asyncio.TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._cancel_reason is not None,
                        timeout=policies.SHIPPING_RETRY_DELAY * attempt,
                        timeout_summary=summaries.shipping_retry_timer(attempt + 1),
                    )
                self._checkpoint()
        raise OrderEnded(
            OrderState.FAILED,
            f"Shipping failed after {self._order.max_shipping_attempts} attempts: {self._failure_reason}",
        )

    async def _run_shipping(self, attempt: int) -> ShippingResult:
        child_id = shipping_workflow_id(self._order.order_id, attempt)
        try:
            handle = await workflow.start_child_workflow(
                ShippingWorkflow.run,
                ShippingInput(
                    order_id=self._order.order_id,
                    parent_workflow_id=workflow.info().workflow_id,
                    address=self._address,
                    items=self._order.items,
                    shipping_attempt=attempt,
                    local_attempts=self._order.local_attempts,
                    patches_in_input=True,
                ),
                id=child_id,
                task_queue=self._order.shipping_task_queue,
                task_timeout=policies.WORKFLOW_TASK_TIMEOUT,
                static_summary=summaries.shipping_summary(
                    self._order.order_id, attempt, self._order.max_shipping_attempts, self._address
                ),
            )
        except WorkflowAlreadyStartedError:
            if not self._patched(SHIPPING_ID_IN_USE):
                raise
            return ShippingResult(dispatched=False, reason=f"shipping workflow {child_id} is still running")
        self._shipping = handle
        cancel_seen = False
        try:
            while True:
                await workflow.wait_condition(
                    lambda: handle.done() or (self._cancel_reason is not None and not cancel_seen)
                )
                if handle.done():
                    return await handle
                cancel_seen = True
                if not self._patched(CANCEL_LEFT_TO_THE_DATABASE):
                    await tell_child(self._order.order_id, handle, ShippingWorkflow.cancel_shipping)
        except ChildWorkflowError as error:
            return ShippingResult(dispatched=False, reason=failure_message(error))
        finally:
            self._shipping = None

    def _handed_over(self) -> None:
        """The carrier has the package: a cancel still pending comes too late, and an earlier
        attempt's failure is no longer the order's (a review saw a SHIPPED order's status say
        "Reason: Cancelled" after a cancelled first child). No command changes: replay-safe."""
        self._failure_reason = ""
        if self._cancel_reason is not None:
            self._cancel_outcome = (
                f"Order {self._order.order_id} cannot be cancelled: the carrier already has the package."
            )
            self._books.note_refusal("cancel", self._cancel_outcome)
            self._cancel_reason = None
        self._transition(OrderState.DISPATCHED, "marking shipped")

    async def _mark_shipped(self) -> None:
        self._finished = await self._steps.business(
            OrderActivities.mark_shipped,
            MarkShippedInput(order_id=self._order.order_id, tracking_number=self._tracking_number),
        )
        self._tracking_number = self._finished.tracking_number or self._tracking_number
        self._transition(OrderState.SHIPPED, "done")

    @workflow.signal(name="package_prepared", description=summaries.PACKAGE_PREPARED_SIGNAL)
    @checked_arguments("package_prepared")
    def package_prepared(self, package_id: str = "") -> None:
        """Sent only by shipping runs that began before the child stopped reporting it (its
        PACKED_WITHOUT_SIGNAL patch); the database records PACKED either way."""
        if refusal := self._no_child_to_send("package_prepared"):
            self._books.note_refusal("package_prepared", refusal)
        elif self._state == OrderState.PAID:
            self._transition(OrderState.PACKED, "dispatching carrier")

    @workflow.signal(name="dispatch_failed", description=summaries.DISPATCH_FAILED_SIGNAL)
    @checked_arguments("dispatch_failed")
    def dispatch_failed(self, reason: str = "") -> None:
        # The child sends an error's message; a hand-sent NUL would become the order's failure
        # reason and its shipping_failed event, which PostgreSQL cannot store.
        refusal = storable.storable_text_problem("reason", reason)
        if refusal is not None and self._patched(DISPATCH_FAILED_TEXT_CHECKED):
            self._books.note_refusal("dispatch_failed", refusal)
        elif refusal := self._no_child_to_send("dispatch_failed"):
            self._books.note_refusal("dispatch_failed", refusal)
        else:
            self._dispatch_failure = reason

    def _no_child_to_send(self, signal: str) -> str | None:
        """The refusal of one of the child's signals that comes while no child runs: sent by hand,
        it would be dropped (its reason read by no attempt) or wrong (PACKED between attempts).
        Signal handlers change history when they refuse: runs from before replay as they ran."""
        if self._child_running or not self._patched(CHILD_SIGNALS_WITHOUT_A_CHILD_REFUSED):
            return None
        return f"Order {self._order.order_id} has no shipping child running, the only sender of {signal}."

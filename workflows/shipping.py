"""ShippingWorkflow: the child that prepares the package and hands it to the carrier.

Packing and dispatch run back to back in one workflow task, and the database decides what
the carrier gets: the dispatch step reads the order's current address and whether a cancel
was recorded in the same transaction that hands over the package. So an address change or a
cancel that lands before the hand-over wins, even in the middle of the dispatch retries,
without the child stopping to hear from its parent. The parent forwards both as signals too,
so the child's own view stays current. The child signals its parent ``dispatch_failed`` when
the carrier cannot take the package for good.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

# How a step that failed for good surfaces in the workflow: a local activity's failure arrives
# as the ApplicationError itself (non-retryable, or the last of its retries), a last attempt
# that timed out as an ActivityError around a TimeoutError.
STEP_FAILED = (ActivityError, ApplicationError)

with workflow.unsafe.imports_passed_through():
    from activities.shipping_activities import ShippingActivities
    from workflows import policies
    from workflows.model import (
        Address,
        DispatchInput,
        Handover,
        HandoverInput,
        PackageInput,
        ShippingInput,
        ShippingResult,
    )


# Since this patch the child no longer stops after packing to signal the parent and wait for
# its reply: that round trip cost a workflow task in each workflow, ~15 % of the CPU per order.
PACKED_WITHOUT_SIGNAL = "packed-without-signal"
# Since this patch a cancel the child has heard of is settled by the database (DispatchCarrier
# with call_off), never by the child alone: the hand-over may have committed in a task whose
# completion the server refused because the cancel arrived meanwhile, and the run that follows
# sees the cancel first.
CALL_OFF_ASKS_THE_DATABASE = "call-off-asks-the-database"
# Since this patch a dispatch whose attempts ran out is checked with the database before it is
# reported failed: the last attempt may have handed the package over and then been cut off, or
# the attempts may have been spent while the database itself was down (then it is tried again).
ASK_BEFORE_GIVING_UP = "ask-before-giving-up"


def _innermost(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def failure_type(error: BaseException) -> str:
    cause = _innermost(error)
    return (cause.type or "") if isinstance(cause, ApplicationError) else type(cause).__name__


# Since this patch a step whose local attempts ran out (policies.Step) goes on as a regular
# activity; before, local attempts were unbounded.
LONG_RETRIES_ON_THE_SERVER = "long-retries-on-the-server"


def _failed_for_good(error: BaseException) -> bool:
    cause = _innermost(error)
    return isinstance(cause, ApplicationError) and (cause.non_retryable or (cause.type or "") in policies.NON_RETRYABLE)


async def run_step(activity: Callable, arg: Any, step: policies.Step, local_attempts: int = 0) -> Any:
    """A step as a local activity with bounded attempts (``local_attempts``, 0: the step's own);
    once they run out without a failure for good (something is down), as a regular activity
    that the server retries for as long as it takes (policies.py, SERVER_RETRY)."""
    local_attempts = local_attempts or step.local_attempts
    try:
        return await workflow.execute_local_activity_method(
            activity,
            arg,
            start_to_close_timeout=step.start_to_close,
            retry_policy=replace(step.retry, maximum_attempts=local_attempts),
        )
    except STEP_FAILED as error:
        if _failed_for_good(error) or not workflow.patched(LONG_RETRIES_ON_THE_SERVER):
            raise
        workflow.logger.warning(
            "event=step_retried_on_server workflow_id=%s activity=%s local_attempts=%d last_error=%r",
            workflow.info().workflow_id, getattr(activity, "__name__", activity), local_attempts, failure_message(error),
        )
    return await workflow.execute_activity_method(
        activity, arg, start_to_close_timeout=step.server_start_to_close, retry_policy=policies.SERVER_RETRY
    )


def failure_message(error: BaseException) -> str:
    """The innermost message of an activity failure: what actually went wrong."""
    cause = _innermost(error)
    if isinstance(cause, ApplicationError) and cause.message:
        return cause.message
    return str(cause) or type(cause).__name__


@workflow.defn
class ShippingWorkflow:
    @workflow.init
    def __init__(self, input: ShippingInput) -> None:
        self._address = input.address
        self._cancel_requested = False
        self._step = "preparing package"

    @workflow.run
    async def run(self, input: ShippingInput) -> ShippingResult:
        parent = workflow.get_external_workflow_handle(input.parent_workflow_id)
        package = await run_step(
            ShippingActivities.prepare_package,
            PackageInput(order_id=input.order_id, items=input.items),
            policies.BUSINESS_STEP,
            input.local_attempts,
        )
        if not workflow.patched(PACKED_WITHOUT_SIGNAL):
            # Runs that began before this change told the parent and waited for its reply here.
            await parent.signal("package_prepared", package.package_id)
        if self._cancel_requested and not workflow.patched(CALL_OFF_ASKS_THE_DATABASE):
            self._step = "called off"
            return ShippingResult(dispatched=False, cancelled=True)

        while True:
            self._step = "dispatching carrier"
            try:
                dispatch = await workflow.execute_local_activity_method(
                    ShippingActivities.dispatch_carrier,
                    DispatchInput(
                        order_id=input.order_id,
                        package_id=package.package_id,
                        address=self._address,
                        call_off=self._cancel_requested,
                    ),
                    start_to_close_timeout=policies.BUSINESS_START_TO_CLOSE,
                    retry_policy=policies.DISPATCH_RETRY,
                )
                break
            except STEP_FAILED as error:
                if failure_type(error) == "ShipmentCalledOff":
                    self._step = "called off"
                    return ShippingResult(dispatched=False, cancelled=True)
                handover = await self._ask_the_database(input, error)
                if handover is None or not (handover.dispatched or handover.database_was_down):
                    reason = failure_message(error)
                    workflow.logger.warning("event=dispatch_failed order_id=%s reason=%r", input.order_id, reason)
                    self._step = "dispatch failed"
                    await parent.signal("dispatch_failed", reason)
                    return ShippingResult(dispatched=False, reason=reason)
                if handover.dispatched:
                    self._step = "dispatched"
                    return ShippingResult(dispatched=True, tracking_number=handover.tracking_number)
                workflow.logger.warning("event=dispatch_retried_after_database_outage order_id=%s", input.order_id)
        self._step = "dispatched"
        return ShippingResult(dispatched=True, tracking_number=dispatch.tracking_number)

    async def _ask_the_database(self, input: ShippingInput, error: BaseException) -> Handover | None:
        """After dispatch's attempts ran out (not a refusal for good): whether the last one handed
        the package over after all, or the database was down meanwhile. None: not asked."""
        if failure_type(error) in policies.NON_RETRYABLE or not workflow.patched(ASK_BEFORE_GIVING_UP):
            return None
        self._step = "checking the hand-over"
        return await run_step(
            ShippingActivities.handover_status,
            HandoverInput(order_id=input.order_id),
            policies.BOOKKEEPING_STEP,
            input.local_attempts,
        )

    @workflow.signal
    def update_address(self, address: Address) -> None:
        self._address = address

    @workflow.signal
    def cancel_shipping(self) -> None:
        self._cancel_requested = True

    @workflow.query
    def status(self) -> dict:
        return {"step": self._step, "address": self._address, "cancel_requested": self._cancel_requested}

"""ShippingWorkflow: the child that prepares the package and hands it to the carrier.

Packing and dispatch run back to back in one workflow task, and the database decides what
the carrier gets: the dispatch step reads the order's current address and whether a cancel
was recorded in the same transaction that hands over the package. So an address change or a
cancel that lands before the hand-over wins, even in the middle of the dispatch retries,
without the child stopping to hear from its parent. The parent forwards an address change
as a signal too, so the child's own view stays current (a cancel only from parents started
before CANCEL_LEFT_TO_THE_DATABASE). The child signals its parent ``dispatch_failed`` when
the carrier cannot take the package for good.
"""

from __future__ import annotations

from typing import Sequence

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.shipping_activities import ShippingActivities
    from workflows import policies, raw_input, summaries
    from workflows.activity_io import DispatchInput, Handover, HandoverInput, PackageInput
    from workflows.model import (
        Address,
        ShippingInput,
        ShippingResult,
        ShippingStatus,
    )
    from workflows.patches import (
        ASK_BEFORE_GIVING_UP,
        CALL_OFF_ASKS_THE_DATABASE,
        CHECK_ACROSS_TASKS_IS_AN_OUTAGE,
        CHECK_BEGUN_BY_A_LOST_TASK_IS_AN_OUTAGE,
        PACKED_WITHOUT_SIGNAL,
        PARENT_RUN_GONE_IS_NO_FAILURE,
        PARENTLESS_CHILD_TELLS_NO_ONE,
        SHIPPING_PATCHES_IN_INPUT,
        SIGNAL_THE_PARENT_RUN,
    )
    from workflows.signals import checked_arguments
    from workflows.steps import STEP_FAILED, cancelled, failure_message, failure_type, run_step


def _local_attempts_problem(input: ShippingInput | None) -> str | None:
    """A child started by hand with local_attempts no retry policy can be made of (below 0, past
    an int32) failed its first workflow task for ever at its first step ("Maximum attempts cannot
    be negative"). Its order passes its own, which the order's validation checked."""
    return policies.local_attempts_problem(input.local_attempts) if input is not None else None


_NO_ADDRESS = Address(name="", street="", city="", postal_code="", country="")


@workflow.defn
class ShippingWorkflow:
    @workflow.init
    def __init__(self, raw: RawValue = raw_input.NO_INPUT) -> None:
        # Decoded here, not by the SDK: a malformed input (a child started by hand) fails the
        # workflow with the reason (run), where it failed its first task for ever (raw_input.py).
        decoded = raw_input.decode(raw, ShippingInput)
        self._input_problem = decoded.problem or _local_attempts_problem(decoded.value)
        self._input = decoded.value if self._input_problem is None else None
        self._address = self._input.address if self._input is not None else _NO_ADDRESS
        self._patches_in_input = self._input is not None and self._input.patches_in_input
        self._cancel_requested = False
        self._step = "preparing package" if self._input is not None else "failed: unusable input"

    @workflow.run
    async def run(self, raw: RawValue = raw_input.NO_INPUT) -> ShippingResult:
        if self._input is None:
            workflow.logger.warning(
                "event=shipping_input_unusable workflow_id=%s reason=%r", workflow.info().workflow_id, self._input_problem
            )
            raise raw_input.unusable(self._input_problem or "")
        input = self._input
        parent = workflow.get_external_workflow_handle(input.parent_workflow_id)
        package = await run_step(
            ShippingActivities.prepare_package,
            PackageInput(order_id=input.order_id, items=input.items, order_workflow_id=self._acting_for()),
            policies.BUSINESS_STEP,
            input.local_attempts,
            self._patched,
        )
        if not self._patched(PACKED_WITHOUT_SIGNAL):
            # Runs that began before this change told the parent and waited for its reply here.
            await parent.signal("package_prepared", package.package_id)
        if self._cancel_requested and not self._patched(CALL_OFF_ASKS_THE_DATABASE):
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
                        order_workflow_id=self._acting_for(),
                    ),
                    start_to_close_timeout=policies.BUSINESS_START_TO_CLOSE,
                    retry_policy=policies.DISPATCH_RETRY,
                )
                break
            except STEP_FAILED as error:
                if failure_type(error) == "ShipmentCalledOff":
                    self._step = "called off"
                    return ShippingResult(dispatched=False, cancelled=True)
                if cancelled(error, self._patched):  # through Temporal: not a failed dispatch
                    raise
                asked_in = workflow.info().get_current_history_length()
                handover = await self._ask_the_database(input, error)
                if handover is None or not (handover.dispatched or self._database_was_down(handover, asked_in)):
                    reason = failure_message(error)
                    workflow.logger.warning("event=dispatch_failed order_id=%s reason=%r", input.order_id, reason)
                    self._step = "dispatch failed"
                    await self._tell_parent(parent, reason)
                    return ShippingResult(dispatched=False, reason=reason)
                if handover.dispatched:
                    self._step = "dispatched"
                    return ShippingResult(dispatched=True, tracking_number=handover.tracking_number)
                workflow.logger.warning("event=dispatch_retried_after_database_outage order_id=%s", input.order_id)
        self._step = "dispatched"
        return ShippingResult(dispatched=True, tracking_number=dispatch.tracking_number)

    def _patched(self, patch_id: str) -> bool:
        """workflow.patched, except that a child started with ShippingInput.patches_in_input
        takes the changes patches.SHIPPING_PATCHES_IN_INPUT lists without asking (and records
        no marker, nor the TemporalChangeVersion search attribute that comes with one)."""
        if self._patches_in_input and patch_id in SHIPPING_PATCHES_IN_INPUT:
            return True
        return workflow.patched(patch_id)

    @staticmethod
    def _acting_for() -> str:
        """The workflow whose order the steps write to: the parent that started this child, as
        the server recorded it, never the one the input names (a ShippingWorkflow started by
        hand can name any). One with no parent acts as itself, and owns no order. Same as the
        input for every child an order started, so its steps' inputs are unchanged."""
        parent = workflow.info().parent
        return parent.workflow_id if parent is not None else workflow.info().workflow_id

    def _database_was_down(self, handover: Handover, asked_in: int) -> bool:
        """The hand-over check had to be retried (Handover.database_was_down), or a lost workflow
        task began it: its worker was killed while the check waited for the database, and the
        next worker's check answered at once. Such a check answers in a later workflow task than
        the one it began in (``asked_in``, the history's length then), and so does one a task
        heartbeat spanned, which is no outage: the check's own answer says which
        (Handover.begun_by_a_lost_task). Children from before that answer counted every check
        that crossed a task. Each patch asked (and its marker recorded) only in that case."""
        if handover.database_was_down:
            return True
        if workflow.info().get_current_history_length() == asked_in:
            return False
        if self._patched(CHECK_BEGUN_BY_A_LOST_TASK_IS_AN_OUTAGE):
            return handover.begun_by_a_lost_task
        return self._patched(CHECK_ACROSS_TASKS_IS_AN_OUTAGE)

    def _parent_run(self, by_id: workflow.ExternalWorkflowHandle) -> workflow.ExternalWorkflowHandle:
        """The run of the order that started this child; asked only where a signal goes to it,
        so that a child that never fails carries no marker."""
        parent = workflow.info().parent
        if parent is None or not self._patched(SIGNAL_THE_PARENT_RUN):
            return by_id
        return workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id)

    async def _tell_parent(self, parent: workflow.ExternalWorkflowHandle, reason: str) -> None:
        """dispatch_failed, to the run that started this child. A reset of the order while this
        child runs hands the child on to the reset run (Temporal 1.32), which reads the reason
        from the result: the run signalled is closed by then, which fails the child no more."""
        if workflow.info().parent is None and self._patched(PARENTLESS_CHILD_TELLS_NO_ONE):
            return  # started by hand: the input's parent_workflow_id is anyone's word, and its result says why
        try:
            await self._parent_run(parent).signal("dispatch_failed", reason)
        except ApplicationError as error:
            if not self._patched(PARENT_RUN_GONE_IS_NO_FAILURE):
                raise
            workflow.logger.info(
                "event=parent_signal_missed workflow_id=%s reason=%r", workflow.info().workflow_id, str(error)
            )

    async def _ask_the_database(self, input: ShippingInput, error: BaseException) -> Handover | None:
        """After dispatch's attempts ran out (not a refusal for good): whether the last one handed
        the package over after all, or the database was down meanwhile. None: not asked."""
        if failure_type(error) in policies.NON_RETRYABLE or not self._patched(ASK_BEFORE_GIVING_UP):
            return None
        self._step = "checking the hand-over"
        # Asked while replaying: a lost task began the check. is_replaying reaches only the
        # activity's input, which a replay never compares; the path taken depends on the answer
        # the history recorded, which echoes it (Handover.begun_by_a_lost_task).
        return await run_step(
            ShippingActivities.handover_status,
            HandoverInput(order_id=input.order_id, begun_by_a_lost_task=workflow.unsafe.is_replaying()),
            policies.BOOKKEEPING_STEP,
            input.local_attempts,
            self._patched,
        )

    @workflow.signal(name="update_address", description=summaries.SHIPPING_ADDRESS_SIGNAL)
    @checked_arguments("update_address")
    def update_address(self, address: Address | None = None) -> None:
        if isinstance(address, Address):  # only the parent sends it, with the address it recorded
            self._address = address
        else:
            self._signal_refused("update_address", "The update_address signal needs the new address.")

    @workflow.signal(name="cancel_shipping", description=summaries.CANCEL_SHIPPING_SIGNAL)
    @checked_arguments("cancel_shipping")
    def cancel_shipping(self) -> None:
        self._cancel_requested = True

    @workflow.signal(dynamic=True, description=summaries.UNKNOWN_SHIPPING_SIGNAL)
    def unknown_signal(self, name: str, _args: Sequence[RawValue]) -> None:
        """A signal no handler takes: logged (no command, so runs from before replay as they ran)."""
        self._signal_refused(name, "no such signal: a shipping child takes update_address and cancel_shipping")

    def _signal_refused(self, name: str, reason: str) -> None:
        workflow.logger.warning(
            "event=signal_refused workflow_id=%s signal=%s reason=%r", workflow.info().workflow_id, name, reason
        )

    @workflow.query(description=summaries.SHIPPING_STATUS_QUERY)
    def status(self) -> ShippingStatus:
        return ShippingStatus(step=self._step, address=self._address, cancel_requested=self._cancel_requested)

"""The state of one order's run, which OrderWorkflow and the modules it is split into share, and
how that state shows outside the workflow: the OrderState search attribute and the Web UI's
current details."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.activity_io import Finished
    from workflows.model import (
        ORDER_STATE_ATTRIBUTE,
        Decision,
        OrderInput,
        OrderState,
        OrderStatus,
        Payment,
        PaymentStatus,
        format_cents,
    )
    from workflows.patches import ORDER_PATCHES_IN_INPUT
    from workflows import summaries
    from workflows.bookkeeping import Bookkeeping
    from workflows.order_steps import OrderSteps


# Each is ended, in the same workflow task, by the step that follows it (OrderInput.
# transient_states_unwritten): VALIDATED by the review's start, APPROVED by the charge,
# DISPATCHED by MarkShipped. Only the first for certain (OrderInput.states_before_steps_written):
# a step's local attempts can outlast the task.
TRANSIENT_STATES = frozenset({OrderState.VALIDATED, OrderState.APPROVED, OrderState.DISPATCHED})
STATES_BEFORE_NO_STEP = frozenset({OrderState.VALIDATED})


@dataclass
class OrderEnded(Exception):
    """Raised inside ``run`` to leave the happy path for a terminal state."""

    state: OrderState
    reason: str = ""


class OrderRun:
    """The fields every part of OrderWorkflow reads and changes, set here once."""

    # Set by OrderWorkflow, whose methods they call back.
    _books: Bookkeeping  # audit rows and address changes, recorded in order alongside the run
    _steps: OrderSteps  # runs the steps; counts the Updates accepted

    def __init__(self, order: OrderInput, input_problem: str | None) -> None:
        self._input_problem = input_problem
        self._order = order
        # An order whose input is unusable is FAILED from the start: every command is refused.
        self._state = OrderState.RECEIVED if input_problem is None else OrderState.FAILED
        self._state_unwritten = False  # the OrderState search attribute is a transient state behind
        self._step_text = ""
        self._step = "receiving order"
        self._address = self._order.address  # as last recorded in the database
        self._amount_cents: int | None = None
        self._payment = Payment(payment_id=self._order.payment_id)
        self._charge_answered = False  # ChargePayment returned, or failed for good, in this run
        self._decision: Decision | None = None
        self._decision_recorded = False  # RecordDecision asked for (by the review step, or at a cancel)
        self._awaiting_since: datetime | None = None
        self._review_deadline: datetime | None = None  # workflow time; the timer fires at or after it
        self._review_seconds = 0.0
        self._cancel_reason: str | None = None
        self._cancel_outcome: str | None = None  # "cancelled" or the reason it came too late
        self._dispatch_failure: str | None = None
        self._shipping_attempts = 0
        self._shipping: workflow.ChildWorkflowHandle | None = None
        self._child_running = False  # from the child's start, before the server has said it started, to its end
        self._tracking_number = ""
        self._failure_reason = self._input_problem or ""
        self._finished: Finished | None = None
        self._ending: OrderState | None = None  # set when _end begins, before its steps run
        self._received = False  # the order's row exists
        self._another_runs_order: str | None = None  # ReceiveOrder's refusal: another run chain owns the order
        self._address_sequence = 0
        # Per address change, once the database answered: None if applied, else why it came too late.
        self._address_answers: dict[int, str | None] = {}

    def _patched(self, patch_id: str) -> bool:
        """workflow.patched, except that an order started with OrderInput.patches_in_input takes
        the changes patches.ORDER_PATCHES_IN_INPUT lists without asking (and records no marker)."""
        if self._order.patches_in_input and patch_id in ORDER_PATCHES_IN_INPUT:
            return True
        return workflow.patched(patch_id)

    @property
    def _step(self) -> str:
        return self._step_text

    @_step.setter
    def _step(self, step: str) -> None:
        # Shown in the Web UI as the workflow's current details (no command, nothing recorded).
        self._step_text = step
        workflow.set_current_details(summaries.current_details(self._state.value, step))

    def _checkpoint(self) -> None:
        """Between steps: act on a cancel request."""
        if self._cancel_reason is not None:
            raise OrderEnded(OrderState.CANCELLED, self._cancel_reason)

    def _transition(self, state: OrderState, step: str | None = None) -> None:
        if state != self._state:
            workflow.logger.info(
                "event=state_transition order_id=%s from=%s to=%s", self._order.order_id, self._state.value, state.value
            )
            self._state = state
            self._state_unwritten = True
            if state not in self._unwritten_states():
                self._write_state_attribute()
        self._step = self._step if step is None else step  # either way: the details show the new state

    def _unwritten_states(self) -> frozenset[OrderState]:
        """The states not written when the order enters them (OrderInput.transient_states_unwritten,
        states_before_steps_written)."""
        if not self._order.transient_states_unwritten:
            return frozenset()
        return STATES_BEFORE_NO_STEP if self._order.states_before_steps_written else TRANSIENT_STATES

    def _write_state_attribute(self) -> None:
        """The OrderState search attribute, if a transient state left it behind (OrderInput.
        transient_states_unwritten). Called at points of the process's own path (and by
        _transition), never from another coroutine's wait, so that how many writes a history has
        never depends on how a task's events were split between activations."""
        if self._state_unwritten:
            self._state_unwritten = False
            workflow.upsert_search_attributes([ORDER_STATE_ATTRIBUTE.value_set(self._state.value)])

    def _decision_unrecorded(self) -> bool:
        return self._decision is not None and not self._decision_recorded

    def _address_change_pending(self) -> bool:
        """An address change accepted whose answer from the database has not come yet."""
        return self._address_sequence > len(self._address_answers)

    def _payment_as_it_stands(self) -> Payment:
        """An order that ended before any charge has none pending: FAILED, as the tools say it
        (app/views.py) and as the database voids such a payment id. The workflow's result (the
        Web UI's) and its status Query said PENDING. A result, not a command: replay is the same."""
        if self._state.terminal and self._payment.status == PaymentStatus.PENDING:
            return replace(self._payment, status=PaymentStatus.FAILED)
        return replace(self._payment)

    def _status(self) -> OrderStatus:
        """The workflow's own view. Its clocks are the database's once the order has finished;
        before that they are as of the last workflow task (OrderService recomputes them live)."""
        if self._finished is not None:
            processing, review = self._finished.processing_ms / 1000, self._finished.review_ms / 1000
        else:
            now = workflow.now()
            review = self._review_seconds
            if self._state == OrderState.AWAITING_APPROVAL and self._awaiting_since and self._decision is None:
                review = max(0.0, (now - self._awaiting_since).total_seconds())
            processing = max(0.0, (now - workflow.info().workflow_start_time).total_seconds() - review)
        return OrderStatus(
            order_id=self._order.order_id,
            state=self._state,
            step=self._step,
            terminal=self._state.terminal,
            items=self._order.items,
            amount_cents=self._amount_cents,
            amount=format_cents(self._amount_cents),
            address=self._address,
            address_change_pending=self._address_change_pending(),
            payment=self._payment_as_it_stands(),
            awaiting_approval_since=self._awaiting_since.isoformat() if self._awaiting_since else None,
            processing_seconds=round(processing, 3),
            review_seconds=round(review, 3),
            created_at=workflow.info().workflow_start_time.isoformat(),
            updated_at=workflow.now().isoformat(),
            failure_reason=self._failure_reason,
            shipping_attempts=self._shipping_attempts,
            tracking_number=self._tracking_number,
        )

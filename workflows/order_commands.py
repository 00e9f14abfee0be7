"""The operator's commands to an order: approve, reject, cancel, change the address.

Each arrives as an Update (validated at once, answered with the outcome) or a Signal (fire and
forget; a refused one is logged and audited, never dropped silently). Handlers only change the
workflow's state; OrderWorkflow's run loop acts on it at its next step. The rules of when a
command comes too late are in workflows/command_rules.py.
"""

from __future__ import annotations

from typing import Sequence

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import rules
    from workflows import summaries
    from activities.order_activities import OrderActivities
    from workflows.activity_io import AddressChange, ReviewInput
    from workflows.model import (
        CANCEL_REQUESTED_EVENT,
        Address,
        Decision,
        PaymentStatus,
        decided_instant,
    )
    from workflows.patches import (
        ADDRESS_AFTER_RECEIPT,
        ANOTHER_RUN_REFUSES_ADDRESS_CHANGES,
        ANOTHER_RUN_REFUSES_COMMANDS,
        DECISION_RECORDED_BEFORE_ENDING,
        LATE_ADDRESS_REFUSAL_ON_RECORD,
        LATE_REFUSAL_ON_RECORD,
        UNKNOWN_SIGNAL_REFUSED,
    )
    from workflows.command_rules import CommandRules, address_problem, as_address, refused, text_refusal, unheard
    from workflows.order_shipping import tell_child
    from workflows.shipping import ShippingWorkflow
    from workflows.signals import checked_arguments, checked_update_arguments


class OrderCommands(CommandRules):
    """Mixed into OrderWorkflow: these handlers read and change the run's state (OrderRun)."""

    # ----------------------------------------------------------------- applying a command

    def _decide(self, decision: Decision) -> None:
        self._decision = decision
        workflow.logger.info(
            "event=decision order_id=%s approved=%s by=%s reason=%r",
            self._order.order_id, decision.approved, decision.by, decision.reason,
        )

    def _request_cancel(self, reason: str, by: str, decided_at: str = "") -> None:
        # With no reason, who cancelled is the reason, as OrderService.cancel words it (a Signal
        # sent by hand read "cancelled by operator" whoever it named). Only activities' input
        # changes, never a command: histories replay as recorded.
        self._cancel_reason = reason or f"cancelled by {by if isinstance(by, str) and by.strip() else 'operator'}"
        workflow.logger.info(
            "event=cancel_requested order_id=%s by=%s reason=%r", self._order.order_id, by, self._cancel_reason
        )
        # An approval already accepted but not yet recorded (it came before the review step, or
        # with this cancel) would never be: the order now ends before that step records it.
        # Recorded first, so that the audit has the approval, then the cancel.
        if self._decision_unrecorded() and self._patched(DECISION_RECORDED_BEFORE_ENDING):
            self._decision_recorded = True
            decision = ReviewInput(order_id=self._order.order_id, decision=self._decision)
            self._books.add(lambda: self._steps.bookkeeping(OrderActivities.record_decision, decision))
        payload = {"reason": self._cancel_reason, "state": self._state.value, "by": by}
        # As for a decision: the row may be written long after the operator sent the cancel.
        if (decided := decided_instant(decided_at)) is not None:
            payload["decided_at"] = decided.isoformat()
        self._books.queue_event(CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT, payload)

    def _change_address(self, address: Address, by: str, decided_at: str = "") -> int:
        self._address_sequence += 1
        change = AddressChange(
            order_id=self._order.order_id,
            sequence=self._address_sequence,
            address=rules.normalise_address(address),
            by=by,
            decided_at=decided_at,
        )
        self._books.add(lambda: self._apply_address_change(change))
        return change.sequence

    async def _apply_address_change(self, change: AddressChange) -> None:
        """Record an accepted address change (a bookkeeping job, so it runs while a step is in
        flight) and answer its Update."""
        # A change that comes while ReceiveOrder is still retrying waits for the row it changes
        # (without it, the database answered "too late" and the change was lost).
        if not self._received and self._patched(ADDRESS_AFTER_RECEIPT):
            # (Or the order ends before it is stored at all: see UNSTORABLE_ORDER_FAILS.)
            await workflow.wait_condition(lambda: self._received or self._ending is not None)
        if not self._received and self._ending is not None:
            refusal = (
                self._another_runs_order
                if self._another_runs_order is not None and self._patched(ANOTHER_RUN_REFUSES_ADDRESS_CHANGES)
                else self._address_change_too_late()
            )
            self._books.note_refusal("update_address", refusal)
            self._address_answers[change.sequence] = refusal
            return
        answer = await self._steps.bookkeeping(OrderActivities.record_address_change, change)
        applied = answer is True  # else False (no row), or what the row had in the way (runs since)
        if applied:
            self._address = change.address
            if self._shipping is not None:  # reaches a shipping child that is already running
                await tell_child(self._order.order_id, self._shipping, ShippingWorkflow.update_address, change.address)
        workflow.logger.info(
            "event=address_change order_id=%s sequence=%d applied=%s", self._order.order_id, change.sequence, applied
        )
        refusal = None if applied else self._address_change_too_late(answer if isinstance(answer, str) else None)
        if refusal is not None:
            self._books.note_refusal("update_address", refusal)
        self._address_answers[change.sequence] = refusal

    def _signal_refused(self, command: str, reason: str) -> None:
        self._books.note_refusal(command, reason)

    # ----------------------------------------------------------------- handlers

    # Updates: validated at once, answered with the outcome.

    @workflow.update(name="approve", description=summaries.APPROVE_UPDATE)
    async def approve_update(self, by: str = "operator", decided_at: str = "") -> str:
        self._steps.update_accepted()
        self._refuse_on_record("approve", self._decision_refusal(), by, decided_at)
        self._decide(Decision(approved=True, by=by, decided_at=decided_at))
        await self._unless_another_runs_order()
        return f"Order {self._order.order_id} approved."

    @approve_update.validator
    @checked_update_arguments("approve")
    def _validate_approve(self, by: str = "operator", decided_at: str = "") -> None:
        if reason := (text_refusal(name=by) or self._unless_unheard(decided_at, self._decision_refusal())):
            raise refused(reason)

    @workflow.update(name="reject", description=summaries.REJECT_UPDATE)
    async def reject_update(self, reason: str, by: str = "operator", decided_at: str = "") -> str:
        self._steps.update_accepted()
        self._refuse_on_record("reject", self._decision_refusal(), by, decided_at)
        self._decide(Decision(approved=False, reason=reason, by=by, decided_at=decided_at))
        await self._unless_another_runs_order()
        return f"Order {self._order.order_id} rejected."

    @reject_update.validator
    @checked_update_arguments("reject")
    def _validate_reject(self, reason: str, by: str = "operator", decided_at: str = "") -> None:
        if not isinstance(reason, str) or not reason.strip():
            raise refused("A rejection needs a reason.")
        if refusal := (
            text_refusal(reason=reason, name=by) or self._unless_unheard(decided_at, self._decision_refusal())
        ):
            raise refused(refusal)

    # cancel and update_address take decided_at as approve and reject do; Signals, sent by hand,
    # keep the arguments they had (one sent with more is refused, and a replay must find it so).
    @workflow.update(name="cancel", description=summaries.CANCEL_UPDATE)
    async def cancel_update(self, reason: str = "", by: str = "operator", decided_at: str = "") -> str:
        self._steps.update_accepted()
        self._refuse_on_record("cancel", self._cancel_refusal(), by, decided_at)
        self._request_cancel(reason, by, decided_at)
        await self._unless_another_runs_order()
        await workflow.wait_condition(lambda: self._cancel_outcome is not None)
        if self._cancel_outcome != "cancelled":
            raise refused(self._cancel_outcome)
        refunded = " and its payment refunded" if self._payment.status == PaymentStatus.REFUNDED else ""
        return f"Order {self._order.order_id} cancelled{refunded}."

    @cancel_update.validator
    @checked_update_arguments("cancel")
    def _validate_cancel(self, reason: str = "", by: str = "operator", decided_at: str = "") -> None:
        if refusal := (
            text_refusal(reason=reason, name=by) or self._unless_unheard(decided_at, self._cancel_refusal())
        ):
            raise refused(refusal)

    @workflow.update(name="update_address", description=summaries.ADDRESS_UPDATE)
    async def update_address_update(self, address: Address, by: str = "operator", decided_at: str = "") -> str:
        self._steps.update_accepted()
        refusal = self._address_state_refusal() or self._address_changes_used_up()
        self._refuse_on_record("update_address", refusal, by, decided_at, LATE_ADDRESS_REFUSAL_ON_RECORD)
        sequence = self._change_address(as_address(address, self._null_is_empty(address)), by, decided_at)
        await workflow.wait_condition(lambda: sequence in self._address_answers)
        if (refusal := self._address_answers[sequence]) is not None:
            raise refused(refusal)
        return f"Address of order {self._order.order_id} updated."

    @update_address_update.validator
    @checked_update_arguments("update_address")
    def _validate_address(self, address: Address, by: str = "operator", decided_at: str = "") -> None:
        address = as_address(address)
        # Bad input, and an address the order already ships to, are refused at once, late or not.
        if refusal := (
            text_refusal(name=by)
            or self._unless_unheard(decided_at, self._address_state_refusal())
            or address_problem(address)
            or self._same_address(address)
            or self._unless_unheard(decided_at, self._address_changes_used_up())
        ):
            raise refused(refusal)

    async def _unless_another_runs_order(self) -> None:
        """For the handler of a decision or cancel that came before the order's row was stored (an
        Update sent with the start): answered once ReceiveOrder has, and refused with its reason
        if the row is another run chain's (a run started by hand under order-<id> once the
        order's own had closed): such a run decides nothing, and fails. Runs that took such an
        Update before answer as they did (ANOTHER_RUN_REFUSES_COMMANDS, asked only here)."""
        if self._received or self._ending is not None or not self._patched(ANOTHER_RUN_REFUSES_COMMANDS):
            return
        await workflow.wait_condition(
            lambda: self._received or self._ending is not None or self._another_runs_order is not None
        )
        if self._another_runs_order is not None:
            raise refused(self._another_runs_order)

    # A refusal its sender no longer waits for.

    def _refuse_on_record(
        self, command: str, refusal: str | None, by: str, decided_at: str, patch_id: str = LATE_REFUSAL_ON_RECORD
    ) -> None:
        """For a handler: an Update accepted only because no one would have heard its refusal is
        refused now, in the audit as a refused signal is (command_refused), and to whoever still
        asks for its outcome. A command accepted on its own merits gets no refusal here (nothing
        came in between), and its path asks no patch. The rules asked here (_decision_refusal,
        _cancel_refusal, _address_state_refusal, _address_changes_used_up) thereby run in replays
        of such Updates too: like a signal's, they may change only behind a patch. ``patch_id``:
        the one that brought this path to the command (LATE_ADDRESS_REFUSAL_ON_RECORD for an
        address change)."""
        if refusal is None or (sent := unheard(decided_at)) is None:
            return
        if self._patched(patch_id):
            self._books.note_refusal(command, refusal, {"by": by, "decided_at": sent.isoformat()})
            raise refused(refusal)

    # Signals: fire and forget. A refused signal is logged and audited, never dropped silently.

    @workflow.signal(dynamic=True, description=summaries.UNKNOWN_SIGNAL)
    def unknown_signal(self, name: str, _args: Sequence[RawValue]) -> None:
        """A signal no handler takes (a typo in a hand-typed `temporal workflow signal`): the SDK
        kept it unread, with no trace but the history's event. Refused and audited now; runs
        that got one before replay as they ran (UNKNOWN_SIGNAL_REFUSED, asked only here)."""
        if self._patched(UNKNOWN_SIGNAL_REFUSED):
            self._books.note_refusal(
                "unknown signal",
                f"There is no signal {rules.quoted(name)}; an order takes approve, reject, cancel and update_address.",
            )

    @workflow.signal(name="approve", description=summaries.APPROVE_SIGNAL)
    @checked_arguments("approve")
    def approve_signal(self, by: str = "operator", decided_at: str = "") -> None:
        if reason := (self._signal_text_refusal(name=by) or self._decision_refusal(signal=True)):
            self._books.note_refusal("approve", reason)
        else:
            self._decide(Decision(approved=True, by=by, decided_at=decided_at))

    @workflow.signal(name="reject", description=summaries.REJECT_SIGNAL)
    @checked_arguments("reject")
    def reject_signal(self, reason: str = "", by: str = "operator", decided_at: str = "") -> None:
        if refusal := (
            self._signal_text_refusal(reason=reason, name=by)
            or self._decision_refusal(signal=True)
            or (None if isinstance(reason, str) and reason.strip() else "A rejection needs a reason.")
        ):
            self._books.note_refusal("reject", refusal)
        else:
            self._decide(Decision(approved=False, reason=reason, by=by, decided_at=decided_at))

    @workflow.signal(name="cancel", description=summaries.CANCEL_SIGNAL)
    @checked_arguments("cancel")
    def cancel_signal(self, reason: str = "", by: str = "operator") -> None:
        if refusal := (self._signal_text_refusal(reason=reason, name=by) or self._cancel_refusal(signal=True)):
            self._books.note_refusal("cancel", refusal)
        else:
            self._request_cancel(reason, by)

    @workflow.signal(name="update_address", description=summaries.ADDRESS_SIGNAL)
    @checked_arguments("update_address")
    def update_address_signal(self, address: Address | None = None, by: str = "operator") -> None:
        # A signal handler must never raise: that would fail the workflow task on every retry.
        try:
            address = as_address(address, self._null_is_empty(address))
        except ApplicationError as error:
            self._books.note_refusal("update_address", error.message)
            return
        if refusal := (
            self._signal_text_refusal(name=by)
            or self._address_refusal(address, signal=True)
            or self._signalled_address_changes_used_up()
        ):
            self._books.note_refusal("update_address", refusal)
        else:
            self._change_address(address, by)

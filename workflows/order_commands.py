"""The operator's commands to an order: approve, reject, cancel, change the address.

Each arrives as an Update (validated at once, answered with the outcome) or a Signal (fire and
forget; a refused one is logged and audited, never dropped silently). Handlers only change the
workflow's state; OrderWorkflow's run loop acts on it at its next step. The rules of when a
command comes too late live here, next to the handlers that apply them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import rules
    from workflows import summaries
    from activities.order_activities import OrderActivities
    from workflows.model import (
        BEFORE_DECISION_STATES,
        CANCEL_REQUESTED_EVENT,
        PAST_DISPATCH_STATES,
        Address,
        AddressChange,
        Decision,
        OrderState,
        PaymentStatus,
        ReviewInput,
        decided_instant,
    )
    from workflows.patches import (
        ADDRESS_NULL_IS_EMPTY,
        ADDRESS_REFUSED_WHILE_CANCELLING,
        ADDRESS_SIGNALS_CAPPED,
        ANOTHER_RUN_REFUSES_COMMANDS,
        CANCEL_AFTER_REJECTION_REFUSED,
        DECISION_RECORDED_BEFORE_ENDING,
        LATE_ADDRESS_REFUSAL_ON_RECORD,
        LATE_REFUSAL_ON_RECORD,
        REFUSE_UNSTORABLE_TEXT,
        REFUSE_WHILE_ENDING,
        REVIEW_WINDOW_CLOSES,
        UNKNOWN_SIGNAL_REFUSED,
    )
    from workflows import policies
    from workflows.order_run import OrderRun
    from workflows.signals import checked_arguments, checked_update_arguments


def _refused(reason: str) -> ApplicationError:
    return ApplicationError(reason, type="Refused", non_retryable=True)


def _text_refusal(**texts: object) -> str | None:
    """For an Update's validator. Who decided and why go to the database and the audit log:
    text PostgreSQL cannot store (NUL, broken Unicode) would make those steps retry for ever,
    so it is refused up front; and, as the CLI, TUI and API refuse it, text that hides or
    reverses what was typed. A replay never runs a validator, so these rules may grow."""
    if problem := rules.texts_problem(**texts):
        return problem
    for label, value in texts.items():
        if isinstance(value, str) and len(value) > rules.MAX_NOTE_LENGTH:  # as the tools refuse it
            return f"The {label} is longer than {rules.MAX_NOTE_LENGTH} characters."
        if isinstance(value, str) and (problem := rules.strict_text_problem(label, value)):
            return problem
    return None


def _as_address(value: Any, null_is_empty: bool = True) -> Address:
    """The SDK decodes arguments by type hint only when every parameter is sent; a client that
    sends just the address (the CLI's `temporal workflow signal`, say) delivers a dict. A null
    in it is an empty field, for the address rules to judge (``null_is_empty``: the handlers
    ask OrderCommands._null_is_empty; before it, a null became the text "None")."""
    if isinstance(value, Address):
        return value
    fields = {"name", "street", "city", "postal_code", "country", "region"}
    if isinstance(value, dict) and set(value) <= fields:
        try:
            return Address(**{k: "" if v is None and null_is_empty else str(v) for k, v in value.items()})
        except TypeError:
            pass
    raise _refused("The new address must have name, street, city, postal_code and country.")


def _has_null(value: Any) -> bool:
    return isinstance(value, dict) and any(v is None for v in value.values())


class OrderCommands(OrderRun):
    """Mixed into OrderWorkflow: these handlers read and change the run's state (OrderRun)."""

    # OrderWorkflow's mechanics, which the commands use.
    async def _apply_address_change(self, change: AddressChange) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- when a command is too late

    def _window_closed(self) -> bool:
        """The review window is over, though the timer may not have been seen yet. A command that
        comes while FinishOrder(EXPIRED) runs makes the server refuse that task's completion;
        the next task carries the timer and the command together, and the SDK applies the
        command first. Judged by the task's time the command is late, and the database has
        already recorded EXPIRED, so it is refused rather than approving an expired order."""
        return (
            self._state == OrderState.AWAITING_APPROVAL
            and self._decision is None
            and self._cancel_reason is None
            and self._review_deadline is not None
            and workflow.now() >= self._review_deadline
        )

    def _ending_refusal(self, signal: bool) -> str | None:
        """Commands that come while the order is being wound up (refund, final record) would be
        accepted and then have no effect; they are refused like those after the end."""
        if self._window_closed() and (not signal or self._patched(REVIEW_WINDOW_CLOSES)):
            return (
                f"Order {self._order.order_id} is expiring: its review window of "
                f"{self._order.review_window_seconds:g} s has closed."
            )
        if self._ending is None or self._state.terminal:
            return None
        # Signal handlers change history (a refusal is audited), so older runs replay unchanged.
        if signal and not self._patched(REFUSE_WHILE_ENDING):
            return None
        return f"Order {self._order.order_id} is already ending {self._ending.value}."

    def _decision_refusal(self, signal: bool = False) -> str | None:
        if refusal := self._ending_refusal(signal):
            return refusal
        if self._state.terminal:
            return f"Order {self._order.order_id} is already {self._state.value}."
        if self._cancel_reason is not None:
            return f"Order {self._order.order_id} is being cancelled."
        if self._decision is not None:
            # By whom: an operator who sent it again (after "did not answer", say) sees it was theirs.
            verdict = "approved" if self._decision.approved else "rejected"
            return f"Order {self._order.order_id} was already {verdict} by {self._decision.by}."
        if self._state not in BEFORE_DECISION_STATES:
            return f"Order {self._order.order_id} is past review ({self._state.value})."
        return None

    def _cancel_refusal(self, signal: bool = False) -> str | None:
        if refusal := self._ending_refusal(signal):
            return refusal
        if self._state.terminal:
            return f"Order {self._order.order_id} is already {self._state.value}."
        if self._state in PAST_DISPATCH_STATES:
            return f"Order {self._order.order_id} cannot be cancelled: the carrier already has the package."
        if self._cancel_reason is not None:
            return f"Order {self._order.order_id} is already being cancelled."
        # The first of the two to arrive decides how the order ends.
        rejected = self._decision is not None and not self._decision.approved
        if rejected and (not signal or self._patched(CANCEL_AFTER_REJECTION_REFUSED)):
            return f"Order {self._order.order_id} was rejected."
        return None

    def _address_refusal(self, address: Address, signal: bool = False) -> str | None:
        return self._address_state_refusal(signal) or self._address_problem(address, signal)

    @staticmethod
    def _address_problem(address: Address, signal: bool = False) -> str | None:
        # A signal handler's rules never grow stricter (a replay must find the same refusals); an
        # Update's validator, which a replay never runs, applies the CLI's, TUI's and API's.
        problems = (rules.address_problems if signal else rules.strict_address_problems)(address)
        return problems[0] if problems else None

    def _address_state_refusal(self, signal: bool = False) -> str | None:
        """What came before refuses any address change: the order ended or is ending, the carrier
        has the package, or a cancel is pending."""
        if refusal := self._ending_refusal(signal):
            return refusal
        if self._state.terminal:
            return f"Order {self._order.order_id} is already {self._state.value}."
        if self._state in PAST_DISPATCH_STATES:
            return f"The address of order {self._order.order_id} cannot change: the carrier already has the package."
        # Cancelled, or too late for the carrier has it: either way no change to make.
        if self._cancel_reason is not None and (not signal or self._patched(ADDRESS_REFUSED_WHILE_CANCELLING)):
            return f"Order {self._order.order_id} is being cancelled."
        return None

    def _signal_text_refusal(self, **texts: str) -> str | None:
        """Signal handlers change history when they refuse (the refusal is audited)."""
        problem = rules.texts_problem(**texts)
        return problem if problem and self._patched(REFUSE_UNSTORABLE_TEXT) else None

    def _address_change_pending(self) -> bool:
        """An address change accepted whose answer from the database has not come yet."""
        return self._address_sequence > len(self._address_answers)

    def _same_address(self, address: Address) -> str | None:
        """An Update that would change nothing is refused rather than audited as a change. Only
        when no other change is still being recorded (the address may be about to differ)."""
        if not self._address_change_pending() and rules.normalise_address(address) == self._address:
            return f"Order {self._order.order_id} already ships to that address."
        return None

    def _address_change_too_late(self, in_the_way: str | None = None) -> str:
        """Why the database refused a change the validator had let through: the order ended in
        the meantime, or the carrier took the package before the parent heard of it.
        ``in_the_way``: what the order's row said (RecordAddressChange; None in runs recorded
        before it said). The row can be ahead of this run: an ending recorded by a try of the
        workflow task that was lost (a worker killed), which this run has not reached yet; the
        refusal then said the carrier had the package of an order it never got."""
        carrier = f"The address of order {self._order.order_id} cannot change: the carrier already has the package."
        if in_the_way == OrderState.DISPATCHED.value:
            return carrier
        if self._state.terminal and self._state not in PAST_DISPATCH_STATES:
            return f"The address of order {self._order.order_id} cannot change: it is already {self._state.value}."
        if self._ending is not None and self._ending not in PAST_DISPATCH_STATES:
            return f"The address of order {self._order.order_id} cannot change: it is ending {self._ending.value}."
        if in_the_way is not None:
            return f"The address of order {self._order.order_id} cannot change: it is already {in_the_way}."
        return carrier

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

    def _decision_unrecorded(self) -> bool:
        return self._decision is not None and not self._decision_recorded

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

    def _null_is_empty(self, address: Any) -> bool:
        """For the handlers, which run on replay: a null in an address is an empty field only in
        runs that asked ADDRESS_NULL_IS_EMPTY (asked only when the address has a null); a change
        taken before it keeps the text "None" its run had."""
        return _has_null(address) and self._patched(ADDRESS_NULL_IS_EMPTY)

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
        if reason := (_text_refusal(name=by) or self._unless_unheard(decided_at, self._decision_refusal())):
            raise _refused(reason)

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
            raise _refused("A rejection needs a reason.")
        if refusal := (
            _text_refusal(reason=reason, name=by) or self._unless_unheard(decided_at, self._decision_refusal())
        ):
            raise _refused(refusal)

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
            raise _refused(self._cancel_outcome)
        refunded = " and its payment refunded" if self._payment.status == PaymentStatus.REFUNDED else ""
        return f"Order {self._order.order_id} cancelled{refunded}."

    @cancel_update.validator
    @checked_update_arguments("cancel")
    def _validate_cancel(self, reason: str = "", by: str = "operator", decided_at: str = "") -> None:
        if refusal := (
            _text_refusal(reason=reason, name=by) or self._unless_unheard(decided_at, self._cancel_refusal())
        ):
            raise _refused(refusal)

    @workflow.update(name="update_address", description=summaries.ADDRESS_UPDATE)
    async def update_address_update(self, address: Address, by: str = "operator", decided_at: str = "") -> str:
        self._steps.update_accepted()
        refusal = self._address_state_refusal() or self._address_changes_used_up()
        self._refuse_on_record("update_address", refusal, by, decided_at, LATE_ADDRESS_REFUSAL_ON_RECORD)
        sequence = self._change_address(_as_address(address, self._null_is_empty(address)), by, decided_at)
        await workflow.wait_condition(lambda: sequence in self._address_answers)
        if (refusal := self._address_answers[sequence]) is not None:
            raise _refused(refusal)
        return f"Address of order {self._order.order_id} updated."

    @update_address_update.validator
    @checked_update_arguments("update_address")
    def _validate_address(self, address: Address, by: str = "operator", decided_at: str = "") -> None:
        address = _as_address(address)
        # Bad input, and an address the order already ships to, are refused at once, late or not.
        if refusal := (
            _text_refusal(name=by)
            or self._unless_unheard(decided_at, self._address_state_refusal())
            or self._address_problem(address)
            or self._same_address(address)
            or self._unless_unheard(decided_at, self._address_changes_used_up())
        ):
            raise _refused(refusal)

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
            raise _refused(self._another_runs_order)

    # A refusal its sender no longer waits for.

    def _unheard(self, decided_at: str) -> datetime | None:
        """When it was sent (decided_at, the client's stamp), if that is so long before this
        workflow task that its sender may have stopped waiting for the answer (an order worker
        stopped meanwhile, say): a refusal from the validator would reach no one, and leave no
        trace. Else None."""
        sent = decided_instant(decided_at)
        return sent if sent is not None and workflow.now() - sent >= policies.UNHEARD_AFTER else None

    def _unless_unheard(self, decided_at: str, refusal: str | None) -> str | None:
        """For a validator: the refusal of an Update that depends on what came first (another
        decision, a cancel, the end), unless its sender may no longer wait for it (_unheard):
        that one is accepted, and its handler refuses it on record (_refuse_on_record).
        Validators never run in a replay, so this changes no history recorded before, nor does
        its cap (policies.MAX_REFUSALS_ON_RECORD), past which such a refusal is the validator's."""
        if self._unheard(decided_at) is None or self._books.refusals >= policies.MAX_REFUSALS_ON_RECORD:
            return refusal
        return None

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
        if refusal is None or (sent := self._unheard(decided_at)) is None:
            return
        if self._patched(patch_id):
            self._books.note_refusal(command, refusal, {"by": by, "decided_at": sent.isoformat()})
            raise _refused(refusal)

    def _address_changes_used_up(self) -> str | None:
        """Validators never run in a replay; the handler of an address change Update asks it too,
        for one that came late, but only behind LATE_ADDRESS_REFUSAL_ON_RECORD (_refuse_on_record),
        in runs that reached the cap. Changing the cap would change such runs' replay."""
        if self._address_sequence < policies.MAX_ADDRESS_CHANGES:
            return None
        return (
            f"Order {self._order.order_id} has had its address changed {policies.MAX_ADDRESS_CHANGES} times, the most"
            " one order takes; if it is still wrong, cancel the order and create it again."
        )

    def _signalled_address_changes_used_up(self) -> str | None:
        """The same cap for the signal, whose refusal is audited, so it changes history: asked
        (and its patch marker recorded) only at the cap, so no other order carries it."""
        refusal = self._address_changes_used_up()
        return refusal if refusal is not None and self._patched(ADDRESS_SIGNALS_CAPPED) else None

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
            address = _as_address(address, self._null_is_empty(address))
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

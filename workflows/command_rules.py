"""When an operator's command is refused: it comes too late (the order ended, is ending, or is
past the point the command acts on), or it carries what cannot be stored. The rules read the
run's state and never change it; OrderCommands' validators and handlers apply them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import rules
    from workflows import policies
    from workflows.model import BEFORE_DECISION_STATES, PAST_DISPATCH_STATES, Address, OrderState, decided_instant
    from workflows.order_run import OrderRun
    from workflows.patches import (
        ADDRESS_NULL_IS_EMPTY,
        ADDRESS_REFUSED_WHILE_CANCELLING,
        ADDRESS_SIGNALS_CAPPED,
        CANCEL_AFTER_REJECTION_REFUSED,
        REFUSE_UNSTORABLE_TEXT,
        REFUSE_WHILE_ENDING,
        REVIEW_WINDOW_CLOSES,
    )


def refused(reason: str) -> ApplicationError:
    return ApplicationError(reason, type="Refused", non_retryable=True)


def text_refusal(**texts: object) -> str | None:
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


def as_address(value: Any, null_is_empty: bool = True) -> Address:
    """The SDK decodes arguments by type hint only when every parameter is sent; a client that
    sends just the address (the CLI's `temporal workflow signal`, say) delivers a dict. A null
    in it is an empty field, for the address rules to judge (``null_is_empty``: the handlers
    ask CommandRules._null_is_empty; before it, a null became the text "None")."""
    if isinstance(value, Address):
        return value
    fields = {"name", "street", "city", "postal_code", "country", "region"}
    if isinstance(value, dict) and set(value) <= fields:
        try:
            return Address(**{k: "" if v is None and null_is_empty else str(v) for k, v in value.items()})
        except TypeError:
            pass
    raise refused("The new address must have name, street, city, postal_code and country.")


def has_null(value: Any) -> bool:
    return isinstance(value, dict) and any(v is None for v in value.values())




def address_problem(address: Address, signal: bool = False) -> str | None:
    # A signal handler's rules never grow stricter (a replay must find the same refusals); an
    # Update's validator, which a replay never runs, applies the CLI's, TUI's and API's.
    problems = (rules.address_problems if signal else rules.strict_address_problems)(address)
    return problems[0] if problems else None


def unheard(decided_at: str) -> datetime | None:
    """When it was sent (decided_at, the client's stamp), if that is so long before this
    workflow task that its sender may have stopped waiting for the answer (an order worker
    stopped meanwhile, say): a refusal from the validator would reach no one, and leave no
    trace. Else None."""
    sent = decided_instant(decided_at)
    return sent if sent is not None and workflow.now() - sent >= policies.UNHEARD_AFTER else None


class CommandRules(OrderRun):
    """Mixed into OrderWorkflow (through OrderCommands): the refusals, read from the run's state."""

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
        accepted and then have no effect; they are refused like those after the end. (A closed
        review window implies AWAITING_APPROVAL, so the end is checked after it.)"""
        if self._window_closed() and (not signal or self._patched(REVIEW_WINDOW_CLOSES)):
            return (
                f"Order {self._order.order_id} is expiring: its review window of "
                f"{self._order.review_window_seconds:g} s has closed."
            )
        if self._state.terminal:
            return f"Order {self._order.order_id} is already {self._state.value}."
        if self._ending is None:
            return None
        # Signal handlers change history (a refusal is audited), so older runs replay unchanged.
        if signal and not self._patched(REFUSE_WHILE_ENDING):
            return None
        return f"Order {self._order.order_id} is already ending {self._ending.value}."

    def _decision_refusal(self, signal: bool = False) -> str | None:
        if refusal := self._ending_refusal(signal):
            return refusal
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
        return self._address_state_refusal(signal) or address_problem(address, signal)

    def _address_state_refusal(self, signal: bool = False) -> str | None:
        """What came before refuses any address change: the order ended or is ending, the carrier
        has the package, or a cancel is pending."""
        if refusal := self._ending_refusal(signal):
            return refusal
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

    def _unless_unheard(self, decided_at: str, refusal: str | None) -> str | None:
        """For a validator: the refusal of an Update that depends on what came first (another
        decision, a cancel, the end), unless its sender may no longer wait for it (unheard):
        that one is accepted, and its handler refuses it on record (_refuse_on_record).
        Validators never run in a replay, so this changes no history recorded before, nor does
        its cap (policies.MAX_REFUSALS_ON_RECORD), past which such a refusal is the validator's."""
        if unheard(decided_at) is None or self._books.refusals >= policies.MAX_REFUSALS_ON_RECORD:
            return refusal
        return None

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

    def _null_is_empty(self, address: Any) -> bool:
        """For the handlers, which run on replay: a null in an address is an empty field only in
        runs that asked ADDRESS_NULL_IS_EMPTY (asked only when the address has a null); a change
        taken before it keeps the text "None" its run had."""
        return has_null(address) and self._patched(ADDRESS_NULL_IS_EMPTY)

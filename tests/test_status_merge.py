"""How `order status` merges the workflow's own view with the order row: the shipping child
moves the row to PACKED and DISPATCHED before its parent hears of it."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from app.views import lost_decision, merged_status
from workflows.model import Address, OrderItem, OrderState, OrderStatus, Payment, PaymentStatus

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def live(state: OrderState) -> OrderStatus:
    return OrderStatus(
        order_id="o-1",
        state=state,
        step="packing and dispatching",
        terminal=state.terminal,
        items=[OrderItem("WIDGET-1", 1)],
        amount_cents=1999,
        address=Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
        payment=Payment(payment_id="pay-o-1", status=PaymentStatus.CHARGED),
    )


def merged(live_state: OrderState, row_state: str) -> dict:
    terminal = OrderState(row_state).terminal
    step = "done" if terminal else "dispatching carrier"
    payment = {"payment_id": "pay-o-1", "status": "REFUNDED" if row_state == "CANCELLED" else "CHARGED"}
    summary = {
        "state": row_state, "step": step, "terminal": terminal, "payment": payment, "retries": 1, "created_at": NOW.isoformat()
    }
    return merged_status("o-1", live(live_state), summary, {"PreparePackage": 2}, NOW)


def test_the_row_is_ahead_while_the_child_ships():
    status = merged(OrderState.PAID, "PACKED")
    assert (status["state"], status["step"]) == ("PACKED", "dispatching carrier")
    assert status["address"]["city"] == "Springfield"  # the rest is the workflow's view
    assert status["source"] == "workflow" and status["retries"] == 1


def test_a_recorded_ending_is_shown_before_the_workflow_task_completes():
    status = merged(OrderState.PAID, "CANCELLED")
    assert (status["state"], status["step"], status["terminal"]) == ("CANCELLED", "done", True)
    assert status["payment"]["status"] == "REFUNDED"


def test_the_workflow_wins_when_it_is_ahead_or_finished():
    assert merged(OrderState.PAID, "APPROVED")["state"] == "PAID"
    assert merged(OrderState.CANCELLED, "PACKED")["state"] == "CANCELLED"


def test_an_order_that_ended_before_any_charge_has_no_payment_pending():
    """A rejected order's --json (and the API's) said payment PENDING, as if a charge might still
    come, where the panel said "not charged": none can come (a late one is voided, FAILED)."""
    rejected = replace(live(OrderState.REJECTED), payment=Payment(payment_id="pay-o-1"))
    summary = {"state": "REJECTED", "step": "done", "terminal": True, "payment": {"payment_id": "pay-o-1", "status": "PENDING"}}
    assert merged_status("o-1", rejected, summary, {}, NOW)["payment"] == {"payment_id": "pay-o-1", "status": "FAILED"}
    assert merged_status("o-1", None, summary, {}, NOW)["payment"]["status"] == "FAILED"  # the database's view
    awaiting = replace(live(OrderState.AWAITING_APPROVAL), payment=Payment(payment_id="pay-o-1"))
    assert merged_status("o-1", awaiting, {}, {}, NOW)["payment"]["status"] == "PENDING"  # still to come


def test_before_the_row_exists_the_retries_are_counted_from_the_attempts():
    """Right after create, ReceiveOrder may have tried nine times before the order has a row:
    `order status` said 'Retries 0' next to 'ReceiveOrder 9'."""
    status = merged_status("o-1", live(OrderState.RECEIVED), {}, {"ReceiveOrder": 9}, NOW)
    assert status["attempts"] == {"ReceiveOrder": 9} and status["retries"] == 8
    assert (status["amount_cents"], status["amount"]) == (1999, "19.99")  # SPEC section 5's amount


def test_an_approval_the_workflow_no_longer_has_is_named_with_how_to_send_it_again():
    # The row says PAID for a minute while the workflow still awaits review: a Temporal restart
    # lost the approval's Update after its charge (orders started before OrderInput.updates_on_record).
    warning = lost_decision("o-1", OrderState.AWAITING_APPROVAL, "PAID", NOW - timedelta(seconds=60), NOW)
    assert warning is not None
    assert "row says PAID, but its workflow still awaits review" in warning
    assert "./start.sh order approve o-1" in warning and "not charged again" in warning


def test_a_row_just_ahead_of_the_workflow_or_at_review_is_no_lost_decision():
    # The row is written a few milliseconds before the workflow's task completes: no warning then.
    assert lost_decision("o-1", OrderState.AWAITING_APPROVAL, "PAID", NOW - timedelta(seconds=2), NOW) is None
    assert lost_decision("o-1", OrderState.AWAITING_APPROVAL, "AWAITING_APPROVAL", NOW - timedelta(hours=1), NOW) is None
    assert lost_decision("o-1", OrderState.PAID, "PACKED", NOW - timedelta(hours=1), NOW) is None
    assert lost_decision("o-1", OrderState.AWAITING_APPROVAL, None, None, NOW) is None
    # A row behind the workflow (MarkAwaitingApproval still retrying its write) lost nothing.
    assert lost_decision("o-1", OrderState.AWAITING_APPROVAL, "VALIDATED", NOW - timedelta(hours=1), NOW) is None
    # An ending on record: the workflow adopts it when its review window closes.
    assert lost_decision("o-1", OrderState.AWAITING_APPROVAL, "REJECTED", NOW - timedelta(hours=1), NOW) is None


def test_a_shipped_order_shows_no_failure_an_earlier_shipping_attempt_had():
    """A workflow from before the hand-over cleared it still reports a failed first attempt's
    reason ("Cancelled", after an operator cancelled that child through Temporal)."""
    shipped = live(OrderState.SHIPPED)
    shipped.failure_reason = "Cancelled"
    summary = {"state": "SHIPPED", "step": "done", "terminal": True, "payment": {"payment_id": "pay-o-1", "status": "CHARGED"}}
    assert merged_status("o-1", shipped, summary, {}, NOW)["failure_reason"] == ""
    waiting = live(OrderState.PAID)
    waiting.failure_reason = "The carrier does not deliver there."
    assert merged_status("o-1", waiting, {**summary, "state": "PAID", "terminal": False}, {}, NOW)["failure_reason"] == (
        "The carrier does not deliver there."
    )


def test_a_run_that_never_stored_the_order_does_not_speak_for_its_row():
    """`temporal workflow start --workflow-id order-o-1 --input '{...malformed...}'` after order
    o-1 shipped: that run fails at once (its input unusable) and its status Query says FAILED,
    with no items, no amount, no charge. `order status o-1` showed a shipped, charged order so."""
    stray = OrderStatus(
        order_id="o-1", state=OrderState.FAILED, step="done", terminal=True, items=[], amount_cents=None,
        address=Address(name="", street="", city="", postal_code="", country=""), payment=Payment("pay-o-1"),
        failure_reason="The workflow input is not a valid OrderInput: items[0].quantity: ...",
    )
    row = {
        "state": "SHIPPED", "step": "done", "terminal": True, "failure_reason": "", "amount_cents": 1999,
        "payment": {"payment_id": "pay-o-1", "status": "CHARGED"}, "created_at": NOW.isoformat(),
    }
    status = merged_status("o-1", stray, row, {"MarkShipped": 1}, NOW)
    assert (status["state"], status["payment"]["status"], status["failure_reason"]) == ("SHIPPED", "CHARGED", "")
    assert status["source"] == "database"
    # With no row it is all there is to show: FAILED, and why.
    alone = merged_status("o-1", stray, {}, {}, NOW)
    assert (alone["state"], alone["failure_reason"]) == ("FAILED", stray.failure_reason)

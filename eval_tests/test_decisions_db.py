"""What the review and the operator's commands leave in PostgreSQL: the activities against the
private stack's database (fixtures shared with test_activities_db)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from temporalio.testing import ActivityEnvironment

from activities.order_activities import OrderActivities
from eval_tests.test_activities_db import no_trouble, pool, received_order, run_as_the_orders_workflow  # noqa: F401
from workflows.activity_io import AddressChange, EventInput, FinishInput, ReviewInput
from workflows.model import (
    CANCEL_REQUESTED_EVENT,
    Address,
    Decision,
    OrderState,
)

NEW_ADDRESS = Address(name="Bob", street="2 Side St", city="Shelbyville", postal_code="54321", country="DE")


async def _payload(pool, order_id: str, kind: str) -> dict:
    payload = await pool.fetchval("SELECT payload_json FROM events WHERE order_id = $1 AND type = $2", order_id, kind)
    return json.loads(payload) if isinstance(payload, str) else payload


async def test_an_address_change_keeps_when_the_operator_sent_it_in_its_audit_event(pool):
    """Sent while the order worker was stopped, the change is recorded much later."""
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    sent = datetime(2026, 11, 26, 23, 37, 21, 31000, tzinfo=timezone(timedelta(hours=1))).isoformat()
    change = AddressChange(order_id=order.order_id, sequence=1, address=NEW_ADDRESS, by="eve", decided_at=sent)
    assert await ActivityEnvironment().run(activities.record_address_change, change) is True
    payload = await _payload(pool, order.order_id, "address_changed")
    assert (payload["by"], payload["decided_at"]) == ("eve", "2026-11-26T22:37:21.031000+00:00")
    # One sent without a usable time (an older client, a hand-sent Update) is recorded without one.
    other = AddressChange(order_id=order.order_id, sequence=2, address=order.address, by="eve", decided_at="soon")
    assert await ActivityEnvironment().run(activities.record_address_change, other) is True
    rows = await pool.fetch(
        "SELECT payload_json FROM events WHERE order_id = $1 AND type = 'address_changed' ORDER BY id", order.order_id
    )
    second = rows[1]["payload_json"]
    assert "decided_at" not in (json.loads(second) if isinstance(second, str) else second)


async def test_a_decision_for_an_order_with_no_row_waited_0_ms(pool):
    """RecordDecision answers the review wait in ms, which the workflow divides: for an order
    whose row does not exist (its ReceiveOrder never stored it) that was None, not 0 as for an
    order never stored or another workflow's."""
    order_id = f"db-{uuid.uuid4().hex[:10]}"
    activities = OrderActivities(pool, flaky=no_trouble)
    decision = Decision(approved=True, by="test")
    assert await ActivityEnvironment().run(activities.record_decision, ReviewInput(order_id, decision=decision)) == 0
    payload = await _payload(pool, order_id, "approved")
    assert payload["review_ms"] == 0 and "state" not in payload


async def _cancelled_in_review(pool, sent: datetime | None) -> dict:
    """An order received 61 s ago whose review began a minute ago, cancelled by an operator at
    ``sent`` (None: a cancel that does not say, as before cancels carried it), ended now; its row."""
    order = await received_order(pool)
    activities = OrderActivities(pool, flaky=no_trouble)
    await ActivityEnvironment().run(activities.mark_awaiting_approval, ReviewInput(order_id=order.order_id))
    await pool.execute(
        "UPDATE orders SET created_at = now() - interval '61 seconds',"
        " awaiting_approval_since = now() - interval '60 seconds' WHERE id = $1",
        order.order_id,
    )
    payload = {"reason": "changed mind", "state": "AWAITING_APPROVAL", "by": "dana"}
    if sent is not None:
        payload["decided_at"] = sent.isoformat()
    cancel = EventInput(order.order_id, CANCEL_REQUESTED_EVENT, CANCEL_REQUESTED_EVENT, payload)
    await ActivityEnvironment().run(activities.record_event, cancel)
    ending = FinishInput(order.order_id, OrderState.CANCELLED, event_type="order_cancelled", reason="changed mind")
    finished = await ActivityEnvironment().run(activities.finish_order, ending)
    row = await pool.fetchrow(
        "SELECT review_ms, processing_ms, created_at, awaiting_approval_since, finished_at FROM orders WHERE id = $1",
        order.order_id,
    )
    assert (finished.review_ms, finished.processing_ms) == (row["review_ms"], row["processing_ms"])
    # Processing is the whole run but the review, whatever the review's end.
    assert abs(row["processing_ms"] - (_ms(row["finished_at"] - row["created_at"]) - row["review_ms"])) <= 1, dict(row)
    recorded = await pool.fetchval(
        "SELECT ts FROM events WHERE order_id = $1 AND dedupe_key = $2", order.order_id, CANCEL_REQUESTED_EVENT
    )
    return {**row, "cancel_recorded_at": recorded}


def _ms(span: timedelta) -> int:
    """A span between the row's own stamps in ms, which the tests expect to within the rounding:
    ranges around 20 s or 60 s also measured how long the test's steps took, and a loaded
    machine stretched that past them."""
    return round(span / timedelta(milliseconds=1))


async def test_a_cancel_that_ends_a_review_stops_the_review_clock_when_the_operator_sent_it(pool):
    """Sent while the order worker was stopped, the cancel is recorded, and the order ended,
    much later: the wait for a human ended when the operator sent it, as for a decision."""
    now = await pool.fetchval("SELECT now()")
    sent = now - timedelta(seconds=40)  # about 20 s into the review, which ended about 40 s later
    row = await _cancelled_in_review(pool, sent)
    assert row["awaiting_approval_since"] < sent < row["finished_at"], row
    assert abs(row["review_ms"] - _ms(sent - row["awaiting_approval_since"])) <= 1, row


async def test_a_cancels_time_stops_the_review_clock_only_between_the_review_and_its_record(pool):
    """The client's clock is not the database's: a cancel sent, by its clock, before the review
    began counts no review; one sent after it was recorded, the review until it was."""
    now = await pool.fetchval("SELECT now()")
    assert (await _cancelled_in_review(pool, now - timedelta(hours=1)))["review_ms"] == 0
    ahead = await _cancelled_in_review(pool, now + timedelta(hours=1))
    assert abs(ahead["review_ms"] - _ms(ahead["cancel_recorded_at"] - ahead["awaiting_approval_since"])) <= 1, ahead
    # A cancel that does not say when it was sent (a Temporal cancel, an older client): until now.
    unsaid = await _cancelled_in_review(pool, None)
    assert abs(unsaid["review_ms"] - _ms(unsaid["finished_at"] - unsaid["awaiting_approval_since"])) <= 1, unsaid

"""What the review and the operator's commands leave in PostgreSQL: the activities against the
private stack's database (fixtures shared with test_activities_db)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from temporalio.testing import ActivityEnvironment

from activities.order_activities import OrderActivities
from eval_tests.test_activities_db import no_trouble, pool, received_order, run_as_the_orders_workflow  # noqa: F401
from workflows.model import Address, AddressChange, Decision, ReviewInput

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

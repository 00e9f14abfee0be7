"""A cancel and an address change carry when the operator sent them, as approve and reject do:
sent while the order worker was stopped, they are recorded much later, and their audit rows
say when they were sent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.render import audit_timeline
from app.service import OrderService
from tests.test_service_commands import _Client, _NoOrderRow
from tests.test_tui_render import an_order, render
from workflows.model import Address

NEW_ADDRESS = Address(name="Bob", street="2 Side St", city="Shelbyville", postal_code="54321", country="DE")


async def test_cancel_and_address_change_are_stamped_with_the_time_they_were_sent():
    client = _Client()
    service = OrderService(settings=None, client=client, pool=_NoOrderRow())  # type: ignore[arg-type]
    before = datetime.now(timezone.utc)
    await service.cancel("o-1", reason="changed mind", by="dana")
    await service.update_address("o-2", NEW_ADDRESS, by="eve")
    after = datetime.now(timezone.utc)
    (cancel, cancel_args), (change, change_args) = client.sent
    assert (cancel, cancel_args[:2]) == ("cancel", ["changed mind", "dana"])
    assert (change, change_args[1]) == ("update_address", "eve")
    for stamp in (cancel_args[-1], change_args[-1]):
        assert before - timedelta(seconds=1) <= datetime.fromisoformat(stamp) <= after


def _audit_line(kind: str, payload: dict, recorded: str = "2026-11-26T22:38:07.414+00:00") -> str:
    entry = {"at": recorded, "kind": "event", "type": kind, "payload": payload}
    text = render(audit_timeline({"order": an_order("o-1", "CANCELLED"), "timeline": [entry]}), width=200)
    return next(line for line in text.splitlines() if kind.replace("_", " ") in line)


def test_a_cancel_recorded_late_says_when_it_was_sent():
    payload = {"reason": "changed mind", "state": "AWAITING_APPROVAL", "by": "dana"}
    late = _audit_line("cancel_requested", payload | {"decided_at": "2026-11-26T22:37:21.031+00:00"})
    assert "changed mind  by dana  (decided 22:37:21.031, 46 s before it was recorded)" in late
    assert "decided" not in _audit_line("cancel_requested", payload)  # recorded before cancels carried it
    soon = _audit_line("cancel_requested", payload | {"decided_at": "2026-11-26T22:38:06.900+00:00"})
    assert "decided" not in soon


def test_an_address_change_recorded_late_says_when_it_was_sent():
    old = {"name": "Ann", "street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
    payload = {"old": old, "new": {**old, "city": "Shelbyville"}, "by": "eve"}
    late = _audit_line("address_changed", payload | {"decided_at": "2026-11-26T22:37:21.031+00:00"})
    assert "by eve  (decided 22:37:21.031, 46 s before it was recorded)" in late
    assert "decided" not in _audit_line("address_changed", payload)
    refused = {"new": old, "by": "eve", "reason": "the order ended CANCELLED"}
    late_refused = _audit_line("address_change_refused", refused | {"decided_at": "2026-11-26T22:37:21.031+00:00"})
    assert "(decided 22:37:21.031, 46 s before it was recorded)" in late_refused

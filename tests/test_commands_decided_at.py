"""A cancel and an address change carry when the operator sent them, as approve and reject do:
sent while the order worker was stopped, they are recorded much later, and their audit rows
say when they were sent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.render_audit import audit_timeline
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


def test_a_refusal_is_put_on_record_for_commands_older_than_the_tools_wait_for():
    """A command whose sender surely still waits is refused by the validator, and its sender
    hears it; past the shortest wait of the tools (2 s when no order worker polls: one stopped
    with SIGSTOP, as an operator walkthrough had it), the refusal goes to the audit too, instead
    of to no one. At 10 s, a rejection sent 8 s before the worker went on left no trace."""
    from app.service.sending import COMMAND_TIMEOUT_S, NO_WORKER_CHECK_S
    from workflows import policies

    assert policies.UNHEARD_AFTER.total_seconds() <= min(NO_WORKER_CHECK_S, COMMAND_TIMEOUT_S)


def test_a_refused_command_says_which_command_it_was_and_a_late_one_who_sent_it_and_when():
    # It said only the reason: "command refused  Order o-1 was already approved by ann." did not
    # say that bob's rejection was the command refused.
    reason = "Order o-1 was already approved by ann."
    late = {"command": "reject", "reason": reason, "by": "bob", "decided_at": "2026-11-26T22:37:21.031+00:00"}
    line = _audit_line("command_refused", late)
    assert f"command refused  the rejection by bob: {reason}  (decided 22:37:21.031, 46 s before it was recorded)" in line
    signalled = _audit_line("command_refused", {"command": "update_address", "reason": "Order o-1 is already SHIPPED."})
    assert "command refused  the address change: Order o-1 is already SHIPPED." in signalled
    carrier = "The address of order o-1 cannot change: the carrier already has the package."
    moved = _audit_line("command_refused", late | {"command": "update_address", "reason": carrier, "by": "carol"})
    assert f"command refused  the address change by carol: {carrier}  (decided 22:37:21.031, 46 s" in moved
    # Not "the dispatch failed: …", which read as if the carrier had just refused the package.
    reported = _audit_line("command_refused", {"command": "dispatch_failed", "reason": "Order o-1 has ended."})
    assert "command refused  the dispatch_failed signal: Order o-1 has ended." in reported
    # Nor "the package prepared: …", which read as if the package had just been packed.
    packed = _audit_line("command_refused", {"command": "package_prepared", "reason": "Order o-1 has ended."})
    assert "command refused  the package_prepared signal: Order o-1 has ended." in packed

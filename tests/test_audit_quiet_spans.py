"""The audit's line for a span with nothing recorded while the order was in flight: a worker or
Temporal stopped, or the stack down, meanwhile. Rendered rows, read as text."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from rich.console import Console

from app.render_audit import audit_timeline

T0 = datetime(2026, 11, 27, 9, 49, 37, tzinfo=timezone.utc)


def event(seconds: float, kind: str, state: str | None = None, **payload) -> dict:
    at = (T0 + timedelta(seconds=seconds)).isoformat()
    return {"at": at, "kind": "event", "type": kind, "payload": payload | ({"state": state} if state else {})}


def attempt(seconds: float, activity: str, n: int = 1, outcome: str = "ok", duration_ms: int = 3, **more) -> dict:
    at = (T0 + timedelta(seconds=seconds)).isoformat()
    return {"at": at, "kind": "attempt", "activity": activity, "attempt": n, "outcome": outcome,
            "error": None if outcome == "ok" else "RuntimeError: Forced failure for testing",
            "duration_ms": duration_ms, "workflow_id": "order-o-1"} | more


def lines(timeline: list[dict], styles: bool = False) -> list[str]:
    console = Console(record=True, width=120, color_system="truecolor", force_terminal=True, file=io.StringIO())
    console.print(audit_timeline({"order": {"order_id": "o-1", "state": "SHIPPED"}, "timeline": timeline}))
    return console.export_text(styles=styles).splitlines()


def quiet(timeline: list[dict]) -> list[str]:
    return [line.strip() for line in lines(timeline) if "nothing recorded" in line]


def test_a_worker_stopped_while_the_child_ran_shows_as_a_span_with_nothing_recorded():
    """The order worker stopped (SIGSTOP) for 8 s while the shipping child dispatched: the audit
    went from "carrier dispatched" to MarkShipped 7.9 s later with no row saying so."""
    timeline = [
        attempt(0.0, "DispatchCarrier", 1, "timeout", 120),
        attempt(0.228, "DispatchCarrier", 2),
        event(0.229, "carrier_dispatched", "DISPATCHED", tracking_number="TRK1"),
        attempt(8.092, "MarkShipped"),
        event(8.095, "order_shipped", "SHIPPED"),
    ]
    text = lines(timeline)
    said = [at for at, line in enumerate(text) if "nothing recorded" in line]
    assert len(said) == 1
    assert "carrier dispatched" in text[said[0] - 1] and "MarkShipped #1" in text[said[0] + 1]
    assert "nothing recorded for 7.9 s" in text[said[0]]
    styled = next(line for line in lines(timeline, styles=True) if "nothing recorded" in line)
    assert "\x1b[2m" in styled  # dimmed, as the timeline's other asides


def test_a_step_run_again_after_a_killed_worker_says_how_long_nothing_was_recorded():
    """docs/tui.md: the pause (the workflow task's timeout: 5 s, or 10 s for an order started by
    earlier code) before a step's run again had no row of its own."""
    timeline = [
        attempt(0.0, "PreparePackage", 1, "error", 0),
        attempt(9.5, "PreparePackage", 1, rerun=True),
    ]
    assert quiet(timeline) == ["… nothing recorded for 9.5 s: the order waited (a worker or Temporal stopped, or the"
                               " stack down)"]


def test_waits_the_audit_explains_get_no_line():
    timeline = [
        event(0.0, "order_received", "RECEIVED"),
        event(0.1, "awaiting_approval", "AWAITING_APPROVAL"),
        event(40.0, "address_changed", old={}, new={}, by="op"),  # in the review: nothing is missing
        event(90.0, "cancel_requested", "AWAITING_APPROVAL", reason="no", by="op"),  # not a new state
        attempt(300.0, "RecordDecision"),
        event(300.1, "approved", "APPROVED", by="op"),
        # The server's back-off between attempts of a step (up to 5 s), and an attempt that ran
        # long itself (its row says how long).
        attempt(300.2, "ChargePayment", 101, "error", 0),
        attempt(305.1, "ChargePayment", 102, "timeout", 8097),
        attempt(313.3, "ChargePayment", 103),
        event(313.4, "payment_charged", "PAID"),
        event(313.5, "order_shipped", "SHIPPED"),
        # After the ending: a command refused ten minutes later is no wait of the order's.
        attempt(913.5, "RecordEvent"),
        event(913.6, "command_refused", reason="the order has ended"),
    ]
    assert quiet(timeline) == []


def test_a_back_off_longer_than_any_retry_policy_allows_is_not_taken_for_one():
    timeline = [attempt(0.0, "ChargePayment", 3, "error", 0), attempt(12.0, "ChargePayment", 4)]
    assert quiet(timeline)[0].startswith("… nothing recorded for 12.0 s")


def test_a_long_span_reads_in_minutes_and_hours():
    timeline = [event(0.0, "order_validated", "VALIDATED"), attempt(754.0, "MarkAwaitingApproval"),
                event(755.0, "payment_charged", "PAID"), attempt(755.0 + 2 * 3600 + 300, "PreparePackage")]
    said = quiet(timeline)
    assert said[0].startswith("… nothing recorded for 12 min 34 s") and said[1].startswith("… nothing recorded for 2 h 5 min")


def test_an_attempt_frozen_mid_way_gets_a_line_saying_nothing_was_recorded():
    """The order worker stopped (SIGSTOP) for 7 s while a validation attempt ran: its row said
    "ValidateOrder #4 timeout 7043 ms" against a 0.12 s timeout, and the next row followed at
    once, so no line said why (seen in a run of ten orders)."""
    timeline = [
        attempt(0.0, "ValidateOrder", 3, "error", 0),
        attempt(0.036, "ValidateOrder", 4, "timeout", 7043),
        attempt(7.115, "ValidateOrder", 5, "timeout", 121),
        attempt(7.279, "ValidateOrder", 6),
        event(7.281, "order_validated", "VALIDATED"),
    ]
    text = lines(timeline)
    said = [at for at, line in enumerate(text) if "nothing recorded" in line]
    assert len(said) == 1, text
    assert "ValidateOrder #4" in text[said[0] - 1] and "ValidateOrder #5" in text[said[0] + 1]
    assert "nothing recorded for 7.1 s" in text[said[0]]


def test_an_attempt_a_little_past_its_timeout_gets_no_line():
    timeline = [attempt(0.0, "ChargePayment", 1, "timeout", 1500), attempt(1.52, "ChargePayment", 2)]
    assert quiet(timeline) == []


def so_far(timeline: list[dict], state: str, seconds_later: float) -> list[str]:
    """The lines saying nothing has been recorded so far, ``seconds_later`` after T0."""
    console = Console(record=True, width=120, file=io.StringIO())
    audit = {"order": {"order_id": "o-1", "state": state}, "timeline": timeline}
    console.print(audit_timeline(audit, now=T0 + timedelta(seconds=seconds_later)))
    return [line.strip() for line in console.export_text().splitlines() if "so far" in line]


def test_an_order_stuck_now_says_how_long_nothing_has_been_recorded_so_far():
    """The order worker stopped (SIGSTOP) just after the charge: 8 s later the audit ended on
    "payment charged → PAID" as if all were well (the status said the workflow did not answer)."""
    timeline = [attempt(0.0, "ChargePayment"), event(0.001, "payment_charged", "PAID")]
    assert so_far(timeline, "PAID", 8.2) == [
        "… nothing recorded for 8.2 s so far: the order waits (a worker or Temporal stopped, or the stack down)"
    ]


def test_waits_of_the_order_s_own_get_no_so_far_line():
    charged = [attempt(0.0, "ChargePayment"), event(0.001, "payment_charged", "PAID")]
    assert so_far(charged, "PAID", 3.0) == []  # not long yet
    assert so_far(charged, "SHIPPED", 600.0) == []  # ended: nothing more to record
    review = [attempt(0.0, "MarkAwaitingApproval"), event(0.001, "awaiting_approval", "AWAITING_APPROVAL")]
    assert so_far(review, "AWAITING_APPROVAL", 600.0) == []  # in the review, as long as it takes
    failed = [attempt(0.0, "ChargePayment", 101, "error", 0)]
    assert so_far(failed, "APPROVED", 8.0) == []  # the server's back-off before the next attempt
    assert not any("so far" in line for line in lines(charged))  # no now: no line


def test_an_attempt_frozen_after_its_side_effect_gets_its_line_after_that_row_not_a_0_s_one():
    """The order worker stopped (SIGSTOP) for 6 s inside an attempt right after it wrote its
    row: the audit said "nothing recorded for 0.0 s" between the attempt and that row, and
    nothing where the 6 s were (MarkShipped, a private stack, 2026-11-28)."""
    timeline = [
        attempt(0.0, "ChargePayment", 1, "timeout", 120),
        attempt(0.142, "ChargePayment", 2, "timeout", 6022),
        event(0.146, "payment_charged", "PAID"),
        attempt(6.188, "ChargePayment", 3, "error", 0),
        attempt(6.222, "ChargePayment", 4),
    ]
    text = lines(timeline)
    said = [at for at, line in enumerate(text) if "nothing recorded" in line]
    assert len(said) == 1, text
    assert "payment charged" in text[said[0] - 1] and "ChargePayment #3" in text[said[0] + 1], text
    assert "nothing recorded for 6.0 s" in text[said[0]]
    # When that row was the order's ending, nothing after it is a wait of the order's.
    shipped = [
        attempt(0.142, "MarkShipped", 2, "timeout", 6022),
        event(0.146, "order_shipped", "SHIPPED"),
        attempt(6.188, "MarkShipped", 3, "error", 0, after_ending=True),
        attempt(6.222, "MarkShipped", 4, after_ending=True),
    ]
    assert quiet(shipped) == []


def test_rows_recorded_all_along_an_attempt_that_ran_long_leave_no_line():
    """The shipping child's rows went on while an order step's attempt hung: nothing was
    quiet."""
    timeline = [
        attempt(0.0, "ChargePayment", 1, "timeout", 6000),
        *(attempt(0.5 + 0.8 * k, "PreparePackage", k + 1, "error", 0, workflow_id="shipping-o-1-1") for k in range(7)),
        attempt(6.1, "ChargePayment", 2),
    ]
    assert quiet(timeline) == []


def test_an_attempt_frozen_before_its_side_effect_gets_its_line_before_that_row():
    """The same stop before the attempt wrote its row (RecordDecision #1 ok 6016 ms): the 6 s
    are before "approved"."""
    timeline = [
        attempt(0.0, "RecordDecision", 1, "ok", 6016),
        event(6.008, "approved", "APPROVED", by="op"),
        attempt(6.03, "ChargePayment"),
    ]
    text = lines(timeline)
    said = [at for at, line in enumerate(text) if "nothing recorded" in line]
    assert len(said) == 1, text
    assert "RecordDecision #1" in text[said[0] - 1] and "approved" in text[said[0] + 1], text
    assert "nothing recorded for 6.0 s" in text[said[0]]

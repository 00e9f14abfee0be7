"""An attempt cut off by a worker's kill -9 writes no row (the row is written as the attempt
ends). The audit tells it from the rows it has, at no cost to the steps: a step that ran again
after a failed attempt had one more attempt due, and that one left no row."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from rich.console import Console

from app.render_audit import audit_timeline
from app.views import timeline

T0 = datetime(2026, 11, 27, 11, 12, 30, tzinfo=timezone.utc)


def attempt(seconds: float, n: int, outcome: str, activity_id: str = "6") -> dict:
    return {"workflow_id": "shipping-o-1-1", "activity": "PreparePackage", "activity_id": activity_id, "attempt": n,
            "outcome": outcome, "error": None if outcome == "ok" else "start-to-close timeout (0.12s) exceeded",
            "started_at": T0 + timedelta(seconds=seconds), "duration_ms": 120}


def attempt_lines(entries: list[dict]) -> list[str]:
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(audit_timeline({"order": {"order_id": "o-1", "state": "SHIPPED"}, "timeline": entries}))
    return [line for line in console.export_text().splitlines() if "PreparePackage" in line]


def test_a_step_run_again_after_a_failed_attempt_says_the_attempt_after_it_left_no_row():
    """The drill: PreparePackage #1 timed out, #2 began and the shipping worker was killed; the
    next worker ran the step from #1 ten seconds later. The audit said only that the step ran
    again; it now says the attempts after #1 were cut off with its worker and left no row (one
    here; more if the database was out of reach meanwhile, their rows kept in the worker)."""
    entries = timeline([], [attempt(0, 1, "timeout"), attempt(10, 1, "timeout"), attempt(10.2, 2, "ok")])
    assert [e["cut_off_after"] for e in entries] == [None, 1, None]
    lines = attempt_lines(entries)
    assert "ran again" in lines[1] and "its attempts after #1 left no row" in lines[1], lines
    assert "no row" not in lines[0] + lines[2]


def test_a_step_run_again_after_it_succeeded_claims_no_lost_attempt():
    """A workflow task retried after the step's last attempt said ok (its completion refused as a
    signal came, or the answer lost), or a reset: no attempt was due, none is said to be lost;
    nor after a cancelled attempt, which has its row."""
    for last in ("ok", "cancelled"):
        entries = timeline([], [attempt(0, 1, "error"), attempt(0.1, 2, last), attempt(3, 1, "ok")])
        assert [e["cut_off_after"] for e in entries] == [None, None, None]
        lines = attempt_lines(entries)
        assert "ran again" in lines[2] and "no row" not in "".join(lines)


def test_a_step_run_again_does_not_say_its_worker_was_lost_when_it_may_only_have_stopped():
    """A worker stopped (SIGSTOP) for 6 s while the step retried: its workflow task timed out at
    5 s and the step ran again from #1 (a private stack, 2026-11-28), but the audit said its
    worker "was lost"; nothing in the rows tells a kill from a stop."""
    entries = timeline([], [attempt(0, 1, "timeout"), attempt(6, 1, "timeout"), attempt(6.2, 2, "ok")])
    line = attempt_lines(entries)[1]
    assert "its worker died or stopped as the step retried" in line, line

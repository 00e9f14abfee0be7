"""Where an order's audit timeline has nothing recorded for longer than the order's own waits
explain (a worker or Temporal stopped, the stack down): app/render_audit.py gives such a span a line."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from workflows import policies
from workflows.model import OrderState

# Rows further apart than this while the order was in flight, with no wait of its own between
# them (the review, a retry's back-off), get a line saying so: the order waited on a stopped
# worker or Temporal, or a stack that was down. The workflow's own longest pause outside those
# is the 2 s before a third shipping attempt.
QUIET_SPAN_S = 4.0
TERMINAL_STATE_NAMES = {state.value for state in OrderState if state.terminal}
# The longest back-off between two attempts of a step (a step retried by the server, bookkeeping).
LONGEST_BACK_OFF_S = max(policies.SERVER_RETRY.maximum_interval, policies.BOOKKEEPING_RETRY.maximum_interval).total_seconds()
# How long an attempt numbered up to LOCAL_ATTEMPTS takes at most: a business step's runs on the
# worker, whose own timer ends it at its timeout; a bookkeeping step's writes a row in
# milliseconds, and takes longer only with PostgreSQL stuck or down. One that ran longer waited
# on a stopped worker (or that database): "ValidateOrder #4 timeout 7043 ms" had no line saying
# so. Past LOCAL_ATTEMPTS a business step runs on the server, and a hung attempt may run long.
LOCAL_ATTEMPTS = policies.BUSINESS_STEP.local_attempts
LONGEST_LOCAL_ATTEMPT_S = policies.BUSINESS_STEP.start_to_close.total_seconds()


def span(seconds: float) -> str:
    """7.9 s, 12 min 34 s, 2 h 5 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    return f"{minutes} min {int(seconds % 60)} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


class QuietSpans:
    """Follows the timeline row by row and tells how long nothing was recorded before a row, when
    that is longer than the order's own waits explain. Render-only: the JSON has no such rows."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.ended: datetime | None = None  # when the latest row so far ended (an attempt runs)
        self.last: dict[str, Any] | None = None
        # The latest row so far, if an attempt that ran longer than it can on its own: when it
        # started, by how much it overran, and when it ended.
        self.overran: tuple[datetime, float, datetime] | None = None

    def before(self, entry: dict[str, Any], moment: datetime | None) -> float | None:
        quiet = None
        if moment is not None and self.ended is not None:
            gap = (moment - self.ended).total_seconds()
            unexplained = max(0.0, gap - self._explained(entry))
            if self.overran is None:
                quiet = gap if unexplained > QUIET_SPAN_S else None
            else:  # from the attempt's start (or the last row while it ran): nothing else was recorded
                started, overrun, ends = self.overran
                since = (moment - started).total_seconds()
                if moment < ends:  # recorded while that attempt ran (its own side effect, say)
                    quiet = since if since > QUIET_SPAN_S else None
                elif self.state in TERMINAL_STATE_NAMES:  # that row ended the order
                    quiet = None
                else:
                    quiet = since if overrun + unexplained > QUIET_SPAN_S else None
        self._follow(entry, moment)
        return quiet

    def so_far(self, now: datetime, state: str) -> float | None:
        """How long nothing has been recorded since the last row, at ``now``, when the order
        (in ``state``) is in flight and that is longer than its own waits explain: a worker
        stopped in the middle of a step leaves no row until it goes on, and the timeline ended
        on its last row as if all were well."""
        if self.ended is None or state == OrderState.AWAITING_APPROVAL.value or state in TERMINAL_STATE_NAMES:
            return None
        last = self.last or {}
        explained = LONGEST_BACK_OFF_S if last.get("kind") == "attempt" and last.get("outcome") != "ok" else 0.0
        quiet = (now - self.ended).total_seconds()
        return quiet if quiet > QUIET_SPAN_S + explained else None

    def _explained(self, entry: dict[str, Any]) -> float:
        """How long the order may wait before this row on its own: in the review or once ended,
        as long as it takes; in a retry's back-off, the longest back-off."""
        if self.state == OrderState.AWAITING_APPROVAL.value or self.state in TERMINAL_STATE_NAMES:
            return float("inf")
        last = self.last or {}
        next_attempt = (
            last.get("kind") == "attempt" and last.get("outcome") != "ok" and entry["kind"] == "attempt"
            and (entry.get("workflow_id"), entry["activity"], entry["attempt"])
            == (last.get("workflow_id"), last["activity"], last["attempt"] + 1)
        )
        return LONGEST_BACK_OFF_S if next_attempt else 0.0

    def _follow(self, entry: dict[str, Any], moment: datetime | None) -> None:
        payload = entry.get("payload") or {}
        # A cancel request names the state it came in, not one it leads to.
        if entry["kind"] == "event" and payload.get("state") and entry["type"] != "cancel_requested":
            self.state = payload["state"]
        if self.overran is not None and moment is not None and moment < self.overran[2]:
            # A row recorded while an attempt that ran long ran (its own side effect, before or
            # after its worker stopped): what is left of the quiet is from this row on.
            started, overrun, ends = self.overran
            self.overran = (moment, overrun - (moment - started).total_seconds(), ends)
        else:
            self.overran = None
        if moment is not None:
            end = moment + timedelta(milliseconds=entry.get("duration_ms") or 0)
            overrun = (entry.get("duration_ms") or 0) / 1000 - LONGEST_LOCAL_ATTEMPT_S
            if entry["kind"] == "attempt" and entry["attempt"] <= LOCAL_ATTEMPTS and overrun > 0:
                if self.ended is None or end >= self.ended:  # not while other rows were recorded
                    self.overran = (moment, overrun, end)
            self.ended = end if self.ended is None else max(self.ended, end)
        self.last = entry

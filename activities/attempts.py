"""One activity interceptor records every attempt of every activity: a row in
activity_attempts (outcome ok / error / timeout / cancelled, error, duration) and a structured
log line, so retries and timeouts are visible without touching the activities themselves."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.unwritten_attempts import _Unwritten
from db import attempts as attempts_db
from db.pool import database_unreachable
from workflows.model import order_id_from_workflow_id, order_workflow_id

log = logging.getLogger("activities.attempts")

# Rows of attempts that said ok, kept (newest last, this many at most) until the activity's
# next attempt begins in this worker: one that follows an ok means Temporal never took that ok.
LAST_OK_KEPT = 10_000

# The workflow type each kind of id is given to (workflows.model.order_workflow_id and
# shipping_workflow_id): OrderWorkflow's and ShippingWorkflow's names.
TYPE_OF_ID_PREFIX = {"order-": "OrderWorkflow", "shipping-": "ShippingWorkflow"}

# Set by an attempt that the order's row refused as another run chain's (filed_under_its_run).
# The activity runs in the interceptor's own task and context, so the interceptor reads it after.
_another_runs: contextvars.ContextVar[bool] = contextvars.ContextVar("another_runs", default=False)


def filed_under_its_run() -> None:
    """Called by an activity whose order's row belongs to another run chain of its workflow id
    (db.ownership.AnotherRunsOrder), whether it then fails or answers as for an order never stored:
    its attempt is filed under its own run, not the order's."""
    _another_runs.set(True)


class AttemptRecorder(Interceptor):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._unwritten = _Unwritten(pool)
        # Rows being corrected after their attempt was cut off; kept until done (the loop holds
        # tasks weakly) and awaited by drain() before the pool closes.
        self._corrections: set[asyncio.Future] = set()
        # (workflow id, run id, activity id) -> the row of its last attempt, if that said ok.
        self._last_ok: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _RecordAttempts(next, self._pool, self._corrections, self._last_ok, self._unwritten)

    async def drain(self) -> None:
        """Wait for the corrections still under way, and write the rows an outage held back (the
        worker has shut down; the pool is open)."""
        await asyncio.gather(*self._corrections, return_exceptions=True)
        await self._unwritten.drain()


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, ApplicationError) else f"{type(error).__name__}: {text}"


# A local attempt timed out this much before its start-to-close was up was cut off by another's timer.
EARLY_BY = timedelta(milliseconds=5)


def _cancelled(info: activity.Info) -> tuple[str, str]:
    """Outcome and error of an attempt that was cancelled: timed out, or cancelled (why).

    temporalio's local activities (sdk-core, ``TimeoutBag::mark_started``) start a new
    start-to-close timer for each attempt without stopping the previous attempt's, and a timer
    that fires times out whichever attempt of the step is running then. So an attempt that
    follows a quick failure is timed out when the failed attempt's time is up: after 0 to
    ~100 ms of a 120 ms timeout, ~4 timeouts in 10 at C=100 (measured). Temporal counts it as a timeout
    (the step runs again); the row says it came early, and why."""
    details = activity.cancellation_details()
    if details is not None and details.timed_out:
        timeout = info.start_to_close_timeout or timedelta(0)
        ran = datetime.now(timezone.utc) - info.started_time
        if info.is_local and ran < timeout - EARLY_BY:
            # Its own duration is the row's; here only why it came early, in an operator's words.
            return "timeout", (
                f"timed out early, on an earlier attempt's timer ({timeout.total_seconds():g}s start-to-close);"
                " the step runs again"
            )
        return "timeout", f"start-to-close timeout ({timeout.total_seconds():g}s) exceeded"
    return "cancelled", "cancelled" + (" (worker shutdown)" if details and details.worker_shutdown else "")


def _attempt_row(
    info: activity.Info, args: Sequence[Any], outcome: str, error: str | None, started_at: datetime, clock: float
) -> dict[str, Any]:
    """The activity_attempts row of an attempt that ends now (``clock``: time.monotonic() at its start)."""
    duration_ms = int((time.monotonic() - clock) * 1000)
    finished_at = datetime.now(timezone.utc)
    order_id = _order_id(info, args)
    if _another_runs.get():
        # A run the order's row refused (another chain under order-<id>, started by
        # hand) is not the order's: its attempt goes under its own run, which no
        # order id can name, not into the order's status and audit.
        order_id = f"{info.workflow_id}/{info.workflow_run_id}"
    return dict(
        order_id=order_id,
        workflow_id=info.workflow_id or "",
        activity=info.activity_type,
        activity_id=info.activity_id,
        attempt=info.attempt,
        outcome=outcome,
        error=error,
        started_at=started_at,
        finished_at=finished_at,
        duration_ms=duration_ms,
    )


def _log_attempt(info: activity.Info, row: dict[str, Any], retryable: bool) -> None:
    """The attempt's structured log line: INFO when ok, WARNING otherwise."""
    error = row["error"]
    log.log(
        logging.INFO if row["outcome"] == "ok" else logging.WARNING,
        "event=activity_attempt activity=%s order_id=%s workflow_id=%s attempt=%d outcome=%s duration_ms=%d%s",
        info.activity_type,
        row["order_id"],
        info.workflow_id,
        info.attempt,
        row["outcome"],
        row["duration_ms"],
        f" retryable={str(retryable).lower()} error={error!r}" if error else "",
    )


class _RecordAttempts(ActivityInboundInterceptor):
    def __init__(
        self,
        next: ActivityInboundInterceptor,
        pool: asyncpg.Pool,
        corrections: set[asyncio.Future],
        last_ok: OrderedDict[tuple[str, str, str], dict[str, Any]],
        unwritten: _Unwritten,
    ) -> None:
        super().__init__(next)
        self._pool = pool
        self._corrections = corrections
        self._last_ok = last_ok
        self._unwritten = unwritten

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        key = (info.workflow_id or "", info.workflow_run_id or "", info.activity_id)
        self._correct_ok_never_taken(info, key)
        started_at = datetime.now(timezone.utc)
        clock = time.monotonic()
        outcome, error, retryable = "ok", None, True
        try:
            return await super().execute_activity(input)
        except asyncio.CancelledError:
            # A timeout runs from when the worker took the attempt, which under load is before
            # this code starts: the duration recorded is what ran here, until the cancel.
            outcome, error = _cancelled(info)
            raise
        except BaseException as exc:
            outcome, error = "error", _describe(exc)
            retryable = not (isinstance(exc, ApplicationError) and exc.non_retryable)
            raise
        finally:
            row = _attempt_row(info, input.args, outcome, error, started_at, clock)
            _log_attempt(info, row, retryable)
            await self._record(info, key, row)

    def _correct_ok_never_taken(self, info: activity.Info, key: tuple[str, str, str]) -> None:
        """Correct the row of this step's previous attempt in this worker if it said ok: Temporal
        runs the step again, so that ok never reached it."""
        earlier = self._last_ok.pop(key, None)
        if earlier is not None and earlier["attempt"] == info.attempt - 1:
            # The attempt before this one said ok, and its row says so, yet Temporal runs the
            # step again: its result reached Temporal after the timeout (the SDK does not act on
            # a cancel that comes once the activity has returned). Corrected, as a cut-off is.
            timeout = info.start_to_close_timeout.total_seconds() if info.start_to_close_timeout else 0
            why = f"start-to-close timeout ({timeout:g}s) exceeded before its result reached Temporal"
            self._correct_later(None, earlier, "timeout", why)

    async def _record(self, info: activity.Info, key: tuple[str, str, str], row: dict[str, Any]) -> None:
        """Write the attempt's row, even when the attempt is cancelled meanwhile, and keep it if
        it said ok (see _correct_ok_never_taken)."""
        outcome, error = row["outcome"], row["error"]
        # Shielded: the row of a timed-out attempt must still be written after the cancel.
        writing = asyncio.ensure_future(self._write(row))
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:
            if outcome in ("ok", "error"):
                # The attempt's time ran out while its row was being written (a busy
                # machine): Temporal counts it as timed out (or cancelled) and runs the step
                # again, so the row must not say ok, or give an error Temporal never saw.
                cut_off, why = _cancelled(info)
                why += " while its result was being recorded" + (f" (it had failed: {error})" if error else "")
                self._correct_later(writing, row, cut_off, why)
            raise
        if outcome == "ok":
            self._last_ok[key] = row
            if len(self._last_ok) > LAST_OK_KEPT:
                self._last_ok.popitem(last=False)

    def _correct_later(self, writing: asyncio.Future | None, row: dict[str, Any], outcome: str, error: str) -> None:
        correcting = asyncio.ensure_future(self._correct(writing, row, outcome, error))
        self._corrections.add(correcting)
        correcting.add_done_callback(self._corrections.discard)

    async def _write(self, row: dict[str, Any]) -> None:
        try:
            await attempts_db.record_attempt(self._pool, **row)
        except Exception as error:  # the audit row must never fail the business step itself
            if not database_unreachable(error):
                log.exception("event=attempt_record_failed activity=%s attempt=%s", row["activity"], row["attempt"])
                return
            self._unwritten.keep(row)
            # Every attempt of every waiting step during an outage: one line each, no traceback.
            log.warning(
                "event=attempt_record_failed activity=%s workflow_id=%s attempt=%s reason=database_unreachable"
                " kept_to_write_later=%d error=%r",
                row["activity"], row["workflow_id"], row["attempt"], len(self._unwritten.rows), error,
            )
        else:
            self._unwritten.database_answered()

    async def _correct(self, writing: asyncio.Future | None, row: dict[str, Any], outcome: str, error: str) -> None:
        log.warning(
            "event=activity_attempt_cut_off activity=%s order_id=%s workflow_id=%s attempt=%d outcome=%s error=%r",
            row["activity"], row["order_id"], row["workflow_id"], row["attempt"], outcome, error,
        )
        if writing is not None:
            await writing
        if await self._unwritten.held(row):  # held back by an outage: corrected before it is written
            row.update(outcome=outcome, error=error)
            return
        try:
            await attempts_db.correct_attempt(self._pool, row, outcome=outcome, error=error)
        except Exception:
            log.exception("event=attempt_correction_failed activity=%s attempt=%s", row["activity"], row["attempt"])


def _order_id(info: activity.Info, args: Sequence[Any]) -> str:
    """The order an attempt is on record for: the one its workflow's id names, if the workflow
    is of the type such ids are given to. One started by hand under such an id with another
    type (an OrderWorkflow named shipping-X-9, which ReceiveOrder refuses) is not the order's:
    its attempts go under its own id, not into order X's status and audit. Nor is a step that
    acts for its own workflow (its input's order_workflow_id), not the order's: a
    ShippingWorkflow started by hand as shipping-X-7 has no parent, whatever its input names,
    and its steps are refused."""
    workflow_id = info.workflow_id or ""
    for prefix, workflow_type in TYPE_OF_ID_PREFIX.items():
        if workflow_id.startswith(prefix) and info.workflow_type != workflow_type:
            return workflow_id
    order_id = order_id_from_workflow_id(workflow_id)
    acting_for = getattr(args[0], "order_workflow_id", "") if args else ""
    if acting_for == workflow_id != order_workflow_id(order_id):
        return workflow_id
    return order_id

"""One activity interceptor records every attempt of every activity: a row in
activity_attempts (outcome ok / error / timeout / cancelled, error, duration) and a structured
log line, so retries and timeouts are visible without touching the activities themselves."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from db import orders as orders_db
from workflows.model import order_id_from_workflow_id

log = logging.getLogger("activities.attempts")


class AttemptRecorder(Interceptor):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _RecordAttempts(next, self._pool)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, ApplicationError) else f"{type(error).__name__}: {text}"


def _cut_off(info: activity.Info) -> tuple[str, str]:
    """Outcome and error of an attempt cancelled after its function had returned."""
    details = activity.cancellation_details()
    if details is not None and details.timed_out:
        timeout = info.start_to_close_timeout.total_seconds()
        return "timeout", f"start-to-close timeout ({timeout:g}s) exceeded while its result was being recorded"
    return "cancelled", "cancelled while its result was being recorded"


class _RecordAttempts(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, pool: asyncpg.Pool) -> None:
        super().__init__(next)
        self._pool = pool
        self._corrections: set[asyncio.Future] = set()

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        started_at = datetime.now(timezone.utc)
        clock = time.monotonic()
        outcome, error, retryable = "ok", None, True
        try:
            return await super().execute_activity(input)
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            if details is not None and details.timed_out:
                # The timeout runs from when the worker took the attempt, which under load is
                # before this code starts: the duration recorded is what ran here, until the cancel.
                outcome, error = "timeout", f"start-to-close timeout ({info.start_to_close_timeout.total_seconds():g}s) exceeded"
            else:
                outcome, error = "cancelled", "cancelled" + (" (worker shutdown)" if details and details.worker_shutdown else "")
            raise
        except BaseException as exc:
            outcome, error = "error", _describe(exc)
            retryable = not (isinstance(exc, ApplicationError) and exc.non_retryable)
            raise
        finally:
            duration_ms = int((time.monotonic() - clock) * 1000)
            finished_at = datetime.now(timezone.utc)
            order_id = order_id_from_workflow_id(info.workflow_id or "")
            log.log(
                logging.INFO if outcome == "ok" else logging.WARNING,
                "event=activity_attempt activity=%s order_id=%s workflow_id=%s attempt=%d outcome=%s duration_ms=%d%s",
                info.activity_type,
                order_id,
                info.workflow_id,
                info.attempt,
                outcome,
                duration_ms,
                f" retryable={str(retryable).lower()} error={error!r}" if error else "",
            )
            row = dict(
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
            # Shielded: the row of a timed-out attempt must still be written after the cancel.
            writing = asyncio.ensure_future(self._write(row))
            try:
                await asyncio.shield(writing)
            except asyncio.CancelledError:
                if outcome == "ok":
                    # The attempt's time ran out while its row was being written (a busy
                    # machine): Temporal counts it as timed out and runs the step again, so
                    # the row must not say ok.
                    correcting = asyncio.ensure_future(self._correct(writing, row, _cut_off(info)))
                    self._corrections.add(correcting)  # kept until done: the loop holds tasks weakly
                    correcting.add_done_callback(self._corrections.discard)
                raise

    async def _write(self, row: dict[str, Any]) -> None:
        try:
            await orders_db.record_attempt(self._pool, **row)
        except Exception:  # the audit row must never fail the business step itself
            log.exception("event=attempt_record_failed activity=%s attempt=%s", row["activity"], row["attempt"])

    async def _correct(self, writing: asyncio.Future, row: dict[str, Any], cut_off: tuple[str, str]) -> None:
        outcome, error = cut_off
        log.warning(
            "event=activity_attempt_cut_off activity=%s order_id=%s workflow_id=%s attempt=%d outcome=%s error=%r",
            row["activity"], row["order_id"], row["workflow_id"], row["attempt"], outcome, error,
        )
        await writing
        try:
            await orders_db.correct_attempt(self._pool, row, outcome=outcome, error=error)
        except Exception:
            log.exception("event=attempt_record_failed activity=%s attempt=%s", row["activity"], row["attempt"])

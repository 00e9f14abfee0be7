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


class _RecordAttempts(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, pool: asyncpg.Pool) -> None:
        super().__init__(next)
        self._pool = pool

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
            # Shielded: the row of a timed-out attempt must still be written after the cancel.
            await asyncio.shield(
                self._write(
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
            )

    async def _write(self, **row: Any) -> None:
        try:
            await orders_db.record_attempt(self._pool, **row)
        except Exception:  # the audit row must never fail the business step itself
            log.exception("event=attempt_record_failed activity=%s attempt=%s", row["activity"], row["attempt"])

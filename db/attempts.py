"""The rows of activity_attempts: one per attempt of every activity, written by the attempt
recorder (activities.attempts), idempotent by the attempt's key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def record_attempt(
    pool: asyncpg.Pool,
    *,
    order_id: str,
    workflow_id: str,
    activity: str,
    activity_id: str,
    attempt: int,
    outcome: str,
    error: str | None,
    started_at: datetime,
    finished_at: datetime,
    duration_ms: int,
) -> None:
    await pool.execute(
        "INSERT INTO activity_attempts (order_id, workflow_id, activity, activity_id, attempt, outcome, error,"
        " started_at, finished_at, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (workflow_id, activity_id, attempt, started_at) DO NOTHING",
        order_id,
        workflow_id,
        activity,
        activity_id,
        attempt,
        outcome,
        error,
        started_at,
        finished_at,
        duration_ms,
    )


async def correct_attempt(pool: asyncpg.Pool, row: dict[str, Any], *, outcome: str, error: str) -> None:
    """An attempt recorded as ok whose time ran out before Temporal heard of its result."""
    await pool.execute(
        "UPDATE activity_attempts SET outcome = $5, error = $6"
        " WHERE workflow_id = $1 AND activity_id = $2 AND attempt = $3 AND started_at = $4",
        row["workflow_id"],
        row["activity_id"],
        row["attempt"],
        row["started_at"],
        outcome,
        error,
    )

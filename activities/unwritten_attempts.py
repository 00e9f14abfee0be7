"""Rows of attempts that could not be written while the database was out of reach: held in the
worker (AttemptRecorder's), and written late and in order once it answers again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import asyncpg

from db import attempts as attempts_db
from db.pool import database_unreachable

# The attempt recorder's logger: these lines are about its rows.
log = logging.getLogger("activities.attempts")

# Rows that could not be written while the database was out of reach, kept (oldest first, this
# many at most, ~15 MB) to be written once it answers again.
UNWRITTEN_KEPT = 10_000
# While rows are held: how often to try again with no attempt's write to say the database is back.
RETRY_EVERY_S = 2.0
# At shutdown, how long the last try may take (`down` gives a worker 15 s in all).
DRAIN_WITHIN_S = 5.0


class _Unwritten:
    """Rows of attempts made while the database was out of reach (every attempt of every step
    waiting on it), written late and in order once it answers again: as soon as an attempt's
    own write succeeds, or at the latest RETRY_EVERY_S later. The audit then has the outage's
    attempts and errors, not a gap. Rows carry their own times, so the timeline sorts them
    where they happened; the INSERT ignores a row already there."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.rows: deque[dict[str, Any]] = deque()
        self.pushed_out = 0  # rows lost to a full buffer
        # The row being written now (out of ``rows``), and what is set once that write is settled.
        self._writing: tuple[dict[str, Any], asyncio.Event] | None = None
        self._flusher: asyncio.Future | None = None
        self._answered = asyncio.Event()  # an attempt's own write succeeded: try again now

    def keep(self, row: dict[str, Any]) -> None:
        if len(self.rows) >= UNWRITTEN_KEPT:
            self.rows.popleft()
            self.pushed_out += 1
        self.rows.append(row)
        self._flush_soon(wait_first=True)

    def database_answered(self) -> None:
        if self.rows:
            self._answered.set()
            self._flush_soon(wait_first=False)

    def _flush_soon(self, wait_first: bool) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_until_empty(wait_first))

    async def _flush_until_empty(self, wait_first: bool) -> None:
        if wait_first:
            await self._pause()
        while not await self.flush():
            await self._pause()

    async def _pause(self) -> None:
        self._answered.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._answered.wait(), RETRY_EVERY_S)

    async def flush(self) -> bool:
        """Write the rows held back, oldest first; whether none is left (False: out of reach again)."""
        written = 0
        try:
            while self.rows:
                row = self.rows.popleft()
                settled = asyncio.Event()
                self._writing = (row, settled)
                try:
                    await attempts_db.record_attempt(self._pool, **row)
                except asyncio.CancelledError:
                    self.rows.appendleft(row)
                    raise
                except Exception as error:
                    if database_unreachable(error):
                        self.rows.appendleft(row)
                        return False
                    log.exception(
                        "event=attempt_record_failed activity=%s attempt=%s late=true", row["activity"], row["attempt"]
                    )
                else:
                    written += 1
                finally:
                    self._writing = None
                    settled.set()
            return True
        finally:
            if written:
                log.info(
                    "event=attempt_rows_recorded_late count=%d still_kept=%d pushed_out=%d",
                    written, len(self.rows), self.pushed_out,
                )

    async def held(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` is held back, to be written later (a write of it under way is waited for)."""
        if self._writing is not None and self._writing[0] is row:
            await self._writing[1].wait()
        return any(kept is row for kept in self.rows)

    async def drain(self) -> None:
        """At shutdown: one last try, bounded, then say what is lost."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.flush(), DRAIN_WITHIN_S)
        if self.rows or self.pushed_out:
            log.warning("event=attempt_rows_lost count=%d reason=database_unreachable", len(self.rows) + self.pushed_out)

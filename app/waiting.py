"""Waiting for a server without waiting for its cancellation too."""

from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

T = TypeVar("T")


async def within(reading: Awaitable[T], seconds: float) -> T:
    """``reading``'s result, or asyncio.TimeoutError after ``seconds``. Unlike asyncio.wait_for,
    a read cut off is left to end by itself: asyncpg's cancel of a query asks a server that may
    never answer (a PostgreSQL stopped with SIGSTOP froze the dashboard for ~30 s past its 3 s),
    and the screen must not wait with it."""
    task = asyncio.ensure_future(reading)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:  # the caller stopped waiting (Ctrl-C): the read is left the same way
        _leave(task)
        raise
    if not done:
        _leave(task)
        raise asyncio.TimeoutError
    return task.result()


def _leave(task: asyncio.Future) -> None:
    """Cancel a read and let it end by itself; its error, if it has one, is retrieved (nothing to
    log: "Task exception was never retrieved" in the log after a Ctrl-C, a review)."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())

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
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: nothing to log
        raise asyncio.TimeoutError
    return task.result()

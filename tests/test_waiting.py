"""app.waiting.within: a read cut off, by its time limit or by a caller who stopped waiting, is
left to end by itself, and what it ends with is never reported as unretrieved."""

from __future__ import annotations

import asyncio
import gc

import pytest

from app.waiting import within


class _Read:
    """A read that waits until cancelled or released, then fails as asyncpg's does once its
    connection goes: an error of its own, not a CancelledError."""

    def __init__(self) -> None:
        self.started, self.finished, self.release = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def __call__(self) -> int:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            pass
        finally:
            self.finished.set()
        raise ConnectionResetError("connection lost")


@pytest.fixture
async def reported():
    """What the loop would log: "Task exception was never retrieved" among it."""
    loop = asyncio.get_running_loop()
    found: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: found.append(context))
    yield found
    loop.set_exception_handler(None)


async def test_a_read_left_by_a_caller_who_stopped_waiting_is_cancelled_and_reports_nothing(reported):
    """Ctrl-C during a create: the read went on with nobody to retrieve its end, and "Task
    exception was never retrieved" reached the log (a review)."""
    read = _Read()
    waiting = asyncio.ensure_future(within(read(), 10))
    await read.started.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    read.release.set()  # had it not been cancelled, it ends now, with its error
    await read.finished.wait()
    await asyncio.sleep(0)  # the read's task settles after its coroutine ended
    gc.collect()
    assert reported == []


async def test_a_read_past_its_time_raises_timeout_and_reports_nothing(reported):
    read = _Read()
    with pytest.raises(asyncio.TimeoutError):
        await within(read(), 0.01)
    await read.finished.wait()
    await asyncio.sleep(0)
    gc.collect()
    assert reported == []


async def test_a_read_in_time_gives_its_result():
    async def quick() -> int:
        return 7

    assert await within(quick(), 1) == 7

"""How a screen reads what it needs from PostgreSQL and Temporal: within a limit, with a spinner
where it may take time, and a stack out of reach said in one sentence rather than a screen
left blank."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable

from rich.console import Console

from app.errors import StackUnreachable, lost_database
from app.tui.prompts import keys_not_echoed
from app.waiting import within


# How long a screen waits for PostgreSQL before it says the database is not answering: a
# stopped (SIGSTOP) PostgreSQL left the screen blank for a minute, then "something unexpected".
DATABASE_WAIT_S = 5.0


class DatabaseDown(Exception):
    """PostgreSQL did not answer a screen's read; the sentence to show."""


async def from_database(service: Any, reading: Awaitable[Any], wait_s: float | None = None) -> Any:
    """``reading``'s result; DatabaseDown if PostgreSQL is out of reach or does not answer in
    ``wait_s`` (DATABASE_WAIT_S), without waiting for the read's cancellation (``within``)."""
    wait_s = DATABASE_WAIT_S if wait_s is None else wait_s
    try:
        return await within(reading, wait_s)
    except asyncio.TimeoutError:
        where = f"PostgreSQL at {service.settings.database_url_redacted}"  # here: a stand-in may have no settings
        raise DatabaseDown(f"{where} did not answer within {wait_s:g} s") from None
    except Exception as error:
        if lost_database(error, service.settings) is not None:
            raise DatabaseDown(f"PostgreSQL at {service.settings.database_url_redacted} is not reachable") from None
        raise


async def needed_from_database(service: Any, reading: Awaitable[Any], cannot: str) -> Any:
    """``reading``'s result, for a screen that cannot go on without it. With PostgreSQL out of
    reach or not answering, StackUnreachable saying what ``cannot`` be done: with PostgreSQL
    stopped (SIGSTOP) such a screen showed nothing, and Ctrl-C did not bring the menu back
    until it was resumed (the screen waited for the read, then for its cancellation)."""
    try:
        return await from_database(service, reading)
    except DatabaseDown as down:
        raise StackUnreachable(f"{down}, so {cannot} now; see the health line.") from None


async def needed_from_temporal(service: Any, console: Console, cannot: str) -> bool:
    """Whether an order worker serves (False) or not (True), for a screen that cannot go on
    without Temporal; StackUnreachable saying what ``cannot`` be done if Temporal does not answer
    (3 s): stopped, it held a start ~30 s, after the whole form, with the bars or a spinner."""
    with keys_not_echoed(), console.status("Checking Temporal…"):
        serving = await service.order_worker_running()  # None: Temporal did not answer
    if serving is None:
        raise StackUnreachable(temporal_silent(service, f"{cannot} now", await service.temporal_found_down()))
    return serving


def temporal_silent(service: Any, consequence: str, down: bool = False) -> str:
    """``down``: Temporal refused the connection ("is not reachable", as a command says it), rather
    than leave the call unanswered ("is not answering")."""
    how = "is not reachable" if down else "is not answering"
    return f"Temporal at {service.settings.temporal_address} {how}, so {consequence}; see the health line."


async def looked_up(console: Console, service: Any, order_id: str) -> dict[str, Any]:
    """The order's status, with a spinner: with its worker stopped the workflow's answer takes
    seconds to give up on, and the screen froze with no sign of life. With PostgreSQL out of
    reach, nothing (the screen says so and goes on without it)."""
    # The workflow's answer may take seconds of its own (a worker stopped): more time.
    wait_s = 2 * DATABASE_WAIT_S
    try:
        with keys_not_echoed(), console.status(f"Looking up order {order_id}…"):
            return await within(service.status(order_id), wait_s)
    except asyncio.TimeoutError:  # PostgreSQL, or Temporal: the status asks both
        console.print(f"[yellow]Order {order_id} could not be looked up within {wait_s:g} s; the workflow decides.[/]")
    except Exception as error:
        if lost_database(error, service.settings) is None:
            raise
        console.print(
            f"[yellow]PostgreSQL at {service.settings.database_url_redacted} is not reachable, so order {order_id}"
            " cannot be looked up; the workflow decides.[/]"
        )
    return {}

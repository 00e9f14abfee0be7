"""The live dashboard: counts per state, the orders past the budget and the newest page of
orders, refreshed in place about once a second. Each refresh is three indexed queries, never a
query per row, so it stays cheap with many orders; Temporal is asked only about orders past the
budget (whether their workflow still runs, at most every 10 s per order). The health line above
them is refreshed apart, every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import termios
import time
import tty
from datetime import datetime
from typing import Any, Awaitable, Callable, Iterator

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from app.checks import MAX_PAGE_SIZE
from app.errors import Refused, StackUnreachable, lost_database
from app.stack import Stack
from app.tui.dashboard_layout import CHROME_LINES, FEW_ROWS, SHORT_CHROME_LINES, dashboard_view, rows_left, too_short
from app.tui.health import health_line, health_summary
from app.tui.sentences import in_the_tui
from app.waiting import within

log = logging.getLogger("app.tui")

REFRESH_S = 1.0
HEALTH_EVERY_S = 5.0
# A refresh's queries take milliseconds; past this the database is hanging, and it is said so.
QUERY_TIMEOUT_S = 3.0


async def fetch_view(
    service: Any, *, state_filter: str | None, rows: int, health: Text | None = None, width: int = 80
) -> Group:
    """One refresh: three queries (counts, a page of orders, those past the budget) and a render.
    ``rows``: the lines left for rows by the full layout (CHROME_LINES); with fewer than FEW_ROWS
    left once its lines are wrapped, the short layout, which has two more."""
    began = time.perf_counter()
    # The counts and the page from one snapshot: read apart, an order that moved on between the
    # two reads was in the table under one state and counted in the summary bar under another.
    # How many rows fit depends on the counts and on the overdue line, which asks Temporal and so
    # stays outside the transaction: the page is read as long as either layout can show (the
    # short one's rows + 2; the full one's never more), and cut once the overdue line is known.
    (page, counts), overdue = await asyncio.gather(
        service.order_page(state=state_filter, limit=min(MAX_PAGE_SIZE, max(1, rows + 2))), service.overdue_orders()
    )
    # The line naming overdue orders takes the room of one row (of the title's, when short).
    full = rows_left(rows, counts, width, state_filter) - (1 if overdue else 0)
    short = full < FEW_ROWS
    orders = page["orders"][: max(1, rows + 2 if short else full)]
    took_ms = (time.perf_counter() - began) * 1000
    return dashboard_view(
        orders, counts, state_filter=state_filter, refreshed_at=datetime.now(), took_ms=took_ms,
        overdue=overdue, health=health, width=width, short=short,
    )


def refuse_a_terminal_that_cannot_redraw(console: Console) -> None:
    """Refused where Rich's Live draws nothing (TERM=dumb): the screen stayed blank until q."""
    if console.is_dumb_terminal:
        raise Refused(
            f"The live dashboard redraws in place, which this terminal (TERM={os.environ.get('TERM', '')}) cannot do;"
            " open the TUI with TERM set to your terminal's type (xterm-256color, say), or list the orders with"
            " ./start.sh order list."
        )


async def run_dashboard(
    service: Any,
    console: Console,
    state_filter: str | None = None,
    stack_status: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    """Refresh in place until the operator presses q or Esc, or Ctrl-C cancels the screen. A
    database that stops (or hangs) answering is said on the screen, above the last view, and
    retried. The health line (``stack_status``, the local stack's by default) is refreshed in
    the background: it takes a few RPCs."""
    refuse_a_terminal_that_cannot_redraw(console)
    done = asyncio.Event()
    shown: Any = Text("")
    health = _Health(stack_status or Stack().status)
    checking = asyncio.create_task(health.keep_fresh())
    database_lost = False
    try:
        # Transient: left on the screen, the last view's footer stayed above the menu drawn under it
        # (at 40x12, "Clock: processing time vs the 15 s" / "budget.  q: back …").
        with keys_that_quit(done.set), Live(
            console=console, auto_refresh=False, transient=True, vertical_overflow="crop"
        ) as live, _left_empty(live):
            size = console.size
            while not done.is_set():
                if console.size != size:
                    # The terminal rewrapped what was drawn for the old size, and the redraw, which
                    # goes back up as many lines as it drew, left pieces of the old view above it.
                    console.clear()
                    size = console.size
                height = console.size.height
                if height - SHORT_CHROME_LINES < 1:  # not a row would show, even laid out short
                    live.update(too_short(), refresh=True)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(done.wait(), REFRESH_S)
                    continue
                line, rows = _health_line_and_rows(health.status, console.width, height)
                try:
                    # The view without the health line, which is put above it as it stands at each
                    # refresh: kept in the view, an outage showed under a health line of before it.
                    shown = await within(
                        fetch_view(service, state_filter=state_filter, rows=rows, width=console.width),
                        QUERY_TIMEOUT_S,
                    )
                    if database_lost:  # back: the health line read during the outage is not shown
                        database_lost, line = False, None
                        health.read_again()
                    live.update(Group(line, shown) if line is not None else shown, refresh=True)
                except Exception as error:
                    if (lost := _outage(error, service)) is None:
                        raise
                    log.warning("event=dashboard_database_lost error=%r", error)
                    database_lost = True
                    # First, so that the crop at the screen's bottom takes rows of the old view, not
                    # this; no health line, which was read before the outage and would contradict it.
                    live.update(Group(Text(f"{in_the_tui(lost)} Retrying…", style="red"), shown), refresh=True)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(done.wait(), REFRESH_S)
    finally:
        checking.cancel()


class _Health:
    """The stack's status for the health line, read again in the background (it takes a few RPCs)
    every HEALTH_EVERY_S, or at once when asked. Kept as read and laid out at each refresh for the
    terminal's width as it is then: laid out when read, a resize broke it mid-part until the next read."""

    def __init__(self, stack_status: Callable[[], Awaitable[Any]]) -> None:
        self.status: Any = None
        self._stack_status = stack_status
        # Bumped when the database comes back: a health line read before that is not shown.
        self._era = 0
        self._refresh_now = asyncio.Event()

    async def keep_fresh(self) -> None:
        while True:
            began_in = self._era
            try:
                status = await self._stack_status()
                if self._era == began_in:
                    self.status = status
            except Exception:
                log.warning("event=dashboard_health_failed", exc_info=True)
            if self._era == began_in:
                self._refresh_now.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._refresh_now.wait(), HEALTH_EVERY_S)

    def read_again(self) -> None:
        """Forget the status read so far (during an outage, it would contradict the view) and
        read it again now."""
        self.status = None
        self._era += 1
        self._refresh_now.set()


def _health_line_and_rows(status: Any, width: int, height: int) -> tuple[Text | None, int]:
    """The health line for ``status`` (None: not read yet) and how many rows of orders fit under
    it: on a short terminal, the line is the one-line summary."""
    line = health_line(status, width) if status is not None else None
    rows = height - CHROME_LINES - (line.plain.count("\n") + 1 if line else 0)
    if line is not None and rows < FEW_ROWS:  # short: the health line on one line
        line = health_summary(status)
        rows = height - CHROME_LINES - 1
    return line, rows


def _outage(error: BaseException, service: Any) -> StackUnreachable | None:
    """What the dashboard says of a view that failed with ``error``: PostgreSQL stopped or hung;
    None when it is not an outage (the error then goes up)."""
    where = service.settings.database_url_redacted
    if isinstance(error, asyncio.TimeoutError):
        return StackUnreachable(f"PostgreSQL at {where} did not answer within {QUERY_TIMEOUT_S:g} s.")
    return lost_database(error, service.settings)


@contextlib.contextmanager
def _left_empty(live: Live) -> Iterator[None]:
    """On the way out, however it goes, the view is emptied before Live draws it one last time
    and erases it: a view cropped to the terminal is drawn whole that last time, taller than the
    terminal, and its first lines would scroll out of reach of the erasing."""
    try:
        yield
    finally:
        live.update(Text(""))


@contextlib.contextmanager
def keys_that_quit(quit: Callable[[], None]) -> Iterator[None]:
    """While the dashboard shows: keys are not echoed (an Enter would break the redraw), and q
    or a lone Esc quits. Nothing changes when stdin is not a terminal."""
    if not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    loop = asyncio.get_running_loop()

    def pressed() -> None:
        try:
            keys = os.read(fd, 64)
        except OSError:
            keys = b""
        if not keys:  # the terminal is gone: stop reading it, and go back
            loop.remove_reader(fd)
            quit()
        elif b"q" in keys.lower() or keys == b"\x1b":  # a lone Esc, not an arrow key's sequence
            quit()

    try:
        tty.setcbreak(fd)
        loop.add_reader(fd, pressed)
        yield
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)

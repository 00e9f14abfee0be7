"""The live dashboard: counts per state, the orders past the budget and the newest page of
orders, refreshed in place about once a second. Each refresh is three indexed queries, never a
query per row and never a call to Temporal, so it stays cheap with many orders; the health
line above them is refreshed apart, every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
import termios
import time
import tty
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterator

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.table import Table
from rich.text import Text

from app.checks import MAX_PAGE_SIZE
from app.errors import Refused, StackUnreachable, lost_database
from app.stack import Stack
from app.tui.order_labels import short_id
from app.tui.health import health_line, health_summary
from app.tui.sentences import in_the_tui
from app.waiting import within
from app.render import clock_text, last_error_text, packed, plural, state_pieces, state_style, state_text
from workflows.model import PROCESSING_BUDGET_S, OrderState

log = logging.getLogger("app.tui")

REFRESH_S = 1.0
HEALTH_EVERY_S = 5.0
# A refresh's queries take milliseconds; past this the database is hanging, and it is said so.
QUERY_TIMEOUT_S = 3.0
# Lines the dashboard needs besides the order rows: the summary bar (up to three lines at 80
# columns when every state has orders), the table's title, header and rule, the footer and the
# cursor's line.
CHROME_LINES = 8
ORDER_COLUMN = 18
NO_STEP_BELOW = 80
# Narrower, no last error either, and each column its own width: Rich squeezed them all, and
# at 40 columns the ids of one batch read alike ("sim-520b6b-0…") and the clock "1.…".
NO_ERROR_BELOW = 60
RETRY_WIDTH, CLOCK_WIDTH, GAP = 5, 6, 2
# The state keeps at least this much ("AWAITIN…"); the id has what is left, up to ORDER_COLUMN.
STATE_ROOM = 8
# Under 30 columns the four columns took more than the terminal (rows wrapped, the clock cut):
# the retries go first, then, under 23, the state (the id keeps its colour). The id keeps at
# least ID_ROOM: "sim…0098" still tells a batch's ids apart.
NO_RETRY_BELOW = 30
NO_STATE_BELOW = 23
ID_ROOM, STATE_LEAST = 8, 5
# Laid out in full, a short terminal (30x10) had no line left for an order, and "q: back" was
# cropped off: with fewer rows than FEW_ROWS, the health line, the counts per state, the title
# (or, in its place, the orders past the budget) and the footer take one line each, cut.
FEW_ROWS = 3
# The short layout's lines besides the rows: those four, the table's header and rule, the cursor's.
SHORT_CHROME_LINES = 7


def rows_for_height(height: int) -> int:
    return max(3, height - CHROME_LINES)


_MEASURING = Console(file=io.StringIO(), color_system=None)


def wrapped_lines(text: Text, width: int) -> int:
    return len(text.wrap(_MEASURING, max(1, width)))


def footer_text(refreshed_at: datetime | None = None, took_ms: float | None = None, short: bool = False) -> Text:
    footer = Text(
        "q: back" if short else f"Clock: processing time vs the {PROCESSING_BUDGET_S:.0f} s budget.  q: back",
        style="dim",
    )
    if refreshed_at is not None:
        footer.append(f"  {refreshed_at:%H:%M:%S}", style="dim")
    if took_ms is not None:
        footer.append(f" in {took_ms:.0f} ms", style="dim")
    return footer


def table_title(shown: int, state_filter: str | None) -> str:
    what = f"{state_filter} orders" if state_filter else "orders"
    return f"Newest {plural(shown, what[:-1], what)}" if shown else f"No {what} yet"


def rows_left(rows: int, counts: dict[str, int], width: int, state_filter: str | None = None) -> int:
    """``rows`` (rows_for_height's, which counts three lines of summary, one of title and one of
    footer) with the summary bar, the title and the footer as they wrap at ``width``: under 80
    columns they took more, and the view, cropped, lost its last rows and "q: back". (Filtered,
    "Newest 13 AWAITING_APPROVAL orders" took two lines under ~36 columns.)"""
    wrapped = (
        wrapped_lines(summary_bar(counts, width), width)
        + wrapped_lines(Text(table_title(rows, state_filter)), width)
        # Its time as long as a refresh's can be (run_dashboard cuts one at QUERY_TIMEOUT_S):
        # measured with "999 ms", one of a second or more took a line more at 71 or 36 columns.
        + wrapped_lines(footer_text(datetime.now(), 9999), width)
    )
    return max(1, rows - (wrapped - 5))


def summary_bar(counts: dict[str, int], width: int | None = None) -> Text:
    """Orders per state, in the order an order moves through them; states with none are left
    out. Given a ``width``, a line breaks between two states, not between a state and its count."""
    return packed(summary_pieces(counts), width)


def summary_pieces(counts: dict[str, int]) -> list[Text]:
    """The count of all orders, then each state's with it."""
    return [Text(plural(sum(counts.values()), "order"), style="bold"), *state_pieces(counts)]


class SimulationLine:
    """A simulation's live line under its progress bars (``simulation`` an
    app.tui.simulation.Simulation): its orders per state, laid out for the terminal's width
    (broken between two states, not within one), and the approvals answered."""

    def __init__(self, simulation: Any) -> None:
        self.simulation = simulation

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        sim = self.simulation
        pieces = summary_pieces(Counter(sim.states.values()))
        if sim.auto_approve:
            refused = f", refused {sim.refusals}" if sim.refusals else ""
            pieces.append(Text(f"approved {sim.approvals_done}{refused}", style="dim"))
            if lagging := len(sim.approvals_not_recorded()):
                # The rows lag the approvals answered: "AWAITING_APPROVAL 7  approved 7" read as a contradiction.
                pieces.append(Text(f"({lagging} not recorded yet)", style="dim"))
        text = packed(pieces, options.max_width)
        if sim.database_problem:
            text.append(f"\n{sim.database_problem}; retrying…", style="red")
        yield text


# The states' names where the short layout has no room for them whole ("51 orders  AWAITING_APPROVAL …"
# hid every state after the first at 30 columns).
SHORT_STATE_NAMES = {
    "RECEIVED": "RECV", "VALIDATED": "VALID", "AWAITING_APPROVAL": "REVIEW", "APPROVED": "APPR", "PAID": "PAID",
    "PACKED": "PACK", "DISPATCHED": "DISP", "SHIPPED": "SHIP", "CANCELLED": "CANC", "REJECTED": "REJ",
    "EXPIRED": "EXP", "FAILED": "FAIL",
}


def short_summary(counts: dict[str, int], width: int, lines: int) -> list[Text]:
    """The counts per state for the short layout: on one line if they fit whole, else with the
    states' names shortened, on up to ``lines`` lines, the last cut at the edge."""
    whole = summary_bar(counts)
    if whole.cell_len <= width:
        return [whole]
    entries = [Text(plural(sum(counts.values()), "order"), style="bold")] + [
        Text(f"{SHORT_STATE_NAMES.get(state.value, state.value)} {counts[state.value]}", style=state_style(state.value))
        for state in OrderState
        if counts.get(state.value)
    ]
    packed = [entries[0]]
    for entry in entries[1:]:
        if packed[-1].cell_len + 2 + entry.cell_len > width and len(packed) < lines:
            packed.append(entry)
        else:
            packed[-1] = Text.assemble(packed[-1], "  ", entry)
    return packed


def dashboard_table(orders: list[dict[str, Any]], *, title: str | None = None, width: int = 80) -> Table:
    """Narrow enough for 80 columns: no amount, a short step, the clock against the budget;
    the step gets more room on a wider screen, and none on a narrower one (at 60 columns every
    column was squeezed, the ids of one batch alike again and the clock unreadable); under 60
    no last error, and the state cut short before the id; under 30 no retries, under 23 no state."""
    with_step = width >= NO_STEP_BELOW
    with_error = width >= NO_ERROR_BELOW
    with_retry = width >= NO_RETRY_BELOW
    with_state = width >= NO_STATE_BELOW
    # Order and Clock, and Retry and State as they fit, each after a gap.
    fixed = CLOCK_WIDTH + GAP + ((RETRY_WIDTH + GAP) if with_retry else 0) + (GAP if with_state else 0)
    longest = max((len(order["order_id"]) for order in orders), default=ORDER_COLUMN)
    state_room = max(STATE_LEAST, min(STATE_ROOM, width - fixed - ID_ROOM)) if with_state else 0
    id_width = ORDER_COLUMN if with_error else max(ID_ROOM, min(longest, ORDER_COLUMN, width - fixed - state_room))
    state_width = None if with_error else max(STATE_LEAST, width - fixed - id_width)
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        expand=with_error,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
        show_edge=False,
    )
    table.add_column("Order", no_wrap=True, max_width=id_width, overflow="ellipsis")
    if with_state:
        table.add_column("State", no_wrap=True, overflow="ellipsis", width=state_width)
    if with_step:
        table.add_column("Step", no_wrap=True, overflow="ellipsis", max_width=12 if width < 110 else 26)
    if with_retry:
        table.add_column("Retry", justify="right", no_wrap=True, min_width=None if with_error else RETRY_WIDTH)
    table.add_column("Clock", justify="right", no_wrap=True, min_width=None if with_error else CLOCK_WIDTH)
    if with_error:
        table.add_column("Last error", no_wrap=True, overflow="ellipsis", ratio=1)
    for order in orders:
        retries = order.get("retries", 0) or 0
        table.add_row(
            # Shortened in the middle: cut at the end, the ids of one batch read the same.
            Text(short_id(order["order_id"], id_width), style=state_style(order["state"])),
            *([state_text(order["state"])] if with_state else []),
            *([Text(order.get("step", ""))] if with_step else []),
            *([Text(str(retries), style="yellow" if retries else "dim")] if with_retry else []),
            clock_text(order),
            *([last_error_text(order.get("last_error"), short=True)] if with_error else []),
        )
    if not orders:
        table.add_row(Text("no orders", style="dim"), *[""] * (len(table.columns) - 1))
    return table


def overdue_line(overdue: list[dict[str, Any]], now: datetime) -> Text | None:
    """In-flight orders past the budget, oldest first: newest-first rows would hide them."""
    if not overdue:
        return None
    # The question first: at 80 columns one long id pushed it out of the line (an operator walkthrough).
    text = Text(f"Past the {PROCESSING_BUDGET_S:.0f} s budget", style="bold red")
    # Orders whose workflow was closed outside the tracker (terminated, say) come last, and
    # say so: no worker will move them, whatever it asks.
    running = any(not order.get("workflow") for order in overdue)
    text.append(" (is a worker down?)" if running else " (their workflows were closed outside the tracker)", style="red")
    text.append(": ", style="bold red")
    for index, order in enumerate(overdue):
        # Its processing clock, as the rows show it: the wait for a human does not count (the
        # time since it was created, review included, read "2m" beside a row's "21.5s").
        since = (now - datetime.fromisoformat(order["created_at"])).total_seconds()
        seconds = max(0, int(since - (order.get("review_ms") or 0) / 1000))
        text.append(("" if not index else ", ") + f"{order['order_id']} {order['state']}")
        text.append(f" {seconds}s" if seconds < 120 else f" {seconds // 60}m", style="dim")
        if closed := order.get("workflow"):
            text.append(" no workflow" if closed == "gone" else f" workflow {closed}", style="dim")
    text.no_wrap, text.overflow = True, "ellipsis"  # one line, whatever the width
    return text


def dashboard_view(
    orders: list[dict[str, Any]],
    counts: dict[str, int],
    *,
    state_filter: str | None = None,
    refreshed_at: datetime | None = None,
    took_ms: float | None = None,
    overdue: list[dict[str, Any]] | None = None,
    health: Text | None = None,
    width: int = 80,
    short: bool = False,
) -> Group:
    """``short``: every line but the rows on one line, cut at the edge, and the orders past the
    budget, if any, in the title's place (see FEW_ROWS)."""
    title = table_title(len(orders), state_filter)
    footer = footer_text(refreshed_at, took_ms, short)
    parts: list[Any] = [health] if health is not None else []
    late = overdue_line(overdue or [], datetime.now(timezone.utc))
    if short:
        # The counts take the title's line too where they need it, unless that line names the
        # orders past the budget, or the filter the rows are of.
        summary = short_summary(counts, width, 1 if late or state_filter else 2)
        parts += summary
        if len(summary) == 1:
            parts.append(late or Text(title))
        parts += [dashboard_table(orders, width=width), footer]
        for line in parts:
            if isinstance(line, Text):
                line.no_wrap, line.overflow = True, "ellipsis"
        return Group(*parts)
    parts.append(summary_bar(counts, width))
    if late is not None:
        parts.append(late)
    parts += [dashboard_table(orders, title=title, width=width), footer]
    return Group(*parts)


def too_short() -> Text:
    """All a terminal shorter than the short layout shows: a line, cut at the edge."""
    return Text("Too short for the dashboard; q: back", style="yellow", no_wrap=True, overflow="ellipsis")


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
    stack_status = stack_status or Stack().status
    done = asyncio.Event()
    shown: Any = Text("")
    # The stack's status, laid out at each refresh for the terminal's width as it is then: laid
    # out when read, a resize broke it mid-part until the next read.
    health: list[Any] = [None]
    # Bumped when the database comes back: a health line read before that is not shown.
    era = [0]
    refresh_now = asyncio.Event()

    async def refresh_health() -> None:
        while True:
            began_in = era[0]
            try:
                status = await stack_status()
                if era[0] == began_in:
                    health[0] = status
            except Exception:
                log.warning("event=dashboard_health_failed", exc_info=True)
            if era[0] == began_in:
                refresh_now.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(refresh_now.wait(), HEALTH_EVERY_S)

    checking = asyncio.create_task(refresh_health())
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
                line = health_line(health[0], console.width) if health[0] is not None else None
                rows = height - CHROME_LINES - (line.plain.count("\n") + 1 if line else 0)
                if line is not None and rows < FEW_ROWS:  # short: the health line on one line
                    line = health_summary(health[0])
                    rows = height - CHROME_LINES - 1
                try:
                    # The view without the health line, which is put above it as it stands at each
                    # refresh: kept in the view, an outage showed under a health line of before it.
                    shown = await within(
                        fetch_view(service, state_filter=state_filter, rows=rows, width=console.width),
                        QUERY_TIMEOUT_S,
                    )
                    if database_lost:  # back: the health line read during the outage is not shown
                        database_lost, health[0], line = False, None, None
                        era[0] += 1
                        refresh_now.set()
                    live.update(Group(line, shown) if line is not None else shown, refresh=True)
                except Exception as error:
                    where = service.settings.database_url_redacted
                    if isinstance(error, asyncio.TimeoutError):
                        lost = StackUnreachable(f"PostgreSQL at {where} did not answer within {QUERY_TIMEOUT_S:g} s.")
                    else:
                        lost = lost_database(error, service.settings)
                    if lost is None:
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

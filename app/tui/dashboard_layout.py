"""What the live dashboard draws, as pure functions of the data and the terminal's size: the
table of orders, the orders past the budget, the footer, and the short layout for a terminal
with few rows, each sized so that nothing wraps or is cropped away."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from app.render import clock_text, last_error_text, plural, state_style, state_text
from app.tui.order_labels import short_id
from app.tui.state_counts import short_summary, summary_bar
from workflows.model import PROCESSING_BUDGET_S

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

"""The live dashboard: counts per state and the newest page of orders, refreshed in place
about once a second. Each refresh is one state_counts and one list_orders query, never a
query per row and never a call to Temporal, so it stays cheap with many orders."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from app.render import PROCESSING_BUDGET_S, clock_text, last_error_text, state_style, state_text
from workflows.model import OrderState

REFRESH_S = 1.0
# Lines the dashboard needs besides the order rows: the summary bar (up to three lines at 80
# columns when every state has orders), the table's title, header and rule, the footer and the
# cursor's line.
CHROME_LINES = 8


def rows_for_height(height: int) -> int:
    return max(3, height - CHROME_LINES)


def summary_bar(counts: dict[str, int]) -> Text:
    """Orders per state, in the order an order moves through them; states with none are left out."""
    text = Text()
    total = sum(counts.values())
    text.append(f"{total} orders", style="bold")
    for state in OrderState:
        n = counts.get(state.value, 0)
        if n:
            text.append("  ")
            text.append(f"{state.value} {n}", style=state_style(state.value))
    return text


def dashboard_table(orders: list[dict[str, Any]], *, title: str | None = None) -> Table:
    """Narrow enough for 80 columns: no amount, a short step, the clock against the budget."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        expand=True,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
        show_edge=False,
    )
    table.add_column("Order", no_wrap=True, max_width=18, overflow="ellipsis")
    table.add_column("State", no_wrap=True)
    table.add_column("Step", no_wrap=True, overflow="ellipsis", max_width=12)
    table.add_column("Retry", justify="right", no_wrap=True)
    table.add_column("Clock", justify="right", no_wrap=True)
    table.add_column("Last error", no_wrap=True, overflow="ellipsis", ratio=1)
    for order in orders:
        retries = order.get("retries", 0) or 0
        table.add_row(
            Text(order["order_id"], style=state_style(order["state"])),
            state_text(order["state"]),
            Text(order.get("step", "")),
            Text(str(retries), style="yellow" if retries else "dim"),
            clock_text(order),
            last_error_text(order.get("last_error")),
        )
    if not orders:
        table.add_row(Text("no orders", style="dim"), "", "", "", "", "")
    return table


def dashboard_view(
    orders: list[dict[str, Any]],
    counts: dict[str, int],
    *,
    state_filter: str | None = None,
    refreshed_at: datetime | None = None,
    took_ms: float | None = None,
) -> Group:
    shown = f"{state_filter} orders" if state_filter else "orders"
    title = f"Newest {len(orders)} {shown}"
    footer = Text(f"Clock: processing time vs the {PROCESSING_BUDGET_S:.0f} s budget.  Ctrl-C: back", style="dim")
    if refreshed_at is not None:
        footer.append(f"  {refreshed_at:%H:%M:%S}", style="dim")
    if took_ms is not None:
        footer.append(f" in {took_ms:.0f} ms", style="dim")
    return Group(summary_bar(counts), dashboard_table(orders, title=title), footer)


async def fetch_view(service: Any, *, state_filter: str | None, rows: int) -> Group:
    """One refresh: two queries and a render."""
    began = time.perf_counter()
    counts, orders = await asyncio.gather(
        service.state_counts(), service.list_orders(state=state_filter, limit=rows)
    )
    took_ms = (time.perf_counter() - began) * 1000
    return dashboard_view(
        orders, counts, state_filter=state_filter, refreshed_at=datetime.now(), took_ms=took_ms
    )


async def run_dashboard(service: Any, console: Console, state_filter: str | None = None) -> None:
    """Refresh in place until the screen is cancelled (Ctrl-C)."""
    with Live(console=console, auto_refresh=False, transient=False, vertical_overflow="crop") as live:
        while True:
            rows = rows_for_height(console.size.height)
            live.update(await fetch_view(service, state_filter=state_filter, rows=rows), refresh=True)
            await asyncio.sleep(REFRESH_S)

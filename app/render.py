"""Pure functions from plain data to Rich renderables, shared by the CLI and the TUI. Tests
render them with Console(record=True) and read the text."""

from __future__ import annotations

from typing import Any, Iterable

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from app.quiet_spans import span as _span
from app.views import format_cents
from db.queries import Product
from workflows.model import PROCESSING_BUDGET_S, OrderState

__all__ = ["format_cents", "state_style", "status_panel", "orders_table", "catalog_table"]


STATE_STYLES = {
    "RECEIVED": "cyan",
    "VALIDATED": "cyan",
    "AWAITING_APPROVAL": "bold yellow",
    "APPROVED": "blue",
    "PAID": "blue",
    "PACKED": "magenta",
    "DISPATCHED": "magenta",
    "SHIPPED": "bold green",
    "CANCELLED": "dim",
    "REJECTED": "red",
    "EXPIRED": "dim yellow",
    "FAILED": "bold red",
}


def state_style(state: str) -> str:
    return STATE_STYLES.get(state, "white")


def state_text(state: str) -> Text:
    return Text(state, style=state_style(state))


def clock_text(status: dict[str, Any]) -> Text:
    """Processing time against the 15-second budget; the wait for a human does not count."""
    seconds = status.get("processing_seconds") or 0.0
    style = "green" if seconds <= PROCESSING_BUDGET_S * 0.5 else "yellow" if seconds <= PROCESSING_BUDGET_S else "red"
    return Text(f"{seconds:.1f}s", style=style)


def address_line(address: dict[str, Any] | None) -> str:
    if not address:
        return ""
    parts = [address.get("name"), address.get("street"), address.get("city"), address.get("region"),
             address.get("postal_code"), address.get("country")]
    return ", ".join(p for p in parts if p)


def items_line(items: Iterable[dict[str, Any]] | None) -> str:
    return ", ".join(f"{i['sku']} × {i['quantity']}" for i in items or [])


def short_error(message: str) -> str:
    """A table cell's version of an attempt's error: what happened, without the wrapping."""
    if message.startswith("start-to-close timeout"):
        return "timed out"
    kind, sep, rest = message.partition(": ")
    return rest if sep and kind.isidentifier() and kind[:1].isupper() else message


def last_error_text(last_error: dict[str, Any] | None, width: int = 60, short: bool = False) -> Text:
    """Red while it stands; dim and ticked once a later attempt of the same step succeeded (with
    a dependency that fails two times out of three, nearly every order has one behind it).
    ``short`` leaves out the exception's class, for narrow table cells."""
    if not last_error:
        return Text("")
    resolved = bool(last_error.get("resolved"))
    text = last_error.get("message", "")
    text = short_error(text) if short else text
    message = f"{'✓ ' if resolved else ''}{last_error.get('activity', '')}: {text}"
    return Text(message if len(message) <= width else message[: width - 1] + "…", style="dim" if resolved else "red")


def status_panel(status: dict[str, Any]) -> "OrderPanel":
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")  # as the audit's: an address with emoji lost its last word to "…"
    grid.add_row("State", state_text(status["state"]))
    if status.get("warning"):
        grid.add_row("Warning", Text(status["warning"], style="bold red"))
    if status.get("note"):
        grid.add_row("Note", Text(status["note"], style="yellow"))
    # Text, not markup: an address or a reason may hold brackets ("Ann [c/o Bob]").
    grid.add_row("Step", Text(status.get("step", "")))
    grid.add_row("Items", items_line(status.get("items")))
    grid.add_row("Amount", format_cents(status.get("amount_cents")))
    grid.add_row("Address", Text(address_line(status.get("address"))))
    payment = status.get("payment") or {}
    payment_status = payment.get("status", "")
    if status.get("terminal") and payment_status == "FAILED":
        # Ended before any charge (voided when it ended, so that none can come later).
        payment_status = "not charged"
    grid.add_row("Payment", f"{payment.get('payment_id', '')} {payment_status}")
    attempts = status.get("attempts") or {}
    grid.add_row("Attempts", ", ".join(f"{name} {n}" for name, n in attempts.items()) or "none yet")
    grid.add_row("Retries", retries_line(status))
    last_error = status.get("last_error")
    error = last_error_text(last_error, width=500)  # whole: the panel wraps it (a guard against a runaway message)
    if last_error and last_error.get("resolved"):
        error.append(f" ({last_error.get('why') or 'a later attempt succeeded'})")
    grid.add_row("Last error", error)
    grid.add_row("Processing", clock_text(status))
    review = status.get("review_seconds") or 0
    # In minutes and hours too past a minute: the review window is 24 h ("86399.9s").
    grid.add_row("Review wait", f"{review:.1f}s" + (f" ({_span(review)})" if review >= 60 else ""))
    if status.get("failure_reason"):
        grid.add_row("Reason", Text(status["failure_reason"], style="red"))
    if status.get("tracking_number"):
        grid.add_row("Tracking", status["tracking_number"])
    # The Web UI link is printed after the panel (audit_link, soft-wrapped): folded inside the
    # box, a copy of it took the box's borders along.
    return OrderPanel(grid, status["order_id"], border_style=state_style(status["state"]))


class OrderPanel:
    """The status panel, titled with the order's id where the title has room for it whole. Rich
    crops a title to the panel's width: at 40 columns a 64-character id lost its end, the part
    that tells a batch's orders apart. There, the title is "Order" and the id opens the body,
    folded onto as many lines as it needs."""

    # A title's frame in Rich's panel: a corner, a rule and a space on each side.
    TITLE_FRAME = 6

    def __init__(self, body: Any, order_id: str, border_style: str) -> None:
        self.body, self.order_id, self.border_style = body, order_id, border_style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        title = Text(f"Order {self.order_id}")
        if title.cell_len + self.TITLE_FRAME <= options.max_width:
            yield Panel(self.body, title=title, border_style=self.border_style)
        else:
            order = Text(self.order_id, style="bold", overflow="fold")
            yield Panel(Group(order, self.body), title="Order", border_style=self.border_style)


def retries_line(status: dict[str, Any]) -> str:
    """Retries (attempts after the first of a step) and failed attempts are different figures:
    a step whose last attempt failed has a failure but no retry after it. Both, named."""
    retries = status.get("retries", 0) or 0
    failed = status.get("failed_attempts")
    return f"{retries} ({plural(failed, 'failed attempt')})" if failed is not None else str(retries)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 retry``, ``2 retries``: the count with its noun, singular only for one."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def packed(pieces: list[Text], width: int | None = None, separator: str = "  ") -> Text:
    """The pieces on a line, ``separator`` between them, and, given a ``width``, a line break
    between two pieces rather than within one: the terminal broke "SHIPPED 48" between the
    state and its count at 40 columns."""
    return broken_between([(separator, piece) for piece in pieces], width)


def state_pieces(counts: dict[str, int]) -> list[Text]:
    """Each state's count ("SHIPPED 48"), in the order an order moves through the states; states
    with none are left out (the dashboard's summary, a simulation's live line and its summary)."""
    return [
        Text(f"{state.value} {counts[state.value]}", style=state_style(state.value))
        for state in OrderState
        if counts.get(state.value)
    ]


def broken_between(pieces: list[tuple[str, Text]], width: int | None) -> Text:
    """Each piece after its gap on one line, or, given a ``width``, a line break instead of the
    gap before a piece that would not fit (packed, Fields)."""
    text, used = Text(), 0
    for gap, piece in pieces:
        if used and width is not None and used + len(gap) + piece.cell_len > width:
            text.append("\n")
            used = 0
        elif used:
            text.append(gap)
            used += len(gap)
        text.append_text(piece)
        used += piece.cell_len
    return text


def page_line(shown: int, offset: int, total: int, state: str | None = None, everything: int | None = None) -> str:
    """Which orders of how many a page shows, and how to see the next (a list is never cut
    silently). ``total`` counts the orders the list is of (those in ``state``, if given);
    ``everything`` counts all orders."""
    what = f"{state} orders" if state else "orders"
    if not shown:
        if total:
            return f"No {what} at offset {offset}: there are {total}."
        if state and everything:
            return f"No {what} ({plural(everything, 'order')} in all)."
        return "No orders recorded yet (a new one is listed once its first step has run)."
    line = f"{state + ' orders' if state else 'Orders'} {offset + 1}–{offset + shown} of {total}, newest first."
    if offset + shown < total:
        line += f" Next page: --offset {offset + shown}" + ("." if state else " (or narrow it, e.g. --state AWAITING_APPROVAL).")
    return line


# Below this width the list leaves out the step (the state says nearly as much) so that the
# last error keeps room; a pipe gets 80 columns.
WIDE_LIST = 100


# What the order id and the state take (16, AWAITING_APPROVAL, a gap between), and what each
# further column of the list needs with its gap, in the order they give way on a narrow terminal:
# left to Rich, it squeezed out the id, the one column it may wrap, and kept the rest.
LIST_ID_AND_STATE = 16 + 2 + 17
LIST_COLUMNS_GIVING_WAY = {"Last error": 14, "Clock": 7, "Retries": 9, "Amount": 11}


def _list_columns(width: int) -> set[str]:
    """The optional columns of the order list that fit ``width``, the most telling kept longest."""
    kept = dict(LIST_COLUMNS_GIVING_WAY)
    for name in LIST_COLUMNS_GIVING_WAY:
        if LIST_ID_AND_STATE + sum(kept.values()) <= width:
            break
        del kept[name]
    return set(kept)


def orders_table(orders: list[dict[str, Any]], *, title: str | None = None, width: int = WIDE_LIST) -> Table:
    """Fits 80 columns: no outer edge, ids wrapped (never cut), the error takes what is left.
    Narrower, the last error, the clock, the retries and the amount give way, in that order."""
    wide = width >= WIDE_LIST
    shown = _list_columns(width)
    table = Table(
        title=title,
        expand=True,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("Order", overflow="fold", min_width=12, max_width=24 if wide else 16)
    table.add_column("State", no_wrap=True)
    if wide:
        table.add_column("Step", overflow="ellipsis", no_wrap=True, max_width=18)
    optional = {
        "Amount": (dict(justify="right", no_wrap=True), lambda order: format_cents(order.get("amount_cents"))),
        "Retries": (dict(justify="right", no_wrap=True), lambda order: str(order.get("retries", 0))),
        "Clock": (dict(justify="right", no_wrap=True), clock_text),
        "Last error": (
            dict(overflow="ellipsis", no_wrap=True, ratio=1, min_width=12),
            lambda order: last_error_text(order.get("last_error"), short=True),
        ),
    }
    optional = {name: column for name, column in optional.items() if name in shown}
    for name, (options, _cell) in optional.items():
        table.add_column(name, **options)
    for order in orders:
        cells: list[Any] = [order["order_id"], state_text(order["state"])]
        if wide:
            cells.append(Text(order.get("step", "")))
        cells += [cell(order) for _options, cell in optional.values()]
        table.add_row(*cells)
    if not orders:
        table.add_row("no orders yet", *[""] * (len(table.columns) - 1))
    return table


def audit_link(audit: dict[str, Any]) -> Text | None:
    """The workflow's history in the Temporal Web UI, to print after the timeline with
    soft_wrap=True: the address stays whole (for a click or a copy) however narrow the screen."""
    if not audit.get("web_ui_url"):
        return None
    return Text(f"Workflow history: {audit['web_ui_url']}", style="dim")


def catalog_table(products: list[Product]) -> Table:
    table = Table(title="Catalog")
    table.add_column("SKU")
    table.add_column("Product")
    table.add_column("Price", justify="right")
    for product in products:
        table.add_row(product.sku, product.name, format_cents(product.price_cents))
    return table

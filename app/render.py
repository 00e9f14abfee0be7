"""Pure functions from plain data to Rich renderables, shared by the CLI and the TUI. Tests
render them with Console(record=True) and read the text."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from app.errors import command_noun
from app.quiet_spans import QuietSpans, span as _span
from app.views import format_cents
from db.queries import Product
from workflows.model import PROCESSING_BUDGET_S, OrderState

__all__ = ["format_cents", "state_style", "status_panel", "orders_table", "audit_timeline", "catalog_table"]


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
OUTCOME_STYLES = {"ok": "green", "error": "red", "timeout": "yellow", "cancelled": "dim"}


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
    return _broken_between([(separator, piece) for piece in pieces], width)


def state_pieces(counts: dict[str, int]) -> list[Text]:
    """Each state's count ("SHIPPED 48"), in the order an order moves through the states; states
    with none are left out (the dashboard's summary, a simulation's live line and its summary)."""
    return [
        Text(f"{state.value} {counts[state.value]}", style=state_style(state.value))
        for state in OrderState
        if counts.get(state.value)
    ]


def _broken_between(pieces: list[tuple[str, Text]], width: int | None) -> Text:
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


# A decision recorded this much after it was made says when it was made (PostgreSQL was down).
DECIDED_EARLIER_S = 2.0
# Other commands whose row keeps when the operator sent them (decided_at), likewise.
SENT_COMMAND_EVENTS = ("cancel_requested", "address_changed", "address_change_refused", "command_refused")


def _moment(at: str | None) -> datetime | None:
    """An ISO 8601 time of the timeline, in UTC; None if there is none or it is not one."""
    try:
        return datetime.fromisoformat(at).astimezone(timezone.utc) if at else None
    except ValueError:
        return None


def _clock(moment: datetime) -> str:
    """A timeline's time of day, UTC, to the millisecond: 22:37:21.031 (a whole second has no
    fraction in ISO form, and slicing the string garbled it to '22:37:21+00:0')."""
    return moment.strftime("%H:%M:%S.%f")[:12]


def _decided_earlier(decided_at: str | None, recorded_at: str | None) -> list[str]:
    """"(decided 22:37:21.031," and "46 s before it was recorded)", when the operator's decision
    waited to be recorded; else nothing. Times as the timeline shows them (UTC). Two phrases: a
    narrow row breaks between them, where it broke "46" / "s before it was recorded)"."""
    decided, recorded = _moment(decided_at), _moment(recorded_at)
    if decided is None or recorded is None or (lag := (recorded - decided).total_seconds()) < DECIDED_EARLIER_S:
        return []
    return [f"(decided {_clock(decided)},", f"{lag:.0f} s before it was recorded)"]


def _event_text(entry: dict[str, Any]) -> Fields:
    """An event's row as phrases, broken between two of them on a narrow screen, never within
    one: at 40 columns "payment refunded  →" stood above "CANCELLED", "tracking" above its
    number."""
    payload = entry.get("payload") or {}
    kind = entry["type"]
    phrases: list[tuple[str, Text]] = [("", Text(kind.replace("_", " "), style="bold"))]

    def add(phrase: str, style: str = "", gap: str = "  ") -> None:
        phrases.append((gap, Text(phrase, style=style)))

    if kind == "address_changed":
        add(address_line(payload.get("old")))
        add(f"→  {address_line(payload.get('new'))}")
        add(f"by {payload.get('by', '?')}", "dim")
    elif kind in ("approved", "rejected"):
        add(f"by {payload.get('by', '?')}" + (":" if payload.get("reason") else ""))
        if payload.get("reason"):
            add(payload["reason"], gap=" ")
        for gap, phrase in zip(("  ", " "), _decided_earlier(payload.get("decided_at"), entry.get("at"))):
            add(phrase, "dim", gap)
    elif kind == "payment_voided":
        add(f"{payload.get('payment_id', '')} was never charged and now never will be", "dim")
    elif kind == "ending_refused":
        add(
            f"{payload.get('wanted', '')} refused: the carrier has the package"
            f" (tracking {payload.get('tracking_number', '')}); the order ships",
            "yellow",
        )
    elif kind == "refund_refused":
        add(f"{payload.get('payment_id', '')} {format_cents(payload.get('amount_cents'))} kept:", "red")
        add(str(payload.get("refused", "")), "red", " ")
    elif kind == "command_refused" and payload.get("command"):
        # Which command, and for an Update refused after its sender stopped waiting, whose.
        sender = f" by {payload['by']}" if payload.get("by") else ""
        add(f"the {command_noun(str(payload['command']))}{sender}: {payload.get('reason', '')}", "red")
    elif payload.get("reason"):
        refused = kind in ("order_failed", "command_refused", "address_change_refused")
        add(str(payload["reason"]), "red" if refused else "")
        # Not twice: with no reason given, the reason is "cancelled by <who>" (OrderService.cancel).
        if kind == "cancel_requested" and payload.get("by") and not payload["reason"].endswith(f"by {payload['by']}"):
            add(f"by {payload['by']}", "dim")
    if kind in SENT_COMMAND_EVENTS:
        for gap, phrase in zip(("  ", " "), _decided_earlier(payload.get("decided_at"), entry.get("at"))):
            add(phrase, "dim", gap)
    if kind == "cancel_requested" and payload.get("state"):
        # The state the workflow knew when the cancel came, not one the cancel led to (it may lag
        # the database: PAID while the carrier was already taking the package).
        add(f"(workflow at {payload['state']})", "dim")
    elif payload.get("state"):
        phrases.append(("  ", Text.assemble("→ ", (payload["state"], state_style(payload["state"])))))
    if kind == "payment_charged" or kind == "payment_refunded":
        add(f"{payload.get('payment_id', '')} {format_cents(payload.get('amount_cents'))}")
    if payload.get("tracking_number") and kind == "carrier_dispatched":
        add(f"tracking {payload['tracking_number']}")
    return Fields(*phrases)


class Fields:
    """Fields on a line, each after its gap, broken between two fields for the width it is
    given, never within one: a wrapped attempt's row broke inside its duration at 40 columns
    ("ValidateOrder #1 error 0" above "ms"). A field wider than a line wraps on lines of its own."""

    def __init__(self, *fields: tuple[str, Text]) -> None:
        self.fields = [(gap, field) for gap, field in fields if field.plain]

    def one_line(self) -> Text:
        text = Text()
        for gap, field in self.fields:
            text.append(gap if text else "")
            text.append_text(field)
        return text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield _broken_between(self.fields, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.one_line())


def _attempt_text(entry: dict[str, Any]) -> Fields:
    outcome = entry["outcome"]
    fields = [
        ("", Text(f"  {entry['activity']} #{entry['attempt']}")),  # indented under the events
        (" ", Text(outcome, style=OUTCOME_STYLES.get(outcome, ""))),
        (" ", Text(f"{entry['duration_ms']} ms", style="dim")),
    ]
    if entry.get("error"):
        fields.append(("  ", Text(entry["error"], style="red" if outcome == "error" else "yellow")))
    if (entry.get("shipping_attempt") or 1) > 1:
        fields.append(("  ", Text(f"(shipping attempt {entry['shipping_attempt']})", style="dim")))
    if entry.get("cut_off_after"):
        fields.append(("  ", Text(
            f"(this step ran again: its worker died or stopped as the step retried; its attempts after"
            f" #{entry['cut_off_after']} left no row)",
            style="dim",
        )))
    elif entry.get("rerun"):
        fields.append(("  ", Text("(this step ran again: its workflow task was retried, or the workflow reset)", style="dim")))
    if entry.get("after_ending"):
        fields.append(("  ", Text("(after the ending: Temporal repeats the step until it hears it succeed)", style="dim")))
    return Fields(*fields)


def _quiet_span_text(seconds: float) -> Text:
    return Text(
        f"  … nothing recorded for {_span(seconds)}: the order waited (a worker or Temporal stopped,"
        " or the stack down)",
        style="dim",
    )


def _quiet_so_far_text(seconds: float) -> Text:
    return Text(
        f"  … nothing recorded for {_span(seconds)} so far: the order waits (a worker or Temporal stopped,"
        " or the stack down)",
        style="yellow",
    )


def audit_timeline(audit: dict[str, Any], now: datetime | None = None) -> Group:
    """The order's timeline; given ``now``, with a last line when the order in flight has
    recorded nothing for longer than its own waits explain."""
    order = audit["order"]
    table = Table(box=None, show_header=True, expand=True, pad_edge=False)
    table.add_column("Time", no_wrap=True, style="dim")
    # Folded, not cut with "…": Rich measures a wrapped line's trailing space in characters, not
    # cells, so a line with emoji kept it, came out a cell too wide and lost its last word.
    table.add_column("What", ratio=1, overflow="fold")
    day = None
    spans = QuietSpans()
    for entry in audit["timeline"]:
        moment = _moment(entry.get("at"))
        if (quiet := spans.before(entry, moment)) is not None:
            table.add_row("", _quiet_span_text(quiet))
        # The Time column is a time of day: the date goes on a row of its own, first and
        # whenever it changes (a review runs 24 h; an order of last week had no date at all).
        if moment is not None and moment.date() != day:
            day = moment.date()
            table.add_row(Text(day.isoformat(), style="bold"), "")
        when = _clock(moment) if moment is not None else entry.get("at") or ""
        table.add_row(when, _event_text(entry) if entry["kind"] == "event" else _attempt_text(entry))
    if now is not None and (quiet := spans.so_far(now, order["state"])) is not None:
        table.add_row("", _quiet_so_far_text(quiet))
    attempts = [e for e in audit["timeline"] if e["kind"] == "attempt"]
    failed = sum(1 for e in attempts if e["outcome"] != "ok")
    timeouts = sum(1 for e in attempts if e["outcome"] == "timeout")
    header = Text.assemble((f"Order {order['order_id']}  ", "bold"), state_text(order["state"]))
    # Its own line, broken between two figures: at 40 columns it broke "6" / "retries".
    figures = Fields(
        ("", Text(f"{plural(len(attempts), 'attempt')},")),
        (" ", Text(f"{failed} failed")),
        (" ", Text(f"({timeouts} timed out),")),
        (" ", Text(f"{plural(order.get('retries', 0) or 0, 'retry', 'retries')},")),
        (" ", Text.assemble("processing ", clock_text(order))),
    )
    return Group(header, figures, table)


def audit_link(audit: dict[str, Any]) -> Text | None:
    """The workflow's history in the Temporal Web UI, to print after the timeline with
    soft_wrap=True: the address stays whole (for a click or a copy) however narrow the screen."""
    if not audit.get("web_ui_url"):
        return None
    return Text(f"Workflow history: {audit['web_ui_url']}", style="dim")


def print_audit(console: Any, audit: dict[str, Any], now: datetime | None = None) -> None:
    console.print(audit_timeline(audit, now))
    if (link := audit_link(audit)) is not None:
        console.print(link, soft_wrap=True)


def catalog_table(products: list[Product]) -> Table:
    table = Table(title="Catalog")
    table.add_column("SKU")
    table.add_column("Product")
    table.add_column("Price", justify="right")
    for product in products:
        table.add_row(product.sku, product.name, format_cents(product.price_cents))
    return table


# Below this width the log paths leave the table for lines of their own (a path folded inside
# a cell cannot be copied).
WIDE_STACK_TABLE = 120


# Below this width the table has no box and no pid column (a stopped part's detail names its pid):
# boxed, the detail, what says why a part is down, was squeezed to nothing at 40 columns.
NARROW_STACK_TABLE = 72


def stack_table(status: Any, width: int = WIDE_STACK_TABLE) -> Table:
    """The parts of the stack, one row each (status is an app.stack.StackStatus)."""
    wide, narrow = width >= WIDE_STACK_TABLE, width < NARROW_STACK_TABLE
    table = Table(title="Order Tracker stack", title_justify="left", expand=False)
    if narrow:
        table = Table(
            title="Order Tracker stack", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
            collapse_padding=True,
        )
    table.add_column("part", no_wrap=True)
    table.add_column("health", no_wrap=True)
    if not narrow:
        table.add_column("pid", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    if wide:
        table.add_column("log", overflow="fold")
    for part in status.parts:
        health = Text("healthy", style="green") if part.healthy else Text("DOWN", style="bold red")
        where = "" if part.local else "external"
        cells = [part.name, health, *([] if narrow else [str(part.pid or "")]), resume_split(part.detail)[0]]
        table.add_row(*cells, *([part.log or where] if wide else []))
    return table


# "; kill -CONT 12 $(pgrep -P 12) resumes them" at the end of a stopped part's detail (app.stack.health).
_RESUME = re.compile(r"; (kill -CONT [^;]+?) resumes (it|them)$")


def resume_split(detail: str) -> tuple[str, str | None]:
    """A part's detail without the command that resumes it, and that command (None if none):
    folded inside a table cell at 80 columns, `kill -CONT <pid> $(pgrep -P <pid>)` was awkward
    to copy, so the cell points below the table, where stack_resume prints it whole."""
    found = _RESUME.search(detail)
    if found is None:
        return detail, None
    return f"{detail[: found.start()]}; the command below resumes {found.group(2)}", found.group(1)


def stack_resume(status: Any) -> Text | None:
    """The commands that resume the stopped parts, one line each and whole (print it with
    soft_wrap=True), each line fit to paste as it is: "kill -CONT 12  # resumes postgres"."""
    commands = [(part.name, resume_split(part.detail)[1]) for part in status.parts]
    lines = [f"{command}  # resumes {name}" for name, command in commands if command]
    return Text("\n".join(lines), style="bold") if lines else None


def stack_logs(status: Any) -> Text:
    """Where each part logs, one line each: for a narrow screen or a pipe, under stack_table
    (print it with soft_wrap=True, so that a long path stays whole)."""
    lines = [f"{part.name} log: {part.log}" for part in status.parts if part.log]
    return Text("\n".join(lines), style="dim")


def stack_links(status: Any) -> Text:
    text = Text()
    text.append("Temporal ")
    text.append(status.temporal_address, style="cyan")
    if status.temporal_ui_url:
        text.append("  Web UI ")
        text.append(status.temporal_ui_url, style="cyan underline")
    text.append("  PostgreSQL ")
    text.append(status.database_url, style="cyan")
    return text

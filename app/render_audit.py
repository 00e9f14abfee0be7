"""The audit timeline of one order: its events and every activity attempt, by time, with the
quiet spans its own waits do not explain. A pure function to a Rich renderable, as app/render.py's."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from app.errors import command_noun
from app.quiet_spans import QuietSpans, span as _span
from app.render import address_line, audit_link, broken_between, clock_text, plural, state_style, state_text
from app.views import format_cents

OUTCOME_STYLES = {"ok": "green", "error": "red", "timeout": "yellow", "cancelled": "dim"}

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
        yield broken_between(self.fields, options.max_width)

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


def print_audit(console: Any, audit: dict[str, Any], now: datetime | None = None) -> None:
    console.print(audit_timeline(audit, now))
    if (link := audit_link(audit)) is not None:
        console.print(link, soft_wrap=True)

"""An order as a row of a list to pick it from: its id (shortened in the middle where it must),
its state, its age and its amount, lined up and fitted to the terminal's width, and fitted
again when the terminal is resized with the list open."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from questionary import Choice

from app.tui.fitting import relabel_on_resize


def age(created_at: str | None, now: datetime) -> str:
    if not created_at:
        return ""
    seconds = max(0, int((now - datetime.fromisoformat(created_at)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


# What questionary draws before each choice (" » "), and a column left free: a line as wide as
# the terminal wraps in some of them.
CHOICE_FRAME = 4
# An id is never shortened below this: its start and end still tell it apart.
SHORTEST_ID = 16
# A state is cut no shorter than this ("AWAI…"): narrower, the terminal wraps the row.
SHORTEST_STATE = 5


def order_choice_labels(orders: list[dict[str, Any]], now: datetime, width: int = 80) -> list[str]:
    """One line per order, lined up, that fits ``width`` columns: an id too long for the room
    left keeps its start and its end (the ids of one batch differ at the end; cut at the end,
    two 64-character ids read the same). Narrower still, the amount goes, then the age, then
    the state is cut short: under ~47 columns each row wrapped onto a second line. The choice
    keeps the id whole."""
    states = max(len(o["state"]) for o in orders)
    amounts = max(len(str(o.get("amount", ""))) for o in orders)
    ages = 8
    longest = max(len(o["order_id"]) for o in orders)
    keep = min(longest, SHORTEST_ID)  # the id's room, before anything else gives way
    room = width - CHOICE_FRAME

    def id_room() -> int:
        return room - (1 + states) - (1 + ages if ages else 0) - (2 + amounts if amounts else 0)

    if id_room() < keep:  # a narrow terminal: the amount goes first
        amounts = 0
    if id_room() < keep:
        ages = 0
    if id_room() < keep:
        states = max(SHORTEST_STATE, room - 1 - keep)
    id_width = min(longest, max(id_room(), SHORTEST_STATE))
    labels = []
    for o in orders:
        shown = short_id(o["order_id"], id_width)
        state = o["state"] if len(o["state"]) <= states else o["state"][: states - 1] + "…"
        label = f"{shown:<{id_width}} {state:<{states}}"
        if ages:
            label += f" {age(o.get('created_at'), now):>{ages}}"
        labels.append(label + (f"  {o.get('amount', ''):>{amounts}}" if amounts else ""))
    return labels


def short_id(order_id: str, longest: int = 24) -> str:
    """The id whole, or its start and end around a "…" (its end tells a batch's ids apart)."""
    if len(order_id) <= longest:
        return order_id
    head = (longest - 1) // 2
    return order_id[:head] + "…" + order_id[len(order_id) - (longest - 1 - head):]


def refit_on_resize(application: Any, choices: list[Choice], orders: list[dict[str, Any]], now: datetime) -> None:
    """The rows made for the terminal's width as it is now: narrowed, each wrapped onto a second line."""
    relabel_on_resize(application, choices, lambda width: order_choice_labels(orders, now, width))

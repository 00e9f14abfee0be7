"""What the Temporal Web UI shows of an order: the workflows' summaries and details, and the
names of their timers. Pure functions of workflow input and state (the workflow calls them
too, so they must be deterministic), and kept to what an operator needs to recognise an
order: its id, items, amount and the destination's city and country; never the name, the
street, the postal code or the payment id."""

from __future__ import annotations

from workflows.model import Address, OrderItem, format_cents

# Timers, named for what they wait for.
ON_RECORD_TIMER = "Accepted Updates on record (a 1 ms timer ends the workflow task)"


def _items(items: list[OrderItem]) -> str:
    count = sum(max(item.quantity, 0) for item in items)
    return f"{count} item{'' if count == 1 else 's'}"


def destination(address: Address) -> str:
    return f"{address.city}, {address.country}"


def order_summary(order_id: str, items: list[OrderItem], amount_cents: int, address: Address) -> str:
    """One line: 'Order o-1 · 3 items · 59.97 · Springfield, US'."""
    return f"Order {order_id} · {_items(items)} · {format_cents(amount_cents)} · {destination(address)}"


def order_details(items: list[OrderItem], review_window_seconds: float) -> str:
    """The order's lines and review window (markdown, shown under the summary)."""
    lines = ", ".join(f"{item.sku} × {item.quantity}" for item in items)
    return f"**Items:** {lines}\n\n**Review window:** {review_window_seconds:g} s"


def shipping_summary(order_id: str, attempt: int, of: int, address: Address) -> str:
    return f"Shipping for order {order_id} · attempt {attempt} of {of} · to {destination(address)}"


def review_timer(window_seconds: float) -> str:
    return f"Review window: {window_seconds:g} s to approve or reject"


def shipping_retry_timer(next_attempt: int) -> str:
    return f"Wait before shipping attempt {next_attempt}"


def current_details(state: str, step: str) -> str:
    """The workflow's current details: its state and the step it is at."""
    return f"**State:** {state}\n\n**Step:** {step}"

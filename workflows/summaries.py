"""What the Temporal Web UI shows of an order: the workflows' summaries and details, the
names of their timers and what their handlers do. Pure functions of workflow input and state
(the workflow calls them too, so they must be deterministic), and kept to what an operator
needs to recognise an order: its id, items, amount and the destination's city and country;
never the name, the street, the postal code or the payment id."""

from __future__ import annotations

from workflows.model import Address, OrderItem, format_cents

# Timers, named for what they wait for.
ON_RECORD_TIMER = "Accepted Updates on record (a 1 ms timer ends the workflow task)"

# The handlers, as the Web UI's Signal, Update and Query forms and `temporal workflow metadata`
# list them: what each takes, and who sends it. The tools send Updates; a Signal is for by hand.
APPROVE_UPDATE = "Approve the order awaiting review. Args: by, decided_at (optional). Refused at once if it cannot."
REJECT_UPDATE = (
    "Reject the order awaiting review. Args: reason (required), by, decided_at. Refused at once if it cannot."
)
CANCEL_UPDATE = (
    "Cancel the order until the carrier has the package; a charged payment is refunded."
    " Args: reason, by, decided_at (all optional). Answers once the order is cancelled, or why not."
)
ADDRESS_UPDATE = (
    "Change the shipping address until dispatch. Args: address (name, street, city, region, postal_code,"
    " country), by, decided_at. Answers once the change is recorded, or why not."
)
APPROVE_SIGNAL = "Approve the order awaiting review (fire and forget). Args: by, decided_at. Refusals audited."
REJECT_SIGNAL = "Reject the order awaiting review (fire and forget). Args: reason, by, decided_at. Refusals audited."
CANCEL_SIGNAL = "Cancel the order until the carrier has the package (fire and forget). Args: reason, by."
ADDRESS_SIGNAL = "Change the shipping address until dispatch (fire and forget). Args: address, by."
PACKAGE_PREPARED_SIGNAL = "From shipping children of earlier code only: the package is ready. Args: package_id."
DISPATCH_FAILED_SIGNAL = (
    "From the shipping child: the carrier did not take the package. Args: reason."
    " The order tries shipping again, or refunds and ends FAILED."
)
UNKNOWN_SIGNAL = "Any other signal name: refused, and audited on the order's timeline."
ORDER_STATUS_QUERY = "The order's live status: state, step, items, amount, address, payment, clocks."
SHIPPING_ADDRESS_SIGNAL = "From the parent order only: the address to dispatch to. Args: address."
CANCEL_SHIPPING_SIGNAL = "From parent orders of earlier code only: call the hand-over off if it is not made yet."
UNKNOWN_SHIPPING_SIGNAL = "Any other signal name: refused, with a warning in the shipping worker's log."
SHIPPING_STATUS_QUERY = "The shipment's step, its address and whether a cancel was asked."


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

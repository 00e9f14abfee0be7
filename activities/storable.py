"""What the database (and Temporal's ids) can hold: the guards that keep an order started by
other means than the operator's tools from retrying for ever on a value no row can store."""

from __future__ import annotations

import unicodedata

from activities.rules import REQUIRED_ADDRESS_FIELDS, quoted
from workflows.model import Address, OrderItem, shipping_workflow_id

# Beyond this an order's amount in cents could overflow the database's bigint.
MAX_STORABLE_QUANTITY = 10**9


def storable_text_problem(label: str, value: object) -> str | None:
    """Text PostgreSQL refuses: NUL, or a lone surrogate (a byte that was not UTF-8). Line
    breaks and other control characters are storable; only operator input is held to more."""
    if not isinstance(value, str):
        return f"The {label} must be text."
    if "\x00" in value or any(unicodedata.category(ch) == "Cs" for ch in value):
        return f"The {label} is not text the database can store (NUL, or bytes that are not UTF-8)."
    return None


# Ids are keys: PostgreSQL refuses an index entry past ~2.7 kB (a third of a page), and this is
# Temporal's own default limit on a workflow id, which holds the order id.
MAX_STORED_ID_BYTES = 1000


def storable_id_problem(label: str, value: object) -> str | None:
    """storable_text_problem, and short enough to be a key the database can index."""
    if problem := storable_text_problem(label, value):
        return problem
    assert isinstance(value, str)
    if len(value.encode()) > MAX_STORED_ID_BYTES:
        return f"The {label} is longer than the database can index ({MAX_STORED_ID_BYTES} bytes)."
    return None


def shipping_id_problem(order_id: str, max_shipping_attempts: int) -> str | None:
    """An order id too long for the id of its last shipping workflow (shipping-<id>-<n>): Temporal
    refuses to start that child, and the order, charged by then, would fail its workflow task
    for ever. Its own workflow's id (order-<id>) is shorter, so such an order does start."""
    attempts = max_shipping_attempts if isinstance(max_shipping_attempts, int) else 1
    longest = shipping_workflow_id(order_id, max(attempts, 1))
    if len(longest.encode()) > MAX_STORED_ID_BYTES:
        return f"The order id is too long for the id of its shipping workflow (Temporal takes {MAX_STORED_ID_BYTES} bytes)."
    return None


def unstorable_problem(
    items: list[OrderItem], address: Address, payment_id: str = "", order_id: str = ""
) -> str | None:
    """What the database could never store (so ReceiveOrder would retry for ever): text with NUL
    or bytes that are not UTF-8, an id too long to index, or a quantity past any sensible amount.
    The operator's tools refuse all of it up front; this guards orders started by other means."""
    for label, value in (("order id", order_id), ("payment id", payment_id)):
        if problem := storable_id_problem(label, value):
            return problem
    texts: dict[str, object] = {}
    texts |= {f"address {name}": getattr(address, name, "") for name in (*REQUIRED_ADDRESS_FIELDS, "region")}
    texts |= {f"SKU {i + 1}": item.sku for i, item in enumerate(items)}
    for label, value in texts.items():
        if not isinstance(value, str):
            return f"The {label} must be text."
        if problem := storable_text_problem(label, value):
            return problem
    for item in items:
        if not isinstance(item.quantity, int) or abs(item.quantity) > MAX_STORABLE_QUANTITY:
            return f"The quantity of {quoted(item.sku)} is not a whole number the order can hold."
    return None

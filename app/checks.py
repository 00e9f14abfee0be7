"""The checks of an operator's input that need no server, one per OrderService command and
with its arguments. The service runs them before it acts, for every caller (CLI, TUI, API);
the CLI also runs them before it connects, so bad input is refused the same way with the
stack down. What needs the database (known SKUs, ids already taken) stays in the service."""

from __future__ import annotations

from dataclasses import replace

from activities import rules
from app.errors import InvalidInput
from workflows.model import Address, OrderItem, OrderState

# What the CLI's --by, the API's "by" and the TUI's name are called in a refusal: words, not a
# flag, since the API and the TUI say them too.
BY_LABEL = "name of who decides"
# Who decided, in the audit, when nobody says: the same from the TUI, the command line and the
# API (the TUI said "tui", a channel where the others name the person: "operator").
DEFAULT_BY = "operator"
MAX_REVIEW_WINDOW_S = 30 * 24 * 3600
# A page of the order list is one query: enough rows for any screen or script.
MAX_PAGE_SIZE = 1000
# Far beyond any order book this serves, and well inside PostgreSQL's bigint OFFSET.
MAX_OFFSET = 1_000_000_000
# Ids the API's routes take for themselves: GET /orders/counts answers the counts per state,
# so an order of that id could never be looked up there.
RESERVED_ORDER_IDS = frozenset({"counts"})
# How much of an operator's input a refusal quotes (as rules.quoted does): a state or a field
# name is far shorter, and a sentence quoting 5,000 characters is no longer one to read.
QUOTED_LENGTH = rules.QUOTED_LENGTH


def cut(text: str) -> str:
    """``text`` as a refusal quotes it: cut short, with "…", past QUOTED_LENGTH characters."""
    return text if len(text) <= QUOTED_LENGTH else text[:QUOTED_LENGTH] + "…"


def refuse_reserved_id(order_id: str) -> None:
    """InvalidInput for an id a route of the API takes (a form asks this before the rest)."""
    if order_id in RESERVED_ORDER_IDS:
        raise InvalidInput(f"Order id {order_id!r} is reserved: GET /orders/{order_id} is a route of the API; choose another order id.")


# The longest request id (the API's Idempotency-Key header, the CLI's --request-id) taken: as
# long as Stripe's; a UUID has 36.
MAX_REQUEST_ID = 255


def request_id(value: str | None, label: str = "The Idempotency-Key header") -> None:
    """A client's idempotency key, if given: 1 to MAX_REQUEST_ID printable ASCII characters, with no
    space at either end."""
    if value is None:
        return
    if not value.strip():
        raise InvalidInput(
            f"{label} is empty; give 1 to {MAX_REQUEST_ID} printable ASCII characters, or leave it out."
        )
    if len(value) > MAX_REQUEST_ID:
        raise InvalidInput(
            f"{label} has {len(value)} characters; give 1 to {MAX_REQUEST_ID} printable ASCII characters."
        )
    if not all(" " <= ch <= "~" for ch in value):
        raise InvalidInput(f"{label} must be printable ASCII: letters, digits, punctuation and spaces.")
    if value != value.strip():
        # HTTP strips them from a header: the same key through the API would be another one.
        raise InvalidInput(f"{label} begins or ends with a space; give it without.")


def status(order_id: str) -> None:
    _order_id(order_id)


def audit(order_id: str) -> None:
    _order_id(order_id)


def create_order(
    *,
    order_id: str,
    items: list[OrderItem],
    address: Address,
    payment_id: str | None = None,
    review_window_seconds: float | None = None,
) -> None:
    # Every SKU stands in as known here: the catalog is in the database.
    problems = rules.order_problems(order_id, items, entered_address(address), {item.sku for item in items})
    problems = problems or entered_address_problems(address)
    _refuse(problems[0] if problems else None)
    refuse_reserved_id(order_id)
    # Written so that NaN fails too: every comparison with it is false.
    if review_window_seconds is not None and not (1 <= review_window_seconds <= MAX_REVIEW_WINDOW_S):
        raise InvalidInput("The review window must be between 1 second and 30 days.")
    payment_id = (payment_id or "").strip()
    if payment_id:
        _refuse(rules.payment_id_problem(payment_id))


def approve(order_id: str, by: str = DEFAULT_BY) -> None:
    _order_id(order_id)
    _texts(**{BY_LABEL: by})


def reject(order_id: str, reason: str, by: str = DEFAULT_BY) -> None:
    _order_id(order_id)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("A rejection needs a reason.")
    _texts(reason=reason, **{BY_LABEL: by})


def cancel(order_id: str, reason: str = "", by: str = DEFAULT_BY) -> None:
    _order_id(order_id)
    _texts(reason=reason, **{BY_LABEL: by})


def update_address(order_id: str, address: Address, by: str = DEFAULT_BY) -> None:
    _order_id(order_id)
    _texts(**{BY_LABEL: by})
    problems = entered_address_problems(address)
    _refuse(problems[0] if problems else None)


def entered_address_problems(address: Address) -> list[str]:
    """What the rules find in an address as entered (entered_address), then what its postal code
    may not hold once normalised (rules.entered_postal_code_problem): the CLI, the API and the
    TUI's form alike."""
    entered = entered_address(address)
    problems = rules.strict_address_problems(entered)
    if not problems and (problem := rules.entered_postal_code_problem(entered.postal_code)):
        problems.append(problem)
    return problems


def entered_address(address: Address) -> Address:
    """The address as the rules judge it: with its postal code as the service sends it
    (rules.normalise_postal_code), so that spaces normalising removes do not count against its
    length ("sw1a       1aa" is "SW1A 1AA"). One with a control or hidden character is judged as
    typed, and refused for it: normalising would take a line break for a space."""
    code = address.postal_code
    if not isinstance(code, str) or rules.strict_text_problem("address postal code", code) is not None:
        return address
    return replace(address, postal_code=rules.normalise_postal_code(code))


def list_orders(*, state: str | None = None, limit: int = 50, offset: int = 0) -> str | None:
    """Returns the state by its canonical name (None: every state)."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"The limit must be between 1 and {MAX_PAGE_SIZE}.")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"The offset must be between 0 and {MAX_OFFSET}.")
    if state is None:
        return None
    try:
        return OrderState(state.strip().upper()).value
    except ValueError:
        names = ", ".join(s.value for s in OrderState)
        raise InvalidInput(f"Unknown state {cut(state)!r}; use one of {names}.") from None


def _order_id(order_id: str) -> None:
    _refuse(rules.order_id_problem(order_id))


def _texts(**texts: str) -> None:
    _refuse(rules.texts_problem(**texts))
    for label, value in texts.items():
        if len(value) > rules.MAX_NOTE_LENGTH:
            raise InvalidInput(f"The {label} is longer than {rules.MAX_NOTE_LENGTH} characters.")
        if label == BY_LABEL and rules.is_blank(value):
            raise InvalidInput(f"The {BY_LABEL} is blank; give one, or leave it out (it defaults to operator).")
        _refuse(rules.strict_text_problem(label, value))


def _refuse(problem: str | None) -> None:
    if problem:
        raise InvalidInput(problem)

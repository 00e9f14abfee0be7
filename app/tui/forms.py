"""The forms of the TUI: a new order and an address, validated as the operator types with
the same rules the workflow enforces (activities.rules)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import questionary
from questionary import Choice
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from activities import rules
from app import checks
from app.errors import InvalidInput, NotFound, StackUnreachable
from app.render import address_line, state_text
from app.service import new_order_id
from app.tui import pager
from app.tui.fitting import relabel_on_resize
from app.tui.prompts import ask, keys_not_echoed, offering
from app.tui.question_line import echo_picked, fitted, hint_on_resize
from app.tui.reads import needed_from_database, needed_from_temporal
from app.views import format_cents
from app.waiting import within
from workflows.model import Address, OrderItem

# (field, prompt, required)
ADDRESS_FORM = (
    ("name", "Recipient name", True),
    ("street", "Street", True),
    ("city", "City", True),
    ("postal_code", "Postal code", True),
    ("country", "Country (ISO code: US, DE, FR…)", True),
    ("region", "Region / state (optional)", False),
)
# A new order passes through these on its way to review.
EARLY_STATES = {"RECEIVED", "VALIDATED"}
_VALID_ADDRESS = Address(name="x", street="x", city="x", postal_code="x", country="US")


# Short enough for a prompt's one-line message at 80 columns (the full refusal was cut off).
ORDER_ID_RULE = "Use 1-64 letters, digits, - or _ (start with a letter or digit)."


def order_id_check(text: str) -> bool | str:
    return True if rules.order_id_problem(text.strip()) is None else ORDER_ID_RULE


def small_number(text: str) -> int | None:
    """The whole number an operator typed, or None: ASCII digits only (str.isdigit() also
    accepts "²", which int() refuses), and short enough to be a sensible count."""
    text = text.strip()
    if not text or not all("0" <= ch <= "9" for ch in text):
        return None
    digits = text.lstrip("0") or "0"  # "0005" is 5
    return int(digits) if len(digits) <= 9 else None


def quantity_check(text: str) -> bool | str:
    number = small_number(text)
    if number is None:
        digits = text.strip()
        if digits and all("0" <= ch <= "9" for ch in digits):  # a whole number, only too long for a count
            return f"At most {rules.MAX_QUANTITY}."
        return "Give a positive whole number."
    if number <= 0:
        return "Give a positive whole number."
    if number > rules.MAX_QUANTITY:
        return f"At most {rules.MAX_QUANTITY}."
    return True


def address_field_check(field: str, text: str) -> bool | str:
    """This one field judged by the address rules (the others stand in as valid)."""
    sample = Address(**{**_VALID_ADDRESS.__dict__, field: text})
    problems = checks.entered_address_problems(sample)
    return problems[0] if problems else True


async def address_form(default: dict[str, Any] | None = None) -> Address:
    default = default or {}
    values: dict[str, str] = {}
    for field, label, _required in ADDRESS_FORM:
        values[field] = (
            await ask(
                questionary.text(
                    label,
                    default=str(default.get(field) or ""),
                    validate=lambda text, field=field: address_field_check(field, text),
                )
            )
        ).strip()
    return rules.normalise_entered_address(Address(**values))


# What questionary draws before a checkbox's choice (" » ○ "), and a column left free.
CHECKBOX_FRAME = 6
# A name is not cut shorter than this while the SKU still has room beside it.
SHORTEST_NAME = 4


def item_choice_labels(products: dict[str, Any], width: int = 80) -> list[str]:
    """One line per product that fits ``width`` columns: a choice wider than the terminal is
    cut at the edge, and at 40 columns "Sprocket (pack of 10) (SPROCKET)  3.50" read "…  3". The
    name is shortened first, then the SKU goes; the price stays whole."""
    room = width - CHECKBOX_FRAME
    labels = []
    for sku, product in products.items():
        price = f"  {format_cents(product.price_cents)}"
        tail = f" ({sku}){price}"
        if room - len(tail) < min(len(product.name), SHORTEST_NAME):
            tail = price
        name_room = max(1, room - len(tail))
        name = product.name if len(product.name) <= name_room else product.name[: name_room - 1] + "…"
        labels.append(name + tail)
    return labels


# Short: questionary's own instruction wraps mid-word at 80 columns.
ITEMS_HINT = "(arrows move, space picks, enter when done)"


def items_question(products: dict[str, Any], width: int, **options: Any) -> Any:
    """The checkbox of the catalog's products, its rows fit to the terminal; answered, it echoes
    the SKUs picked: one echoed its whole label ("[USB-C cable, 1 m (CABLE-USB)  8.99]"), over
    two lines at 40 columns, and several "done (2 selections)", which said nothing of them."""
    choices = [Choice(label, value=sku) for label, sku in zip(item_choice_labels(products, width), products)]
    picking = questionary.checkbox(
        "Items",
        instruction=ITEMS_HINT,
        choices=choices,
        validate=lambda chosen: True if chosen else "Pick at least one item with the space bar.",
        **options,
    )
    hint_on_resize(picking, "Items", ITEMS_HINT)
    relabel_on_resize(picking.application, choices, lambda width: item_choice_labels(products, width))
    echo_picked(picking, ", ".join)
    return picking


# Below the summary: "Create this order?" and the line its answer leaves the cursor on.
SUMMARY_SPARE_LINES = 2


def order_summary_table(
    order_id: str, items: list[OrderItem], prices: dict[str, Any], address: Address, compact: bool = False
) -> Table:
    """The order to confirm. ``compact``: no box, no unit price, one line per item (its name cut
    with "…", the SKU left out) and the total in bold under them, for a short terminal."""
    table = Table(title=f"New order {order_id}", title_justify="left")
    if compact:
        table = Table(
            title=f"New order {order_id}", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
            pad_edge=False, collapse_padding=True, expand=True,  # expanded: the caption wraps at the table's width
        )
    table.add_column("Item", **({"no_wrap": True, "overflow": "ellipsis", "ratio": 1} if compact else {}))
    table.add_column("Qty", justify="right", no_wrap=compact)
    if not compact:
        table.add_column("Price", justify="right")
    table.add_column("Subtotal", justify="right", no_wrap=compact)
    total = 0
    for item in items:
        product = prices[item.sku]
        subtotal = product.price_cents * item.quantity
        total += subtotal
        name = product.name if compact else f"{product.name} ({item.sku})"
        price = [] if compact else [format_cents(product.price_cents)]
        table.add_row(name, str(item.quantity), *price, format_cents(subtotal))
    if not compact:  # a blank line without the box
        table.add_section()
    table.add_row("Total", "", *([] if compact else [""]), format_cents(total), style="bold")
    table.caption = Text(f"Ship to: {address_line(address.__dict__)}")
    table.caption_justify = "left"
    return table


def order_summary(
    order_id: str, items: list[OrderItem], prices: dict[str, Any], address: Address, console: Console
) -> Table:
    """The summary that fits above "Create this order?": at 40x12 the boxed one of two items took
    16 lines, and its title (the order's id) and column names scrolled out of view."""
    table = order_summary_table(order_id, items, prices, address)
    with console.capture() as captured:
        console.print(table)
    if pager.screen_rows(captured.get(), console.width) <= console.height - SUMMARY_SPARE_LINES:
        return table
    return order_summary_table(order_id, items, prices, address, compact=True)


async def create_order(service: Any, console: Console, remembered: dict[str, Any]) -> None:
    cannot = "no order can be created"
    products = {p.sku: p for p in await needed_from_database(service, service.catalog(), cannot)}
    await needed_from_temporal(service, console, cannot)  # before the form, not after it
    while True:  # a taken (or reserved) id is refused now, not after the whole form
        order_id = (await ask(offering("Order id", new_order_id(), validate=order_id_check))).strip()
        try:
            checks.refuse_reserved_id(order_id)
            await needed_from_database(service, service.refuse_taken_id(order_id), cannot)
            break
        except InvalidInput as taken:
            console.print(Text(str(taken), style="red"))
    skus = await ask(items_question(products, console.width))
    items = []
    for sku in skus:
        quantity = await ask(offering(f"Quantity of {products[sku].name}", "1", validate=quantity_check))
        items.append(OrderItem(sku=sku, quantity=int(quantity.strip())))
    address = await address_form(await same_address_as_last(remembered.get("address"), console.width))
    console.print(order_summary(order_id, items, products, address, console))
    if not await ask(questionary.confirm("Create this order?", default=True)):
        console.print("Nothing was created.")
        return
    creating = asyncio.ensure_future(service.create_order(order_id=order_id, items=items, address=address))
    try:
        # Temporal stopped, the start waits for it (up to ~8 s; ~30 s before its time-out): the screen
        # showed nothing meanwhile.
        with keys_not_echoed(), console.status(f"Creating order {order_id}…  (Ctrl-C stops waiting)"):
            created = await asyncio.shield(creating)
    except asyncio.CancelledError:
        # Not waited for: with PostgreSQL stopped (SIGSTOP) its reads' cancellation waits for
        # the server, and Ctrl-C froze the TUI until it was resumed.
        creating.cancel()
        creating.add_done_callback(lambda task: task.cancelled() or task.exception())  # retrieved
        stopped = (
            f"Stopped waiting. Order {order_id} may still start, if its start reached Temporal;"
            " the dashboard will show it."
        )
        await pager.say(console, Text(stopped, style="yellow"))
        raise
    remembered["address"] = address.__dict__
    said = [Text.assemble(
        (f"Order {created.order_id} created", "green"),
        f" for {format_cents(created.amount_cents)} (workflow {created.workflow_id}).",
    )]
    if created.note:
        said.append(Text(created.note, style="yellow"))
    if await service.order_worker_running() is False:
        # Nothing to follow: the order waits for a worker (the health line offers to start one).
        said.append(Text(
            "No order worker is serving (none runs, or it is stopped: see the health line), so it waits until one does.",
            style="yellow",
        ))
        # As one answer: at 40x12 the menu and what is down pushed all of it out of view.
        await pager.say(console, Group(*said))
        return
    said.append(await show_progress(service, console, created.order_id))
    # As one answer too: printed apart, "… created for 139.99 (workflow …)." went out of view at
    # 40x12, and only "… is now AWAITING_APPROVAL." was left above the menu.
    await pager.say(console, Group(*said))


async def same_address_as_last(last: dict[str, Any] | None, width: int = 80) -> dict[str, Any] | None:
    """The last order's address to start from, if the operator says so. It was filled in
    unasked, recipient included, and six Enters shipped a new order to the last customer (an
    operator walkthrough)."""
    if not last:
        return None
    # Broken between words, as every other confirm: a long address wrapped mid-word at 80 columns.
    question = fitted(f"Ship to the last order's address ({address_line(last)})?", width)
    if await ask(questionary.confirm(question, default=False)):
        return last
    return None


async def show_progress(service: Any, console: Console, order_id: str, wait_s: float = 10.0) -> Text:
    """Follow a new order until it awaits review (or settles), so the operator sees the
    workflow's answer: the line that says where it stands."""
    deadline = time.monotonic() + wait_s
    state = None
    with keys_not_echoed(), console.status(f"Order {order_id} created; waiting for it to be validated…"):
        while (left := deadline - time.monotonic()) > 0:
            try:
                # Within what is left: with PostgreSQL stopped (SIGSTOP) a read waited for as long,
                # and Ctrl-C with it (within leaves a read's cancellation to end by itself).
                state = (await within(service.status(order_id), left))["state"]
            except (NotFound, StackUnreachable, asyncio.TimeoutError):
                state = None  # not recorded yet (or no worker to record it: said above), or PostgreSQL hangs
            if state is not None and state not in EARLY_STATES:
                break
            await asyncio.sleep(0.3)
    if state is None:
        return Text(f"Order {order_id} is starting; follow it on the live dashboard.")
    return Text.assemble(f"Order {order_id} is now ", state_text(state), ".")

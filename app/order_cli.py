"""The `order` commands: create, approve, reject, cancel, address, status, list, audit, catalog.

A thin shell over OrderService: parse, check, call, print (Rich for people, one JSON document
with --json). Each handler runs the service's own input checks (app.checks) before it connects,
so bad input is refused as such even with the stack down. Errors are OperatorErrors, turned
into one sentence and an exit code by app.cli.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from functools import partial
from typing import Any, Awaitable, Callable

from rich.console import Console
from rich.markup import escape

from activities import rules
from app import checks, cli_numbers, render, render_audit
from app.errors import InvalidInput
from app.service import NEW_ORDER_ID_FORM, NO_ORDER_WORKER_WARNING, OrderService, new_order_id
from workflows.model import Address, OrderItem, OrderState

ADDRESS_FIELDS = ("name", "street", "city", "region", "postal_code", "country")
ADDRESS_HELP = {
    "name": "the recipient's name",
    "street": "street and number",
    "city": "city",
    "region": "region or state (optional)",
    "postal_code": "postal code",
    "country": "country as an ISO 3166 alpha-2 code, e.g. US or DE",
}
BY_HELP = f"who decides, for the audit log (default: {checks.DEFAULT_BY})"
REQUEST_ID_HELP = (
    "an idempotency key of the script's choosing: the command run again with the same one gets the first"
    " one's answer, and the order does not carry it out twice; the key with other arguments is refused"
)


def register(commands: argparse._SubParsersAction) -> None:
    order = commands.add_parser("order", help="create, decide, change and inspect orders")
    sub = order.add_subparsers(dest="order_command", required=True, parser_class=type(order))

    create = sub.add_parser(
        "create",
        help="start an order",
        description="Start an order: at least one --item, and an address, either as --address JSON or as --name,"
        " --street, --city, --postal-code and --country (--region is optional).",
    )
    create.add_argument("--id", dest="order_id", help=f"order id (default: a new {NEW_ORDER_ID_FORM})")
    create.add_argument(
        "--item", dest="items", action="append", default=[], metavar="SKU:QTY",
        help="required: a product and its quantity, e.g. WIDGET-1:2; repeat for more (products: ./start.sh order catalog)",
    )
    _address_arguments(create)
    create.add_argument("--payment-id", help="idempotency key of the payment (default: pay-<order id>)")
    # A float, checked with the order (exit 1, as the API's 422): the window is the order's data,
    # like its items and address, not a setting of the command (SPEC 2: invalid input).
    create.add_argument(
        "--review-window", type=_review_window, metavar="SECONDS",
        help="time allowed for review, up to 30 days (default 24 h)",
    )
    _json_flag(create)
    create.set_defaults(handler=_create)

    for name, text in (("approve", "approve an order awaiting review"),):
        p = sub.add_parser(name, help=text)
        p.add_argument("order_id", metavar="ID", help="the order id")
        p.add_argument("--by", default=checks.DEFAULT_BY, help=BY_HELP)
        _request_id_flag(p)
        _json_flag(p)
        p.set_defaults(handler=_approve)

    reject = sub.add_parser("reject", help="reject an order awaiting review")
    reject.add_argument("order_id", metavar="ID", help="the order id")
    reject.add_argument("--reason", required=True, help="required: why it is rejected, for the audit log")
    reject.add_argument("--by", default=checks.DEFAULT_BY, help=BY_HELP)
    _request_id_flag(reject)
    _json_flag(reject)
    reject.set_defaults(handler=_reject)

    cancel = sub.add_parser("cancel", help="cancel an order (refunds it if paid); allowed until dispatch")
    cancel.add_argument("order_id", metavar="ID", help="the order id")
    cancel.add_argument("--reason", default="", help="why it is cancelled, for the audit log (optional)")
    cancel.add_argument("--by", default=checks.DEFAULT_BY, help=BY_HELP)
    _request_id_flag(cancel)
    _json_flag(cancel)
    cancel.set_defaults(handler=_cancel)

    address = sub.add_parser(
        "address",
        help="change the shipping address; allowed until dispatch",
        description="Change the shipping address (allowed until dispatch): the whole new address, either as --address"
        " JSON or as --name, --street, --city, --postal-code and --country (--region is optional).",
    )
    address.add_argument("order_id", metavar="ID", help="the order id")
    _address_arguments(address)
    address.add_argument("--by", default=checks.DEFAULT_BY, help=f"who changes it, for the audit log (default: {checks.DEFAULT_BY})")
    _request_id_flag(address)
    _json_flag(address)
    address.set_defaults(handler=_address)

    status = sub.add_parser("status", help="the live state of one order")
    status.add_argument("order_id", metavar="ID", help="the order id")
    _json_flag(status)
    status.set_defaults(handler=_status)

    listing = sub.add_parser("list", help="orders, newest first")
    listing.add_argument(
        "--state", help=f"only orders in this state, one of {', '.join(state.value for state in OrderState)}"
    )
    listing.add_argument(
        "--limit", type=cli_numbers.whole_number("orders", 1, checks.MAX_PAGE_SIZE), default=50,
        help=f"at most {checks.MAX_PAGE_SIZE} (default 50)",
    )
    listing.add_argument(
        "--offset", type=cli_numbers.whole_number("orders to skip", 0, checks.MAX_OFFSET), default=0,
        help="orders to skip (default 0)",
    )
    _json_flag(listing)
    listing.set_defaults(handler=_list)

    audit = sub.add_parser("audit", help="the audit timeline of one order: events and every attempt")
    audit.add_argument("order_id", metavar="ID", help="the order id")
    _json_flag(audit)
    audit.set_defaults(handler=_audit)

    catalog = sub.add_parser("catalog", help="the products one can order")
    _json_flag(catalog)
    catalog.set_defaults(handler=_catalog)
    # A missing command is named by its choices, as the usage line does, not by its dest.
    sub.metavar = "{" + ",".join(sub.choices) + "}"


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _request_id_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--request-id", metavar="KEY", help=REQUEST_ID_HELP)


def _address_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address", metavar="JSON",
        help=f"the whole address as a JSON object with {', '.join(ADDRESS_FIELDS)}, instead of the flags below",
    )
    for field in ADDRESS_FIELDS:
        parser.add_argument(
            f"--{field.replace('_', '-')}", dest=f"addr_{field}", metavar=field.upper(), help=ADDRESS_HELP[field]
        )


# ---------------------------------------------------------------------- parsing


_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def _review_window(text: str) -> float:
    """Only what is no number at all is a usage error, in the words the other numbers use
    (argparse's own were "invalid float value: 'soon'"); one out of range is checked with the order.
    Plain decimal only, as every number of the command line ("6_0" was 60); "nan" and "inf" are
    out of range, the order's to refuse."""
    number = cli_numbers.plain_decimal(text)
    if number is None and _NOT_FINITE.fullmatch(text):
        number = float(text)
    if number is None:
        raise argparse.ArgumentTypeError(
            f"give a number of seconds from 1 to {checks.MAX_REVIEW_WINDOW_S:,} (30 days), not {checks.cut(text)!r}."
        )
    return number


def parse_item(text: str) -> OrderItem:
    sku, sep, quantity = text.partition(":")
    if not sep or not sku.strip():
        raise InvalidInput(f"Item {checks.cut(text)!r} must look like SKU:QTY, for example WIDGET-1:2.")
    number = quantity.strip()
    # A sign, then ASCII digits only: int() also takes "3_0" and full-width "３". With its sign
    # "-1" is a whole number, refused below as not positive, and "+3" is 3.
    digits = number[1:] if number[:1] in ("+", "-") else number
    if not digits or not all("0" <= ch <= "9" for ch in digits):
        raise InvalidInput(f"The quantity in {checks.cut(text)!r} must be a whole number such as 2.")
    count = int(digits[:12])  # past 12 digits it is over the limit all the same (rules.item_problems)
    if number.startswith("-"):
        count = -count
    if count <= 0:
        raise InvalidInput(f"The quantity in {checks.cut(text)!r} must be positive.")
    return OrderItem(sku=sku.strip().upper(), quantity=count)


def parse_address(args: argparse.Namespace, *, required: bool = True) -> Address | None:
    fields: dict[str, Any] = {}
    if args.address:
        try:
            given = json.loads(args.address)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested deeper than the parser goes
            raise InvalidInput("--address must be a JSON object, for example '{\"name\": \"Ann\", ...}'.") from None
        if not isinstance(given, dict):
            raise InvalidInput("--address must be a JSON object with name, street, city, postal_code and country.")
        unknown = sorted(set(given) - set(ADDRESS_FIELDS))
        if unknown:
            named = ", ".join(checks.cut(name) for name in unknown)
            raise InvalidInput(f"--address has unknown field(s) {named}; use {', '.join(ADDRESS_FIELDS)}.")
        for key, value in given.items():
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"Address field {key} must be text.")
            fields[key] = value or ""
    flags = {field: getattr(args, f"addr_{field}", None) for field in ADDRESS_FIELDS}
    flags = {field: value for field, value in flags.items() if value is not None}
    if args.address and flags:
        raise InvalidInput("Give the address either as --address JSON or as --name, --street, ... flags, not both.")
    fields.update(flags)
    if not fields and not required:
        return None
    if not fields:
        raise InvalidInput("Give an address: --address JSON or --name, --street, --city, --postal-code, --country.")
    return Address(
        name=fields.get("name", ""),
        street=fields.get("street", ""),
        city=fields.get("city", ""),
        postal_code=fields.get("postal_code", ""),
        country=fields.get("country", ""),
        region=fields.get("region", ""),
    )


# ---------------------------------------------------------------------- output


def _emit(args: argparse.Namespace, document: Any, human) -> None:
    if args.json:
        json.dump(document, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        human(Console())


def _say(args: argparse.Namespace, order_id: str, message: str, warning: str = "") -> None:
    document = {"order_id": order_id, "accepted": True, "message": message} | ({"warning": warning} if warning else {})

    def human(console: Console) -> None:
        console.print(message, soft_wrap=True)
        if warning:
            console.print(f"[yellow]{escape(warning)}[/]", soft_wrap=True)

    _emit(args, document, human)


# ---------------------------------------------------------------------- handlers


async def _create(args: argparse.Namespace) -> int:
    if not args.items:
        raise InvalidInput("An order needs at least one --item SKU:QTY.")
    # Only an omitted --id or --payment-id gets the default: one given empty is more likely an
    # unset shell variable than a wish for a random id, so it is refused like any malformed id.
    if args.payment_id is not None and not args.payment_id.strip():
        raise InvalidInput(rules.payment_id_problem(args.payment_id))
    order = dict(
        order_id=new_order_id() if args.order_id is None else args.order_id,
        items=[parse_item(text) for text in args.items],
        address=parse_address(args),
        payment_id=args.payment_id,
        review_window_seconds=args.review_window,
    )
    checks.create_order(**order)
    # Ctrl-C stops the waiting, not the start (as for a command, _sent): said with the order's
    # id, which the operator may never have seen (a new one), so that it is not created twice.
    order_id = order["order_id"]
    args.on_interrupt = (
        f"Stopped waiting: order {order_id}, if its start reached Temporal, may still start;"
        f" check with ./start.sh order status {order_id}."
    )
    async with await OrderService.connect() as service:
        created = await service.create_order(**order)
        args.on_interrupt = f"Stopped: order {order_id} was created; see it with ./start.sh order status {order_id}."
        worker_running = await service.order_worker_running()
    args.on_interrupt = None
    document = asdict(created) | {"amount": render.format_cents(created.amount_cents)}
    waiting = NO_ORDER_WORKER_WARNING  # as POST /orders says it
    if worker_running is False:
        document["warning"] = waiting
    if created.already_created:  # a repeated create (a script's retry): the order is there, as asked
        _emit(args, document, lambda c: c.print(
            f"Order [bold]{created.order_id}[/] was already created with these items, address and payment id"
            f" (workflow {created.workflow_id}); nothing new was started, and it is {created.state} now."
            + (f" {waiting}" if worker_running is False else "")
            + (f"\n[yellow]{escape(created.note)}[/]" if created.note else ""),  # as the first create said it
            soft_wrap=True,
        ))
        return 0
    _emit(
        args,
        document,
        lambda c: c.print(
            f"Order [bold]{created.order_id}[/] created for {render.format_cents(created.amount_cents)}"
            f" (workflow {created.workflow_id}); it awaits review once validated."
            + (f" {waiting}" if worker_running is False else "")
            + (f"\n[yellow]{escape(created.note)}[/]" if created.note else ""),
            soft_wrap=True,
        ),
    )
    return 0


async def _sent(
    args: argparse.Namespace, what: str, command: Callable[..., Awaitable[str]], *, recorded: bool = False
) -> None:
    """Connect, send a command (an Update) and say its answer. Ctrl-C stops the waiting, not the
    command; app.cli then says, instead of "Interrupted.", whether it went to Temporal: ``command``
    is an OrderService method with its arguments but the service and ``on_sent`` (a partial), which
    this gives it (the TUI's app.tui.actions.sent does the same). Stopped before it goes out
    (connecting, up to 5 s with PostgreSQL not answering, where it said only "Interrupted."; the
    database's row; the workflow's task), nothing was sent.
    ``recorded``: the order answers only once the database has the outcome (a cancel's ending,
    an address change), so no warning that it records the command once PostgreSQL is back."""
    args.on_interrupt = f"Stopped: the {what} was not sent; nothing was changed."

    def went() -> None:
        args.on_interrupt = (
            f"Stopped waiting: the {what} was sent and may still take effect;"
            f" check with ./start.sh order status {args.order_id}."
        )

    async with await OrderService.connect(**COMMAND_CONNECTION) as service:
        reply = await command(service, on_sent=went)
        # Temporal took it; with PostgreSQL out of reach the order records it once the database is back.
        _say(args, args.order_id, reply, "" if recorded else await service.database_warning())
        args.on_interrupt = None


# Temporal carries the commands, and the order records them once PostgreSQL is back; without
# Temporal the database can still say that the order has ended (a refusal, exit 1, not exit 3).
COMMAND_CONNECTION = {"temporal": "optional", "database": "optional"}
# What a refusal of a malformed --request-id calls it (the service's check says the API's header).
REQUEST_ID_LABEL = "--request-id"


async def _approve(args: argparse.Namespace) -> int:
    checks.approve(args.order_id, by=args.by)
    checks.request_id(args.request_id, REQUEST_ID_LABEL)
    approving = partial(OrderService.approve, order_id=args.order_id, by=args.by, request_id=args.request_id)
    await _sent(args, "approval", approving)
    return 0


async def _reject(args: argparse.Namespace) -> int:
    checks.reject(args.order_id, args.reason, by=args.by)
    checks.request_id(args.request_id, REQUEST_ID_LABEL)
    rejecting = partial(
        OrderService.reject, order_id=args.order_id, reason=args.reason, by=args.by, request_id=args.request_id
    )
    await _sent(args, "rejection", rejecting)
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    checks.cancel(args.order_id, args.reason, by=args.by)
    checks.request_id(args.request_id, REQUEST_ID_LABEL)
    cancelling = partial(
        OrderService.cancel, order_id=args.order_id, reason=args.reason, by=args.by, request_id=args.request_id
    )
    await _sent(args, "cancel", cancelling, recorded=True)
    return 0


async def _address(args: argparse.Namespace) -> int:
    address = parse_address(args)
    try:
        checks.update_address(args.order_id, address, by=args.by)
    except InvalidInput as error:
        if "incomplete" not in str(error):
            raise
        # `--city X` alone reads like a change of the city: say that the whole address is needed.
        raise InvalidInput(
            f"{str(error).rstrip('.')}; `order address` takes the whole new address"
            " (--name, --street, --city, --postal-code, --country, or --address JSON)."
        ) from None
    checks.request_id(args.request_id, REQUEST_ID_LABEL)
    changing = partial(
        OrderService.update_address, order_id=args.order_id, address=address, by=args.by, request_id=args.request_id
    )
    await _sent(args, "address change", changing, recorded=True)
    return 0


async def _status(args: argparse.Namespace) -> int:
    checks.status(args.order_id)
    async with await OrderService.connect(temporal="optional") as service:  # the database answers without it
        status = await service.status(args.order_id)

    def human(console: Console) -> None:
        console.print(render.status_panel(status))
        if (link := render.audit_link(status)) is not None:  # whole, to click or copy
            console.print(link, soft_wrap=True)
        if status.get("reset_command"):  # on one line, to copy (the panel wraps it)
            console.print(f"To go on from where it stopped: {escape(status['reset_command'])}", soft_wrap=True)

    _emit(args, status, human)
    return 0


async def _list(args: argparse.Namespace) -> int:
    state = checks.list_orders(state=args.state, limit=args.limit, offset=args.offset)
    async with await OrderService.connect(temporal=False) as service:  # it reads only the database
        document, counts = await service.order_page(state=state, limit=args.limit, offset=args.offset)
    orders = document["orders"]

    def human(console: Console) -> None:
        if orders:
            console.print(render.orders_table(orders, width=console.width))
        console.print(
            render.page_line(len(orders), args.offset, document["total"], state, sum(counts.values())),
            style="dim",
            soft_wrap=True,
        )

    _emit(args, document, human)
    return 0


async def _audit(args: argparse.Namespace) -> int:
    checks.audit(args.order_id)
    async with await OrderService.connect(temporal="optional") as service:  # the audit is the database's
        audit = await service.audit(args.order_id)
    now = datetime.now(timezone.utc)  # an order in flight that has recorded nothing for a while says so
    _emit(args, audit, lambda c: render_audit.print_audit(c, audit, now))
    return 0


async def _catalog(args: argparse.Namespace) -> int:
    async with await OrderService.connect(temporal=False) as service:  # it reads only the database
        products = await service.catalog()
    document = {
        "products": [
            {"sku": p.sku, "name": p.name, "price_cents": p.price_cents, "price": render.format_cents(p.price_cents)}
            for p in products
        ]
    }
    _emit(args, document, lambda c: c.print(render.catalog_table(products)))
    return 0

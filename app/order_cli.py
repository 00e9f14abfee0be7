"""The `order` commands: create, approve, reject, cancel, address, status, list, audit, catalog.

A thin shell over OrderService: parse, check, call, print (Rich for people, one JSON document
with --json). This module is their command line, its arguments and its help; app.order_cli_input
reads an order's items and address from them, and app.order_cli_handlers carries each command out.
"""

from __future__ import annotations

import argparse

from app import checks, cli_numbers
from app import order_cli_handlers as handlers
from app.order_cli_input import ADDRESS_FIELDS, _review_window
from app.service import NEW_ORDER_ID_FORM
from workflows.model import OrderState

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
    create.set_defaults(handler=handlers._create)

    for name, text in (("approve", "approve an order awaiting review"),):
        p = sub.add_parser(name, help=text)
        p.add_argument("order_id", metavar="ID", help="the order id")
        p.add_argument("--by", default=checks.DEFAULT_BY, help=BY_HELP)
        _request_id_flag(p)
        _json_flag(p)
        p.set_defaults(handler=handlers._approve)

    reject = sub.add_parser("reject", help="reject an order awaiting review")
    reject.add_argument("order_id", metavar="ID", help="the order id")
    reject.add_argument("--reason", required=True, help="required: why it is rejected, for the audit log")
    reject.add_argument("--by", default=checks.DEFAULT_BY, help=BY_HELP)
    _request_id_flag(reject)
    _json_flag(reject)
    reject.set_defaults(handler=handlers._reject)

    cancel = sub.add_parser("cancel", help="cancel an order (refunds it if paid); allowed until dispatch")
    cancel.add_argument("order_id", metavar="ID", help="the order id")
    cancel.add_argument("--reason", default="", help="why it is cancelled, for the audit log (optional)")
    cancel.add_argument("--by", default=checks.DEFAULT_BY, help=BY_HELP)
    _request_id_flag(cancel)
    _json_flag(cancel)
    cancel.set_defaults(handler=handlers._cancel)

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
    address.set_defaults(handler=handlers._address)

    status = sub.add_parser("status", help="the live state of one order")
    status.add_argument("order_id", metavar="ID", help="the order id")
    _json_flag(status)
    status.set_defaults(handler=handlers._status)

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
    listing.set_defaults(handler=handlers._list)

    audit = sub.add_parser("audit", help="the audit timeline of one order: events and every attempt")
    audit.add_argument("order_id", metavar="ID", help="the order id")
    _json_flag(audit)
    audit.set_defaults(handler=handlers._audit)

    catalog = sub.add_parser("catalog", help="the products one can order")
    _json_flag(catalog)
    catalog.set_defaults(handler=handlers._catalog)
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


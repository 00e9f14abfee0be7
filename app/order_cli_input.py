"""What the `order` commands read from their arguments: an item (SKU:QTY), an address (--address
JSON or its flags) and a review window, each refused in one sentence when it cannot be read.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from app import checks, cli_numbers
from app.errors import InvalidInput
from workflows.model import Address, OrderItem

ADDRESS_FIELDS = ("name", "street", "city", "region", "postal_code", "country")


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


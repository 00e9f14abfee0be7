"""Input an operator types: the validation rules and the command-line parsing, without servers."""

from __future__ import annotations

import argparse

import pytest

from activities import rules
from app.cli import build_parser
from app.errors import InvalidInput
from app.order_cli_input import parse_address, parse_item
from workflows.model import Address, OrderItem

GOOD = Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")
CATALOG = {"WIDGET-1", "GIZMO-3"}


@pytest.mark.parametrize("order_id", ["ord-1", "A_b-9", "x" * 64])
def test_well_formed_order_ids_pass(order_id):
    assert rules.order_id_problem(order_id) is None


@pytest.mark.parametrize("order_id", ["", "bad id", "semi;colon", "x" * 200, "ünï", "ord-1\n", "ord-1\r\n"])
def test_malformed_order_ids_are_refused_with_a_sentence(order_id):
    problem = rules.order_id_problem(order_id)
    assert problem and problem.endswith(".")


def test_a_complete_address_passes_and_is_normalised():
    assert rules.address_problems(GOOD) == []
    normal = rules.normalise_address(Address(name=" Ann ", street="1 Main St", city="Springfield", postal_code="12345", country="us"))
    assert normal.country == "US" and normal.name == "Ann"


@pytest.mark.parametrize(
    "change, words",
    [({"name": ""}, "name"), ({"street": "  "}, "street"), ({"postal_code": ""}, "postal"), ({"country": "ZZ"}, "ZZ"), ({"country": "USA"}, "USA")],
)
def test_incomplete_or_wrong_addresses_are_refused(change, words):
    fields = {**GOOD.__dict__, **change}
    problems = rules.address_problems(Address(**fields))
    assert problems and words.lower() in problems[0].lower()


def test_unknown_skus_and_non_positive_quantities_are_refused():
    assert rules.item_problems([OrderItem("WIDGET-1", 1)], CATALOG) == []
    assert "NOPE" in rules.item_problems([OrderItem("NOPE", 1)], CATALOG)[0]
    assert rules.item_problems([OrderItem("WIDGET-1", 0)], CATALOG)
    assert rules.item_problems([OrderItem("WIDGET-1", -2)], CATALOG)
    assert rules.item_problems([], CATALOG)


def test_item_parsing():
    assert parse_item("widget-1:3") == OrderItem("WIDGET-1", 3)
    for bad in ("WIDGET-1", "WIDGET-1:x", "WIDGET-1:0", ":2", "WIDGET-1:-1"):
        with pytest.raises(InvalidInput):
            parse_item(bad)


@pytest.mark.parametrize("text", ["WIDGET-1:0", "WIDGET-1:-1", "WIDGET-1: -12 ", "WIDGET-1:+0", "WIDGET-1:-0"])
def test_a_quantity_of_zero_or_less_is_refused_as_not_positive(text):
    """"-1" used to be refused as not "a whole number such as 2", which it is."""
    with pytest.raises(InvalidInput) as refused:
        parse_item(text)
    assert str(refused.value) == f"The quantity in {text!r} must be positive."


@pytest.mark.parametrize("text", ["WIDGET-1:3", "WIDGET-1:+3", "WIDGET-1: +3 ", "WIDGET-1: 3 ", " widget-1 :3\t"])
def test_a_quantity_may_carry_a_plus_sign(text):
    assert parse_item(text) == OrderItem("WIDGET-1", 3)


@pytest.mark.parametrize("quantity", ["", "+", "-", "++3", "+-3", "- 3", "3 0", "3_0", "\uff13", "1e3", "2.0"])
def test_a_quantity_that_is_not_a_whole_number_says_so(quantity):
    with pytest.raises(InvalidInput) as refused:
        parse_item(f"WIDGET-1:{quantity}")
    assert "must be a whole number such as 2" in str(refused.value)


def _address_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["order", "address", "o-1", *argv])


def test_address_from_flags_or_json():
    by_flags = parse_address(_address_args("--name", "Ann", "--street", "1 Main St", "--city", "Springfield", "--postal-code", "12345", "--country", "US"))
    by_json = parse_address(_address_args("--address", '{"name": "Ann", "street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}'))
    assert by_flags == by_json == GOOD


# The last: nested deeper than json.loads goes (RecursionError: the unexpected-error apology).
@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"name": "Ann", "planet": "Mars"}', '{"name": 5}', "[" * 100_000])
def test_bad_address_json_is_refused_with_one_sentence(text):
    with pytest.raises(InvalidInput) as refused:
        parse_address(_address_args("--address", text))
    assert "\n" not in str(refused.value)


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["order", "reject", "o-1"])  # --reason is required
    assert exited.value.code == 2


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("name", "Ann\x00", "control characters"),  # PostgreSQL cannot store NUL
        ("street", "1 Main St\x1b[2J", "control characters"),  # an escape code for others' terminals
        ("city", "Spring\nfield", "control characters"),
        ("name", "Ann \udcff", "not valid text"),  # an undecodable byte in a command-line argument
        ("region", "\x07", "control characters"),
    ],
)
def test_text_that_cannot_be_stored_or_shown_safely_is_refused(field, value, words):
    address = Address(**{**GOOD.__dict__, field: value})
    problems = rules.address_problems(address)
    assert len(problems) == 1 and words in problems[0] and problems[0].endswith(".")
    assert value not in problems[0]  # the sentence does not echo the bad text back


@pytest.mark.parametrize("value", ["Ann [c/o Bob]", "Zoë Ünal", "東京都", "O'Brien & Sons", "🙂"])
def test_ordinary_text_in_any_script_passes(value):
    assert rules.address_problems(Address(**{**GOOD.__dict__, "name": value})) == []
    assert rules.text_problem("reason", value) is None


def test_an_address_the_carrier_does_not_serve_gets_a_warning_not_a_refusal():
    from activities.rules import address_problems, carrier_note
    from workflows.model import Address

    antarctica = Address(name="Base Camp", street="1 Ice Shelf", city="McMurdo", postal_code="0000", country="aq")
    assert address_problems(antarctica) == []
    assert "ACME Freight does not deliver to AQ" in (carrier_note(antarctica) or "")
    assert carrier_note(Address(name="A", street="S", city="C", postal_code="1", country="US")) is None


def test_what_the_database_could_never_store_is_named_and_everything_else_is_left_to_validation():
    from activities.storable import unstorable_problem
    from workflows.model import Address, OrderItem

    good = Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")
    assert unstorable_problem([OrderItem("NOPE", 0)], Address(name="", street="", city="", postal_code="", country="")) is None
    assert "address city" in unstorable_problem([OrderItem("W", 1)], Address(**{**good.__dict__, "city": "a\x00"}))
    assert "SKU 1" in unstorable_problem([OrderItem("W\udcff", 1)], good)
    assert "quantity of 'W'" in unstorable_problem([OrderItem("W", 10**12)], good)


def test_an_order_id_the_api_routes_take_is_refused_before_anything_starts():
    """An order created with id "counts" (201) could never be read through the API: GET
    /orders/counts answered the counts per state instead (a review)."""
    from app import checks

    address = Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")
    with pytest.raises(InvalidInput, match="Order id 'counts' is reserved"):
        checks.create_order(order_id="counts", items=[OrderItem("WIDGET-1", 1)], address=address)
    checks.create_order(order_id="counts-1", items=[OrderItem("WIDGET-1", 1)], address=address)


HUGE_SKU = "A" * 5000


@pytest.mark.parametrize(
    "items",
    [
        [OrderItem(HUGE_SKU, 1)],  # unknown
        [OrderItem(HUGE_SKU, 1), OrderItem(HUGE_SKU, 1)],  # twice
        [OrderItem(HUGE_SKU, 0)],
        [OrderItem(HUGE_SKU, rules.MAX_QUANTITY + 1)],
        [OrderItem("WIDGET-1", "9" * 5000)],  # type: ignore[arg-type]  # an order started by other means
    ],
)
def test_an_item_refusal_quotes_a_huge_sku_cut_short(items):
    """`order create --item "<5,000 characters>:1"` (and POST /orders) answered a 5,062-character
    "sentence" quoting the whole SKU; other refusals quote at most 40 characters."""
    catalog = CATALOG | ({HUGE_SKU} if len(items) == 2 or items[0].quantity != 1 else set())
    problems = rules.item_problems(items, catalog)
    assert problems and all(len(problem) < 200 for problem in problems), [len(p) for p in problems]
    assert any("A" * 40 + "…'" in problem or "9" * 40 + "…'" in problem for problem in problems), problems


def test_a_country_refusal_quotes_it_cut_short():
    problems = rules.address_problems(Address(**{**GOOD.__dict__, "country": "Z" * 200}))
    assert problems == [f"Country '{'Z' * 40}…' is not an ISO 3166 alpha-2 code such as US, DE or FR."]

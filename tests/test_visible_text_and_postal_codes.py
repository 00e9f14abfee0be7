"""Text an operator reads must show what was typed, and a postal code must look like one: by
the rules the CLI, the TUI, the API and the ValidateOrder activity apply. Without servers."""

from __future__ import annotations

import contextlib

import pytest
from temporalio.exceptions import ApplicationError

from activities import business, rules
from app import checks
from app.errors import InvalidInput
from app.tui.forms import address_field_check
from workflows.activity_io import ValidateOrderInput
from workflows.model import Address, OrderItem

GOOD = Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")
ITEMS = [OrderItem("WIDGET-1", 1)]

REFUSED = [
    ("postal_code", "!!!", "no letter or digit"),
    ("postal_code", "- -", "no letter or digit"),
    ("postal_code", "1" * 100, "up to 12 letters, digits, spaces or hyphens"),
    ("postal_code", "12345; DROP", "up to 12 letters, digits, spaces or hyphens"),
    ("name", "\u0301\u0301\u0301", "has nothing visible"),  # combining accents on nothing
    ("city", "\u0301 \u0301", "has nothing visible"),
    ("name", "An\u200bn", "contains invisible characters"),  # a zero-width space
    ("street", "1 Main\u00adSt", "contains invisible characters"),  # a soft hyphen
    ("region", "\u200e", "contains invisible characters"),  # a left-to-right mark
    ("postal_code", "123\ufeff45", "contains invisible characters"),  # a byte order mark
    ("name", "Ann\U000e0041\U000e0042", "contains invisible characters"),  # tag letters, hidden text
]
ACCEPTED = [
    ("postal_code", "0"),  # what countries without postal codes (Hong Kong) are given
    ("postal_code", "SW1A 1AA"),
    ("postal_code", "K1A 0B1"),
    ("postal_code", "13711-13433"),  # Iran: 10 digits, written 5-5
    ("postal_code", "١٢٣٤٥"),  # Arabic-Indic digits
    ("name", "Zoë Ünal"),
    ("name", "Zoe\u0308"),  # ë as e and a combining diaeresis
    ("name", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),  # Persian, with a zero-width non-joiner
    # The flag of England: a black flag, then tag letters g b e n g and a cancel tag (all Cf).
    ("name", "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f Ann"),
    ("name", "\U0001f469\u200d\U0001f4bb"),  # an emoji joined by a zero-width joiner
    ("street", "東京都千代田区1-1"),
]


@pytest.mark.parametrize(("field", "value", "words"), REFUSED)
def test_nonsense_postal_codes_and_invisible_text_are_refused_in_one_sentence(field, value, words):
    address = Address(**{**GOOD.__dict__, field: value})
    problems = rules.strict_address_problems(address)
    assert len(problems) == 1 and words in problems[0] and problems[0].endswith(".")
    assert value not in problems[0]  # the sentence does not echo the bad text back
    with pytest.raises(InvalidInput, match=words):  # the CLI, the TUI and the API (the service runs these)
        checks.create_order(order_id="o-1", items=ITEMS, address=address)
    with pytest.raises(InvalidInput, match=words):
        checks.update_address("o-1", address)
    assert address_field_check(field, value) == problems[0]  # the TUI's form, as one types


@pytest.mark.parametrize(("field", "value"), ACCEPTED)
def test_real_postal_codes_and_text_in_any_script_pass(field, value):
    address = Address(**{**GOOD.__dict__, field: value})
    assert rules.strict_address_problems(address) == []
    checks.create_order(order_id="o-1", items=ITEMS, address=address)
    assert address_field_check(field, value) is True


@pytest.mark.parametrize(("value", "words"), [
    ("fraud\u200b", "contains invisible characters"),
    ("\u0301\u0301", "has nothing visible"),
])
def test_a_reason_or_a_name_of_who_decides_must_show_what_was_typed(value, words):
    with pytest.raises(InvalidInput, match=f"The reason {words}"):
        checks.reject("o-1", reason=value)
    with pytest.raises(InvalidInput, match=f"The reason {words}"):
        checks.cancel("o-1", reason=value)
    with pytest.raises(InvalidInput, match=f"The name of who decides {words}"):
        checks.approve("o-1", by=value)
    checks.cancel("o-1", reason="")  # a cancel's reason may still be left out


class _Conn:
    def transaction(self) -> contextlib.AbstractAsyncContextManager:
        return contextlib.nullcontext()  # type: ignore[return-value]


class _Pool:
    @contextlib.asynccontextmanager
    async def acquire(self):
        yield _Conn()


@pytest.mark.parametrize(("field", "value", "words"), REFUSED[:1] + REFUSED[4:5] + REFUSED[6:7])
async def test_validate_order_fails_an_order_started_by_other_means_with_such_an_address(monkeypatch, field, value, words):
    """Orders started straight through Temporal skip the operator's tools: ValidateOrder is the
    check they meet, and it refuses for good (non-retryable), so the order ends FAILED."""

    async def prices(conn, skus):
        return {"WIDGET-1": 899}

    async def flaky() -> None:
        pass

    monkeypatch.setattr(business.orders_db, "prices", prices)
    address = Address(**{**GOOD.__dict__, field: value})
    with pytest.raises(ApplicationError, match=words) as refused:
        await business.order_validated(_Pool(), flaky, ValidateOrderInput(order_id="o-1", items=ITEMS, address=address))
    assert refused.value.type == "InvalidOrder" and refused.value.non_retryable


def test_the_rules_the_workflow_replays_do_not_grow_stricter():
    """The workflow's signal handlers apply address_problems and texts_problem, and Temporal
    replays them: one that refused, on replay, a signal its history shows accepted would stop
    the order with a non-determinism error. The stricter rules are the strict_ ones."""
    odd = Address(name="An\u200bn", street="\u0301", city="Springfield", postal_code="!!!", country="US")
    assert rules.address_problems(odd) == []
    assert rules.texts_problem(reason="fraud\u200b", name="\u0301") is None


@pytest.mark.parametrize(("typed", "taken"), [
    ("sw1a 1aa", "SW1A 1AA"),
    ("  Sw1A   1aA ", "SW1A 1AA"),
    ("k1a 0b1", "K1A 0B1"),
    ("1234 ab", "1234 AB"),
    ("13711-13433", "13711-13433"),
    ("١٢٣٤٥", "١٢٣٤٥"),  # Arabic-Indic digits, as typed
    ("0", "0"),
    # Full-width forms went through as typed, un-capitalised (h24): NFKC first.
    ("ｓｗ1ａ 1ａａ", "SW1A 1AA"),
    ("ＳＷ１Ａ\u3000１ＡＡ", "SW1A 1AA"),  # and an ideographic space
    ("ｋ１ａ－０ｂ１", "K1A-0B1"),  # a full-width hyphen-minus
])
def test_a_postal_code_is_taken_in_capitals_with_single_spaces(typed, taken):
    assert rules.normalise_postal_code(typed) == taken
    entered = rules.normalise_entered_address(Address(**{**GOOD.__dict__, "postal_code": typed, "country": " gb "}))
    assert entered == Address(**{**GOOD.__dict__, "postal_code": taken, "country": "GB"})
    # The workflow's own normalising, which Signals and its handlers replay, is unchanged.
    assert rules.normalise_address(Address(**{**GOOD.__dict__, "postal_code": typed})).postal_code == typed.strip()


async def test_every_tool_sends_a_postal_code_in_capitals_with_single_spaces(monkeypatch):
    """"sw1a 1aa" to an order that ships to "SW1A 1AA" was an address change (audited old and
    new, sent to the order): the CLI and the API (both through OrderService) and the TUI's form
    now take it as the label writes it, so it is the same address, refused as no change."""
    from app.config import Settings
    from app.service import OrderService
    from app.tui import forms
    from tests.test_service_commands import _Client, _NoOrderRow, recorded_start

    typed = Address(name="Ann", street="1 Main St", city="London", postal_code=" sw1a  1aa ", country="GB")
    # An order created with it (`order create`, POST /orders).
    started = await recorded_start(monkeypatch, order_id="o-9", items=[OrderItem("SKU-1", 1)], address=typed)
    assert started.args[1].address.postal_code == "SW1A 1AA"
    # An address change (`order address`, PUT /orders/ID/address, the TUI's screen).
    client = _Client()
    service = OrderService(settings=Settings.from_env({}), client=client, pool=_NoOrderRow())  # type: ignore[arg-type]
    await service.update_address("o-9", typed, by="dana")
    [(name, (address, by, _when))] = client.sent
    assert (name, address.postal_code, by) == ("update_address", "SW1A 1AA", "dana")
    # The TUI's form, whose answer its confirmation shows ("Ship order … to …?") and its
    # "already ships to that address" compares.
    answers = iter(["Ann", "1 Main St", "London", " sw1a  1aa ", "gb", ""])

    async def ask(question, *, escape: bool = True):
        return next(answers)

    monkeypatch.setattr(forms, "ask", ask)
    assert (await forms.address_form()).postal_code == "SW1A 1AA"


@pytest.mark.parametrize("typed", ["sw1a       1aa", "  13711      13433  ", "k1a\u00a00b1"])
def test_a_postal_code_is_judged_as_it_is_sent_not_by_the_spaces_normalising_removes(typed):
    """"sw1a       1aa" was refused as longer than 12 characters by the CLI, the TUI's form and
    the API, though the service sends it as "SW1A 1AA" (an operator walkthrough, h21). The rule
    itself, which the workflow's Update validator applies, is unchanged."""
    address = Address(**{**GOOD.__dict__, "postal_code": typed})
    assert rules.strict_address_problems(address) != []  # the rule, on the text as typed
    checks.create_order(order_id="o-1", items=ITEMS, address=address)  # the CLI, and the API through the service
    checks.update_address("o-1", address)
    assert address_field_check("postal_code", typed) is True  # the TUI's form, as one types
    assert rules.strict_address_problems(rules.normalise_entered_address(address)) == []  # what is sent


@pytest.mark.parametrize(("typed", "words"), [
    ("sw1a 1aa 12345", "up to 12 letters, digits, spaces or hyphens"),  # 14 once normalised
    ("sw1a\n1aa", "contains control characters"),  # a line break is not a space, even if normalising would make it one
])
def test_a_postal_code_too_long_once_normalised_or_with_a_line_break_is_still_refused(typed, words):
    address = Address(**{**GOOD.__dict__, "postal_code": typed})
    with pytest.raises(InvalidInput, match=words):
        checks.create_order(order_id="o-1", items=ITEMS, address=address)
    with pytest.raises(InvalidInput, match=words):
        checks.update_address("o-1", address)
    assert words in address_field_check("postal_code", typed)


@pytest.mark.parametrize("typed", ["ｓｗ1ａ 1ａａ", "ＳＷ１Ａ\u3000１ＡＡ"])
def test_a_postal_code_typed_in_full_width_is_taken_by_every_tool(typed):
    address = Address(**{**GOOD.__dict__, "postal_code": typed})
    checks.create_order(order_id="o-1", items=ITEMS, address=address)  # the CLI, and the API through the service
    checks.update_address("o-1", address)
    assert address_field_check("postal_code", typed) is True  # the TUI's form, as one types
    assert rules.normalise_entered_address(address).postal_code == "SW1A 1AA"  # what each of them sends


@pytest.mark.parametrize(("typed", "shown"), [
    ("SW1Ä 1AA", "'Ä'"),
    ("1234 ß", "'ß'"),
    ("ｓｗ1ä", "'ä'"),  # full-width letters are taken, a letter outside A to Z is not
    ("Мо 123", "'М'"),  # Cyrillic capitals that look Latin
])
def test_a_postal_code_with_a_letter_outside_a_to_z_is_refused_naming_it(typed, shown):
    """Any Unicode letter passed as a postal code's letter, un-capitalised ("SW1ä"). The
    operator's tools refuse it in one sentence naming the character; the workflow's own rule,
    which runs already started replay, is unchanged."""
    said = f"The postal code may hold only A to Z, digits, spaces and hyphens, not {shown}."
    address = Address(**{**GOOD.__dict__, "postal_code": typed})
    with pytest.raises(InvalidInput) as created:
        checks.create_order(order_id="o-1", items=ITEMS, address=address)
    with pytest.raises(InvalidInput) as changed:
        checks.update_address("o-1", address)
    assert str(created.value) == str(changed.value) == said
    assert address_field_check("postal_code", typed) == said
    assert rules.strict_address_problems(address) == []  # the workflow's Update validator and ValidateOrder

"""The business rules of a valid order, as pure functions: ValidateOrder enforces them in the
workflow, and the operator's tools check them before anything starts."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from typing import Iterable

from workflows.model import ORDER_ID_PATTERN, Address, OrderItem

MAX_QUANTITY = 1000
MAX_FIELD_LENGTH = 200
# A reason, or the name of who decides: in the audit log, on other operators' screens, and in
# the workflow's history (a command sent straight through Temporal meets it in the validators).
MAX_NOTE_LENGTH = 500
# Long enough for the longest national form (Iran's 10 digits, written 5-5 with a hyphen); one
# character is enough, as "0" is what countries without postal codes (Hong Kong) are given.
MAX_POSTAL_CODE_LENGTH = 12
# How much of a value a refusal quotes: an id, a SKU or a country is far shorter, and a sentence
# quoting 5,000 characters is no longer one to read.
QUOTED_LENGTH = 40

# Embedding and override controls make a terminal show the text after them reversed: a name
# typed with them reads as another on every other operator's screen.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The zero-width (non-)joiners are how Persian, Indic scripts and emoji sequences are written;
# every other format character (zero-width space, soft hyphen, direction marks) only hides text.
JOINERS = frozenset("\u200c\u200d")
# The flags of England, Scotland and Wales are a black flag followed by tag characters (invisible
# letters, ended by a cancel tag); tags anywhere else would only hide text.
BLACK_FLAG = "\U0001f3f4"
TAGS = range(0xE0020, 0xE0080)

# ISO 3166-1 alpha-2, officially assigned codes.
ISO_COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG
    EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR
    HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR
    LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG
    NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE
    SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA
    UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)

REQUIRED_ADDRESS_FIELDS = ("name", "street", "city", "postal_code", "country")

# The carrier, and where it does not deliver: DispatchCarrier refuses those addresses for good,
# which is how an order reaches shipping's compensation (refund, FAILED).
CARRIER = "ACME Freight"
CARRIER_UNSERVED_COUNTRIES = frozenset({"AQ", "BV", "HM"})


def order_id_problem(order_id: str) -> str | None:
    return id_problem("Order id", order_id)


def payment_id_problem(payment_id: str) -> str | None:
    """A payment id follows the order id's rules: it is an idempotency key stored beside it."""
    return id_problem("Payment id", payment_id)


def quoted(value: object) -> str:
    """``value`` as a refusal quotes it (its repr), cut short with "…" past QUOTED_LENGTH
    characters."""
    if isinstance(value, str):
        return repr(value if len(value) <= QUOTED_LENGTH else value[:QUOTED_LENGTH] + "…")
    shown = repr(value)
    return shown if len(shown) <= QUOTED_LENGTH else shown[:QUOTED_LENGTH] + "…"


def id_problem(label: str, value: str) -> str | None:
    if not isinstance(value, str) or not ORDER_ID_PATTERN.fullmatch(value):
        return (
            f"{label} {quoted(value)} is malformed: use 1 to 64 letters, digits, '-' or '_', "
            "starting with a letter or digit."
        )
    return None


def text_problem(label: str, value: str) -> str | None:
    """Free text an operator typed must be storable and safe to print: PostgreSQL refuses NUL
    and text that is not valid Unicode (a lone surrogate is what an undecodable byte in a
    command-line argument becomes), and control characters would reach other operators'
    terminals as escape sequences."""
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        return f"The {label} is not valid text (it has bytes that are not UTF-8)."
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        return f"The {label} contains control characters (such as line breaks or escape codes); use plain text."
    return None


def texts_problem(**texts: object) -> str | None:
    """The first problem among named pieces of free text (who decided, why), or None."""
    for label, value in texts.items():
        if not isinstance(value, str):
            return f"The {label} must be text."
        if problem := text_problem(label, value):
            return problem
    return None


# text_problem and texts_problem above, and address_problems below, are also applied by the
# workflow's signal handlers, which Temporal replays: a rule added to them would refuse, on
# replay, a signal the history shows accepted, and the order would stop on a non-determinism
# error. Rules added since live in the strict_ functions, which the operator's tools (CLI, TUI,
# API), the ValidateOrder activity and the workflow's Update validators (never run on replay)
# apply, and its signal handlers do not. A looser rule changes a replay as much as a stricter
# one (a signal refused then, accepted now): so ISO_COUNTRIES, the field limits and what these
# functions strip or upper-case (Python's Unicode tables: keep the workers' Python version with
# the code) change for the signal handlers only behind a patch.


def is_blank(value: str) -> bool:
    """Nothing but spaces and invisible characters (zero-width spaces and the like)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in value)


def has_visible(value: str) -> bool:
    """Whether the text shows anything: a letter, digit, punctuation or symbol, not only spaces,
    combining accents or invisible characters."""
    return any(unicodedata.category(ch)[0] in "LNPS" for ch in value)


def _hides_text(value: str) -> bool:
    """Whether a format character (zero-width space, soft hyphen, a direction mark) hides text:
    all but the joiners, and tags that spell a flag after a black flag."""
    in_flag = False
    for ch in value:
        if ord(ch) in TAGS and in_flag:
            continue
        in_flag = ch == BLACK_FLAG
        if unicodedata.category(ch) == "Cf" and ch not in JOINERS:
            return True
    return False


def strict_text_problem(label: str, value: str) -> str | None:
    """text_problem, and what an operator reads must be what was typed: no characters that
    reverse or hide text, and something visible (an optional text may be left blank)."""
    if problem := text_problem(label, value):
        return problem
    if any(ch in BIDI_CONTROLS for ch in value):
        return f"The {label} contains characters that reverse how text is shown; use plain text."
    if _hides_text(value):
        return f"The {label} contains invisible characters; use plain text."
    if value.strip() and not has_visible(value):
        return f"The {label} has nothing visible; use letters, digits or symbols."
    return None


def postal_code_problem(postal_code: str) -> str | None:
    """Short enough for the prompt of the TUI's address form at 80 columns."""
    code = postal_code.strip()
    if not any(ch.isalnum() for ch in code):
        return "The postal code has no letter or digit."
    if len(code) > MAX_POSTAL_CODE_LENGTH or not all(ch.isalnum() or ch in " -" for ch in code):
        return f"The postal code must be up to {MAX_POSTAL_CODE_LENGTH} letters, digits, spaces or hyphens."
    return None


def strict_address_problems(address: Address) -> list[str]:
    """address_problems, and each field with something visible and nothing hidden, and a
    postal code that looks like one."""
    return _address_problems(address, strict=True)


def address_problems(address: Address) -> list[str]:
    """The rules the workflow's signal handlers apply (see above): they never grow stricter."""
    return _address_problems(address, strict=False)


def _address_problems(address: Address, strict: bool) -> list[str]:
    check_text = strict_text_problem if strict else text_problem
    problems = []
    for name in REQUIRED_ADDRESS_FIELDS:
        value = getattr(address, name, "")
        label = f"address {name.replace('_', ' ')}"
        if not isinstance(value, str) or not value.strip() or (strict and is_blank(value)):
            problems.append(f"The address is incomplete: {name.replace('_', ' ')} is missing.")
        elif len(value) > MAX_FIELD_LENGTH:
            problems.append(f"The {label} is longer than {MAX_FIELD_LENGTH} characters.")
        elif problem := check_text(label, value):
            problems.append(problem)
        elif strict and name == "postal_code" and (problem := postal_code_problem(value)):
            problems.append(problem)
    region = address.region or ""
    if not isinstance(region, str):
        problems.append("The address region must be text.")
    elif len(region) > MAX_FIELD_LENGTH:
        problems.append(f"The address region is longer than {MAX_FIELD_LENGTH} characters.")
    elif problem := check_text("address region", region):
        problems.append(problem)
    country = (address.country or "").strip().upper()
    if country and country not in ISO_COUNTRIES:
        problems.append(f"Country {quoted(country)} is not an ISO 3166 alpha-2 code such as US, DE or FR.")
    return problems


def item_problems(items: list[OrderItem], known_skus: Iterable[str]) -> list[str]:
    known = set(known_skus)
    if not items:
        return ["The order has no items."]
    problems = []
    seen: set[str] = set()
    for item in items:
        if item.sku not in known:
            problems.append(f"Unknown SKU {quoted(item.sku)}; the catalog lists the products one can order.")
        if item.sku in seen:
            problems.append(f"SKU {quoted(item.sku)} appears twice; give it once with the total quantity.")
        seen.add(item.sku)
        if not isinstance(item.quantity, int) or isinstance(item.quantity, bool) or item.quantity <= 0:
            problems.append(
                f"The quantity of {quoted(item.sku)} must be a positive whole number, not {quoted(item.quantity)}."
            )
        elif item.quantity > MAX_QUANTITY:
            problems.append(f"The quantity of {quoted(item.sku)} is over the limit of {MAX_QUANTITY}.")
    return problems


def order_problems(order_id: str, items: list[OrderItem], address: Address, known_skus: Iterable[str]) -> list[str]:
    problems = []
    id_problem = order_id_problem(order_id)
    if id_problem:
        problems.append(id_problem)
    return problems + item_problems(items, known_skus) + strict_address_problems(address)


def normalise_address(address: Address) -> Address:
    return Address(
        name=address.name.strip(),
        street=address.street.strip(),
        city=address.city.strip(),
        postal_code=address.postal_code.strip(),
        country=address.country.strip().upper(),
        region=(address.region or "").strip(),
    )


def normalise_postal_code(postal_code: str) -> str:
    """A postal code as it is written on a label: its Latin letters in capitals, one space
    wherever it had spaces. "sw1a 1aa" and "SW1A  1AA" are the same as "SW1A 1AA", and an
    address change to them counted as a change (audited old and new, sent to the order).
    Full-width forms first as the letters and digits they stand for (NFKC): "ｓｗ1ａ" went
    through as typed, un-capitalised. Only ASCII letters: postal codes have no others, and
    "ß".upper() is two letters (entered_postal_code_problem refuses them)."""
    return " ".join(unicodedata.normalize("NFKC", postal_code).split()).translate(_ASCII_CAPITALS)


_ASCII_CAPITALS = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def entered_postal_code_problem(postal_code: str) -> str | None:
    """What a postal code normalised as entered (normalise_postal_code) may still not hold: a
    letter other than A to Z ("SW1Ä"), or anything but digits (of any script), spaces and
    hyphens. The operator's tools only: the workflow's rules, which runs already started
    replay, take any letter (postal_code_problem)."""
    for ch in postal_code:
        if not (ch in _LATIN_CAPITALS or ch.isdecimal() or ch in " -"):
            return f"The postal code may hold only A to Z, digits, spaces and hyphens, not {quoted(ch)}."
    return None


_LATIN_CAPITALS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def normalise_entered_address(address: Address) -> Address:
    """An address as the operator's tools take it (OrderService's create and address change, the
    TUI's form; so the CLI, the TUI and the API alike): normalise_address, and its postal code
    normalised too. Not in normalise_address itself: the workflow applies that one to Signals and
    in its handlers, and what they do for runs already started must not change."""
    normalised = normalise_address(address)
    return replace(normalised, postal_code=normalise_postal_code(normalised.postal_code))


def carrier_note(address: Address) -> str | None:
    """A warning, not a refusal: the address may still change before dispatch."""
    country = (address.country or "").strip().upper()
    if country in CARRIER_UNSERVED_COUNTRIES:
        return (
            f"{CARRIER} does not deliver to {country}: unless the address changes before dispatch,"
            " the order will fail at shipping and its payment will be refunded."
        )
    return None

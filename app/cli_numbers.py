"""The numbers of the command line as argparse types: one out of range is refused like one that
is no number at all, as a usage error (exit 2) in one sentence, as `logs -n` and `api --port`
refuse theirs. (`order list --limit 0` and `bench --orders 0` exited 1, `--limit abc` 2.)"""

from __future__ import annotations

import argparse
import math
import re
from typing import Callable

from app.checks import cut

# Plain decimal, as an operator writes it: a sign, then ASCII digits (and a point, for seconds).
# int() and float() also read "1_0" as 10, " 10 ", full-width "１０", and float() "1e3", "nan" and
# "inf": `--offset 1_0` skipped 10 orders without a word.
_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")


def plain_whole(text: str) -> int | None:
    """The whole number ``text`` writes in plain decimal, or None."""
    if not _WHOLE.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:  # past the digits int() reads (4,300): over any bound all the same
        return None


def plain_decimal(text: str) -> float | None:
    """The number ``text`` writes in plain decimal, or None (inf for more digits than a float holds)."""
    return float(text) if _DECIMAL.fullmatch(text) else None


def whole_number(what: str, low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number of ``what`` ("orders") from ``low`` to ``high`` (None: no bound above)."""
    span = f" from {low:,} to {high:,}" if high is not None else f", {low:,} or more"
    return _number(plain_whole, f"a whole number of {what}{span}", low, high)


def seconds(low: float = 0, high: float | None = None, *, positive: bool = False) -> Callable[[str], float]:
    """A finite number of seconds from ``low`` to ``high`` (None: no bound above), or above 0
    (``positive``)."""
    if positive:
        return _number(plain_decimal, "a positive number of seconds", 0, None, above_low=True)
    if high is None:
        return _number(plain_decimal, f"a number of seconds, {low:g} or more", low, None)
    return _number(plain_decimal, f"a number of seconds from {low:g} to {high:g}", low, high)


def _number(
    read: Callable[[str], float | None], said: str, low: float, high: float | None, above_low: bool = False
) -> Callable[[str], float]:
    def parse(text: str):
        number = read(text)
        # inf is no number of anything (the digits of a float's range and more read as it).
        within = number is not None and math.isfinite(number) and (low < number if above_low else low <= number)
        if not within or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"give {said}, not {cut(text)!r}.")
        return number

    return parse

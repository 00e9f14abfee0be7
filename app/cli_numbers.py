"""The numbers of the command line as argparse types: one out of range is refused like one that
is no number at all, as a usage error (exit 2) in one sentence, as `logs -n` and `api --port`
refuse theirs. (`order list --limit 0` and `bench --orders 0` exited 1, `--limit abc` 2.)"""

from __future__ import annotations

import argparse
import math
from typing import Callable

from app.checks import cut


def whole_number(what: str, low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number of ``what`` ("orders") from ``low`` to ``high`` (None: no bound above)."""
    span = f" from {low:,} to {high:,}" if high is not None else f", {low:,} or more"
    return _number(int, f"a whole number of {what}{span}", low, high)


def seconds(low: float = 0, high: float | None = None, *, positive: bool = False) -> Callable[[str], float]:
    """A finite number of seconds from ``low`` to ``high`` (None: no bound above), or above 0
    (``positive``)."""
    if positive:
        return _number(float, "a positive number of seconds", 0, None, above_low=True)
    if high is None:
        return _number(float, f"a number of seconds, {low:g} or more", low, None)
    return _number(float, f"a number of seconds from {low:g} to {high:g}", low, high)


def _number(
    kind: Callable[[str], float], said: str, low: float, high: float | None, above_low: bool = False
) -> Callable[[str], float]:
    def parse(text: str):
        try:
            number = kind(text)
        except ValueError:  # not a number (or one of more digits than int() reads)
            number = None
        # float() takes "nan" and "inf": neither is a number of anything; NaN fails every comparison.
        within = number is not None and math.isfinite(number) and (low < number if above_low else low <= number)
        if not within or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"give {said}, not {cut(text)!r}.")
        return number

    return parse

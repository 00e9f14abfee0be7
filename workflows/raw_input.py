"""A workflow's start input, decoded by the workflow itself rather than by the SDK.

The SDK decodes a start input before any workflow code runs; one it cannot decode to the run
method's dataclass (a hand-typed `temporal workflow start --input` with `"quantity": "1"`)
failed the first workflow task on every retry ("Failed decoding arguments"), and the run stood
still, in view only as the Web UI's pending task failure. Taking the input as a RawValue and
decoding it here with the same converter gives a well-formed input exactly what the SDK gave
(so every recorded history replays), and a malformed one a sentence the workflow fails with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

T = TypeVar("T")

# The failure type of a workflow whose input is unusable (workers/failures.py: no stack trace).
INVALID_INPUT = "InvalidInput"

# temporalio's converter names the field or index that failed, outermost first, then the cause.
_FIELD = re.compile(r"^Failed converting field (\w+) on dataclass ")
_INDEX = re.compile(r"^Failed converting .* (?:index|key) (.+)$")


# The run method's default: a start with no input at all (`temporal workflow start` without
# --input) gets this, where the SDK failed the first task for ever ("missing 1 required
# positional argument"). Not None: before Python 3.11 a None default made the hint Optional,
# and the SDK hands a RawValue only to a parameter hinted exactly RawValue.
NO_INPUT = RawValue(Payload())


@dataclass
class Decoded(Generic[T]):
    value: T | None
    problem: str | None = None  # one sentence: why the input is not a T
    plain: Any = None  # the input as plain JSON values (a dict, say), when it is not a T


def decode(raw: RawValue, hint: type[T]) -> Decoded[T]:
    if raw is NO_INPUT or raw.payload == NO_INPUT.payload:  # (any client's payload has an encoding)
        article = "an" if hint.__name__[:1] in "AEIOU" else "a"
        return Decoded(None, f"The workflow was started with no input: it takes {article} {hint.__name__}.")
    converter = workflow.payload_converter()
    try:
        value = converter.from_payload(raw.payload, hint)
    except Exception as error:  # a converter error of any kind: the input is not a T
        try:
            plain = converter.from_payload(raw.payload)
        except Exception:
            plain = None
        return Decoded(None, f"The workflow input is not a valid {hint.__name__}: {_where_and_why(error)}.", plain)
    if not isinstance(value, hint):
        # Only a JSON payload is converted to the hint: a null (binary/null, a client's None) or
        # bytes (binary/plain) come back as they are, whatever the hint.
        kind = "null" if value is None else type(value).__name__
        return Decoded(None, f"The workflow input is not a valid {hint.__name__}: it is {kind}.", value)
    return Decoded(value)


def _where_and_why(error: BaseException) -> str:
    """ "items[0].quantity: Expected value to be int, was <class 'str'>" from the converter's
    chain of TypeErrors."""
    path = ""
    while True:
        message = str(error)
        if field := _FIELD.match(message):
            path += f".{field[1]}"
        elif index := _INDEX.match(message):
            path += f"[{index[1]}]"
        else:
            break
        if error.__cause__ is None:
            break
        error = error.__cause__
    message = message.rstrip(".") or type(error).__name__
    return f"{path.lstrip('.')}: {message}" if path else message


def unusable(problem: str) -> ApplicationError:
    """What the workflow fails with: the sentence, for good (no retry can make the input usable)."""
    return ApplicationError(problem, type=INVALID_INPUT, non_retryable=True)

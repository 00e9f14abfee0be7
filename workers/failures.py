"""How workers turn an exception into a Temporal failure: the SDK's default conversion with a
cheaper stack trace.

The default formats every frame with its source line (linecache, and on Python 3.11 an ast
parse per frame for the caret positions). Each retried flaky error is encoded that way, about
seven times per order, and it was ~7 % of a worker's CPU. This keeps the same frames (file,
line, function) and leaves out the source text, which the failure's reader can look up.

A refusal (an ApplicationError of type Refused: an operator's command the order cannot take)
is an answer, not a fault, and carries no stack trace at all: a late command refused on record
kept the worker's file paths in the order's history and the Web UI beside "Order o-1 is already
REJECTED." (a review). Nor does a workflow input refused (InvalidInput): its message is the answer."""

from __future__ import annotations

import traceback
from types import TracebackType

import temporalio.api.failure.v1
from temporalio.converter import DefaultFailureConverter, PayloadConverter
from temporalio.exceptions import ApplicationError

from workflows.raw_input import INVALID_INPUT

# The type of an operator's command refused (workflows/command_rules.py, workflows/signals.py).
REFUSED = "Refused"


def compact_stack(tb: TracebackType | None) -> str:
    return "\n".join(
        f'  File "{frame.f_code.co_filename}", line {line}, in {frame.f_code.co_name}'
        for frame, line in traceback.walk_tb(tb)
    )


class CompactStackFailureConverter(DefaultFailureConverter):
    def to_failure(
        self,
        exception: BaseException,
        payload_converter: PayloadConverter,
        failure: temporalio.api.failure.v1.Failure,
    ) -> None:
        tb = exception.__traceback__
        if tb is None:
            super().to_failure(exception, payload_converter, failure)
            return
        # The default converter formats exception.__traceback__; hide it for the call and
        # put the compact form in its place. Causes come back through this method.
        exception.__traceback__ = None
        try:
            super().to_failure(exception, payload_converter, failure)
        finally:
            exception.__traceback__ = tb
        refused = isinstance(exception, ApplicationError) and exception.type in (REFUSED, INVALID_INPUT)
        if not failure.stack_trace and not refused:
            failure.stack_trace = compact_stack(tb)

"""The workers' failure converter: the default conversion, with stack traces that keep every
frame but not the source lines."""

from __future__ import annotations

import temporalio.api.failure.v1
from temporalio.converter import DataConverter, DefaultFailureConverter
from temporalio.exceptions import ApplicationError

from workers.failures import CompactStackFailureConverter


def _inner() -> None:
    raise RuntimeError("Forced failure for testing")


def _outer() -> None:
    try:
        _inner()
    except RuntimeError as error:
        raise ApplicationError("charge failed", type="ChargeError", non_retryable=True) from error


def _raised() -> BaseException:
    try:
        _outer()
    except ApplicationError as error:
        return error
    raise AssertionError("nothing raised")


def _convert(converter) -> temporalio.api.failure.v1.Failure:
    failure = temporalio.api.failure.v1.Failure()
    converter.to_failure(_raised(), DataConverter.default.payload_converter, failure)
    return failure


def _without_stacks(failure: temporalio.api.failure.v1.Failure) -> temporalio.api.failure.v1.Failure:
    copy = temporalio.api.failure.v1.Failure()
    copy.CopyFrom(failure)
    node = copy
    while node is not None:
        node.stack_trace = ""
        node = node.cause if node.HasField("cause") else None
    return copy


def test_the_failure_is_the_default_one_but_for_the_stack_traces():
    compact = _convert(CompactStackFailureConverter())
    default = _convert(DefaultFailureConverter())
    assert _without_stacks(compact) == _without_stacks(default)
    assert compact.application_failure_info.non_retryable is True
    assert compact.cause.message == "Forced failure for testing"
    assert compact.cause.application_failure_info.type == "RuntimeError"


def test_stack_traces_keep_every_frame_and_leave_out_the_source():
    compact = _convert(CompactStackFailureConverter())
    default = _convert(DefaultFailureConverter())
    assert "in _outer" in compact.stack_trace and "in _raised" in compact.stack_trace
    assert "in _inner" in compact.cause.stack_trace
    assert 'raise RuntimeError("Forced failure for testing")' in default.cause.stack_trace
    assert "raise RuntimeError" not in compact.cause.stack_trace
    assert compact.stack_trace.count('File "') == default.stack_trace.count('File "')
    assert compact.cause.stack_trace.count('File "') == default.cause.stack_trace.count('File "')


def test_the_exception_keeps_its_traceback():
    error = _raised()
    before = error.__traceback__
    CompactStackFailureConverter().to_failure(error, DataConverter.default.payload_converter, temporalio.api.failure.v1.Failure())
    assert error.__traceback__ is before and before is not None


def test_a_refused_command_carries_no_stack_trace():
    """A late command refused on record kept the worker's file paths in the order's history and
    the Web UI beside "Order o-1 is already REJECTED." (a review): a refusal is an answer."""
    try:
        raise ApplicationError("Order o-1 is already REJECTED.", type="Refused", non_retryable=True)
    except ApplicationError as error:
        refused = error
    failure = temporalio.api.failure.v1.Failure()
    CompactStackFailureConverter().to_failure(refused, DataConverter.default.payload_converter, failure)
    assert failure.message == "Order o-1 is already REJECTED." and failure.application_failure_info.type == "Refused"
    assert failure.stack_trace == "" and refused.__traceback__ is not None
    other = temporalio.api.failure.v1.Failure()
    CompactStackFailureConverter().to_failure(_raised(), DataConverter.default.payload_converter, other)
    assert other.stack_trace


def test_an_unusable_workflow_input_carries_no_stack_trace():
    """The workflow's failure for an input no order can be made of is its sentence alone: the
    worker's frames said nothing more (workflows/raw_input.py)."""
    from workflows.raw_input import unusable

    try:
        raise unusable("The workflow input is not a valid OrderInput: review_window_seconds: Expected a number.")
    except ApplicationError as error:
        failure = temporalio.api.failure.v1.Failure()
        CompactStackFailureConverter().to_failure(error, DataConverter.default.payload_converter, failure)
    assert failure.application_failure_info.type == "InvalidInput" and failure.application_failure_info.non_retryable
    assert failure.stack_trace == ""

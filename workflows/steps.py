"""How both workflows run a step: a local activity with bounded attempts, then, if something
is down, a regular activity that the server retries; and what a failed step's error says."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from workflows import policies
    from workflows.patches import CANCEL_STOPS_THE_STEP, LONG_RETRIES_ON_THE_SERVER

# How a step that failed for good surfaces in the workflow: a local activity's failure arrives
# as the ApplicationError itself (non-retryable, or the last of its retries), a last attempt
# that timed out as an ActivityError around a TimeoutError when it happens, but as the bare
# TimeoutError when the history is replayed (temporalio 1.35 rebuilds it from the marker, which
# keeps only the timeout). Catching only the first, a replay took another path than the run
# had (a nondeterminism error after a worker restart or a cache eviction).
STEP_FAILED = (ActivityError, ApplicationError, TemporalTimeoutError)


def _innermost(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def failure_type(error: BaseException) -> str:
    cause = _innermost(error)
    return (cause.type or "") if isinstance(cause, ApplicationError) else type(cause).__name__


def failure_message(error: BaseException) -> str:
    """The innermost message of an activity failure: what actually went wrong."""
    cause = _innermost(error)
    if isinstance(cause, ApplicationError) and cause.message:
        return cause.message
    return str(cause) or type(cause).__name__


def cancelled(error: BaseException, patched: Callable[[str], bool] = workflow.patched) -> bool:
    """A step cut off by a cancel of its workflow (ActivityError around CancelledError): that
    cancel must end the workflow, not be retried. ``patched``: as in run_step; asked only then."""
    return isinstance(_innermost(error), CancelledError) and patched(CANCEL_STOPS_THE_STEP)


def _failed_for_good(error: BaseException) -> bool:
    cause = _innermost(error)
    return isinstance(cause, ApplicationError) and (cause.non_retryable or (cause.type or "") in policies.NON_RETRYABLE)


async def run_step(
    activity: Callable,
    arg: Any,
    step: policies.Step,
    local_attempts: int = 0,
    patched: Callable[[str], bool] = workflow.patched,
    before_server: Callable[[], None] | None = None,
) -> Any:
    """A step as a local activity with bounded attempts (``local_attempts``, 0: the step's own);
    once they run out without a failure for good (something is down), as a regular activity
    that the server retries for as long as it takes (policies.py, SERVER_RETRY). ``patched``:
    how the workflow asks for a patch (OrderWorkflow._patched); ``before_server``: called just
    before the regular activity is scheduled (the workflow task ends there)."""
    local_attempts = local_attempts or step.local_attempts
    try:
        return await workflow.execute_local_activity_method(
            activity,
            arg,
            start_to_close_timeout=step.start_to_close,
            retry_policy=replace(step.retry, maximum_attempts=local_attempts),
        )
    except STEP_FAILED as error:
        if _failed_for_good(error) or cancelled(error, patched) or not patched(LONG_RETRIES_ON_THE_SERVER):
            raise
        workflow.logger.warning(
            "event=step_retried_on_server workflow_id=%s activity=%s local_attempts=%d last_error=%r",
            workflow.info().workflow_id, getattr(activity, "__name__", activity), local_attempts, failure_message(error),
        )
    if before_server is not None:
        before_server()
    return await workflow.execute_activity_method(
        activity, arg, start_to_close_timeout=step.server_start_to_close, retry_policy=policies.SERVER_RETRY
    )

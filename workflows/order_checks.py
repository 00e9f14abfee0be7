"""What OrderWorkflow checks of its input that the operator's tools check before they start an
order: one started by other means may carry values none of its steps or timers can run with."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import policies
    from workflows.model import ORDER_ID_PATTERN, Address, OrderInput, order_id_from_workflow_id
    from workflows.patches import SHIPPING_ATTEMPTS_CHECKED


def unusable_order(plain: Any) -> OrderInput:
    """The stand-in for an input no order can be made of: its order id if it has a usable one
    (else the workflow id's), no items, no address, for the status Query and the log lines."""
    order_id = plain.get("order_id") if isinstance(plain, dict) else None
    if not (isinstance(order_id, str) and ORDER_ID_PATTERN.match(order_id)):
        order_id = order_id_from_workflow_id(workflow.info().workflow_id)
    return OrderInput(order_id=order_id, items=[], address=Address(name="", street="", city="", postal_code="", country=""))


def input_problem(order: OrderInput, patched: Callable[[str], bool]) -> str | None:
    """Why the order cannot run as it was started, if it cannot; checked before ValidateOrder.
    ``patched``: OrderWorkflow._patched."""
    return (
        review_window_problem(order.review_window_seconds)
        or local_attempts_problem(order.local_attempts)
        or shipping_attempts_problem(order.max_shipping_attempts, patched)
    )


def review_window_problem(seconds: Any) -> str | None:
    """The operator's tools take a window of 1 s to 30 days. An order started by other means
    may have one no timer can be made of (not a number, or ending past the year 9999): its
    workflow task failed on every retry, and the order stood still in review. Any window that
    works, however odd, is kept (a replay must take the path its run took)."""
    now = workflow.now()
    margin = timedelta(days=1)
    latest = (datetime.max.replace(tzinfo=timezone.utc) - margin - now).total_seconds()
    earliest = (datetime.min.replace(tzinfo=timezone.utc) + margin - now).total_seconds()
    if isinstance(seconds, (int, float)) and math.isfinite(seconds) and earliest <= seconds <= latest:
        return None
    return f"the review window must be a number of seconds a timer can run for, not {seconds!r}."


def local_attempts_problem(attempts: Any) -> str | None:
    """The tools leave local_attempts at 0 (each step's own bound). An order started by other
    means may have one no retry policy can be made of (below 0, or past an int32): its
    first workflow task failed on every retry, before the order was stored. Its steps run with
    their own bound instead (OrderSteps.local_attempts), and the order ends FAILED here, on record."""
    return policies.local_attempts_problem(attempts)


def shipping_attempts_problem(attempts: Any, patched: Callable[[str], bool]) -> str | None:
    """The tools send 3. An order started by other means with fewer than 1 was charged, tried
    no shipping, and was refunded; it fails here instead, before any money moves (asked only
    for such a value: SHIPPING_ATTEMPTS_CHECKED)."""
    if type(attempts) is int and attempts >= 1:
        return None
    if not patched(SHIPPING_ATTEMPTS_CHECKED):
        return None
    return f"max_shipping_attempts must be a whole number from 1, not {attempts!r}."

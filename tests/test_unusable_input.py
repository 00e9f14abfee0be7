"""A workflow started by hand with an input the converter cannot decode (`temporal workflow
start --input '{... "quantity": "1"}'`) fails, closed, with a one-sentence reason; before, its
first workflow task failed for ever ("Failed decoding arguments") and nothing but the Web UI's
pending task failure showed it. On the real dev server, the real workflows, stand-in steps."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from tests.conftest import an_order, workers
from tests.fakes import FakeActivities
from workflows.model import ORDER_STATE_ATTRIBUTE, Address, OrderItem, ShippingInput
from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow

ADDRESS = Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")


def _as_typed_by_hand(fakes: FakeActivities, order_id: str, **wrong: Any) -> dict:
    """An order's input as plain JSON, as `temporal workflow start --input` sends it."""
    order = dataclasses.asdict(an_order(fakes, order_id))
    for field, value in wrong.items():
        order[field] = value
    return order


async def _failure_of(handle) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 20)  # before the fix: never (its task failed for ever)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


@pytest.mark.parametrize(
    ("wrong", "reason"),
    [
        (
            {"review_window_seconds": "abc"},
            "The workflow input is not a valid OrderInput: review_window_seconds: Expected value to be int|float,"
            " was <class 'str'>.",
        ),
        (
            {"items": [{"sku": "WIDGET-1", "quantity": "1"}]},
            "The workflow input is not a valid OrderInput: items[0].quantity: Expected value to be int|float,"
            " was <class 'str'>.",
        ),
    ],
)
async def test_an_order_started_by_hand_with_a_wrongly_typed_field_fails_with_the_reason(
    dev_env, fakes: FakeActivities, wrong: dict, reason: str
):
    order_id = f"t-{uuid.uuid4().hex[:10]}"
    async with workers(dev_env, fakes):
        handle = await dev_env.client.start_workflow(
            "OrderWorkflow",
            _as_typed_by_hand(fakes, order_id, **wrong),
            id=f"order-{order_id}",
            task_queue=fakes.order_task_queue,
            execution_timeout=timedelta(minutes=5),
        )
        failure = await _failure_of(handle)
        assert (failure.message, failure.type, failure.non_retryable) == (reason, "InvalidInput", True)
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.FAILED
        # Where operators look: the OrderState attribute and the status Query say FAILED, why.
        assert description.typed_search_attributes.get(ORDER_STATE_ATTRIBUTE) == "FAILED"
        status = await handle.query(OrderWorkflow.status)
        assert (status.order_id, status.state.value, status.terminal, status.failure_reason) == (
            order_id, "FAILED", True, reason,
        )
        # Nothing was stored: no row invented from an input no order can be made of.
        assert dict(fakes.calls) == {}
        history = await handle.fetch_history()
    await Replayer(workflows=[OrderWorkflow, ShippingWorkflow]).replay_workflow(history)


async def test_an_order_input_that_is_not_an_object_fails_under_its_workflow_ids_order(dev_env, fakes: FakeActivities):
    order_id = f"t-{uuid.uuid4().hex[:10]}"
    async with workers(dev_env, fakes):
        handle = await dev_env.client.start_workflow(
            "OrderWorkflow", "hello", id=f"order-{order_id}", task_queue=fakes.order_task_queue
        )
        failure = await _failure_of(handle)
        assert failure.message.startswith("The workflow input is not a valid OrderInput: Cannot convert to dataclass")
        assert (await handle.query(OrderWorkflow.status)).order_id == order_id


@pytest.mark.parametrize("command", ["approve", "cancel"])
async def test_a_command_sent_with_the_start_of_an_unusable_order_is_refused(dev_env, fakes: FakeActivities, command):
    """An Update delivered with the start runs before run(): it finds the order FAILED already,
    and its sender hears so (a signal's refusal has no one to hear it)."""
    order_id = f"t-{uuid.uuid4().hex[:10]}"
    start = WithStartWorkflowOperation(
        "OrderWorkflow",
        _as_typed_by_hand(fakes, order_id, review_window_seconds="abc"),
        id=f"order-{order_id}",
        task_queue=fakes.order_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    async with workers(dev_env, fakes):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(
                dev_env.client.execute_update_with_start_workflow(command, start_workflow_operation=start), 20
            )
        assert refused.value.cause.message == f"Order {order_id} is already FAILED."
        await _failure_of(await start.workflow_handle())
        assert dict(fakes.calls) == {}


async def test_a_shipping_child_started_by_hand_with_a_wrongly_typed_field_fails_with_the_reason(
    dev_env, fakes: FakeActivities
):
    order_id = f"t-{uuid.uuid4().hex[:10]}"
    child = dataclasses.asdict(ShippingInput(order_id, f"order-{order_id}", ADDRESS, [OrderItem("WIDGET-1", 1)]))
    child["shipping_attempt"] = "2"
    async with workers(dev_env, fakes):
        handle = await dev_env.client.start_workflow(
            "ShippingWorkflow", child, id=f"shipping-{order_id}-2", task_queue=fakes.shipping_task_queue
        )
        failure = await _failure_of(handle)
        assert (failure.message, failure.type, failure.non_retryable) == (
            "The workflow input is not a valid ShippingInput: shipping_attempt: Expected value to be int|float,"
            " was <class 'str'>.",
            "InvalidInput",
            True,
        )
        assert (await handle.query(ShippingWorkflow.status)).step == "failed: unusable input"
        assert dict(fakes.calls) == {}
        history = await handle.fetch_history()
    await Replayer(workflows=[OrderWorkflow, ShippingWorkflow]).replay_workflow(history)


@pytest.mark.parametrize("workflow", ["OrderWorkflow", "ShippingWorkflow"])
async def test_a_workflow_started_by_hand_with_no_input_fails_with_the_reason(dev_env, fakes: FakeActivities, workflow):
    """`temporal workflow start --type OrderWorkflow` without --input: the SDK failed the first
    task for ever ("missing 1 required positional argument")."""
    order_id = f"t-{uuid.uuid4().hex[:10]}"
    queue = fakes.order_task_queue if workflow == "OrderWorkflow" else fakes.shipping_task_queue
    async with workers(dev_env, fakes):
        handle = await dev_env.client.start_workflow(workflow, id=f"order-{order_id}", task_queue=queue)
        failure = await _failure_of(handle)
        wanted = "an OrderInput" if workflow == "OrderWorkflow" else "a ShippingInput"
        assert (failure.message, failure.type) == (
            f"The workflow was started with no input: it takes {wanted}.", "InvalidInput"
        )
        assert dict(fakes.calls) == {}


@pytest.mark.parametrize("attempts", [-1, 2**31])
async def test_a_shipping_child_started_by_hand_with_local_attempts_no_step_can_take_fails(
    dev_env, fakes: FakeActivities, attempts
):
    """Its first step's retry policy could not be made ("Maximum attempts cannot be negative"):
    its first workflow task failed for ever."""
    order_id = f"t-{uuid.uuid4().hex[:10]}"
    child = ShippingInput(order_id, f"order-{order_id}", ADDRESS, [OrderItem("WIDGET-1", 1)], local_attempts=attempts)
    async with workers(dev_env, fakes):
        handle = await dev_env.client.start_workflow(
            ShippingWorkflow.run, child, id=f"shipping-{order_id}-1", task_queue=fakes.shipping_task_queue
        )
        failure = await _failure_of(handle)
        assert (failure.message, failure.type) == (
            f"local_attempts must be a whole number from 0 to {2**31 - 1}, not {attempts}.", "InvalidInput"
        )
        assert dict(fakes.calls) == {}


@pytest.mark.parametrize("workflow", ["OrderWorkflow", "ShippingWorkflow"])
@pytest.mark.parametrize(("value", "kind"), [(None, "null"), (b"order", "bytes")], ids=["null", "bytes"])
async def test_a_workflow_started_by_hand_with_a_null_or_bytes_input_fails_with_the_reason(
    dev_env, fakes: FakeActivities, workflow, value, kind
):
    """A client's None (binary/null) or bytes (binary/plain) are handed back by the converter as
    they are, whatever the type asked for: a null order ran as an empty stand-in and stored a row,
    a null child failed with no reason, and bytes failed the first workflow task for ever."""
    order_id = f"t-{uuid.uuid4().hex[:10]}"
    queue = fakes.order_task_queue if workflow == "OrderWorkflow" else fakes.shipping_task_queue
    async with workers(dev_env, fakes):
        handle = await dev_env.client.start_workflow(workflow, value, id=f"order-{order_id}", task_queue=queue)
        failure = await _failure_of(handle)
        wanted = "OrderInput" if workflow == "OrderWorkflow" else "ShippingInput"
        assert (failure.message, failure.type) == (
            f"The workflow input is not a valid {wanted}: it is {kind}.", "InvalidInput"
        )
        assert dict(fakes.calls) == {}

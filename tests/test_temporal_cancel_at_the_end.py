"""A cancel requested through Temporal that reaches the workflow in the same workflow task as
its last step's result, on a real dev server: the SDK hands the workflow the cancel before
the result, so the cancel finds the carrier with the package and is refused and audited like
any other that comes too late, and the workflow completes (a review feared it would close
CANCELED, dropping what it still owed its audit trail, had the result come first)."""

from __future__ import annotations

import asyncio
import uuid

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from tests.conftest import an_order, awaiting_review, eventually, start_order
from tests.fakes import FakeActivities
from workflows.model import OrderState
from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow


def order_worker(env, fakes: FakeActivities) -> Worker:
    """Workflow tasks and local activities only: a regular activity goes to the other worker."""
    return Worker(
        env.client,
        task_queue=fakes.order_task_queue,
        workflows=[OrderWorkflow],
        activities=fakes.order_activities(),
        no_remote_activities=True,
    )


async def test_a_temporal_cancel_that_comes_with_the_last_steps_result_is_refused_and_the_order_ships(dev_env):
    fakes = FakeActivities()
    order = an_order(fakes, f"c-{uuid.uuid4().hex[:10]}", local_attempts=2)
    # MarkShipped finds the database down for its local attempts, then runs on the server, held.
    fakes.failures["MarkShipped"].extend(ConnectionRefusedError("database down") for _ in range(2))
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_the_server_attempt(_input) -> None:
        if activity.info().is_local:
            fakes.hooks["MarkShipped"] = hold_the_server_attempt
            return
        held.set()
        await release.wait()

    fakes.hooks["MarkShipped"] = hold_the_server_attempt
    client = dev_env.client
    async with Worker(
        client, task_queue=fakes.order_task_queue, activities=fakes.order_activities()
    ), Worker(
        client, task_queue=fakes.shipping_task_queue, workflows=[ShippingWorkflow], activities=fakes.shipping_activities()
    ):
        async with order_worker(dev_env, fakes):
            handle = await start_order(dev_env, fakes, order)
            await awaiting_review(handle)
            await handle.signal("approve")
            await asyncio.wait_for(held.wait(), 30)
        # No workflow worker now: the cancel and the step's result wait for the same task.
        await handle.cancel()
        release.set()
        await eventually(lambda: _activity_completed(handle), f"an ActivityTaskCompleted (MarkShipped's) in {handle.id}'s history")
        async with order_worker(dev_env, fakes):
            result = await handle.result()
    assert result.state == OrderState.SHIPPED
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    refusals = [e.payload for e in fakes.calls["RecordEvent"] if e.event_type == "command_refused"]
    assert refusals == [
        {"command": "cancel", "reason": f"Order {order.order_id} cannot be cancelled: the carrier already has the package."}
    ]


async def _activity_completed(handle) -> bool:
    from temporalio.api.enums.v1 import EventType

    return any(
        [e async for e in handle.fetch_history_events() if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    )

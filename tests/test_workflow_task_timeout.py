"""A workflow task handed to a poll that is gone costs WORKFLOW_TASK_TIMEOUT, not the SDK's 10 s.

Under full load the dev server sometimes records a workflow task as started for a poll whose
caller has given up; no worker sees that task until it times out (workflows/policies.py). Both
workflows of an order are started with the shorter timeout, and an order whose task was lost
that way still ships."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import PollWorkflowTaskQueueRequest
from temporalio.worker import Worker

from tests.conftest import an_order, start_order
from tests.fakes import FakeActivities
from tests.test_service_commands import recorded_start
from tests.test_web_ui_metadata import ADDRESS
from workflows import policies
from workflows.model import OrderItem, shipping_workflow_id
from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow


def test_the_timeout_is_shorter_than_the_sdk_default_and_leaves_room_for_a_slow_task():
    # 1.6 s was the slowest task without a local activity measured at C=100; 4 s was too short at C=200.
    assert timedelta(seconds=5) <= policies.WORKFLOW_TASK_TIMEOUT < timedelta(seconds=10)


async def test_an_order_is_started_with_the_workflow_task_timeout(monkeypatch):
    client = await recorded_start(monkeypatch, order_id="o-9", items=[OrderItem("SKU-1", 1)], address=ADDRESS)
    assert client.kwargs["task_timeout"] == policies.WORKFLOW_TASK_TIMEOUT


async def _lose_one_workflow_task(env, task_queue: str) -> str:
    """Poll one workflow task of the queue as a worker would, and never complete it."""
    response = await env.client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=env.client.namespace, task_queue=TaskQueue(name=task_queue), identity="lost-poll"
        )
    )
    return response.workflow_execution.workflow_id


async def test_a_shipping_task_lost_after_it_started_is_handed_out_again_after_the_timeout(
    workflow_env, fakes: FakeActivities
):
    order = an_order(fakes, f"t-{uuid.uuid4().hex[:10]}", address=ADDRESS)
    child_id = shipping_workflow_id(order.order_id, 1)
    async with Worker(
        workflow_env.client,
        task_queue=fakes.order_task_queue,
        workflows=[OrderWorkflow],
        activities=fakes.order_activities(),
    ):
        # Started with the SDK's default (as by hand): the child's timeout is its own, not inherited.
        handle = await start_order(workflow_env, fakes, order)
        await handle.signal("approve")
        # No shipping worker polls yet: the child's first task goes to this poll, which drops it.
        assert await _lose_one_workflow_task(workflow_env, fakes.shipping_task_queue) == child_id
        async with Worker(
            workflow_env.client,
            task_queue=fakes.shipping_task_queue,
            workflows=[ShippingWorkflow],
            activities=fakes.shipping_activities(),
        ):
            result = await handle.result()
    assert result.state.value == "SHIPPED"

    events = [event async for event in workflow_env.client.get_workflow_handle(child_id).fetch_history_events()]
    started = events[0].workflow_execution_started_event_attributes
    assert started.workflow_task_timeout.ToTimedelta() == policies.WORKFLOW_TASK_TIMEOUT
    kinds = [event.event_type for event in events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT in kinds
    lost = next(event for event in events if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    assert lost.workflow_task_started_event_attributes.identity == "lost-poll"


class _Built(Exception):
    """Raised by the stand-in Worker once the runner has built it: nothing past that matters here."""


async def test_a_worker_moves_its_sticky_tasks_to_every_worker_after_the_sticky_wait(monkeypatch):
    """A task left on a killed worker's own queue waits this long, not the SDK's 10 s."""
    from workers import runner

    built: dict = {}

    def worker(client, **kwargs):
        built.update(kwargs)
        raise _Built

    async def connect(*args, **kwargs):
        return object()

    async def pool_when_reachable(*args, **kwargs):
        return object()

    monkeypatch.setattr(runner.Client, "connect", connect)
    monkeypatch.setattr(runner, "_pool_when_reachable", pool_when_reachable)
    monkeypatch.setattr(runner, "Worker", worker)
    monkeypatch.setattr(runner, "configure_logging", lambda: None)
    monkeypatch.delenv(runner.liveness.PATH_VARIABLE, raising=False)
    with pytest.raises(_Built):
        await runner.run_worker(name="order-worker", task_queue="q", workflows=[], activities=lambda pool: [])
    assert built["sticky_queue_schedule_to_start_timeout"] == policies.STICKY_TASK_WAIT < timedelta(seconds=10)

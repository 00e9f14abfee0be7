"""An order whose workflow was closed while its shipping child ran, on a real dev server: the
reset that order status advises goes on, and the one it used to advise (to the last workflow
task) leaves the order waiting for a child that ended with the old run, which status tells."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from app import unfinished
from app.unfinished import Stall, find_stall, reset_command, reset_point, temporal_cli
from tests.conftest import an_order, awaiting_review, eventually, start_order, state_of, workers
from tests.fakes import FakeActivities
from workflows.model import OrderState, PaymentStatus, shipping_workflow_id
from workflows.order import OrderWorkflow

RPC_TIMEOUT = timedelta(seconds=5)


async def reset(handle: WorkflowHandle, event_id: int) -> WorkflowHandle:
    client = handle._client
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.run_id or ""),
            reason="test",
            workflow_task_finish_event_id=event_id,
            request_id=str(uuid.uuid4()),
        )
    )
    return client.get_workflow_handle_for(OrderWorkflow.run, handle.id, run_id=response.run_id)


async def last_workflow_task(handle: WorkflowHandle) -> int:
    return [
        event.event_id
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ][-1]


async def test_an_order_terminated_while_shipping_goes_on_after_the_reset_status_advises(dev_env, monkeypatch):
    monkeypatch.setattr(unfinished, "CHILD_END_UNHEARD", timedelta(0))
    fakes = FakeActivities()
    order = an_order(fakes, f"u-{uuid.uuid4().hex[:10]}")
    child_id = shipping_workflow_id(order.order_id, 1)
    client = dev_env.client
    # No shipping worker yet: the child is started and waits for one.
    async with Worker(client, task_queue=fakes.order_task_queue, workflows=[OrderWorkflow], activities=fakes.order_activities()):
        handle = await start_order(dev_env, fakes, order)
        await awaiting_review(handle)
        await handle.signal("approve")
        await eventually(lambda: _running(client.get_workflow_handle(child_id)), f"{child_id} running")
        await eventually(
            lambda: _task_completed_after(handle, EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED),
            f"a workflow task of {handle.id} completed after its child started",
        )
    await handle.terminate("an operator, in the Web UI")
    # The child is closed with its parent (ParentClosePolicy TERMINATE) and the parent never hears.
    await eventually(lambda: _closed(client.get_workflow_handle(child_id)), f"{child_id} closed with its parent")

    stall = await find_stall(client, handle, RPC_TIMEOUT)
    started_child = await reset_point(handle)
    assert started_child is not None and started_child < await last_workflow_task(handle)
    assert stall == Stall(closed="TERMINATED", reset_event_id=started_child)

    # The old advice: the new run keeps the child's start and waits for it for ever.
    stuck = await reset(handle, await last_workflow_task(handle))
    async with workers(dev_env, fakes):
        await eventually(lambda: _has_task_completed_after_reset(stuck), "a workflow task of the reset run completed")
        assert await state_of(stuck) == OrderState.PAID.value
        assert await find_stall(client, stuck, RPC_TIMEOUT) == Stall(
            closed=None, reset_event_id=started_child, child=child_id, child_status="TERMINATED"
        )
        # The advice now: the task that started the child runs again, and the order ships.
        resumed = await reset(stuck, started_child)
        result = await resumed.result()
    assert result.state == OrderState.SHIPPED
    assert result.payment.status == PaymentStatus.CHARGED
    assert await find_stall(client, resumed, RPC_TIMEOUT) is None


async def test_the_stall_of_an_order_is_its_own_runs_when_a_run_of_another_chain_is_the_latest(dev_env):
    """A run started by hand under order-X after the order's workflow was terminated (another run
    chain, which ReceiveOrder refuses) is the latest under the id: the stall is the order's run's,
    and the reset names that run, where one without -r resets the other."""
    fakes = FakeActivities()
    order = an_order(fakes, f"c-{uuid.uuid4().hex[:10]}")
    client = dev_env.client
    async with workers(dev_env, fakes):
        handle = await start_order(dev_env, fakes, order)
        await awaiting_review(handle)
    own_run = (await handle.describe()).run_id
    await handle.terminate("an operator, in the Web UI")
    # It stands for the refused run (no worker serves its task queue): the latest, of another chain.
    stray = await client.start_workflow(
        OrderWorkflow.run, order, id=handle.id, task_queue=f"nobody-{uuid.uuid4().hex[:6]}"
    )
    await stray.terminate("refused")
    latest = client.get_workflow_handle(handle.id)

    stall = await find_stall(client, latest, RPC_TIMEOUT, first_run_id=own_run)
    assert stall == Stall(closed="TERMINATED", run_id=own_run)
    assert reset_command(order.order_id, "127.0.0.1:7233", stall) == (
        f"{temporal_cli()} workflow reset --address 127.0.0.1:7233 -w {handle.id} -r {own_run} --type LastWorkflowTask"
        f" --reason 'resume order {order.order_id}'"
    )
    # A row with no chain on record (stored before it was): the latest run, as before.
    assert await find_stall(client, latest, RPC_TIMEOUT) == Stall(closed="TERMINATED")
    # The latest run is the order's (reset by its id): nothing more asked, nothing named.
    own = client.get_workflow_handle(handle.id, run_id=own_run)
    resumed = await reset(own, await last_workflow_task(own))
    assert (await latest.describe()).run_id == resumed.result_run_id
    await resumed.terminate("again")
    assert await find_stall(client, latest, RPC_TIMEOUT, first_run_id=own_run) == Stall(closed="TERMINATED")


async def _running(handle: WorkflowHandle) -> bool:
    try:
        return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # not started yet
            return False
        raise


async def _closed(handle: WorkflowHandle) -> bool:
    return (await handle.describe()).status not in (None, WorkflowExecutionStatus.RUNNING)


async def _has_task_completed_after_reset(handle: WorkflowHandle) -> bool:
    """The reset run's first workflow task (after the one the reset failed) has completed."""
    return await _task_completed_after(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)


async def _task_completed_after(handle: WorkflowHandle, event_type: int) -> bool:
    """A workflow task has completed after the first event of ``event_type``."""
    seen = False
    async for event in handle.fetch_history_events():
        if event.event_type == event_type:
            seen = True
        elif seen and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return True
    return False


async def _review_timers(handle: WorkflowHandle) -> list[float]:
    """The review timers of the run, in seconds (the approval's 1 ms pause aside)."""
    return [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]


@pytest.mark.parametrize("from_record", [True, False])
async def test_a_reset_during_review_keeps_what_was_left_of_the_window(dev_env, from_record):
    """The reset `order status` advises re-runs the task that started the review timer; that
    task used to start a whole new window (a Temporal review: 32.6 s of review in a 20 s one).
    Orders started before OrderInput.review_window_from_record keep that, so that their
    histories replay."""
    fakes = FakeActivities()
    window = 30
    order = an_order(fakes, f"w-{uuid.uuid4().hex[:10]}", review_window_seconds=window, review_window_from_record=from_record)
    async with workers(dev_env, fakes):
        handle = await start_order(dev_env, fakes, order)
        await awaiting_review(handle)
        began = datetime.fromisoformat(fakes.awaiting_since[order.order_id])
        # A few seconds of the window go by, as in a review an operator's reset interrupts.
        await eventually(lambda: _past(began + timedelta(seconds=3)), "3 s of the review window gone by", timeout=30)
        assert await _review_timers(handle) == [window]  # the first run's: the whole window
        await handle.terminate("an operator, in the Web UI")
        resumed = await reset(handle, await last_workflow_task(handle))
        await eventually(lambda: _has_task_completed_after_reset(resumed), "a workflow task of the reset run completed")
        timers = await _review_timers(resumed)
        if from_record:  # what was left: the window less the seconds before the reset
            assert timers[-1] <= window - 3, timers
        else:
            assert timers[-1] == window, timers
        await resumed.signal("approve")
        assert (await resumed.result()).state == OrderState.SHIPPED


async def _past(moment: datetime) -> bool:
    return datetime.now(timezone.utc) >= moment


async def test_a_reset_after_the_window_closed_ends_the_order_expired_at_once(dev_env):
    """The timer fired while no worker ran, and the run was terminated before it heard: the
    reset run finds no window left and starts none."""
    fakes = FakeActivities()
    order = an_order(fakes, f"w-{uuid.uuid4().hex[:10]}", review_window_seconds=2, review_window_from_record=True)
    async with workers(dev_env, fakes):
        handle = await start_order(dev_env, fakes, order)
        await awaiting_review(handle)
    began = datetime.fromisoformat(fakes.awaiting_since[order.order_id])
    await eventually(lambda: _past(began + timedelta(seconds=3)), "3 s of the review window gone by", timeout=30)
    await handle.terminate("an operator, in the Web UI")
    resumed = await reset(handle, await last_workflow_task(handle))
    async with workers(dev_env, fakes):
        result = await resumed.result()
    assert result.state == OrderState.EXPIRED
    assert await _review_timers(resumed) == []

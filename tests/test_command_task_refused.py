"""A command whose workflow task Temporal refused: the server fails the task that carried an
Update when a signal lands while the worker completes the order (UNHANDLED_COMMAND), and drops
the Update it had sent with that task (FAILED_PRECONDITION "Unable to perform workflow
execution update due to unexpected workflow task failure."). Real dev server, fake activities."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, UpdateWorkflowExecutionLifecycleStage, WorkflowTaskFailedCause
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from app.config import Settings
from app.errors import StackUnreachable
from app.service import OrderService
from app.service import sending as sending_module
from tests.conftest import an_order, eventually, start_order, state_of, workers
from tests.fakes import FakeActivities
from tests.test_service_commands import _NoOrderRow
from workflows.model import OrderState, order_workflow_id

ADMITTED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED


class _NamedUpdates:
    """The client, whose handles give the service's Update a known id (so a test can see when
    Temporal has it)."""

    def __init__(self, client: Any, update_id: str) -> None:
        self.client, self.update_id = client, update_id

    def get_workflow_handle(self, workflow_id: str) -> Any:
        handle, update_id = self.client.get_workflow_handle(workflow_id), self.update_id

        class _Handle:
            describe = handle.describe

            async def start_update(self, name: str, args: list, wait_for_stage: Any) -> Any:
                return await handle.start_update(name, args=args, wait_for_stage=wait_for_stage, id=update_id)

        return _Handle()


async def _admitted(handle: WorkflowHandle, update_id: str) -> bool:
    request = PollWorkflowExecutionUpdateRequest(
        namespace=handle._client.namespace,
        update_ref=UpdateRef(workflow_execution=WorkflowExecution(workflow_id=handle.id), update_id=update_id),
        wait_policy=WaitPolicy(lifecycle_stage=ADMITTED),
    )
    try:
        await handle._client.workflow_service.poll_workflow_execution_update(request)
    except RPCError:  # not there yet
        return False
    return True


async def _tasks_started(handle: WorkflowHandle) -> int:
    events = (await handle.fetch_history()).events
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED for e in events)


async def test_a_rejection_whose_workflow_task_temporal_refused_is_not_applied_and_says_so(dev_env, monkeypatch):
    """A rejection that reached an order as it was being cancelled: Temporal sent it with the
    task that ends the order, a signal (an approval sent as one) landed while that task ran,
    and the server refused the task and dropped the rejection with it. The operator was told
    something unexpected went wrong (the API: 500); the rejection had not been applied."""
    monkeypatch.setattr(sending_module, "NO_WORKER_CHECK_S", 30)  # the test's workers serve their own queue
    fakes = FakeActivities()
    order = an_order(fakes, f"t-{uuid.uuid4().hex[:10]}")
    update_id = f"reject-{uuid.uuid4().hex[:8]}"
    client = _NamedUpdates(dev_env.client, update_id)
    service = OrderService(settings=Settings.from_env({}), client=client, pool=_NoOrderRow())  # type: ignore[arg-type]
    sending: list = []

    async def ending(_input: Any) -> None:
        """FinishOrder, in the task that ends the order: the rejection arrives, is sent with the
        next task (the worker's heartbeat of this long one), and then a signal lands."""
        handle = dev_env.client.get_workflow_handle(order_workflow_id(order.order_id))
        started = await _tasks_started(handle)
        sending.append(asyncio.ensure_future(service.reject(order.order_id, reason="racing the cancel", by="ann")))
        await eventually(lambda: _admitted(handle, update_id), f"the rejection (update {update_id}) admitted by {handle.id}")

        async def sent() -> bool:
            return await _tasks_started(handle) > started

        await eventually(sent, f"a new workflow task of {handle.id} started")
        await handle.signal("approve", args=["bob", ""])

    fakes.hooks["FinishOrder"] = ending
    async with workers(dev_env, fakes):
        handle = await start_order(dev_env, fakes, order, task_timeout=timedelta(seconds=1))

        async def awaiting() -> bool:
            return await state_of(handle) == OrderState.AWAITING_APPROVAL.value

        await eventually(awaiting, f"{handle.id} AWAITING_APPROVAL")
        await handle.signal("cancel", args=["changed my mind", "dana"])
        assert (await handle.result()).state == OrderState.CANCELLED
        with pytest.raises(StackUnreachable) as dropped:
            await sending[0]  # started by the hook, inside the ending step
    assert str(dropped.value) == (
        f"Temporal dropped the rejection before order {order.order_id} took it: the workflow task that carried it"
        " was refused (a signal or another command came as the order moved on), so the rejection was not"
        f" applied; send it again if it is still wanted (./start.sh order status {order.order_id})."
    )
    events = (await handle.fetch_history()).events
    refused = [e.workflow_task_failed_event_attributes.cause for e in events
               if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert refused == [WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND]
    # Not applied: the history has no trace of it, and the order ended as the cancel said.
    assert not [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]


"""A shipping child whose order was reset while it ran: Temporal (server 1.32) hands the child on
to the reset run, which gets its result; the run that started it is closed. The child signalled
its failed dispatch to that closed run (workflows/patches.py, SIGNAL_THE_PARENT_RUN), the signal
failed, and with it the child: the order's audit gave "Unable to signal external workflow
because it was not found" as the reason that shipping attempt failed (reproduced with
`temporal workflow reset --type LastWorkflowTask` on a live stack)."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import an_order, awaiting_review, eventually, start_order, workers
from tests.fakes import FakeActivities, carrier_refused
from workflows.model import OrderState, shipping_workflow_id
from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow

# Recorded on a live stack by the code before the fix: the order reset while its first child
# ran, and that child failed on its signal. They must replay as they ran.
BEFORE = Path(__file__).parent / "histories" / "shipping-parent-run-gone"


async def test_a_failed_dispatch_of_a_child_whose_order_was_reset_reaches_the_reset_run(dev_env):
    fakes = FakeActivities()
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    reset = False

    async def after_the_reset() -> bool:
        return reset

    async def refuse_the_first_child(_input) -> None:
        # Every attempt of the first child's, not just one: under load an attempt can outlast its
        # time-out, and a refusal it drew would be dropped with it (the retry then shipped).
        if activity.info().workflow_id == shipping_workflow_id(order_id, 1):
            fakes.failures["DispatchCarrier"].append(carrier_refused())
        fakes.hooks["DispatchCarrier"] = refuse_the_first_child

    fakes.holds["PreparePackage"] = after_the_reset
    fakes.hooks["DispatchCarrier"] = refuse_the_first_child
    client = dev_env.client
    async with workers(dev_env, fakes):
        handle = await start_order(dev_env, fakes, an_order(fakes, order_id))
        await awaiting_review(handle)
        await handle.execute_update(OrderWorkflow.approve_update)
        await eventually(_true_when(lambda: bool(fakes.calls["PreparePackage"])), "a first PreparePackage attempt")
        # As `temporal workflow reset --type LastWorkflowTask`, the child still running.
        events = [event async for event in handle.fetch_history_events()]
        last_task = max(e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        await client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id or ""),
                reason="test",
                workflow_task_finish_event_id=last_task,
                request_id=str(uuid.uuid4()),
            )
        )
        reset = True
        status = await client.get_workflow_handle_for(OrderWorkflow.run, handle.id).result()
    child = await client.get_workflow_handle(shipping_workflow_id(order_id, 1)).describe()
    assert child.status == WorkflowExecutionStatus.COMPLETED
    failed = [e.payload["reason"] for e in fakes.calls["RecordEvent"] if e.event_type == "shipping_failed"]
    assert failed == ["ACME Freight does not deliver to AQ."]
    assert status.state == OrderState.SHIPPED
    replayer = Replayer(workflows=[OrderWorkflow, ShippingWorkflow])
    for workflow_id in (shipping_workflow_id(order_id, 1), handle.id):
        await replayer.replay_workflow(await client.get_workflow_handle(workflow_id).fetch_history())


async def test_children_that_failed_on_the_signal_before_still_replay():
    recorded = sorted(BEFORE.glob("*.json.gz"))
    assert len(recorded) == 2, "the histories recorded before the fix are missing"
    replayer = Replayer(workflows=[OrderWorkflow, ShippingWorkflow])
    for path in recorded:
        await replayer.replay_workflow(WorkflowHistory.from_json(path.name, gzip.decompress(path.read_bytes()).decode()))


def _true_when(check):
    async def checked() -> bool:
        return check()

    return checked

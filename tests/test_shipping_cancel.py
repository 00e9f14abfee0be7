"""A shipping workflow cancelled through Temporal (`temporal workflow cancel shipping-<id>-<n>`,
the Web UI's Cancel) while one of its steps keeps retrying (PostgreSQL down, say): the workflow
task heartbeats meanwhile, so the cancel reaches the step while it runs. The step went on as
a regular activity instead (step_retried_on_server ... last_error='Activity cancelled'), then
dispatched: the cancel was swallowed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.worker import Replayer

from tests.conftest import eventually, workers
from tests.fakes import FakeActivities
from tests.test_shipping_owner import shipping_input
from workflows.shipping import ShippingWorkflow


@pytest.mark.parametrize("step", ["PreparePackage", "DispatchCarrier"])
async def test_a_shipping_workflow_cancelled_while_a_step_retries_stops_there(dev_env, step: str):
    fakes = FakeActivities()
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    cancelled = False

    async def after_the_cancel() -> bool:
        return cancelled

    fakes.holds[step] = after_the_cancel
    async with workers(dev_env, fakes):
        handle = await dev_env.client.start_workflow(
            ShippingWorkflow.run,
            shipping_input(order_id),
            id=f"shipping-{order_id}-1",
            task_queue=fakes.shipping_task_queue,
            task_timeout=timedelta(seconds=1),  # heartbeats every 0.8 s while the step retries
        )

        async def retrying_across_tasks() -> bool:
            return len(fakes.calls[step]) >= 12  # > 1.5 s of attempts

        await eventually(retrying_across_tasks, f"12 attempts of {step} (over 1.5 s of retries)")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        cancelled = True
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert all(fakes.ran_locally[step]), "the step went on as a regular activity"
    # Nothing after it: no dispatch after packing, no hand-over check reporting a failed dispatch.
    assert fakes.sequence[-1] == step and not fakes.calls["HandoverStatus"]
    await Replayer(workflows=[ShippingWorkflow]).replay_workflow(await handle.fetch_history())

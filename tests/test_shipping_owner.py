"""Whose order a shipping child's steps write to: its parent's, as the server recorded it when
the parent started the child, never the parent its input names (anyone with the temporal CLI
can start a ShippingWorkflow with any input)."""

from __future__ import annotations

import uuid

from temporalio import workflow
from temporalio.worker import Worker

from tests.conftest import workers
from tests.fakes import FakeActivities
from workflows.model import Address, OrderItem, ShippingInput, order_workflow_id
from workflows.shipping import ShippingWorkflow


def shipping_input(order_id: str) -> ShippingInput:
    """What a ShippingWorkflow started by hand could say: that it is the order's own child."""
    return ShippingInput(
        order_id=order_id,
        parent_workflow_id=order_workflow_id(order_id),
        address=Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
        items=[OrderItem("WIDGET-1", 2)],
    )


@workflow.defn(name="StrangerWorkflow")
class StrangerWorkflow:
    """A parent that is not the order's: it starts a shipping child whose input names the order's."""

    @workflow.run
    async def run(self, order_id: str, task_queue: str) -> None:
        await workflow.execute_child_workflow(
            ShippingWorkflow.run, shipping_input(order_id), id=f"stranger-shipping-{order_id}", task_queue=task_queue
        )


async def test_a_shipping_workflow_started_by_hand_acts_as_itself_not_as_the_parent_it_names(workflow_env):
    fakes = FakeActivities()
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    child_id = f"hand-shipping-{order_id}"
    async with workers(workflow_env, fakes):
        await workflow_env.client.execute_workflow(
            ShippingWorkflow.run, shipping_input(order_id), id=child_id, task_queue=fakes.shipping_task_queue
        )
    assert [p.order_workflow_id for p in fakes.calls["PreparePackage"]] == [child_id]
    assert {d.order_workflow_id for d in fakes.calls["DispatchCarrier"]} == {child_id}


async def test_a_shipping_child_of_another_workflow_acts_for_that_workflow(workflow_env):
    fakes = FakeActivities()
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    parent_id = f"stranger-{order_id}"
    queue = f"stranger-{uuid.uuid4().hex[:8]}"
    async with workers(workflow_env, fakes), Worker(workflow_env.client, task_queue=queue, workflows=[StrangerWorkflow]):
        await workflow_env.client.execute_workflow(
            StrangerWorkflow.run, args=[order_id, fakes.shipping_task_queue], id=parent_id, task_queue=queue
        )
    assert [p.order_workflow_id for p in fakes.calls["PreparePackage"]] == [parent_id]
    assert {d.order_workflow_id for d in fakes.calls["DispatchCarrier"]} == {parent_id}

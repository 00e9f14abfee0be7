"""What the Temporal Web UI shows of an order: the summaries, details and timer names the
order's workflows set (user metadata), and that they keep personal data out."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.converter import DataConverter

from tests.conftest import an_order, awaiting_review, start_order, workers
from tests.fakes import FakeActivities, carrier_refused
from tests.test_service_commands import recorded_start
from workflows.model import Address, OrderItem, shipping_workflow_id

ADDRESS = Address(name="Ann Lee", street="1 Main St", city="Springfield", postal_code="12345", country="US")
PERSONAL = ("Ann", "Main St", "12345", "pay-")


async def test_an_order_starts_with_a_summary_of_id_items_amount_and_destination_only(monkeypatch):
    client = await recorded_start(  # SKU-1 at 10.00
        monkeypatch, order_id="o-9", items=[OrderItem("SKU-1", 3)], address=ADDRESS, payment_id="pay-secret"
    )
    assert client.kwargs["static_summary"] == "Order o-9 · 3 items · 30.00 · Springfield, US"
    assert client.kwargs["static_details"] == "**Items:** SKU-1 × 3\n\n**Review window:** 86400 s"
    shown = client.kwargs["static_summary"] + client.kwargs["static_details"]
    assert not [word for word in PERSONAL if word in shown]


def _summary(metadata) -> str:
    return DataConverter.default.payload_converter.from_payload(metadata.summary, str)


async def test_the_review_timer_the_shipping_child_and_the_current_step_are_named(workflow_env, fakes: FakeActivities):
    order = an_order(fakes, f"t-{uuid.uuid4().hex[:10]}", address=ADDRESS, review_window_seconds=90)
    async with workers(workflow_env, fakes):
        handle = await start_order(workflow_env, fakes, order)

        await awaiting_review(handle)
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert metadata.current_details == "**State:** AWAITING_APPROVAL\n\n**Step:** awaiting review"
        await handle.signal("approve")
        await handle.result()
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert metadata.current_details == "**State:** SHIPPED\n\n**Step:** done"
    timers = [
        _summary(event.user_metadata)
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert timers == ["Review window: 90 s to approve or reject"]
    child = await workflow_env.client.get_workflow_handle(shipping_workflow_id(order.order_id, 1)).describe()
    assert await child.static_summary() == f"Shipping for order {order.order_id} · attempt 1 of 3 · to Springfield, US"


async def test_the_wait_before_another_shipping_attempt_and_that_attempt_s_child_are_named(workflow_env, fakes):
    fakes.failures["DispatchCarrier"].append(carrier_refused())
    order = an_order(fakes, f"t-{uuid.uuid4().hex[:10]}", address=ADDRESS)
    async with workers(workflow_env, fakes):
        handle = await start_order(workflow_env, fakes, order)

        await awaiting_review(handle)
        await handle.signal("approve")
        assert (await handle.result()).shipping_attempts == 2
    timers = [
        _summary(event.user_metadata)
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert timers[1:] == ["Wait before shipping attempt 2"]
    child = await workflow_env.client.get_workflow_handle(shipping_workflow_id(order.order_id, 2)).describe()
    assert await child.static_summary() == f"Shipping for order {order.order_id} · attempt 2 of 3 · to Springfield, US"


async def test_every_signal_update_and_query_says_what_it_does(workflow_env, fakes: FakeActivities):
    """The Web UI's Signal, Update and Query forms and `temporal workflow metadata` list the
    handlers by name: approve, reject, cancel, update_address, package_prepared, dispatch_failed,
    cancel_shipping, status, none saying what it takes or who sends it."""
    order = an_order(fakes, f"t-{uuid.uuid4().hex[:10]}", address=ADDRESS)
    async with workers(workflow_env, fakes):
        handle = await start_order(workflow_env, fakes, order)

        await awaiting_review(handle)
        await handle.signal("approve")
        await handle.result()
        child = workflow_env.client.get_workflow_handle(shipping_workflow_id(order.order_id, 1))
        for workflow_handle in (handle, child):
            definition = (
                await workflow_handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
            ).definition
            handlers = [
                *definition.signal_definitions, *definition.update_definitions, *definition.query_definitions
            ]
            own = [handler for handler in handlers if not handler.name.startswith("__")]
            assert own and not [handler.name for handler in own if not handler.description], definition.type

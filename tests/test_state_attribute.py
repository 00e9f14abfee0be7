"""The OrderState search attribute: one write per workflow task, and never a state behind for
longer than a task (OrderInput.transient_states_unwritten, states_before_steps_written).

VALIDATED, APPROVED and DISPATCHED each wrote the attribute, and the next state wrote it again
in the same workflow task: Temporal publishes an attribute only when the task completes, so the
first write was a history event and a visibility task nobody could see, three times an order.
Such a state is now written only when the task can end while the order is in it: VALIDATED
never, as nothing runs before AWAITING_APPROVAL; APPROVED and DISPATCHED always, as their
step's local attempts can outlast the task (sdk-core then completes it with the commands so far)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.converter import default

from tests.conftest import an_order, awaiting_review, eventually, start_order, workers
from tests.fakes import FakeActivities
from tests.test_order_workflow import approved_run, finish, oid, stalled_run
from workflows.model import ORDER_STATE_ATTRIBUTE, OrderState, PaymentStatus, order_workflow_id

UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


async def _state_writes(handle: WorkflowHandle) -> list[list[str]]:
    """The OrderState values the history writes, grouped by the workflow task that wrote them."""
    tasks: list[list[str]] = [[]]
    async for event in handle.fetch_history_events():
        if event.event_type == TASK_COMPLETED:
            tasks.append([])
        elif event.event_type == UPSERT:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            if ORDER_STATE_ATTRIBUTE.name in fields:
                tasks[-1].append(default().payload_converter.from_payload(fields[ORDER_STATE_ATTRIBUTE.name], str))
    return [writes for writes in tasks if writes]


async def _attribute(handle: WorkflowHandle) -> str | None:
    return (await handle.describe()).typed_search_attributes.get(ORDER_STATE_ATTRIBUTE)


async def test_a_shipped_order_writes_its_state_attribute_once_per_workflow_task(workflow_env, fakes: FakeActivities):
    result = await approved_run(workflow_env, fakes, an_order(fakes, oid()))
    assert result.state == OrderState.SHIPPED
    handle = workflow_env.client.get_workflow_handle(order_workflow_id(result.order_id))
    assert await _state_writes(handle) == [["AWAITING_APPROVAL"], ["APPROVED", "PAID"], ["DISPATCHED", "SHIPPED"]]
    assert await _attribute(handle) == "SHIPPED"


async def test_an_order_started_with_transient_states_unwritten_alone_writes_three(workflow_env, fakes):
    """As orders started between transient_states_unwritten and states_before_steps_written ran."""
    order = an_order(fakes, oid(), states_before_steps_written=False)
    result = await approved_run(workflow_env, fakes, order)
    assert result.state == OrderState.SHIPPED
    handle = workflow_env.client.get_workflow_handle(order_workflow_id(result.order_id))
    assert await _state_writes(handle) == [["AWAITING_APPROVAL"], ["PAID"], ["SHIPPED"]]


async def test_an_order_started_without_the_flag_writes_every_state_as_before(workflow_env, fakes: FakeActivities):
    """Its history was recorded so (an order of earlier code, or one started by hand)."""
    result = await approved_run(workflow_env, fakes, an_order(fakes, oid(), transient_states_unwritten=False))
    assert result.state == OrderState.SHIPPED
    handle = workflow_env.client.get_workflow_handle(order_workflow_id(result.order_id))
    assert await _state_writes(handle) == [
        ["VALIDATED", "AWAITING_APPROVAL"], ["APPROVED", "PAID"], ["DISPATCHED", "SHIPPED"]
    ]


async def test_a_charge_that_goes_on_as_a_regular_activity_shows_the_order_approved(workflow_env, fakes: FakeActivities):
    """The workflow task ends when the step goes to the server (something is down): the order
    is APPROVED for as long as that lasts, and the attribute says so."""
    answer = asyncio.Event()

    async def database_down(_input) -> None:
        if activity.info().is_local:
            fakes.hooks["ChargePayment"] = database_down
            raise ConnectionRefusedError("database down")
        await answer.wait()

    fakes.hooks["ChargePayment"] = database_down
    order = an_order(fakes, oid(), local_attempts=2)
    async with workers(workflow_env, fakes):
        handle = await start_order(workflow_env, fakes, order)
        await awaiting_review(handle)
        await handle.signal("approve")

        async def approved() -> bool:
            return await _attribute(handle) == "APPROVED"

        await eventually(approved, f"{handle.id}'s OrderState search attribute APPROVED")
        assert fakes.ran_locally["ChargePayment"] == [True, True, False]
        answer.set()
        result = await finish(handle)
    assert (result.state, result.payment.status) == (OrderState.SHIPPED, PaymentStatus.CHARGED)
    assert await _state_writes(handle) == [["AWAITING_APPROVAL"], ["APPROVED"], ["PAID"], ["DISPATCHED", "SHIPPED"]]


async def test_a_cancel_before_the_charge_writes_the_approval_before_winding_up(workflow_env, fakes: FakeActivities):
    """A cancel that comes while the decision is recorded ends the order before any money
    moves; the winding up may outlast the task, so APPROVED is written first."""
    order = an_order(fakes, oid())
    result = await stalled_run(workflow_env, fakes, order, "RecordDecision", "cancel", ["changed my mind"], ["approve"])
    assert result.state == OrderState.CANCELLED and "ChargePayment" not in fakes.calls
    handle = workflow_env.client.get_workflow_handle(order_workflow_id(order.order_id))
    writes = [value for task in await _state_writes(handle) for value in task]
    assert writes == ["AWAITING_APPROVAL", "APPROVED", "CANCELLED"]
    assert await _attribute(handle) == "CANCELLED"


async def test_a_charge_retried_past_its_workflow_task_s_heartbeat_shows_the_order_approved(dev_env):
    """Its local attempts (the payment provider down) outlast 80 % of the workflow task's
    timeout, and sdk-core completes the task meanwhile with the commands made so far: the
    attribute said AWAITING_APPROVAL until the step went to the server (~20 s at the default
    10 s task timeout), though the order had been APPROVED since the first such completion.
    A real server, with a 1 s task timeout."""
    fakes = FakeActivities()
    tries = 0

    async def provider_down(_input) -> None:
        nonlocal tries
        tries += 1
        fakes.hooks["ChargePayment"] = provider_down
        if tries < 40:
            raise ConnectionRefusedError("payment provider down")

    fakes.hooks["ChargePayment"] = provider_down
    order = an_order(fakes, oid(), local_attempts=60)
    async with workers(dev_env, fakes):
        handle = await start_order(dev_env, fakes, order, task_timeout=timedelta(seconds=1))
        await awaiting_review(handle)
        await handle.signal("approve")

        async def heartbeat_passed() -> bool:
            return tries >= 25  # 20-100 ms apart: past 0.8 s

        await eventually(heartbeat_passed, "25 tries of ChargePayment (past 0.8 s of its heartbeat)")
        attribute = await _attribute(handle)
        result = await finish(handle)
    assert (result.state, fakes.ran_locally["ChargePayment"][-1]) == (OrderState.SHIPPED, True)
    assert attribute == "APPROVED"

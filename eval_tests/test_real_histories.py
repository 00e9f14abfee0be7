"""Every workflow the session's real stack ran replays on today's workflow code.

tests/histories holds corpora recorded with fake activities on the test servers. These
histories come from the dev server with the real flaky_call and the real worker processes:
local-activity markers of steps that failed and timed out many times, approvals, cancels and
address changes sent as Updates by the CLI, the timer that puts an Update on record, shipping
children, and whatever the modules before this one ran on the same stack (the benchmark's
orders, among others). A change to workflow code that breaks determinism for such a run
fails here, with the workflow's id."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from eval_tests.conftest import PrivateStack, wait_until
from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow

ADDRESS = ["--name", "Ann Lee", "--street", "1 Main St", "--city", "Springfield", "--postal-code", "12345", "--country", "US"]
MOVED = ["--name", "Ann Lee", "--street", "9 Elm St", "--city", "Shelbyville", "--postal-code", "54321", "--country", "US"]
# The newest this many workflows of the stack: enough for every kind, and a bounded replay.
AT_MOST = 400


def _awaiting_review(stack: PrivateStack, order_id: str, timeout: float = 60) -> None:
    wait_until(
        lambda: stack.json("order", "status", order_id)["state"] == "AWAITING_APPROVAL",
        f"order {order_id} awaiting review", timeout,
    )


def _operate(stack: PrivateStack) -> list[str]:
    """Orders of every kind of command, sent as the CLI sends them (Updates); their ids."""
    tag = uuid.uuid4().hex[:6]
    approved, moved, cancelled, rejected = (f"rh-{tag}-{kind}" for kind in ("approved", "moved", "cancelled", "rejected"))
    for order_id in (approved, moved, cancelled, rejected):
        stack.ok("order", "create", "--id", order_id, "--item", "WIDGET-1:1", *ADDRESS)
    for order_id in (approved, moved, cancelled, rejected):
        _awaiting_review(stack, order_id)
    stack.ok("order", "address", moved, *MOVED)
    for order_id in (approved, moved):
        stack.ok("order", "approve", order_id)
    stack.ok("order", "cancel", cancelled, "--reason", "changed my mind")
    stack.ok("order", "reject", rejected, "--reason", "out of stock")
    return [approved, moved, cancelled, rejected]


async def _histories(stack: PrivateStack, ours: list[str]) -> list[WorkflowHistory]:
    client = await Client.connect(**stack.settings.temporal_connect_config())
    for order_id in ours:
        await asyncio.wait_for(client.get_workflow_handle(f"order-{order_id}").result(), 120)
    ids = []
    async for execution in client.list_workflows(limit=AT_MOST):
        ids.append((execution.id, execution.run_id))
    return [await client.get_workflow_handle(wid, run_id=rid).fetch_history() for wid, rid in ids]


async def test_every_workflow_the_real_stack_ran_replays_on_todays_code(stack):
    ours = await asyncio.to_thread(_operate, stack)
    histories = await _histories(stack, ours)
    kinds = {history.events[0].workflow_execution_started_event_attributes.workflow_type.name for history in histories}
    assert kinds == {"OrderWorkflow", "ShippingWorkflow"}
    with_updates = [h.workflow_id for h in histories if any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in h.events
    )]
    assert {f"order-{order_id}" for order_id in ours} <= set(with_updates)
    replayer = Replayer(workflows=[OrderWorkflow, ShippingWorkflow])
    failures = []
    async with replayer.workflow_replay_iterator(_each(histories)) as results:
        async for result in results:
            if result.replay_failure is not None:
                failures.append((result.history.workflow_id, repr(result.replay_failure)))
    assert failures == []


async def _each(histories: list[WorkflowHistory]):
    for history in histories:
        yield history

"""One order, one workflow, on the real stack: an order's row belongs to the workflow that
created it (order-<order_id>). A second OrderWorkflow started by hand for an order that
exists, as anyone with the temporal CLI can, must not act on it."""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import time
import uuid
from datetime import timezone

import asyncpg
import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from app.unfinished import temporal_cli
from eval_tests.conftest import PrivateStack, wait_for_state
from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow
from workflows.model import ORDER_TASK_QUEUE, SHIPPING_TASK_QUEUE, Address, OrderInput, OrderItem, ShippingInput

ADDRESS = ["--name", "Ann Lee", "--street", "1 Main St", "--city", "Springfield", "--postal-code", "12345", "--country", "US"]
# ADDRESS, as a workflow's input carries it.
ANN = Address(name="Ann Lee", street="1 Main St", city="Springfield", postal_code="12345", country="US")


def _as_the_cli_would(order_id: str) -> OrderInput:
    """The input `order create --id ORDER_ID --item WIDGET-1:2` with ADDRESS gives, for a workflow
    started by hand."""
    return OrderInput(order_id=order_id, items=[OrderItem("WIDGET-1", 2)], address=ANN)


async def order_rows(db: asyncpg.Pool, order_id: str) -> tuple:
    """Everything of an order: its row, its payments and its audit."""
    row = await db.fetchrow("SELECT * FROM orders WHERE id = $1", order_id)
    payments = await db.fetch("SELECT * FROM payments WHERE order_id = $1 ORDER BY payment_id", order_id)
    events = await db.fetch("SELECT * FROM events WHERE order_id = $1 ORDER BY id", order_id)
    return dict(row), [dict(p) for p in payments], [dict(e) for e in events]


async def _in_review(stack, db: asyncpg.Pool, prefix: str) -> str:
    """A new order, created with the CLI, once it awaits review; its id."""
    order_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(stack.json, "order", "create", "--id", order_id, "--item", "WIDGET-1:2", *ADDRESS)
    await wait_for_state(db, order_id, "AWAITING_APPROVAL")
    return order_id


async def _approved_it_ships_charged_once(stack, db: asyncpg.Pool, order_id: str) -> None:
    """The operator approves the order with the CLI: accepted, it ships, and it is charged once."""
    answer = await asyncio.to_thread(stack.json, "order", "approve", order_id)
    assert answer["accepted"], answer
    await wait_for_state(db, order_id, "SHIPPED")
    charged = await db.fetch("SELECT status, amount_cents FROM payments WHERE order_id = $1", order_id)
    assert [(r["status"], r["amount_cents"]) for r in charged] == [("CHARGED", 3998)]


async def test_a_workflow_started_by_hand_for_an_existing_order_fails_and_leaves_it_alone(stack, db):
    order_id = await _in_review(stack, db, "dup")
    before = await order_rows(db, order_id)

    # As `temporal workflow start --type OrderWorkflow ...` then `temporal workflow signal
    # --name reject`: the signal comes with the start, so it reaches the workflow whatever it did.
    client = await Client.connect(**stack.settings.temporal_connect_config())
    rogue = await client.start_workflow(
        "OrderWorkflow",
        _as_the_cli_would(order_id),
        id=f"rogue-{order_id}",
        task_queue=ORDER_TASK_QUEUE,
        start_signal="reject",
        start_signal_args=["x"],
    )
    result = await asyncio.wait_for(rogue.result(), 60)
    assert result["state"] == "FAILED"
    assert result["failure_reason"] == (
        f"Order {order_id} belongs to workflow order-{order_id}; workflow rogue-{order_id} may not act on it."
    )
    assert await order_rows(db, order_id) == before

    # The order's own workflow is untouched: the operator's approval ships it, charged once.
    await _approved_it_ships_charged_once(stack, db, order_id)
    assert (await client.get_workflow_handle(f"order-{order_id}").result())["state"] == "SHIPPED"


async def test_a_workflow_started_by_hand_under_a_shipping_id_leaves_the_orders_attempts_alone(stack, db):
    """Attempts are on record under the order their workflow's id names: an OrderWorkflow
    started by hand as shipping-<order_id>-9 put its refused steps into the order's status
    (its attempts, and "Last error: ... may not act on it") and audit."""
    order_id = await _in_review(stack, db, "dup")
    client = await Client.connect(**stack.settings.temporal_connect_config())
    rogue_id = f"shipping-{order_id}-9"
    rogue = await client.start_workflow(
        "OrderWorkflow",
        _as_the_cli_would(order_id),
        id=rogue_id,
        task_queue=ORDER_TASK_QUEUE,
    )
    assert (await asyncio.wait_for(rogue.result(), 60))["state"] == "FAILED"
    # Each attempt's row is written before the step's result goes back to the workflow.
    recorded = await db.fetch("SELECT DISTINCT order_id FROM activity_attempts WHERE workflow_id = $1", rogue_id)
    assert [r["order_id"] for r in recorded] == [rogue_id]
    status = await asyncio.to_thread(stack.json, "order", "status", order_id)
    assert "may not act" not in json.dumps(status), status


async def _shipping_started_by_hand(client: Client, order_id: str, workflow_id: str) -> WorkflowHandle:
    """As `temporal workflow start --type ShippingWorkflow --workflow-id WORKFLOW_ID`, naming the
    order's workflow as its parent in its input."""
    return await client.start_workflow(
        "ShippingWorkflow",
        ShippingInput(
            order_id=order_id,
            parent_workflow_id=f"order-{order_id}",
            address=ANN,
            items=[OrderItem("WIDGET-1", 2)],
        ),
        id=workflow_id,
        task_queue=SHIPPING_TASK_QUEUE,
    )


async def test_a_shipping_workflow_started_by_hand_naming_the_order_as_its_parent_leaves_it_alone(stack, db):
    """As `temporal workflow start --type ShippingWorkflow` with the order's workflow as
    parent_workflow_id in its input: it has no parent, so it acts as itself, and its steps are
    refused. Taken at its word, it packed and handed to the carrier an order still in review."""
    order_id = await _in_review(stack, db, "dup")
    before = await order_rows(db, order_id)
    client = await Client.connect(**stack.settings.temporal_connect_config())
    rogue_id = f"rogue-shipping-{order_id}"
    rogue = await _shipping_started_by_hand(client, order_id, rogue_id)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(rogue.result(), 60)
    refusal = failed.value.cause
    while refusal.cause is not None:
        refusal = refusal.cause
    assert isinstance(refusal, ApplicationError) and refusal.type == "AnotherWorkflowsOrder"
    assert refusal.message == f"Order {order_id} belongs to workflow order-{order_id}; workflow {rogue_id} may not act on it."
    assert await order_rows(db, order_id) == before


async def test_a_shipping_workflow_started_by_hand_under_a_shipping_id_leaves_the_orders_attempts_alone(stack, db):
    """As `temporal workflow start --type ShippingWorkflow --workflow-id shipping-<order_id>-7`
    naming the order's workflow as its parent: its steps are refused (it has no parent), and
    their attempts went into the order's status ("Last error: ... may not act on it") and audit,
    filed under the order its id names."""
    order_id = await _in_review(stack, db, "dup")
    client = await Client.connect(**stack.settings.temporal_connect_config())
    rogue_id = f"shipping-{order_id}-7"
    rogue = await _shipping_started_by_hand(client, order_id, rogue_id)
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(rogue.result(), 60)
    # Each attempt's row is written before the step's result goes back to the workflow.
    recorded = await db.fetch("SELECT DISTINCT order_id FROM activity_attempts WHERE workflow_id = $1", rogue_id)
    assert [r["order_id"] for r in recorded] == [rogue_id]
    for command in ("status", "audit"):
        answer = await asyncio.to_thread(stack.json, "order", command, order_id)
        assert "may not act" not in json.dumps(answer), answer


async def test_an_order_started_by_hand_under_another_id_keeps_a_cancel_sent_during_its_first_step(stack, db):
    """An order started by hand (`temporal workflow start -w my-id`, not order-<id>) is its
    workflow's once its ReceiveOrder stores it. A cancel recorded while that step was still
    under way found no row, and the database, which lets only order-<id> record before the
    row, dropped it: the order ended CANCELLED with no cancel in its audit."""
    order_id = f"hand-{uuid.uuid4().hex[:8]}"
    workflow_id = f"by-hand-{order_id}"
    client = await Client.connect(**stack.settings.temporal_connect_config())
    async with db.acquire() as holder:
        # ReceiveOrder reads the catalog: held there until the cancel's step has had its chance.
        lock = holder.transaction()
        await lock.start()
        await holder.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        try:
            handle = await client.start_workflow(
                "OrderWorkflow",
                _as_the_cli_would(order_id),
                id=workflow_id,
                task_queue=ORDER_TASK_QUEUE,
                start_signal="cancel",
                start_signal_args=["changed my mind", "ann"],
            )
            deadline = time.monotonic() + 60
            # The cancel's step ran (before this fix), or ReceiveOrder's attempts were cut off
            # twice while it would have.
            while not await db.fetchval(
                "SELECT count(*) FILTER (WHERE activity = 'RecordEvent') > 0"
                " OR count(*) FILTER (WHERE activity = 'ReceiveOrder') >= 2 FROM activity_attempts WHERE workflow_id = $1",
                workflow_id,
            ):
                assert time.monotonic() < deadline, "neither step was tried"
                await asyncio.sleep(0.05)
        finally:
            await lock.rollback()
    result = await asyncio.wait_for(handle.result(), 60)
    assert result["state"] == "CANCELLED", result
    events = await db.fetch("SELECT type, payload_json FROM events WHERE order_id = $1 ORDER BY id", order_id)
    cancels = [json.loads(e["payload_json"]) for e in events if e["type"] == "cancel_requested"]
    assert [(c["reason"], c["by"]) for c in cancels] == [("changed my mind", "ann")], [e["type"] for e in events]
    assert await db.fetchval("SELECT workflow_id FROM orders WHERE id = $1", order_id) == workflow_id
    # The wait for the row is versioned (its marker is in this history), and replays.
    history = await handle.fetch_history()
    markers = [e.marker_recorded_event_attributes for e in history.events if e.HasField("marker_recorded_event_attributes")]
    patches = [p.data for m in markers if m.marker_name == "core_patch" for d in m.details.values() for p in d.payloads]
    assert any(b"audit-after-receipt-by-hand" in data for data in patches), patches
    await Replayer(workflows=[OrderWorkflow, ShippingWorkflow]).replay_workflow(history)


def _malformed(order_id: str) -> dict:
    """As `temporal workflow start --type OrderWorkflow --input '{...}'` with a quantity typed
    as text: no OrderInput can be decoded from it."""
    return {
        "order_id": order_id,
        "items": [{"sku": "WIDGET-1", "quantity": "1"}],
        "address": {"name": "Ann Lee", "street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
    }


MALFORMED_REASON = (
    "The workflow input is not a valid OrderInput: items[0].quantity: Expected value to be int|float, was <class 'str'>."
)


async def test_an_order_started_by_hand_with_a_malformed_input_shows_failed_with_the_reason(stack, db):
    """Its first workflow task failed for ever ("Failed decoding arguments"): the run stood
    RUNNING, and `order status` could only say its workflow tasks were failing. It fails, and
    the operator's status says FAILED and why, with no order row made of the input."""
    order_id = f"bad-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(**stack.settings.temporal_connect_config())
    handle = await client.start_workflow(
        "OrderWorkflow", _malformed(order_id), id=f"order-{order_id}", task_queue=ORDER_TASK_QUEUE
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 60)
    assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.message == MALFORMED_REASON
    status = await asyncio.to_thread(stack.json, "order", "status", order_id)
    assert (status["state"], status["terminal"], status["failure_reason"]) == ("FAILED", True, MALFORMED_REASON)
    assert await db.fetchval("SELECT count(*) FROM orders WHERE id = $1", order_id) == 0


async def test_a_malformed_run_started_by_hand_under_a_shipped_orders_id_leaves_its_status_alone(stack, db):
    """`temporal workflow start --workflow-id order-X` is allowed once order X's workflow has
    closed. A malformed one fails at once; `order status X` still shows the shipped order, not
    that run's FAILED with no items and no charge."""
    order_id = await _in_review(stack, db, "dup")
    await _approved_it_ships_charged_once(stack, db, order_id)
    client = await Client.connect(**stack.settings.temporal_connect_config())
    assert (await client.get_workflow_handle(f"order-{order_id}").result())["state"] == "SHIPPED"
    stray = await client.start_workflow(
        "OrderWorkflow", _malformed(order_id), id=f"order-{order_id}", task_queue=ORDER_TASK_QUEUE
    )
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(stray.result(), 60)
    status = await asyncio.to_thread(stack.json, "order", "status", order_id)
    assert (status["state"], status["payment"]["status"], status["failure_reason"]) == ("SHIPPED", "CHARGED", "")


async def _attempts(db: asyncpg.Pool, order_id: str) -> list[dict]:
    rows = await db.fetch("SELECT * FROM activity_attempts WHERE order_id = $1 ORDER BY id", order_id)
    return [dict(r) for r in rows]


async def test_a_run_started_by_hand_under_a_shipped_orders_id_fails_and_changes_nothing(stack, db):
    """`temporal workflow start --workflow-id order-X` is allowed once order X's workflow has
    closed. Such a run ran the order again: its steps go by the workflow id, which it shares
    with the order's own (the audit gained rows after the order's ending, the charge and the
    dispatch were repeated). The row records the run chain that owns it; this run is refused at
    ReceiveOrder, fails with the reason, and the order, its payment, audit and attempts stay."""
    order_id = await _in_review(stack, db, "dup")
    await _approved_it_ships_charged_once(stack, db, order_id)
    client = await Client.connect(**stack.settings.temporal_connect_config())
    assert (await client.get_workflow_handle(f"order-{order_id}").result())["state"] == "SHIPPED"
    before = await order_rows(db, order_id), await _attempts(db, order_id)
    status_before = await asyncio.to_thread(stack.json, "order", "status", order_id)

    stray = await client.start_workflow(
        "OrderWorkflow", _as_the_cli_would(order_id), id=f"order-{order_id}", task_queue=ORDER_TASK_QUEUE
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(stray.result(), 60)
    refusal = failed.value.cause
    assert isinstance(refusal, ApplicationError) and refusal.non_retryable
    started = before[0][0]["created_at"].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert (refusal.type, refusal.message) == (
        "AnotherRunsOrder",
        f"Order {order_id} belongs to another workflow run (started {started}); this run changes nothing.",
    )
    assert (await order_rows(db, order_id), await _attempts(db, order_id)) == before
    # Its one attempt is on record under its own run, which no order id can name.
    filed = await db.fetch(
        "SELECT order_id, outcome FROM activity_attempts WHERE workflow_id = $1 AND order_id <> $2",
        f"order-{order_id}",
        order_id,
    )
    assert [(r["order_id"], r["outcome"]) for r in filed] == [(f"order-{order_id}/{stray.result_run_id}", "error")]

    status = await asyncio.to_thread(stack.json, "order", "status", order_id)
    kept = ("state", "terminal", "payment", "amount", "tracking_number", "failure_reason", "attempts", "retries")
    assert {k: status[k] for k in kept} == {k: status_before[k] for k in kept}
    audit = await asyncio.to_thread(stack.json, "order", "audit", order_id)
    assert "another workflow run" not in json.dumps(audit)
    refused = await asyncio.to_thread(stack.run, "order", "approve", order_id)
    assert refused.returncode == 1 and "SHIPPED" in refused.stderr, refused.stderr


async def test_a_reset_order_keeps_its_run_chain_and_ships(stack, db):
    """A reset run has a run id of its own; it keeps the chain's first run id, which owns the
    row, so its ReceiveOrder (run again: the reset goes back before it) takes the order as its
    own, and the order ships, charged once. Had the row been owned by run id, it would be refused."""
    order_id = await _in_review(stack, db, "reset")
    client = await Client.connect(**stack.settings.temporal_connect_config())
    handle = client.get_workflow_handle(f"order-{order_id}")
    first_run = (await handle.describe()).run_id
    assert await db.fetchval("SELECT workflow_first_run_id FROM orders WHERE id = $1", order_id) == first_run
    # As `temporal workflow reset --type FirstWorkflowTask`: back to before ReceiveOrder's result.
    events = [event async for event in handle.fetch_history_events()]
    first_task = min(e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    reset = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=first_run),
            reason="test",
            workflow_task_finish_event_id=first_task,
            request_id=str(uuid.uuid4()),
        )
    )
    assert reset.run_id != first_run

    async def received_again() -> int:
        return await db.fetchval(
            "SELECT count(*) FROM activity_attempts WHERE order_id = $1 AND activity = 'ReceiveOrder'"
            " AND outcome = 'ok'",
            order_id,
        )

    deadline = time.monotonic() + 60
    while await received_again() < 2:
        assert time.monotonic() < deadline, "the reset run did not receive the order again"
        await asyncio.sleep(0.05)
    await wait_for_state(db, order_id, "AWAITING_APPROVAL")
    await _approved_it_ships_charged_once(stack, db, order_id)
    result = await client.get_workflow_handle(f"order-{order_id}", run_id=reset.run_id).result()
    assert result["state"] == "SHIPPED"
    assert await db.fetchval("SELECT workflow_first_run_id FROM orders WHERE id = $1", order_id) == first_run


async def test_status_of_a_terminated_order_names_its_run_when_a_refused_run_is_the_latest(stack, db):
    """Terminated in the Web UI, then `temporal workflow start --workflow-id order-X` by hand: that
    run, refused at ReceiveOrder, is the latest under order-X. `order status X` described it ("its
    workflow failed") and advised a reset without -r, which reset the refused run (refused again).
    It now describes the order's own run and names it; the command, run as printed, goes on."""
    order_id = await _in_review(stack, db, "hidden")
    client = await Client.connect(**stack.settings.temporal_connect_config())
    handle = client.get_workflow_handle(f"order-{order_id}")
    own_run = (await handle.describe()).run_id
    await handle.terminate("an operator, in the Web UI")
    stray = await client.start_workflow(
        "OrderWorkflow", _as_the_cli_would(order_id), id=f"order-{order_id}", task_queue=ORDER_TASK_QUEUE
    )
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(stray.result(), 60)
    assert (await handle.describe()).run_id == stray.result_run_id  # the latest under order-X

    status = await asyncio.to_thread(stack.json, "order", "status", order_id)
    assert (status["state"], status["workflow_status"], status["step"]) == (
        "AWAITING_APPROVAL", "TERMINATED", "none: its workflow is TERMINATED"
    )
    assert status["reset_command"] == (
        f"{temporal_cli()} workflow reset --address {stack.settings.temporal_address} -w order-{order_id}"
        f" -r {own_run} --type LastWorkflowTask --reason 'resume order {order_id}'"
    )
    assert status["warning"] == (
        f"Order {order_id} will not finish: its workflow was terminated outside the order tracker while the order"
        f" is AWAITING_APPROVAL, so nothing will move it on: go on from where it stopped with"
        f" {status['reset_command']}, or settle it by hand."
    )
    refused = await asyncio.to_thread(stack.run, "order", "approve", order_id)
    message = " ".join(refused.stderr.split())
    assert refused.returncode == 1 and message.startswith(
        f"Order {order_id} cannot change: its workflow was terminated"
    ) and f"-r {own_run} " in message, message

    # Run as printed: a new run of the order's chain, whose ReceiveOrder takes the order as its own.
    reset = subprocess.run(shlex.split(status["reset_command"]), capture_output=True, text=True, timeout=60)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    await _approved_it_ships_charged_once(stack, db, order_id)

"""The shipping child's HandoverStatus check, asked when the dispatch's 40 attempts ran out: an
outage of the database is tried again, a carrier that kept failing is reported failed.

Before the child reports the dispatch failed it asks the database, and attempts spent while the
database was down are tried again. One sign of that outage is a check that a lost workflow task
began (its worker killed while the check waited for the database; the next worker's check
answers at once). The history kept only that the check answered in a later workflow task than
the one that asked, which a workflow task heartbeat (every 4 s while local activities run) also
makes: a check it happened to span counted as an outage, and a dispatch that had failed for
good ran 40 more attempts (~6 s). Real dev server (its task timeouts and heartbeats), fake
activities."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.worker import Replayer, Worker

from tests.conftest import an_order, awaiting_review, eventually, start_order, workers
from tests.fakes import FakeActivities
from tests.test_order_workflow import finish
from workflows import policies
from workflows.model import OrderState, shipping_workflow_id
from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow

ATTEMPTS = policies.DISPATCH_RETRY.maximum_attempts
MARKER = EventType.EVENT_TYPE_MARKER_RECORDED
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


def _local_activity_markers(events) -> list[tuple[int, str]]:
    """(event index, activity type) of each local activity's marker."""
    found = []
    for i, e in enumerate(events):
        if e.event_type == MARKER and e.marker_recorded_event_attributes.marker_name == "core_local_activity":
            data = e.marker_recorded_event_attributes.details["data"].payloads[0].data
            found.append((i, next(t for t in ("PreparePackage", "DispatchCarrier", "HandoverStatus") if t.encode() in data)))
    return found


async def _replays(handle: WorkflowHandle) -> None:
    history = await handle.fetch_history()
    await Replayer(workflows=[OrderWorkflow, ShippingWorkflow]).replay_workflow(history)


async def test_a_hand_over_check_that_a_workflow_task_heartbeat_spans_is_no_outage(dev_env):
    """The carrier fails all 40 attempts, the database is up, and the check answers at its
    first attempt, in the worker that asked, ~4.5 s later: the child's workflow task heartbeats
    meanwhile, so the check answers in a later task than the one that asked. Nothing was down:
    the dispatch is reported failed, and the order's next shipping attempt ships it. Before, the
    heartbeat read as an outage, and the first child ran 40 more dispatch attempts."""
    fakes = FakeActivities()
    order = an_order(fakes, f"h-{uuid.uuid4().hex[:10]}")
    fakes.failures["DispatchCarrier"].extend(RuntimeError("Forced failure for testing") for _ in range(ATTEMPTS))

    async def a_check_a_heartbeat_spans(_input) -> None:
        await asyncio.sleep(policies.WORKFLOW_TASK_TIMEOUT.total_seconds() * 0.9)

    fakes.hooks["HandoverStatus"] = a_check_a_heartbeat_spans
    async with workers(dev_env, fakes):
        handle = await start_order(dev_env, fakes, order)
        await awaiting_review(handle)
        await handle.signal("approve", "ann")
        result = await finish(handle)
    child = dev_env.client.get_workflow_handle(shipping_workflow_id(order.order_id, 1))
    events = (await child.fetch_history()).events
    markers = _local_activity_markers(events)
    dispatched, checked = markers[1][0], markers[2][0]
    assert [m[1] for m in markers] == ["PreparePackage", "DispatchCarrier", "HandoverStatus"]  # before: one more dispatch
    assert TASK_COMPLETED in [e.event_type for e in events[dispatched:checked]]  # the heartbeat the check spanned
    assert result.state == OrderState.SHIPPED and result.shipping_attempts == 2
    assert [e.payload["attempt"] for e in fakes.calls["RecordEvent"] if e.event_type == "shipping_failed"] == [1]
    assert len(fakes.calls["HandoverStatus"]) == 1
    await _replays(child)


# A shipping worker whose carrier fails every dispatch attempt and whose database does not answer
# the hand-over check: killed while the check waits.
_LOST_SHIPPING_WORKER = """
import asyncio, sys
from temporalio.client import Client
from temporalio.worker import Worker
from tests.fakes import FakeActivities
from workflows.shipping import ShippingWorkflow

async def main() -> None:
    client = await Client.connect(sys.argv[1])
    fakes = FakeActivities()
    fakes.failures["DispatchCarrier"].extend(RuntimeError("Forced failure for testing") for _ in range(int(sys.argv[3])))
    async def no_answer(_input) -> None:
        await asyncio.Event().wait()
    fakes.hooks["HandoverStatus"] = no_answer
    async with Worker(client, task_queue=sys.argv[2], workflows=[ShippingWorkflow], activities=fakes.shipping_activities()):
        print("polling", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_dispatch_whose_hand_over_check_a_killed_worker_began_is_tried_again(dev_env):
    """The dispatch attempts run out while the database is down, and the shipping worker is
    killed while its check waits for it, after a heartbeat recorded the failed dispatch. The
    next worker's check answers at once (attempt 1: the database is back), in a task that
    replayed the one that asked: the outage counts, the dispatch is tried again, and the order
    ships at its first shipping attempt. (Seen twice in a chaos run before the history-length
    check; a README known limit then.)"""
    fakes = FakeActivities()
    order = an_order(fakes, f"h-{uuid.uuid4().hex[:10]}")
    target = dev_env.client.service_client.config.target_host
    lost = subprocess.Popen(
        [sys.executable, "-c", _LOST_SHIPPING_WORKER, target, fakes.shipping_task_queue, str(ATTEMPTS)],
        cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, text=True,
    )
    child = dev_env.client.get_workflow_handle(shipping_workflow_id(order.order_id, 1))
    try:
        assert lost.stdout is not None and lost.stdout.readline().strip() == "polling"
        async with Worker(
            dev_env.client, task_queue=fakes.order_task_queue, workflows=[OrderWorkflow],
            activities=fakes.order_activities(),
        ):
            handle = await start_order(dev_env, fakes, order)
            await awaiting_review(handle)
            await handle.signal("approve", "ann")

            async def dispatch_failure_recorded() -> bool:
                try:
                    events = (await child.fetch_history()).events
                except Exception:  # not started yet
                    return False
                return "DispatchCarrier" in [m[1] for m in _local_activity_markers(events)]

            await eventually(dispatch_failure_recorded, f"DispatchCarrier's marker in {child.id}'s history", timeout=30)
            lost.send_signal(signal.SIGKILL)
            lost.wait()
            async with Worker(  # the database is back: the check answers at once
                dev_env.client, task_queue=fakes.shipping_task_queue, workflows=[ShippingWorkflow],
                activities=fakes.shipping_activities(),
            ):
                result = await finish(handle)
    finally:
        if lost.poll() is None:
            lost.send_signal(signal.SIGKILL)
            lost.wait()
    events = (await child.fetch_history()).events
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT in [e.event_type for e in events]  # the killed worker's
    assert [m[1] for m in _local_activity_markers(events)] == [
        "PreparePackage", "DispatchCarrier", "HandoverStatus", "DispatchCarrier"
    ]
    assert result.state == OrderState.SHIPPED and result.shipping_attempts == 1
    assert not [e for e in fakes.calls["RecordEvent"] if e.event_type == "shipping_failed"]
    assert len(fakes.calls["HandoverStatus"]) == 1  # this worker's; the killed one's was never answered
    await _replays(child)

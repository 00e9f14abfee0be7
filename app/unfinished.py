"""Orders their workflow will not finish, how to tell, and what to tell the operator.

Two ways an order stops for good: its workflow was closed before the order ended (terminated in
the Web UI, say), or it was reset to its last workflow task after such a close while a shipping
child was under way. A reset keeps the child's start in the new run, but Temporal never tells
the new run how a child of the old run ended (the child was closed with its parent), so the new
run waits for it for ever (temporalio/temporal#10639). The way on is a reset to the workflow
task that started that child: the task runs again (every step is idempotent by key) and starts
the child anew, its id being free once the old one is closed.

The order's workflow is the latest run of the order's own run chain (orders.workflow_first_run_id),
which need not be the latest run under its id: a run started by hand under order-X once the
order's workflow closed is another chain, refused at ReceiveOrder; a reset without a run id would
reset that run, and be refused again.
"""

from __future__ import annotations

import logging
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle

from workflows.model import OrderState, order_workflow_id

log = logging.getLogger("app.unfinished")

# A child's end reaches its parent's history within moments; one unheard of for this long
# while the parent still lists the child as pending will never be.
CHILD_END_UNHEARD = timedelta(seconds=15)

# Runs of other chains looked past, newest first, for the order's own: each costs a describe.
OTHER_RUNS_LOOKED_PAST = 10

# Events that say how a child the history started ended (or that it never started).
_CHILD_ENDS = {
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED,
}

# How a workflow was closed before its order ended, in the words of the sentence below.
_CLOSED_HOW = {
    "TERMINATED": "was terminated outside the order tracker",
    "CANCELED": "was cancelled through Temporal",
    "FAILED": "failed (its history in the Temporal Web UI says why)",
    "TIMED_OUT": "timed out",
    "CONTINUED_AS_NEW": "was continued as new",
}


@dataclass(frozen=True)
class Stall:
    """Why the order's workflow will not finish it. ``closed``: how the workflow was closed
    ("gone": no longer in Temporal), or None while it runs, waiting for ``child``, which ended
    (``child_status``) without the workflow hearing of it. ``reset_event_id``: the workflow task
    to reset to when a child's start must run again; None where the last workflow task will do.
    ``run_id``: the order's run, when it is not the latest under its workflow id (else None)."""

    closed: str | None
    reset_event_id: int | None = None
    child: str | None = None
    child_status: str | None = None
    run_id: str | None = None


def closed_without_completing(description: WorkflowExecutionDescription) -> str | None:
    """How a workflow was closed if it ended other than by completing (TERMINATED, say), else
    None: a completed order workflow has recorded its order's ending."""
    if description.status in (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        return None
    return description.status.name


async def find_stall(
    client: Client, handle: WorkflowHandle, rpc_timeout: timedelta, first_run_id: str | None = None
) -> Stall | None:
    """The order's workflow's stall, if it has one; None if it is going on (or completed: it does
    that only once the order's row is final), or if Temporal could not say. ``first_run_id``: the
    order's run chain (None for a row stored before it was recorded: the latest run is the order's)."""
    try:
        description = await handle.describe(rpc_timeout=rpc_timeout)
        run_id = None
        if not of_chain(description, first_run_id):
            own = await latest_run_of_chain(client, handle.id, first_run_id, description.run_id, rpc_timeout)
            if own is None:  # past the namespace's retention, or deleted
                return Stall(closed="gone")
            description, run_id = own, own.run_id
            handle = client.get_workflow_handle(handle.id, run_id=run_id)
        if (closed := closed_without_completing(description)) is not None:
            return Stall(closed=closed, reset_event_id=await reset_point(handle, rpc_timeout), run_id=run_id)
        if description.status != WorkflowExecutionStatus.RUNNING:
            return None
        # Only a reset run can wait for a child of another run: the others cost no more calls.
        if not description.raw_description.workflow_extended_info.HasField("last_reset_time"):
            return None
        for pending in description.raw_description.pending_children:
            child = await client.get_workflow_handle(pending.workflow_id, run_id=pending.run_id).describe(
                rpc_timeout=rpc_timeout
            )
            now = datetime.now(timezone.utc)
            if child.close_time is not None and child.status is not None and now - child.close_time > CHILD_END_UNHEARD:
                return Stall(
                    closed=None,
                    reset_event_id=await reset_point(handle, rpc_timeout),
                    child=pending.workflow_id,
                    child_status=child.status.name,
                    run_id=run_id,
                )
    except Exception as error:  # the status still answers, from what it has
        log.info("event=stall_check_failed workflow_id=%s error=%r", handle.id, error)
    return None


def of_chain(description: WorkflowExecutionDescription, first_run_id: str | None) -> bool:
    """Whether the run is of the chain ``first_run_id`` (a reset or a retry keeps it); True when
    either side does not say (a row stored before the chain was recorded, an older server)."""
    if not first_run_id:
        return True
    chain = description.raw_description.workflow_execution_info.first_run_id
    return not chain or chain == first_run_id


async def latest_run_of_chain(
    client: Client, workflow_id: str, first_run_id: str, latest_run_id: str, rpc_timeout: timedelta
) -> WorkflowExecutionDescription | None:
    """The latest run of the chain ``first_run_id`` under ``workflow_id``, which is not the latest
    run under it (``latest_run_id``); None if Temporal no longer has one. A listed run does not
    carry its chain (first_run_id is empty there, seen on the dev server): each is described,
    newest first, from the one after the latest, which is usually the order's."""
    listed = client.list_workflows(f"WorkflowId = '{workflow_id}'", limit=100, rpc_timeout=rpc_timeout)
    runs = [run async for run in listed]
    runs.sort(key=lambda run: run.start_time, reverse=True)
    for run in [run for run in runs if run.run_id != latest_run_id][:OTHER_RUNS_LOOKED_PAST]:
        description = await client.get_workflow_handle(workflow_id, run_id=run.run_id).describe(rpc_timeout=rpc_timeout)
        if of_chain(description, first_run_id):
            return description
    return None


async def reset_point(handle: WorkflowHandle, rpc_timeout: timedelta | None = None) -> int | None:
    """The workflow task that started the first child whose end the history does not record;
    None if every child it started has ended, or if the history could not be read (then the
    last workflow task is what the advice names)."""
    started: dict[int, int] = {}  # the child's initiated event -> the task that started it
    try:
        async for event in handle.fetch_history_events(rpc_timeout=rpc_timeout):
            if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                attributes = event.start_child_workflow_execution_initiated_event_attributes
                started[event.event_id] = attributes.workflow_task_completed_event_id
            elif event.event_type in _CHILD_ENDS:
                attributes = getattr(event, event.WhichOneof("attributes"))
                started.pop(attributes.initiated_event_id, None)
    except Exception as error:
        log.info("event=history_read_failed workflow_id=%s error=%r", handle.id, error)
        return None
    return min(started.values()) if started else None


def temporal_cli() -> str:
    """The temporal CLI to name in a command for the operator: the one the stack runs, from
    the checkout's .venv (not on anyone's PATH: "temporal: command not found", an audit
    found), else whatever `temporal` is there."""
    installed = Path(sys.executable).parent / "temporal"
    return shlex.quote(str(installed)) if installed.exists() else "temporal"


def reset_command(order_id: str, temporal_address: str, stall: Stall) -> str:
    """The reset that goes on from where the order's run stopped; it names the run (``-r``) when
    that is not the latest under the workflow id, which a reset without one would reset."""
    run = f" -r {stall.run_id}" if stall.run_id else ""
    where = f"--event-id {stall.reset_event_id}" if stall.reset_event_id is not None else "--type LastWorkflowTask"
    return (
        f"{temporal_cli()} workflow reset --address {temporal_address} -w {order_workflow_id(order_id)}{run} {where}"
        f" --reason {shlex.quote(f'resume order {order_id}')}"
    )


def not_on_temporal(
    order_id: str, state: str, database_url: str, temporal_address: str, namespace: str, noun: str | None = None
) -> str:
    """The sentence for an order PostgreSQL has in flight whose workflow the Temporal asked has no
    run of (Stall "gone"). Most likely that is not the order's Temporal (TEMPORAL_ADDRESS, or the
    namespace, set to another server's): it said only "no longer exists in Temporal ... settle it
    by hand", naming neither server. Else the workflow was deleted, or is past its retention.
    ``noun``: the command that met it ("approval"), which the sentence then says went nowhere and
    may be sent again once pointed right (exit 3 said neither, where every other command's does)."""
    workflow = (
        f"Temporal at {temporal_address} (namespace {namespace}) has no run of its workflow {order_workflow_id(order_id)}"
    )
    if noun is not None:
        return (
            f"The {noun} of order {order_id} was not applied: {workflow}, though PostgreSQL at {database_url} has"
            f" the order as {state}; if the order was started on another Temporal, set TEMPORAL_ADDRESS (or"
            f" TEMPORAL_NAMESPACE) to that one and send the {noun} again, else its workflow was deleted or is past"
            " the namespace's retention: settle the order by hand."
        )
    return (
        f"Order {order_id} is {state} in PostgreSQL at {database_url}, but {workflow}: if the order was"
        " started on another Temporal, set TEMPORAL_ADDRESS (or TEMPORAL_NAMESPACE) to that one; if not, its"
        " workflow was deleted or is past the namespace's retention, so nothing will move the order on: settle"
        " it by hand."
    )


def left_unfinished(stall: Stall, state: str, payment: dict, order_id: str, temporal_address: str) -> str:
    """Why the order will not go on, and what to do; a clause, after "Order X ...: ". Not for a
    workflow Temporal has no run of (not_on_temporal)."""
    if stall.closed is not None:
        why = f"its workflow {_CLOSED_HOW.get(stall.closed, f'closed ({stall.closed})')}"
    else:
        why = (
            f"its workflow waits for shipping workflow {stall.child}, which is {stall.child_status} (closed with an"
            f" earlier run of the order's workflow, which a reset to its last workflow task cannot bring back)"
        )
    # Charged is right for an order the carrier has; elsewhere the money is held for nothing.
    charged = payment.get("status") == "CHARGED" and state != OrderState.DISPATCHED.value
    money = f"; payment {payment.get('payment_id')} is still charged" if charged else ""
    return (
        f"{why} while the order is {state}, so nothing will move it on{money}: go on from where it stopped with"
        f" {reset_command(order_id, temporal_address, stall)}, or settle it by hand."
    )

"""Histories that the SDK itself cannot replay (temporalio 1.35, sdk-core), recorded on a real
stack. Each test fails (strict xfail) once the SDK replays its history: then it can go, and the
history can join the replay corpus in test_order_workflow.py. Only a nondeterminism error is the
expected failure: any other (a history that no longer loads, say) fails the test."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow

SDK_BUGS = Path(__file__).parent / "histories" / "sdk-bugs"


@pytest.mark.xfail(strict=True, raises=NondeterminismError, reason="sdk-core: an Update on a cold start is applied with the signals before it")
async def test_an_update_on_a_cold_start_after_a_signal_replays():
    """order-d05-8bc6, recorded by f2773fd on a private stack: an address-change signal (event 25)
    whose RecordAddressChange ran while PostgreSQL was stopped (the workflow task heartbeat three
    times: events 28, 31, 34), the order worker killed (37: the task timed out), then a new worker
    took the next task (39) with an update_address Update. Live, that worker was given the history
    up to 39 and the Update in one activation, after the signal: the Update was accepted before
    the signal's bookkeeping job began, so the job paused first (timer 2, event 42). A replay of
    the whole history delivers the signal alone (the Update's acceptance, event 41, splits the
    sequence at the last heartbeat), the job's step starts before the Update is seen, and no
    timer is started: "[TMPRL1100] Nondeterminism error: No command scheduled for event
    HistoryEvent(id: 42, TimerStarted)". On a worker that had to replay it (order e21-86d4 of the
    same review, still running) the order stopped for good, DISPATCHED and charged, until a
    `temporal workflow reset --type FirstWorkflowTask`. Cf. temporalio/sdk-python#1591."""
    path = SDK_BUGS / "update-on-a-cold-start-after-a-signal--order.json.gz"
    history = WorkflowHistory.from_json("order-d05-8bc6", gzip.decompress(path.read_bytes()).decode())
    await Replayer(workflows=[OrderWorkflow, ShippingWorkflow]).replay_workflow(history)


@pytest.mark.xfail(strict=True, raises=NondeterminismError, reason="sdk-core: an Update on a cold start is applied with the events before it")
async def test_an_update_on_a_cold_start_after_heartbeats_replays():
    """order-g13-76d8, the same review, no signal needed: PostgreSQL stopped right after the order
    was created, so ReceiveOrder ran through the first workflow task's heartbeats (events 4, 7,
    10, 13); the order worker killed (16: timed out); the next worker took task 17/18 with an
    approve Update. Live, the Update was accepted before the run's first step, which paused
    first (timer 1, event 22); the replay starts ReceiveOrder in an activation of its own before
    the Update (event 20 splits the sequence) and starts no timer: "[TMPRL1100] Nondeterminism
    error: No command scheduled for event HistoryEvent(id: 22, TimerStarted)". Orders started
    since OrderInput.updates_recorded_when_accepted replay the same situation
    (test_updates_on_record.py, test_an_update_on_a_cold_start_while_the_first_step_heartbeat_replays)."""
    path = SDK_BUGS / "update-on-a-cold-start-while-the-first-step-heartbeat--order.json.gz"
    history = WorkflowHistory.from_json("order-g13-76d8", gzip.decompress(path.read_bytes()).decode())
    await Replayer(workflows=[OrderWorkflow, ShippingWorkflow]).replay_workflow(history)


@pytest.mark.xfail(strict=True, raises=NondeterminismError, reason="sdk-core: a local activity's marker recorded a task before the workflow heard of it")
async def test_a_local_activity_result_told_a_task_late_replays():
    """order-pr-c759b71f, recorded by 945ccbf on the dev server (tests: a reject signal and a
    Temporal cancel while MarkAwaitingApproval ran, then an approve Update): the rejection's
    RecordDecision and the refused cancel's RecordEvent ran side by side in the task of events
    16-18. sdk-core waits for every local activity of a task before telling the workflow of
    any, yet it completed that task with RecordDecision's marker (event 24) while RecordEvent
    still ran, and told the workflow of both in the next task (25-27; the Update, sent
    meanwhile, was aborted with the workflow), where the ending asked for audit-before-ending
    (event 29, after RecordEvent's marker, 28). A replay tells it of
    RecordDecision in the first task, where that marker is not: "[TMPRL1100] Nondeterminism
    error: Non-deprecated patch marker encountered for change audit-before-ending". Orders
    started since ask no patch (OrderInput.patches_in_input). Cf. temporalio/sdk-rust#856
    (resolutions held back while another local activity runs)."""
    path = SDK_BUGS / "local-activity-result-told-a-task-late--order.json.gz"
    history = WorkflowHistory.from_json("order-pr-c759b71f", gzip.decompress(path.read_bytes()).decode())
    await Replayer(workflows=[OrderWorkflow, ShippingWorkflow]).replay_workflow(history)


@pytest.mark.xfail(strict=True, raises=NondeterminismError, reason="sdk-core: an Update that came while the first step ran is applied with the start")
async def test_an_update_sent_while_the_first_step_runs_replays():
    """order-fz-3414bec4, recorded by 8aa9dba on the dev server (a warm worker, no heartbeat, no
    restart): an approve Update sent while ReceiveOrder, the first step, ran in the first workflow
    task. Live, that task completed without the step's marker (events 2-4); the next (5-7) carried
    the marker (8), the Update's acceptance (9) and the timer that puts it on record (11). A
    replay gives the Update to the first activation, with the start: the step waits for that
    timer and is not scheduled yet when its marker comes, "[TMPRL1100] Nondeterminism error:
    Missing associated machine for LocalActivity(1)". A worker that has to replay such an order
    before it ends (restarted, or the order evicted from its cache) fails its task on every retry;
    a reset gets it going. Reproduced by the same test code on 945ccbf. The same events replay
    for an order started since OrderInput.first_step_without_pause (test_updates_on_record.py)."""
    path = SDK_BUGS / "update-while-the-first-step-runs--order.json.gz"
    history = WorkflowHistory.from_json("order-fz-3414bec4", gzip.decompress(path.read_bytes()).decode())
    await Replayer(workflows=[OrderWorkflow, ShippingWorkflow]).replay_workflow(history)

"""How an order runs its steps: each as workflows/steps.py's run_step, with the order's local
attempts, once every Update accepted so far is on record in the history."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import policies, summaries
    from workflows.model import OrderInput
    from workflows.patches import UPDATES_ON_RECORD_FIRST
    from workflows.steps import run_step


class OrderSteps:
    """``patched``: OrderWorkflow._patched; ``before_server``: called before a business step goes
    on as a regular activity (OrderWorkflow._write_state_attribute)."""

    def __init__(self, order: OrderInput, patched: Callable[[str], bool], before_server: Callable[[], None]) -> None:
        self._order = order
        self._patched = patched
        self._before_server = before_server
        # Updates accepted, and of those, on record in the history (see updates_on_record).
        self._updates_accepted = 0
        self._updates_recorded = 0
        self._recording_updates = False
        self._recorder: asyncio.Task | None = None  # OrderInput.updates_recorded_when_accepted

    def local_attempts(self) -> int:
        """The order's local_attempts, or 0 (each step's own bound) if no retry policy can be
        made of it. Every value that worked is kept, so a replay takes its run's path."""
        attempts = self._order.local_attempts
        return 0 if policies.local_attempts_problem(attempts) else attempts

    async def first(self, activity: Callable, arg: Any) -> Any:
        """ReceiveOrder."""
        if self._order.first_step_without_pause:  # it acts on no Update (OrderInput)
            step, attempts = policies.BUSINESS_STEP, self.local_attempts()
            return await run_step(activity, arg, step, attempts, self._patched)
        return await self.business(activity, arg)

    async def business(self, activity: Callable, arg: Any) -> Any:
        """One of the process's own steps (the bookkeeper runs none): a step that goes on as a
        regular activity ends the workflow task, so the state it acts in is written first."""
        await self.updates_on_record()
        return await run_step(
            activity, arg, policies.BUSINESS_STEP, self.local_attempts(), self._patched, self._before_server
        )

    async def bookkeeping(self, activity: Callable, arg: Any) -> Any:
        await self.updates_on_record()
        return await run_step(activity, arg, policies.BOOKKEEPING_STEP, self.local_attempts(), self._patched)

    def update_accepted(self) -> None:
        """Counted for updates_on_record; with OrderInput.updates_recorded_when_accepted, the
        timer that puts it on record starts now, in the task that accepted it, whichever step
        is in flight or about to start (a replay may split that task's events differently)."""
        self._updates_accepted += 1
        if self._order.updates_recorded_when_accepted:
            self._record_updates_now()

    async def updates_on_record(self) -> None:
        """Before a step acts: every Update accepted so far is on record in the history.

        Temporal writes an Update's acceptance only when the workflow task that ran its
        validator completes, and every step is a local activity that runs inside the task
        that wants it. Without this, an approval's charge (or a cancel's ending, an address
        change's row) was committed while the Update was still only in the server's memory,
        and a restart of Temporal then lost it: the order charged, its workflow still awaiting
        review. A timer ends the task; signals need none (they are in the history before the
        workflow sees them), and neither does an order no Update reached. Orders started
        without OrderInput.updates_on_record pause only if their history has the marker of
        the patch that did this before the flag (85b7583-687f9a4); earlier ones act at once,
        as their histories did. Flag first: an order that has it never records the marker.
        ReceiveOrder, which acts on no Update, does not wait in orders started with
        OrderInput.first_step_without_pause."""
        while self._updates_recorded < self._updates_accepted and (
            self._order.updates_on_record or self._patched(UPDATES_ON_RECORD_FIRST)
        ):
            if self._recording_updates:  # the other coroutine's timer covers these too
                await workflow.wait_condition(lambda: not self._recording_updates)
                continue
            accepted = self._updates_accepted
            self._recording_updates = True
            try:
                await workflow.sleep(policies.ON_RECORD_PAUSE, summary=summaries.ON_RECORD_TIMER)
            finally:
                self._recording_updates = False
            self._updates_recorded = max(self._updates_recorded, accepted)

    def _record_updates_now(self) -> None:
        """Start the pause that puts the Updates accepted so far on record (updates_on_record),
        unless it is running already; the steps wait for it."""
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self.updates_on_record())

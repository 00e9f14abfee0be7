"""The order's bookkeeping queue: audit rows and address changes, recorded in the order they were
queued by a companion coroutine of the run, while the process's own step is in flight."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.patches import AUDIT_BEFORE_ENDING
    from workflows.steps import failure_message

Job = Callable[[], Awaitable[Any]]


class Bookkeeping:
    """Jobs queued by the handlers and the process, run one at a time by ``run``; address changes
    get an answer back. ``before_each``: awaited before each job (OrderWorkflow._row_before_audit)."""

    def __init__(self, order_id: str, before_each: Callable[[], Awaitable[None]]) -> None:
        self._order_id = order_id
        self._before_each = before_each
        self.jobs: list[Job] = []
        self.queued = 0  # jobs ever queued, and of those, done
        self.done = 0
        self._failure: Exception | None = None  # see raise_failure

    def add(self, job: Job) -> None:
        self.jobs.append(job)
        self.queued += 1

    async def run(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self.jobs))
            await self._before_each()
            job = self.jobs[0]
            try:
                await job()
            except Exception as error:  # CancelledError is not one: the run's end stops the bookkeeper
                # Kept for the run and the process, which fail the workflow task with it: this
                # task's own exception would fail nothing, and the order would wait for ever.
                self._failure = error
                return
            self.jobs.pop(0)
            self.done += 1

    def failed(self) -> bool:
        return self._failure is not None

    def raise_failure(self) -> None:
        """A bookkeeping step that failed for good (a non-retryable error) fails the workflow task,
        not the order: Temporal retries the task, which runs the step again, and the failure is in
        view (the history, the Web UI, the worker's log) while it lasts."""
        if (error := self._failure) is not None:
            workflow.logger.error(
                "event=bookkeeping_failed order_id=%s error=%r", self._order_id, failure_message(error)
            )
            raise RuntimeError(
                f"A bookkeeping step of order {self._order_id} failed for good: {failure_message(error)}"
            ) from error

    async def audit_owed_first(self, patched: Callable[[str], bool]) -> None:
        """Before the order is wound up (refund, ending): what it already owes its audit trail (a
        cancel request, a refused command, a failed shipping attempt, an address change) is
        recorded first, so that the timeline reads in the order things happened. Those rows are
        written by the bookkeeper, alongside the process; before this, the ending could overtake
        them (`order_cancelled` above the `cancel_requested` that caused it). A SHIPPED ending
        does not wait: what it can owe then (a command refused because the carrier has the
        package) comes after the hand-over either way. ``patched``: OrderWorkflow._patched."""
        owed = self.queued
        if self.done < owed and patched(AUDIT_BEFORE_ENDING):
            await workflow.wait_condition(lambda: self.done >= owed or self.failed())
            self.raise_failure()

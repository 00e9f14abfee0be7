"""The order's bookkeeping queue: audit rows (and the refused commands among them) and address
changes, recorded in the order they were queued by a companion coroutine of the run, while the
process's own step is in flight."""

from __future__ import annotations

import hashlib
from typing import Any, Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.order_activities import OrderActivities
    from workflows import policies
    from workflows.activity_io import EventInput
    from workflows.patches import AUDIT_BEFORE_ENDING, REFUSED_SIGNALS_CAPPED
    from workflows.steps import failure_message

Job = Callable[[], Awaitable[Any]]


class Bookkeeping:
    """Jobs queued by the handlers and the process, run one at a time by ``run``; address changes
    get an answer back. ``patched``: OrderWorkflow._patched; ``record``: how a bookkeeping step
    runs (OrderSteps.bookkeeping); ``before_each``: awaited before each job
    (OrderWorkflow._row_before_audit)."""

    def __init__(
        self,
        order_id: str,
        patched: Callable[[str], bool],
        record: Callable[[Callable, Any], Awaitable[Any]],
        before_each: Callable[[], Awaitable[None]],
    ) -> None:
        self._order_id = order_id
        self._patched = patched
        self._record = record
        self._before_each = before_each
        self.jobs: list[Job] = []
        self.queued = 0  # jobs ever queued, and of those, done
        self.done = 0
        self._failure: Exception | None = None  # see raise_failure
        self.refusals = 0  # refused commands on record

    def queue_event(self, event_type: str, key: str, payload: dict) -> None:
        event = EventInput(
            order_id=self._order_id,
            event_type=event_type,
            key=key,
            payload=payload,
            first_run_id=workflow.info().first_execution_run_id,
        )
        self.add(lambda: self._record(OrderActivities.record_event, event))

    def note_refusal(self, command: str, reason: str, sent: dict[str, str] | None = None) -> None:
        """``sent``: by whom and when an Update refused on record was sent
        (OrderCommands._refuse_on_record); None for a Signal. A late Update past the cap is
        refused by its validator (CommandRules._unless_unheard), a Signal here: logged, not
        audited."""
        workflow.logger.info(
            "event=command_refused order_id=%s command=%s reason=%r", self._order_id, command, reason
        )
        if (
            sent is None
            and self.refusals >= policies.MAX_REFUSALS_ON_RECORD
            and self._patched(REFUSED_SIGNALS_CAPPED)
        ):
            workflow.logger.warning(
                "event=command_refusal_not_audited order_id=%s command=%s refusals_on_record=%d",
                self._order_id, command, self.refusals,
            )
            return
        self.refusals += 1
        # The count alone could repeat across tries of a workflow task (one that was lost may
        # have recorded another refusal under the same number); with the content it cannot.
        digest = hashlib.sha256(f"{command}\n{reason}".encode()).hexdigest()[:12]
        self.queue_event(
            "command_refused",
            f"command_refused:{self.refusals}:{digest}",
            {"command": command, "reason": reason, **(sent or {})},
        )

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

    async def audit_owed_first(self) -> None:
        """Before the order is wound up (refund, ending): what it already owes its audit trail (a
        cancel request, a refused command, a failed shipping attempt, an address change) is
        recorded first, so that the timeline reads in the order things happened. Those rows are
        written by the bookkeeper, alongside the process; before this, the ending could overtake
        them (`order_cancelled` above the `cancel_requested` that caused it). A SHIPPED ending
        does not wait: what it can owe then (a command refused because the carrier has the
        package) comes after the hand-over either way."""
        owed = self.queued
        if self.done < owed and self._patched(AUDIT_BEFORE_ENDING):
            await workflow.wait_condition(lambda: self.done >= owed or self.failed())
            self.raise_failure()

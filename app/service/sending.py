"""Sending an operator's command as a Temporal Update and waiting for its answer, with what the
operator is told when no answer comes (Temporal silent, a workflow task failing, no worker serving).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.service import RPCError, RPCStatusCode

from app.errors import Refused, StackUnreachable, Unanswered, command_noun
from app.service.temporal_errors import (
    NO_ANSWER,
    QUERY_TIMEOUT,
    WORKFLOW_TASKS_FAILING,
    NoAnswerFromTemporal,
    _update_task_refused,
    _workflow_task_failing,
    temporal_down,
)
from app.waiting import within
from workflows.model import ORDER_TASK_QUEUE, SHIPPING_TASK_QUEUE

log = logging.getLogger("app.service")

# How long an operator command waits for the order worker to answer.
COMMAND_TIMEOUT_S = 20
# A command not answered by then is worth asking Temporal whether an order worker runs at all.
NO_WORKER_CHECK_S = 2
# The attempt of a workflow task from which Temporal refuses Updates and Queries at once (its
# failUpdateWorkflowTaskAttemptCount): the task failed or timed out twice in a row.
FAILED_TASK_ATTEMPT = 3

# What a command calls as its Update goes out (OrderCommands.approve and the others).
OnSent = Callable[[], None] | None


class CommandSending:
    """Part of OrderService (app.service), which mixes it in: the mechanics of sending a command
    (OrderCommands._command) as an Update and waiting for its answer."""

    async def _update(
        self, order_id: str, name: str, args: list, database_lost: bool = False, update_id: str | None = None,
        on_sent: OnSent = None,
    ) -> str:
        """Send an Update, its input already checked: the workflow's validator accepts or refuses
        at once, and the answer says what came of it. One accepted whose outcome takes longer
        than COMMAND_TIMEOUT_S (a cancel waits for the shipping child, whose worker may be down)
        is reported as accepted and not carried out yet (still StackUnreachable: it is not done,
        and may yet be refused), not as unanswered. ``database_lost``: PostgreSQL did not answer
        just before (as if connected with database="optional" while it was down). ``update_id``:
        the Update's id (see _command), or None for the SDK's random one."""
        database_lost = database_lost or bool(self.database_unreachable)
        if self._client is None:  # connected while Temporal was out of reach
            raise await self._ended_or(order_id, StackUnreachable(self.temporal_unreachable), database_lost)
        # The whole wait, the worker check included: with Temporal stopped that check takes its
        # own time out, and "did not answer within 20 s" came after 23.5 s (a TUI review).
        deadline = asyncio.get_running_loop().time() + COMMAND_TIMEOUT_S
        handle = self._handle(order_id)
        await self._refuse_unless_sendable(handle, order_id, name, deadline, database_lost)
        accepted = asyncio.Event()
        # Its own task, so that a caller who stops waiting (Ctrl-C in the TUI) leaves no
        # unretrieved exception behind: the SDK turns the cancel into an error of that task.
        sending = asyncio.ensure_future(_send(handle, name, args, accepted, update_id, on_sent))
        try:
            result = await self._answer(sending, order_id, name, accepted, deadline, database_lost)
        except asyncio.CancelledError:  # the caller stopped waiting: sent (on_sent said so), it may still apply
            _abandon(sending)
            raise
        except asyncio.TimeoutError:
            _abandon(sending)
            raise self._unanswered(order_id, name, accepted.is_set(), database_lost) from None
        except WorkflowUpdateFailedError as error:
            raise Refused(_cause_message(error)) from None
        except RPCError as error:
            if (answer := await self._send_failed(order_id, name, error, database_lost)) is None:
                raise
            raise answer from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise self._unanswered(order_id, name, accepted.is_set(), database_lost) from None
        log.info("event=command_accepted command=%s order_id=%s", name, order_id)
        return str(result)

    async def _refuse_unless_sendable(
        self, handle: WorkflowHandle, order_id: str, name: str, deadline: float, database_lost: bool
    ) -> None:
        """Raise what the operator is told when the command is not to be sent: Temporal does not
        answer, or the order's workflow task keeps failing."""
        try:
            failing = await self._workflow_tasks_failing(handle, deadline)
        except NoAnswerFromTemporal as silence:
            # Temporal stopped (SIGSTOP), swamped or down: one sent now waited its 20 s, then "may
            # still take effect", though its RPC had given up and the resumed order never saw it
            # (seen through the API).
            log.warning("event=command_not_sent_temporal_silent command=%s order_id=%s down=%s", name, order_id, silence.down)
            silent = Unanswered(
                order_id, name, False, QUERY_TIMEOUT.total_seconds(), temporal=self.settings.temporal_address,
                temporal_down=silence.down,
            )
            raise await self._ended_or(order_id, silent, database_lost) from None
        if failing:
            log.warning("event=command_not_sent_workflow_task_failing command=%s order_id=%s", name, order_id)
            raise self._tasks_failing(
                order_id, name, "was not sent, so that the commands already waiting for the order are kept"
            )

    async def _answer(
        self, sending: asyncio.Future, order_id: str, name: str, accepted: asyncio.Event, deadline: float,
        database_lost: bool,
    ) -> Any:
        """The Update's result, waited for until ``deadline``; after NO_WORKER_CHECK_S, the
        operator is told at once if no worker is there to carry it out."""
        try:
            return await asyncio.wait_for(asyncio.shield(sending), min(NO_WORKER_CHECK_S, COMMAND_TIMEOUT_S))
        except asyncio.TimeoutError:
            if (nobody := await self._nobody_to_carry_out(order_id, name, sending, accepted, database_lost)) is not None:
                _abandon(sending)
                raise nobody from None
            left = deadline - asyncio.get_running_loop().time()
            return await asyncio.wait_for(asyncio.shield(sending), max(0.0, left))

    async def _send_failed(self, order_id: str, name: str, error: RPCError, database_lost: bool) -> Exception | None:
        """What the operator is told of an Update that Temporal failed with ``error``, or None
        when it is none of the known cases (then the error itself goes up)."""
        if error.status == RPCStatusCode.NOT_FOUND:
            return await self._not_running(order_id, name)
        if error.status in NO_ANSWER:
            return await self._ended_or(order_id, self._no_answer_from_temporal(
                error, f"sending the {command_noun(name)} to order {order_id}",
                f"it may not have been received: check with ./start.sh order status {order_id}"
                " once the stack is up (./start.sh status)",
            ), database_lost)
        if _workflow_task_failing(error):  # it failed between the check above and the send
            log.warning("event=command_refused_workflow_task_failing command=%s order_id=%s", name, order_id)
            return self._tasks_failing(
                order_id, name, "was not received, nor were the commands still waiting for the order (Temporal"
                " dropped them with it)"
            )
        if _update_task_refused(error):
            log.warning("event=command_dropped_task_refused command=%s order_id=%s", name, order_id)
            noun = command_noun(name)
            return await self._ended_or(order_id, StackUnreachable(
                f"Temporal dropped the {noun} before order {order_id} took it: the workflow task that carried"
                " it was refused (a signal or another command came as the order moved on), so the"
                f" {noun} was not applied; send it again if it is still wanted (./start.sh order status"
                f" {order_id})."
            ), database_lost)
        return None

    async def _workflow_tasks_failing(self, handle: WorkflowHandle, deadline: float) -> bool:
        """Whether Temporal would turn an Update away at once: the order's workflow task has
        failed or timed out twice in a row (an order worker stopped, say). One sent then is
        worse than nothing: its refusal clears the workflow's pending Updates, so a command sent
        earlier, still waiting and told it "may still take effect", never did. NoAnswerFromTemporal
        when Temporal gives no answer (the command is then not sent), False when it refuses to say
        (the send then finds out)."""
        wait = min(QUERY_TIMEOUT.total_seconds(), deadline - asyncio.get_running_loop().time())
        try:
            description = await within(handle.describe(rpc_timeout=QUERY_TIMEOUT), max(0.0, wait))
        except asyncio.TimeoutError:
            raise NoAnswerFromTemporal(down=False) from None
        except RPCError as error:
            if error.status in NO_ANSWER:
                raise NoAnswerFromTemporal(down=temporal_down(error)) from None
            return False
        return description.raw_description.pending_workflow_task.attempt >= FAILED_TASK_ATTEMPT

    def _tasks_failing(self, order_id: str, name: str, fate: str) -> StackUnreachable:
        noun = command_noun(name)
        return StackUnreachable(
            f"Order {order_id} cannot take the {noun} now: {WORKFLOW_TASKS_FAILING}; the {noun} {fate}: send it"
            f" again once the order goes on (./start.sh order status {order_id})."
        )

    async def _nobody_to_carry_out(
        self, order_id: str, name: str, sending: asyncio.Future, accepted: asyncio.Event, database_lost: bool
    ) -> StackUnreachable | None:
        """A command not answered at once: whether the worker it waits for is not serving at all
        (Temporal says no poller), so that waiting 20 s cannot help. Not yet accepted, it waits
        for the order worker; an accepted cancel, for the shipping child's dispatch to decide."""
        if not accepted.is_set():
            waits_for, queue = "order", ORDER_TASK_QUEUE
        elif name == "cancel":
            waits_for, queue = "shipping", SHIPPING_TASK_QUEUE
        else:
            return self._unanswered(order_id, name, accepted=True, database_lost=True) if database_lost else None
        missing = await self._worker_serving(queue) is False
        if not missing and accepted.is_set() and database_lost:  # it waits for the database
            return self._unanswered(order_id, name, accepted=True, database_lost=True)
        # Answered, or accepted, while Temporal was asked (a worker just started): wait on.
        if not missing or sending.done() or (waits_for == "order" and accepted.is_set()):
            return None
        log.info("event=command_waits_for_no_worker command=%s order_id=%s worker=%s", name, order_id, waits_for)
        return Unanswered(order_id, name, waits_for == "shipping", NO_WORKER_CHECK_S, worker_down=True)

    def _unanswered(self, order_id: str, name: str, accepted: bool, database_lost: bool) -> StackUnreachable:
        if accepted:
            log.info("event=command_accepted_pending command=%s order_id=%s", name, order_id)
            if database_lost:  # what it waits for is known: not "a worker may be down"
                return StackUnreachable(
                    f"Order {order_id} accepted the {command_noun(name)} and carries it out once PostgreSQL at"
                    f" {self.settings.database_url_redacted} answers again ({self.settings.database_remedy});"
                    f" then check with ./start.sh order status {order_id}."
                )
        return Unanswered(order_id, name, accepted, COMMAND_TIMEOUT_S)



def _cause_message(error: BaseException) -> str:
    cause = error.__cause__ or error
    message = getattr(cause, "message", None) or str(cause)
    return message


async def _send(
    handle: WorkflowHandle, name: str, args: list, accepted: asyncio.Event, update_id: str | None = None,
    on_sent: OnSent = None,
) -> Any:
    """The Update, in two stages: accepted (or refused) by the validator, then its outcome. A
    refusal comes back with the first stage and is raised by ``result`` at once. An Update of an
    id the workflow run has seen is not applied again: Temporal answers with its outcome.
    ``on_sent`` is called here, as the Update goes out: a caller that stops waiting before this
    task has run (Ctrl-C at once) cancels it before anything was sent."""
    given_id = {"id": update_id} if update_id is not None else {}  # else as before: the SDK's own
    if on_sent is not None:
        on_sent()
    update = await handle.start_update(name, args=args, wait_for_stage=WorkflowUpdateStage.ACCEPTED, **given_id)
    accepted.set()
    return await update.result()


def _abandon(sending: asyncio.Future) -> None:
    """Stop a command nobody waits for any more; its outcome is retrieved and logged, not raised."""

    def logged(task: asyncio.Future) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.info("event=command_not_awaited error=%r", task.exception())

    sending.cancel()
    sending.add_done_callback(logged)

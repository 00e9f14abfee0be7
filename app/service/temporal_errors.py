"""What Temporal's errors and silences mean for an operator's request: no answer at all, a
workflow task failing, an order whose workflow no longer runs (and what the order's row says then).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetSystemInfoRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from app.config import Settings
from app.errors import NotFound, OperatorError, Refused, StackUnreachable, command_noun, lost_database
from app.unfinished import Stall, not_on_temporal
from app.waiting import within
from db import queries
from workflows.model import OrderState
from workflows.order import OrderWorkflow

log = logging.getLogger("app.service")

# Waits the parts of OrderService share, each importing them by name: a test that shortens one
# patches it in the module whose code it runs.
CONNECT_TIMEOUT_S = 5
QUERY_TIMEOUT = timedelta(seconds=3)
# How long temporal_found_down waits for Temporal, found giving no answer, to refuse the connection.
DOWN_CHECK_S = 1
# Temporal did not answer (down, restarting, overloaded; the client retried first, see OPERATOR_RETRY):
# the stack's trouble, not the command's, and whether the call reached the server is unknown.
# A call's own rpc_timeout running out comes back as CANCELLED ("Timeout expired"): no answer too,
# as does a connection that dropped under the call (UNKNOWN "transport error": Temporal stopped
# for a restart while a command was on the wire, seen in a chaos run).
NO_ANSWER = frozenset({
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
})
# Why Temporal turns a command or the status Query away at once (_workflow_task_failing).
WORKFLOW_TASKS_FAILING = (
    "its workflow tasks keep failing or timing out (an order worker stopped, or an error in its log:"
    " ./start.sh logs order-worker)"
)


class NoAnswerFromTemporal(Exception):
    """Temporal gave no answer to a call asked before sending anything; ``down``: it refused or
    dropped the connection (killed, restarting) rather than leave the call unanswered."""

    def __init__(self, down: bool) -> None:
        super().__init__("down" if down else "silent")
        self.down = down


def temporal_down(error: RPCError) -> bool:
    """Whether a call Temporal gave no answer to found it down (the connection refused, or dropped
    under the call: UNAVAILABLE, UNKNOWN "transport error"), not silent (its time running out)."""
    return error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.UNKNOWN)


class TemporalErrors:
    """Part of OrderService (app.service), which mixes it in: the answers that need its settings,
    its pool and its workflow handles."""

    async def _ended_or(self, order_id: str, otherwise: StackUnreachable, database_lost: bool) -> OperatorError:
        """With Temporal out of reach, a command to an order the database has as ended is refused
        as such (as it is with Temporal up), not blamed on Temporal: `order cancel` of a shipped
        order said "Temporal ... is not reachable", exit 3 (a review). Else ``otherwise``."""
        if database_lost:  # asking it again would only wait again
            return otherwise
        try:
            state = await within(queries.order_state(self.pool, order_id), CONNECT_TIMEOUT_S)
        except Exception as error:
            if not _out_of_reach(error, self.settings):
                raise
            return otherwise
        return _already(order_id, state) if state is not None and OrderState(state).terminal else otherwise

    def _no_answer_from_temporal(self, error: RPCError, doing: str, consequence: str) -> StackUnreachable:
        log.warning("event=temporal_no_answer doing=%r status=%s error=%r", doing, error.status.name, error)
        how = {RPCStatusCode.CANCELLED: "timed out", RPCStatusCode.UNKNOWN: error.message or "unknown"}.get(
            error.status, error.status.name.lower().replace("_", " ")
        )
        return StackUnreachable(
            f"Temporal at {self.settings.temporal_address} did not answer while {doing} ({how}); {consequence}."
        )

    async def temporal_found_down(self) -> bool:
        """Whether Temporal, which just gave no answer, is down (it refuses the connection: killed,
        restarting) rather than silent (stopped with SIGSTOP, swamped): a screen of the TUI said
        "is not answering" of a Temporal that was down, where a command says "is not reachable"
        (app.errors.temporal_silent). Asked once, without retries: a server that is down refuses
        at once; one that does not answer within DOWN_CHECK_S is silent."""
        if self._client is None:
            return False  # not connected: nothing to tell one from the other by
        try:
            await within(
                self._client.workflow_service.get_system_info(
                    GetSystemInfoRequest(), retry=False, timeout=timedelta(seconds=DOWN_CHECK_S)
                ),
                DOWN_CHECK_S,
            )
        except RPCError as error:
            return error.status in NO_ANSWER and temporal_down(error)
        except asyncio.TimeoutError:
            return False
        return False

    async def _temporal_answering(self) -> None:
        """Raise NoAnswerFromTemporal unless Temporal answers its cheapest call (its system info,
        as the health check asks: no history, no database) within QUERY_TIMEOUT. A call it does
        not answer says nothing of whether it took the request; this one changes nothing either way."""
        try:
            await within(
                self.client.workflow_service.get_system_info(GetSystemInfoRequest(), retry=True, timeout=QUERY_TIMEOUT),
                QUERY_TIMEOUT.total_seconds(),
            )
        except asyncio.TimeoutError:
            raise NoAnswerFromTemporal(down=False) from None
        except RPCError as error:
            if error.status in NO_ANSWER:
                raise NoAnswerFromTemporal(down=temporal_down(error)) from None
            raise  # refused for another reason (permissions, a bad request): not "no answer"

    async def _workflow_exists(self, order_id: str) -> bool | None:
        """Whether Temporal has the order's workflow; None if it does not answer."""
        try:
            await self._handle(order_id).describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            if error.status in NO_ANSWER:
                return None
            raise  # refused for another reason (permissions, a bad request): not "no answer"
        return True

    async def _not_running(self, order_id: str, name: str) -> Exception:
        try:
            description = await self._handle(order_id).describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as error:
            if error.status in NO_ANSWER:
                return self._no_answer_from_temporal(
                    error, f"looking up order {order_id}", "check the stack with ./start.sh status"
                )
            if error.status != RPCStatusCode.NOT_FOUND:
                raise  # refused for another reason (permissions, a bad request): not "no answer"
            closed = "gone"  # deleted, or past the namespace's retention; the row may remain
        else:
            if description.status == WorkflowExecutionStatus.RUNNING:
                # The Update, not the order, was not found: Temporal dropped it before the order
                # took it (its pending Updates are cleared when the workflow task keeps failing).
                log.warning("event=command_dropped_by_temporal command=%s order_id=%s", name, order_id)
                noun = command_noun(name)
                return StackUnreachable(
                    f"Temporal dropped the {noun} before order {order_id} took it, most likely because"
                    f" {WORKFLOW_TASKS_FAILING}; send it again once the order goes on (./start.sh order status"
                    f" {order_id})."
                )
            closed = description.status.name if description.status else "closed"
        try:
            row = await within(queries.get_order(self.pool, order_id), CONNECT_TIMEOUT_S)
        except Exception as error:
            if not _out_of_reach(error, self.settings):
                raise
            log.warning("event=closed_order_row_unreachable order_id=%s closed=%s error=%r", order_id, closed, error)
            # Temporal may know the ending: that is the answer, not the database's absence.
            if closed != "gone" and (ended := await self._ended_state(order_id, closed)) is not None:
                return _already(order_id, ended)
            how = "is not answering" if isinstance(error, asyncio.TimeoutError) else "is not reachable"
            return StackUnreachable(
                f"PostgreSQL at {self.settings.database_url_redacted} {how}; {self.settings.database_remedy}."
            )
        if row is None and closed == "gone":
            return NotFound(f"There is no order {order_id}.")
        if row is not None and (OrderState(row["state"]).terminal or closed == WorkflowExecutionStatus.COMPLETED.name):
            return _already(order_id, row["state"])
        # The order's own run, which a run started by hand under its id since may hide.
        owner = row.get("workflow_first_run_id") if row is not None else None
        stall = None if closed == "gone" else await self._stall(order_id, owner)
        stall = stall or Stall(closed=closed)
        if row is None:
            return Refused(f"Order {order_id} cannot change: {self._left_unfinished(stall, 'not recorded yet', {}, order_id)}")
        if stall.closed == "gone":  # the Temporal asked may not be the order's: exit 3, as for a namespace it lacks
            log.warning("event=order_workflow_not_found order_id=%s state=%s", order_id, row["state"])
            return StackUnreachable(self._not_on_temporal(order_id, row["state"], command_noun(name)))
        payment = {"payment_id": row["payment_id"], "status": row["payment_status"]}
        return Refused(f"Order {order_id} cannot change: {self._left_unfinished(stall, row['state'], payment, order_id)}")

    def _not_on_temporal(self, order_id: str, state: str, noun: str | None = None) -> str:
        settings = self.settings
        namespace = settings.temporal_connect_config()["namespace"]
        return not_on_temporal(
            order_id, state, settings.database_url_redacted, settings.temporal_address, namespace, noun
        )

    async def _ended_state(self, order_id: str, closed: str) -> str | None:
        """The state a closed workflow ended the order in, as Temporal has it (its result once
        COMPLETED; else its status Query, which a worker answers by replaying it), or None if
        the order had not ended or Temporal cannot say."""
        handle = self._handle(order_id)
        try:
            if closed == WorkflowExecutionStatus.COMPLETED.name:
                result = await handle.result(rpc_timeout=QUERY_TIMEOUT)
                state = OrderState(result["state"])
            else:
                state = (await handle.query(OrderWorkflow.status, rpc_timeout=QUERY_TIMEOUT)).state
        except Exception as error:  # the database's absence is then the answer
            log.info("event=ended_state_unknown order_id=%s closed=%s error=%r", order_id, closed, error)
            return None
        return state.value if state.terminal else None


async def namespace_missing(client: Client, settings: Settings) -> str | None:
    """The sentence for a namespace Temporal does not have (TEMPORAL_NAMESPACE mistyped), or
    None. Asked once, as the client connects: connecting asks nothing of the namespace, and
    each call after it said NOT_FOUND, which a command took for its order's workflow gone
    ("settle it by hand"). Any other answer, or none, is left for the calls themselves."""
    try:
        await within(
            client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=client.namespace), retry=True, timeout=QUERY_TIMEOUT
            ),
            QUERY_TIMEOUT.total_seconds(),
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            log.warning("event=temporal_namespace_not_found namespace=%s error=%r", client.namespace, error)
            return (
                f"Temporal at {settings.temporal_address} has no namespace {client.namespace!r}; check"
                " TEMPORAL_NAMESPACE (or the profile in Temporal's configuration)."
            )
        log.info("event=namespace_check_failed error=%r", error)
    except Exception as error:  # no answer in time, say: the calls themselves will tell
        log.info("event=namespace_check_failed error=%r", error)
    return None


def _workflow_task_failing(error: RPCError) -> bool:
    """Temporal refuses an Update or a Query at once (an Update without recording it) to a
    workflow whose task has failed or timed out twice in a row, its third attempt due:
    WorkflowNotReady, "... due to Workflow Task in failed state"."""
    return error.status == RPCStatusCode.FAILED_PRECONDITION and "Workflow Task in failed state" in error.message


def _update_task_refused(error: RPCError) -> bool:
    """The server refused the workflow task that carried an Update (the worker completed the
    order while a signal or another Update came: UNHANDLED_COMMAND) and aborted the Update it
    had sent with that task: WorkflowNotReady, "... due to unexpected workflow task failure".
    The task's messages are dropped, so the Update was not applied, and the steps never act on
    an Update before it is on record (OrderSteps.updates_on_record)."""
    return error.status == RPCStatusCode.FAILED_PRECONDITION and "unexpected workflow task failure" in error.message


def _out_of_reach(error: BaseException, settings: Settings) -> bool:
    """PostgreSQL did not answer in time, or its connection failed: an outage to ride out."""
    return isinstance(error, asyncio.TimeoutError) or lost_database(error, settings) is not None


def _already(order_id: str, state: str) -> Refused:
    return Refused(f"Order {order_id} is already {state}; nothing can change it now.")

"""One order as an operator reads it: its status (the workflow's view, or the database's when
it cannot answer, and why the order may not finish) and its audit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from app import checks
from app.errors import NotFound, NotYetRecorded, StackUnreachable, temporal_refused
from app.service.temporal_errors import NO_ANSWER, QUERY_TIMEOUT, WORKFLOW_TASKS_FAILING, _workflow_task_failing
from app.unfinished import Stall, find_stall, left_unfinished, reset_command
from app.views import lost_decision, merged_status, order_summary, timeline
from db import queries
from workflows.model import SHIPPING_TASK_QUEUE, OrderState, order_workflow_id
from workflows.order import OrderWorkflow

log = logging.getLogger("app.service")


class StatusReads:
    """Part of OrderService (app.service), which mixes it in: one order's status and audit, and
    the lookups the commands share (why an order is unfinished)."""

    async def status(self, order_id: str) -> dict:
        """The live state: the workflow's own view, with attempts from the audit tables; for an
        order that ended, the database's alone."""
        checks.status(order_id)
        # The row first: an ended order's is final (it only moves forward, db/orders.py) and holds
        # all its status, so the workflow is not asked (the Query made the order worker replay the
        # closed workflow's whole history, and waited ~3 s for nothing while no order worker served).
        row, per_activity, shipping_runs = await self._status_rows(order_id)
        ended = row is not None and OrderState(row["state"]).terminal
        live, not_found, no_answer, failing = await self._ask_workflow(order_id, ended)
        if live is not None and (row is None or row["state"] != live.state):
            # The order moved on while the workflow was asked: read again, so that the row's counts
            # (retries, failed attempts, the last error) are at least as new as the workflow's state
            # (an attempt's row is written before its step returns). Only then: `order status` read
            # the row twice for every answer, once for its state alone.
            row, per_activity, _ = await self._status_rows(order_id)
        if live is None and row is None:
            if not_found:
                raise NotFound(f"There is no order {order_id}.")
            raise await self._not_recorded(order_id)
        if live is None and not ended:
            log.info("event=status_from_database order_id=%s", order_id)
        now = datetime.now(timezone.utc)
        summary = order_summary(row, now) if row is not None else {}
        status = merged_status(order_id, live, summary, per_activity, now)
        status["web_ui_url"] = self.settings.workflow_ui_url(order_workflow_id(order_id))
        if ended:  # what else the workflow's view gave: no address change is pending after the end
            status.update(address_change_pending=False, shipping_attempts=shipping_runs)
        if status.get("terminal"):
            return status
        owner = row.get("workflow_first_run_id") if row is not None else None
        stall = Stall(closed="gone") if not_found else None if no_answer else await self._stall(order_id, owner)
        if stall is not None:
            # Terminated (say) from outside, no longer in Temporal at all, or waiting for a child
            # that ended unheard: the query answered as if the order were about to go on, or not at all.
            self._mark_stalled(status, order_id, stall)
        elif live is not None and row is not None and (
            lost := lost_decision(order_id, live.state, row["state"], row["updated_at"], now)
        ):
            status["warning"] = lost
            status["step"] = live.step  # the row's step is one the order has not reached
        elif live is None:
            status["note"] = self._database_view_note(failing)
        if "warning" not in status and status["state"] in IN_SHIPPING and self._client is not None and not no_answer:
            if await self._worker_serving(SHIPPING_TASK_QUEUE) is False:
                # Else it only looked slow (a review: PAID, "packing and dispatching", 35 s and counting).
                status["warning"] = (
                    f"No shipping worker is serving, so order {order_id} waits to be packed and dispatched (none"
                    " runs, or it is stopped: see ./start.sh status); it goes on once one does."
                )
        return status

    async def _ask_workflow(self, order_id: str, ended: bool) -> tuple[Any, bool, bool, bool]:
        """The workflow's own view (None if it was not asked or did not answer), and why not:
        not found, no answer from Temporal, its workflow task failing."""
        live, not_found, no_answer, failing = None, False, self._client is None, False
        try:
            if self._client is not None and not ended:
                live = await self._handle(order_id).query(OrderWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as error:
            not_found = error.status == RPCStatusCode.NOT_FOUND
            no_answer = error.status in NO_ANSWER  # then asking it again below would only wait again
            failing = _workflow_task_failing(error)
            log.info("event=status_query_failed order_id=%s error=%r", order_id, error)
        except Exception as error:  # a query needs a worker; the database still knows the state
            log.info("event=status_query_failed order_id=%s error=%r", order_id, error)
        return live, not_found, no_answer, failing

    def _mark_stalled(self, status: dict, order_id: str, stall: Stall) -> None:
        """Say in ``status`` that the order is not going on, why, and (unless its workflow is
        gone) what would make it finish."""
        status["workflow_status"] = (stall.closed or "RUNNING").upper()
        if stall.closed is None:
            status["step"] = f"none: waiting for {stall.child}, which is {stall.child_status}"
        else:
            status["step"] = "none: its workflow " + ("is not found" if stall.closed == "gone" else f"is {stall.closed}")
        if stall.closed == "gone":
            status["warning"] = self._not_on_temporal(order_id, status["state"])
        else:
            unfinished = self._left_unfinished(stall, status["state"], status.get("payment") or {}, order_id)
            status["warning"] = f"Order {order_id} will not finish: {unfinished}"
            # also alone, to copy: a panel wraps it
            status["reset_command"] = reset_command(order_id, self.settings.temporal_address, stall)

    def _database_view_note(self, failing: bool) -> str:
        """Why a status is the database's view: the workflow could not be asked, or did not answer."""
        return (
            f"{self.temporal_unreachable} This is the database's view."
            if self.temporal_unreachable
            else f"I{WORKFLOW_TASKS_FAILING[1:]}, so the workflow cannot answer: this is the database's view,"
            " which may lag behind it."
            if failing
            else "The workflow did not answer (no order worker serving, or Temporal busy):"
            " this is the database's view, which may lag behind it."
        )

    async def _status_rows(self, order_id: str) -> tuple[Any, dict[str, int], int | None]:
        """The order's row, its attempts per step and, if it has ended, its shipping runs, from one
        snapshot, so that the row's counts agree with the attempts per step."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            row = await queries.get_order(conn, order_id)
            per_activity = await queries.attempts_by_activity(conn, order_id)
            ended = row is not None and OrderState(row["state"]).terminal
            return row, per_activity, await queries.shipping_runs(conn, order_id) if ended else None

    async def _stall(self, order_id: str, first_run_id: str | None) -> Stall | None:
        """Why the order's workflow (the latest run of its chain, ``first_run_id``, the row's) will
        not finish the order, if it will not."""
        if self._client is None:
            return None
        return await find_stall(self._client, self._handle(order_id), QUERY_TIMEOUT, first_run_id)

    def _left_unfinished(self, stall: Stall, state: str, payment: dict, order_id: str) -> str:
        return left_unfinished(stall, state, payment, order_id, self.settings.temporal_address)

    async def audit(self, order_id: str) -> dict:
        checks.audit(order_id)
        row, events, attempts = await self._audit_rows(order_id)
        if row is None:
            raise await self._not_recorded(order_id)
        return {
            "order": order_summary(row, datetime.now(timezone.utc)),
            "timeline": timeline(events, attempts, row["finished_at"]),
            "web_ui_url": self.settings.workflow_ui_url(order_workflow_id(order_id)),
        }

    async def _audit_rows(self, order_id: str) -> tuple[Any, list, list]:
        """The order's row, its events and its attempts from one snapshot: read apart, an attempt
        written between them was in the timeline and not in the row's counts shown beside it."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            row = await queries.get_order(conn, order_id)
            if row is None:
                return None, [], []
            return row, await queries.events(conn, order_id), await queries.attempts(conn, order_id)

    async def _not_recorded(self, order_id: str) -> Exception:
        """An order without a row: none at all, one whose workflow ended before ReceiveOrder
        recorded it, or one still waiting to be recorded, and then whether that is because no
        order worker runs."""
        if self._client is None:
            return StackUnreachable(
                f"Order {order_id} is not in the database, and Temporal at {self.settings.temporal_address}"
                f" is not reachable to say whether it was started; {self.settings.temporal_remedy}."
            )
        try:
            description = await self._handle(order_id).describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return NotFound(f"There is no order {order_id}.")
            log.warning("event=describe_failed order_id=%s error=%r", order_id, error)
            # An answer, and the fix is the credentials, not the stack ("did not answer" said otherwise).
            if (refused := temporal_refused(
                error, self.settings.temporal_address, f"to say whether order {order_id} was started"
            )) is not None:
                return refused
            if error.status not in NO_ANSWER:
                raise  # refused for another reason (a bad request): not "no answer"
            return StackUnreachable(
                f"Temporal at {self.settings.temporal_address} did not answer about order {order_id};"
                " check the stack with ./start.sh status."
            )
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = description.status.name if description.status else "closed"
            return NotFound(
                f"Order {order_id} was never recorded: its workflow ended ({status}) first; see its history in the"
                f" Temporal Web UI."
            )
        if await self.order_worker_running() is False:  # the stack's trouble (exit 3), not the order's
            return StackUnreachable(
                f"Order {order_id} has been started, but no order worker is serving to record it (none runs,"
                " or it is stopped: see ./start.sh status)."
            )
        return NotYetRecorded(f"Order {order_id} has been started but not yet recorded; try again in a moment.")


# What the shipping child does next: pack (PAID) or dispatch (PACKED).
IN_SHIPPING = (OrderState.PAID.value, OrderState.PACKED.value)

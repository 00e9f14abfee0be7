"""OrderService: the one place that talks to Temporal and PostgreSQL for operators. The CLI,
the TUI, the API and the benchmark are thin shells over it.

Every method either returns plain data or raises an OperatorError whose text is the one
sentence an operator sees.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

import asyncpg
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RetryConfig, RPCError, RPCStatusCode

from app import checks
from app.config import Settings
from app.errors import (
    NotFound,
    StackUnreachable,
    Taken,
)
from app.service.commands import OrderCommands
from app.service.create import NEW_ORDER_ID_FORM, NO_ORDER_WORKER_WARNING, CreatedOrder, OrderCreation, _taken, new_order_id
from app.service.temporal_errors import (
    CONNECT_TIMEOUT_S,
    NO_ANSWER,
    QUERY_TIMEOUT,
    WORKFLOW_TASKS_FAILING,
    TemporalErrors,
    _out_of_reach,
    _workflow_task_failing,
)
from app.stack.health import check_pollers
from app.unfinished import Stall, find_stall, left_unfinished, reset_command
from app.views import lost_decision, merged_status, order_summary, timeline
from db import queries
from db.pool import create_pool
from workflows.model import (
    ORDER_TASK_QUEUE,
    PROCESSING_BUDGET_S,
    SHIPPING_TASK_QUEUE,
    OrderState,
    order_workflow_id,
)
from workflows.order import OrderWorkflow

__all__ = ["NEW_ORDER_ID_FORM", "NO_ANSWER", "NO_ORDER_WORKER_WARNING", "CreatedOrder", "OrderService", "new_order_id"]

log = logging.getLogger("app.service")

# How long closing the pool may wait for connections still in use (see close).
CLOSE_TIMEOUT_S = 3.0
# How long the client retries a call Temporal cannot take (down, restarting) before the
# operator is told: ~2 s instead of the SDK's ~7 s (10 s budget), which a long-lived client (the
# TUI, the API) spent on every command once Temporal had gone; a blip shorter than that is
# still ridden out. The benchmark keeps the SDK's patience.
OPERATOR_RETRY = RetryConfig(initial_interval_millis=100, max_interval_millis=500, max_elapsed_time_millis=2000)


class OrderService(OrderCreation, OrderCommands, TemporalErrors):
    def __init__(
        self,
        settings: Settings,
        client: Client | None,
        pool: asyncpg.Pool,
        temporal_unreachable: str = "",
        database_unreachable: str = "",
    ) -> None:
        self.settings = settings
        self._client = client
        self.pool = pool
        # Connected with temporal="optional" while Temporal was out of reach: why (else "").
        self.temporal_unreachable = temporal_unreachable
        # Connected with database="optional" while PostgreSQL was out of reach: why (else "").
        self.database_unreachable = database_unreachable

    @classmethod
    async def connect(
        cls,
        settings: Settings | None = None,
        *,
        pool_size: int = 5,
        temporal: bool | str = True,
        database: bool | str = True,
        retry: RetryConfig | None = OPERATOR_RETRY,
    ) -> "OrderService":
        """``temporal=False``: only the database, for what reads nothing else (the catalog, the
        order list), so that it works while Temporal is down. ``temporal="optional"``: Temporal
        if it answers, for what reads mostly the database (status, audit), which then answers
        from the database alone. ``database="optional"``: for the commands Temporal carries
        (approve, reject, cancel, address), which the order records once PostgreSQL is back;
        the pool then connects when first used."""
        settings = settings or Settings.from_env()
        client, unreachable = None, ""
        if temporal:
            try:
                retrying = {"retry_config": retry} if retry is not None else {}
                client = await asyncio.wait_for(
                    Client.connect(**settings.temporal_connect_config(), **retrying), CONNECT_TIMEOUT_S
                )
            except Exception as error:
                log.warning("event=temporal_unreachable address=%s error=%r", settings.temporal_address, error)
                unreachable = f"Temporal at {settings.temporal_address} is not reachable; {settings.temporal_remedy}."
                if temporal != "optional":
                    raise StackUnreachable(unreachable) from None
        try:
            pool = await asyncio.wait_for(create_pool(settings.database_url, max_size=pool_size), CONNECT_TIMEOUT_S)
        except Exception as error:
            log.warning("event=database_unreachable url=%s error=%r", settings.database_url_redacted, error)
            lost = f"PostgreSQL at {settings.database_url_redacted} is not reachable; {settings.database_remedy}."
            if isinstance(error, (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError)):
                # It answered, and said no: not "not reachable" (a review). A user, password or
                # database name in DATABASE_URL is the user's to fix; a local one, `up`'s.
                fix = "check DATABASE_URL" if settings.external_database_url else settings.database_remedy
                raise StackUnreachable(
                    f"PostgreSQL at {settings.database_url_redacted} refused the connection: {error}; {fix}."
                ) from None
            # A wrong password is no outage to ride out.
            if database != "optional" or not _out_of_reach(error, settings):
                raise StackUnreachable(lost) from None
            # No connection now; each use tries again (briefly), and a failure is a lost database.
            pool = await create_pool(
                settings.database_url, min_size=0, max_size=pool_size, connect_timeout=CONNECT_TIMEOUT_S
            )
            return cls(settings, client, pool, unreachable, database_unreachable=lost)
        return cls(settings, client, pool, unreachable)

    @property
    def client(self) -> Client:
        if self._client is None:  # a bug: this command needs Temporal after all
            raise RuntimeError("this OrderService was connected without Temporal (connect(temporal=False))")
        return self._client

    async def close(self) -> None:
        """Closes the pool; one whose connections a hung PostgreSQL holds (reads given up on,
        app.waiting.within) is terminated after a moment rather than waited for ~30 s."""
        try:
            await asyncio.wait_for(self.pool.close(), CLOSE_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("event=database_pool_terminated reason=close_timed_out")
            self.pool.terminate()

    async def __aenter__(self) -> "OrderService":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ------------------------------------------------------------------ reading

    async def catalog(self) -> list[queries.Product]:
        return await queries.catalog(self.pool)

    async def list_orders(self, *, state: str | None = None, limit: int = 50, offset: int = 0) -> list[dict]:
        state = checks.list_orders(state=state, limit=limit, offset=offset)
        rows = await queries.list_orders(self.pool, state=state, limit=limit, offset=offset)
        now = datetime.now(timezone.utc)
        return [order_summary(row, now) for row in rows]

    async def order_page(
        self, *, state: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """A page of the list as `order list --json` and GET /orders give it (the orders, how
        many are on the page, how many there are in all of ``state`` or of every state, so that a
        client knows the last page, and the offset), and the count of each state."""
        state = checks.list_orders(state=state, limit=limit, offset=offset)
        orders = await self.list_orders(state=state, limit=limit, offset=offset)
        counts = await self.state_counts()
        total = counts.get(state, 0) if state else sum(counts.values())
        return {"orders": orders, "count": len(orders), "total": total, "offset": offset}, counts

    async def overdue_orders(self, limit: int = 3) -> list[dict]:
        """In-flight orders past the processing budget (not those waiting for a human)."""
        in_flight = [s.value for s in OrderState if not s.terminal and s != OrderState.AWAITING_APPROVAL]
        rows = await queries.overdue(self.pool, states=in_flight, budget_s=PROCESSING_BUDGET_S, limit=limit)
        return [
            {"order_id": r["id"], "state": r["state"], "created_at": r["created_at"].isoformat(), "review_ms": r["review_ms"]}
            for r in rows
        ]

    async def state_counts(self) -> dict[str, int]:
        return await queries.state_counts(self.pool)

    async def order_states(self, order_ids: list[str]) -> dict[str, str]:
        """The state of each of these orders already recorded (a simulation follows its own)."""
        return await queries.order_states(self.pool, order_ids)

    async def refuse_taken_id(self, order_id: str) -> None:
        """InvalidInput if an order already has this id (a form asks this before the rest)."""
        if await queries.order_exists(self.pool, order_id):
            raise Taken(_taken(order_id))

    async def status(self, order_id: str) -> dict:
        """The live state: the workflow's own view, with attempts from the audit tables."""
        checks.status(order_id)
        live, not_found, no_answer, failing = None, False, self._client is None, False
        try:
            if self._client is not None:
                live = await self._handle(order_id).query(OrderWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as error:
            not_found = error.status == RPCStatusCode.NOT_FOUND
            no_answer = error.status in NO_ANSWER  # then asking it again below would only wait again
            failing = _workflow_task_failing(error)
            log.info("event=status_query_failed order_id=%s error=%r", order_id, error)
        except Exception as error:  # a query needs a worker; the database still knows the state
            log.info("event=status_query_failed order_id=%s error=%r", order_id, error)
        # After the workflow's view, and both from one snapshot: the order row's counts (retries,
        # failed attempts, the last error) agree with the attempts per step, and are at least as
        # new as the workflow's state (an attempt's row is written before its step returns).
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            row = await queries.get_order(conn, order_id)
            per_activity = await queries.attempts_by_activity(conn, order_id)
        if live is None and row is None:
            if not_found:
                raise NotFound(f"There is no order {order_id}.")
            raise await self._not_recorded(order_id)
        if live is None:
            log.info("event=status_from_database order_id=%s", order_id)
        now = datetime.now(timezone.utc)
        summary = order_summary(row, now) if row is not None else {}
        status = merged_status(order_id, live, summary, per_activity, now)
        status["web_ui_url"] = self.settings.workflow_ui_url(order_workflow_id(order_id))
        if status.get("terminal"):
            return status
        stall = Stall(closed="gone") if not_found else None if no_answer else await self._stall(order_id)
        if stall is not None:
            # Terminated (say) from outside, no longer in Temporal at all, or waiting for a child
            # that ended unheard: the query answered as if the order were about to go on, or not at all.
            status["workflow_status"] = (stall.closed or "RUNNING").upper()
            if stall.closed is None:
                status["step"] = f"none: waiting for {stall.child}, which is {stall.child_status}"
            else:
                status["step"] = "none: its workflow " + ("no longer exists" if stall.closed == "gone" else f"is {stall.closed}")
            unfinished = self._left_unfinished(stall, status["state"], status.get("payment") or {}, order_id)
            status["warning"] = f"Order {order_id} will not finish: {unfinished}"
            if stall.closed != "gone":  # also alone, to copy: a panel wraps it
                status["reset_command"] = reset_command(order_id, self.settings.temporal_address, stall.reset_event_id)
        elif live is not None and row is not None and (
            lost := lost_decision(order_id, live.state, row["state"], row["updated_at"], now)
        ):
            status["warning"] = lost
            status["step"] = live.step  # the row's step is one the order has not reached
        elif live is None:
            status["note"] = (
                f"{self.temporal_unreachable} This is the database's view."
                if self.temporal_unreachable
                else f"I{WORKFLOW_TASKS_FAILING[1:]}, so the workflow cannot answer: this is the database's view,"
                " which may lag behind it."
                if failing
                else "The workflow did not answer (no order worker serving, or Temporal busy):"
                " this is the database's view, which may lag behind it."
            )
        if "warning" not in status and status["state"] in IN_SHIPPING and self._client is not None and not no_answer:
            if await self._worker_serving(SHIPPING_TASK_QUEUE) is False:
                # Else it only looked slow (a review: PAID, "packing and dispatching", 35 s and counting).
                status["warning"] = (
                    f"No shipping worker is serving, so order {order_id} waits to be packed and dispatched (none"
                    " runs, or it is stopped: see ./start.sh status); it goes on once one does."
                )
        return status

    async def _stall(self, order_id: str) -> Stall | None:
        """Why the order's workflow (its latest run) will not finish the order, if it will not."""
        if self._client is None:
            return None
        return await find_stall(self._client, self._handle(order_id), QUERY_TIMEOUT)

    def _left_unfinished(self, stall: Stall, state: str, payment: dict, order_id: str) -> str:
        return left_unfinished(stall, state, payment, order_id, self.settings.temporal_address)

    async def audit(self, order_id: str) -> dict:
        checks.audit(order_id)
        row = await queries.get_order(self.pool, order_id)
        if row is None:
            raise await self._not_recorded(order_id)
        events = await queries.events(self.pool, order_id)
        attempts = await queries.attempts(self.pool, order_id)
        return {
            "order": order_summary(row, datetime.now(timezone.utc)),
            "timeline": timeline(events, attempts, row["finished_at"]),
            "web_ui_url": self.settings.workflow_ui_url(order_workflow_id(order_id)),
        }

    # ------------------------------------------------------------------ mechanics

    async def order_worker_running(self) -> bool | None:
        """Whether an order worker polls its task queue (without one, a new order waits); None
        if Temporal could not say."""
        return await self._worker_serving(ORDER_TASK_QUEUE)

    async def _worker_serving(self, task_queue: str) -> bool | None:
        check = await check_pollers(self.client, task_queue)
        if check.healthy:
            return True
        return False if check.detail.startswith("no worker polling") else None

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
        return NotFound(f"Order {order_id} has been started but not yet recorded; try again in a moment.")

    def _handle(self, order_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(order_workflow_id(order_id))


# What the shipping child does next: pack (PAID) or dispatch (PACKED).
IN_SHIPPING = (OrderState.PAID.value, OrderState.PACKED.value)

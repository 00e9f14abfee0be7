"""What an operator reads of the orders: the catalog, the order list and its counts, the orders
overdue, and whether a worker serves a task queue (one order's status and audit: status.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
from temporalio.service import RPCError, RPCStatusCode

from app import checks
from app.errors import Taken
from app.service.created import _taken
from app.stack.health import check_pollers
from app.unfinished import closed_without_completing, latest_run_of_chain, of_chain
from app.views import order_summary
from db import queries
from workflows.model import ORDER_TASK_QUEUE, PROCESSING_BUDGET_S, OrderState, order_workflow_id

log = logging.getLogger("app.service")

# Overdue orders read beyond the dashboard's few, so that orders whose workflow was closed
# outside the tracker do not crowd out the late ones still running (OrderReads.overdue_orders).
OVERDUE_LOOKAHEAD = 7
CLOSED_CHECK_TTL_S = 10.0
CLOSED_CHECK_TIMEOUT = timedelta(seconds=1)


class OrderReads:
    """Part of OrderService (app.service), which mixes it in: its reads of the orders, and the
    lookup they share with the commands and the status (whether a worker serves a task queue)."""

    async def catalog(self) -> list[queries.Product]:
        return await queries.catalog(self.pool)

    async def list_orders(
        self, *, state: str | None = None, limit: int = 50, offset: int = 0, conn: asyncpg.Connection | None = None
    ) -> list[dict]:
        state = checks.list_orders(state=state, limit=limit, offset=offset)
        rows = await queries.list_orders(conn or self.pool, state=state, limit=limit, offset=offset)
        now = datetime.now(timezone.utc)
        return [order_summary(row, now) for row in rows]

    async def newest_orders(self, states: list[str], limit: int) -> list[dict]:
        """The newest ``limit`` orders in any of ``states`` (a picker's), each state's read through its
        index, all from one snapshot: read apart, an order that moved from one of them to another
        between two reads was listed twice (PAID and PACKED, say), or not at all."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            pages = [await self.list_orders(state=state, limit=limit, conn=conn) for state in states]
        orders = sorted((o for page in pages for o in page), key=lambda o: o["created_at"] or "", reverse=True)
        return orders[:limit]

    async def order_page(
        self, *, state: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """A page of the list as `order list --json` and GET /orders give it (the orders, how
        many are on the page, how many there are in all of ``state`` or of every state, so that a
        client knows the last page, and the offset), and the count of each state."""
        state = checks.list_orders(state=state, limit=limit, offset=offset)
        # One snapshot: an order that changed state between two reads was on the page and not
        # in the total (or the other way round), and a client paging by the total went wrong.
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            orders = await self.list_orders(state=state, limit=limit, offset=offset, conn=conn)
            counts = await queries.state_counts(conn)
        total = counts.get(state, 0) if state else sum(counts.values())
        return {"orders": orders, "count": len(orders), "total": total, "offset": offset}, counts

    async def overdue_orders(self, limit: int = 3) -> list[dict]:
        """In-flight orders past the processing budget (not those waiting for a human), oldest
        first, those whose workflow still runs before those whose workflow was closed outside
        the tracker (``workflow``: TERMINATED, say, or "gone"; None while it runs or when
        Temporal cannot say). Such an order stays in flight in the database for ever, and three
        of them filled the dashboard's line, asking "is a worker down?" with every worker up,
        and hid the late orders a down worker holds (an operator walkthrough)."""
        in_flight = [s.value for s in OrderState if not s.terminal and s != OrderState.AWAITING_APPROVAL]
        rows = await queries.overdue(
            self.pool, states=in_flight, budget_s=PROCESSING_BUDGET_S, limit=limit + OVERDUE_LOOKAHEAD
        )
        closed = await asyncio.gather(*(self._workflow_closed(r["id"], r["workflow_first_run_id"]) for r in rows))
        orders = [
            {
                "order_id": r["id"], "state": r["state"], "created_at": r["created_at"].isoformat(),
                "review_ms": r["review_ms"], "workflow": workflow,
            }
            for r, workflow in zip(rows, closed)
        ]
        orders.sort(key=lambda order: order["workflow"] is not None)  # stable: oldest first in each
        return orders[:limit]

    async def _workflow_closed(self, order_id: str, first_run_id: str | None) -> str | None:
        """How the order's workflow (the latest run of its chain, ``first_run_id``, the row's) was
        closed, if it was closed without completing ("gone": no longer in Temporal); None while it
        runs, or when Temporal cannot say. Kept for CLOSED_CHECK_TTL_S: the dashboard asks at
        every refresh."""
        if self._client is None:
            return None
        seen = self._closed_seen
        now = time.monotonic()
        if (hit := seen.get(order_id)) is not None and now - hit[0] < CLOSED_CHECK_TTL_S:
            return hit[1]
        closed = None
        try:
            description = await self._handle(order_id).describe(rpc_timeout=CLOSED_CHECK_TIMEOUT)
            if not of_chain(description, first_run_id):
                # A run started by hand under order-X once the order's had closed, and refused: it
                # read FAILED for an order whose own run was terminated. Only then is more asked.
                description = await latest_run_of_chain(
                    self.client, order_workflow_id(order_id), first_run_id, description.run_id, CLOSED_CHECK_TIMEOUT
                )
            closed = "gone" if description is None else closed_without_completing(description)
        except RPCError as error:
            closed = "gone" if error.status == RPCStatusCode.NOT_FOUND else None
        except Exception as error:  # the line still names the order, as before
            log.info("event=overdue_check_failed order_id=%s error=%r", order_id, error)
        if len(seen) > 1000:
            seen.clear()
        seen[order_id] = (now, closed)
        return closed

    async def state_counts(self) -> dict[str, int]:
        return await queries.state_counts(self.pool)

    async def order_states(self, order_ids: list[str]) -> dict[str, str]:
        """The state of each of these orders already recorded (a simulation and the benchmark
        follow their own)."""
        return await queries.order_states(self.pool, order_ids)

    async def refuse_taken_id(self, order_id: str) -> None:
        """Taken if an order already has this id (the create form asks this before the rest)."""
        if await queries.order_exists(self.pool, order_id):
            raise Taken(_taken(order_id))

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

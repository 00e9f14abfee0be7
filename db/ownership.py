"""Which workflow owns an order's row: the one that created it (orders.workflow_id), and the
run chain it was created by (orders.workflow_first_run_id). No other writes to the order; the
checks the writes make, and what they raise."""

from __future__ import annotations

from datetime import datetime, timezone

import asyncpg


class AnotherWorkflowsOrder(Exception):
    """The order's row was created by another workflow (orders.workflow_id): one started by hand
    for an order that exists, say. An order belongs to the workflow that created its row, and
    no other writes to it; the transaction is rolled back."""

    def __init__(self, order_id: str, owner: str, workflow_id: str) -> None:
        super().__init__(f"Order {order_id} belongs to workflow {owner}; workflow {workflow_id} may not act on it.")
        self.owner = owner


class AnotherRunsOrder(AnotherWorkflowsOrder):
    """The order's row is its workflow id's, but another run chain's (orders.workflow_first_run_id):
    a run started by hand under order-<id> once the order's own workflow had closed. It may not
    act on the order at all; the transaction is rolled back."""

    def __init__(self, order_id: str, owner_run: str, started: datetime) -> None:
        when = started.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        Exception.__init__(
            self, f"Order {order_id} belongs to another workflow run (started {when}); this run changes nothing."
        )
        self.owner = owner_run


def _check_owner(order_id: str, owner: str | None, workflow_id: str | None) -> None:
    """Refuse a workflow that is not the row's (None: no row, or no workflow to check)."""
    if owner is not None and workflow_id is not None and owner != workflow_id:
        raise AnotherWorkflowsOrder(order_id, owner, workflow_id)


def _owned(order_id: str, row: asyncpg.Record | None, workflow_id: str | None) -> asyncpg.Record | None:
    """``row`` (read with its workflow_id), once _check_owner has let ``workflow_id`` through."""
    _check_owner(order_id, row["workflow_id"] if row is not None else None, workflow_id)
    return row


def _check_run(order_id: str, row: asyncpg.Record, first_run_id: str) -> None:
    """Refuse a run of another chain than the row's (after _check_owner: same workflow id). A
    row stored before the chain was recorded (NULL), or a caller that does not say (""), is
    not checked: such orders are their workflow id's, as they were."""
    owner_run = row["workflow_first_run_id"]
    if owner_run is not None and first_run_id and owner_run != first_run_id:
        raise AnotherRunsOrder(order_id, owner_run, row["created_at"])


async def check_owner(conn: asyncpg.Connection, order_id: str, *, workflow_id: str, first_run_id: str) -> None:
    """Refuse (AnotherWorkflowsOrder, AnotherRunsOrder) a workflow run that does not own the
    order's row; nothing if there is no row yet. A read: no lock, nothing written."""
    row = await conn.fetchrow(
        "SELECT workflow_id, workflow_first_run_id, created_at FROM orders WHERE id = $1", order_id
    )
    if row is not None:
        _check_owner(order_id, row["workflow_id"], workflow_id)
        _check_run(order_id, row, first_run_id)

"""OrderService: the one place that talks to Temporal and PostgreSQL for operators. The CLI,
the TUI, the API and the benchmark are thin shells over it.

Every method either returns plain data or raises an OperatorError whose text is the one
sentence an operator sees.

This module connects it to the stack; its methods are in the package's other modules, one part
each: reads.py, status.py (one order's status and audit), create.py, created.py (what a create
answers), commands.py, sending.py (how a command goes to Temporal), and temporal_errors.py (what
Temporal's errors mean).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RetryConfig

from app.config import Settings
from app.errors import StackUnreachable, postgres_refused, temporal_refused
from app.service.commands import OrderCommands
from app.service.create import (
    NEW_ORDER_ID_FORM,
    NO_ORDER_WORKER_WARNING,
    START_TIMEOUT,
    OrderCreation,
    keyed_order_id,
    new_order_id,
)
from app.service.created import CreatedAlready, CreatedOrder, OtherContent
from app.service.reads import OrderReads
from app.service.sending import CommandSending
from app.service.status import StatusReads
from app.service.temporal_errors import CONNECT_TIMEOUT_S, NO_ANSWER, TemporalErrors, _out_of_reach, namespace_missing
from app.stack.stack import Stack
from db.pool import create_pool
from workflows.model import order_workflow_id

__all__ = [
    "NEW_ORDER_ID_FORM", "NO_ANSWER", "NO_ORDER_WORKER_WARNING", "CreatedOrder", "OrderService", "OtherContent",
    "keyed_order_id",
    "new_order_id",
]

log = logging.getLogger("app.service")

# How long closing the pool may wait for connections still in use (see close).
CLOSE_TIMEOUT_S = 3.0
# How long the client retries a call Temporal cannot take (down, restarting) before the
# operator is told: ~2 s instead of the SDK's ~7 s (10 s budget), which a long-lived client (the
# TUI, the API) spent on every command once Temporal had gone; a blip shorter than that is
# still ridden out. The benchmark keeps the SDK's patience.
OPERATOR_RETRY = RetryConfig(initial_interval_millis=100, max_interval_millis=500, max_elapsed_time_millis=2000)


class OrderService(OrderReads, StatusReads, OrderCreation, CreatedAlready, OrderCommands, CommandSending, TemporalErrors):
    def __init__(
        self,
        settings: Settings,
        client: Client | None,
        pool: asyncpg.Pool,
        temporal_unreachable: str = "",
        database_unreachable: str = "",
        start_timeout: timedelta | None = START_TIMEOUT,
    ) -> None:
        self.settings = settings
        # How long a create waits for Temporal to answer its start (None: the SDK's own patience).
        self.start_timeout = start_timeout
        self._client = client
        self.pool = pool
        # Connected with temporal="optional" while Temporal was out of reach: why (else "").
        self.temporal_unreachable = temporal_unreachable
        # Connected with database="optional" while PostgreSQL was out of reach: why (else "").
        self.database_unreachable = database_unreachable
        # What Temporal last said of an overdue order's workflow, and when (OrderReads._workflow_closed).
        self._closed_seen: dict[str, tuple[float, str | None]] = {}

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
        the pool then connects when first used. ``retry=None`` (the benchmark): the SDK's
        patience, also for a create's start (START_TIMEOUT otherwise)."""
        settings = settings or Settings.from_env()
        if (elsewhere := Stack(settings).servers_elsewhere(("temporal", "postgres") if temporal else ("postgres",))):
            raise StackUnreachable(elsewhere)
        client, unreachable = None, ""
        start_timeout = START_TIMEOUT if retry is not None else None
        if temporal:
            try:
                retrying = {"retry_config": retry} if retry is not None else {}
                client = await asyncio.wait_for(
                    Client.connect(**settings.temporal_connect_config(), **retrying), CONNECT_TIMEOUT_S
                )
            except Exception as error:
                log.warning("event=temporal_unreachable address=%s error=%r", settings.temporal_address, error)
                unreachable = f"Temporal at {settings.temporal_address} is not reachable; {settings.temporal_remedy}."
                # It answered, and refused the credentials: the fix is the key, not the address or
                # the server (exit 3 still, as for a namespace it does not have).
                if (refused := temporal_refused(error, settings.temporal_address, "the connection")) is not None:
                    unreachable = str(refused)
                if temporal != "optional":
                    raise StackUnreachable(unreachable) from None
            else:
                # Else every call's NOT_FOUND, the namespace's, read as the order's workflow gone.
                if (missing := await namespace_missing(client, settings)) is not None:
                    client, unreachable = None, missing
                    if temporal != "optional":
                        raise StackUnreachable(missing)
        try:
            pool = await asyncio.wait_for(create_pool(settings.database_url, max_size=pool_size), CONNECT_TIMEOUT_S)
        except Exception as error:
            log.warning("event=database_unreachable url=%s error=%r", settings.database_url_redacted, error)
            lost = f"PostgreSQL at {settings.database_url_redacted} is not reachable; {settings.database_remedy}."
            if postgres_refused(error):
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
            return cls(settings, client, pool, unreachable, database_unreachable=lost, start_timeout=start_timeout)
        return cls(settings, client, pool, unreachable, start_timeout=start_timeout)

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

    def _handle(self, order_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(order_workflow_id(order_id))

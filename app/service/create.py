"""Creating an order: its checks against the catalog and the ids already taken, the payment
id's reservation, and the start of its workflow.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities import rules
from app import checks
from app.errors import InvalidInput, StackUnreachable, Taken, temporal_silent
from app.service.created import CreatedOrder, _Content
from app.service.temporal_errors import CONNECT_TIMEOUT_S, NO_ANSWER, NoAnswerFromTemporal
from app.unfinished import temporal_cli
from app.waiting import within
from db import queries
from workflows.model import (
    DEFAULT_REVIEW_WINDOW_SECONDS,
    ORDER_STATE_ATTRIBUTE,
    ORDER_TASK_QUEUE,
    Address,
    OrderInput,
    OrderItem,
    OrderState,
    default_payment_id,
    order_workflow_id,
)
from workflows import policies, summaries
from workflows.order import OrderWorkflow

log = logging.getLogger("app.service")

# How long a create waits for one of the pool's connections, before PostgreSQL's own
# CONNECT_TIMEOUT_S to answer: the wait is for the other requests on the pool (the benchmark
# keeps up to 100 orders in flight on 4 connections, the API serves every request on 10), or
# for a connection a hung PostgreSQL holds (then no longer than a create waited before).
POOL_WAIT_S = 5

# How long an operator's create waits for Temporal to answer the start: with Temporal stopped
# (SIGSTOP) in the instant after it answered the check before it, the start waited ~15-33 s for
# the SDK's connection to give up. A start is answered in milliseconds; the check whether it
# went through after all (QUERY_TIMEOUT) follows. The benchmark keeps the SDK's patience.
START_TIMEOUT = timedelta(seconds=5)

# The id an order created without one gets, the same from the CLI, the TUI and the API.
NEW_ORDER_ID_FORM = "ord-XXXXXXXX"


def new_order_id() -> str:
    """A fresh order id in NEW_ORDER_ID_FORM: ord- and 8 random hex digits."""
    return f"ord-{secrets.token_hex(4)}"


def keyed_order_id(idempotency_key: str) -> str:
    """The id of an order created without one under a client's idempotency key: the same for
    the same key, so that a retry is the same order (ord- and 16 hex digits of the key's
    SHA-256: the 8 of a new id would make two keys collide once some 65,000 orders have one)."""
    return f"ord-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]}"


# What `order create` and POST /orders add when Temporal says no order worker polls (none runs, or it is stopped).
NO_ORDER_WORKER_WARNING = (
    "No order worker is serving (none runs, or it is stopped: see ./start.sh status), so it waits until one does."
)


def order_input(
    order_id: str, items: list[OrderItem], address: Address, payment_id: str | None, review_window_seconds: float | None
) -> OrderInput:
    """The input a new order's workflow starts with: what the operator gave, and every flag that
    OrderService sets for the runs it starts."""
    return OrderInput(
        order_id=order_id,
        items=items,
        address=rules.normalise_entered_address(address),
        payment_id=payment_id or "",
        review_window_seconds=review_window_seconds or DEFAULT_REVIEW_WINDOW_SECONDS,
        updates_on_record=True,
        review_window_from_record=True,
        updates_recorded_when_accepted=True,
        patches_in_input=True,
        first_step_without_pause=True,
        transient_states_unwritten=True,
        states_before_steps_written=True,
    )


@dataclass
class _Start:
    """What a create knows of its workflow's start: ``started`` is None when unknown (Temporal
    did not say), and then the payment id stays reserved."""

    started: bool | None = False


class OrderCreation:
    """Part of OrderService (app.service), which mixes it in: ``create_order``."""

    async def create_order(
        self,
        *,
        order_id: str,
        items: list[OrderItem],
        address: Address,
        payment_id: str | None = None,
        review_window_seconds: float | None = None,
    ) -> CreatedOrder:
        """Validate everything first: a refused order starts no workflow and writes no row."""
        checks.create_order(
            order_id=order_id,
            items=items,
            address=address,
            payment_id=payment_id,
            review_window_seconds=review_window_seconds,
        )
        payment_id = (payment_id or "").strip() or None
        products, effective, reserved, row = await self._check_and_reserve(order_id, items, payment_id)
        given = _Content.of(
            items, address, payment_id or default_payment_id(order_id), review_window_seconds or DEFAULT_REVIEW_WINDOW_SECONDS
        )
        if row is not None:  # the order exists: the same again is a retry, answered as the first was
            first = await self._started_order(order_id) or _Content.of_row(row)
            return self._created_already(order_id, first, given, products, row)
        order = order_input(order_id, items, address, payment_id, review_window_seconds)
        amount = sum(products[item.sku] * item.quantity for item in items)  # as ReceiveOrder prices it
        start = _Start()
        try:
            handle = await self._start_workflow(order, amount, start)
        except WorkflowAlreadyStartedError:
            # Started by a create of this id at the same moment (a client's retried POST), which
            # found this call's reservation and took it for its own: given back, the order ran
            # with its payment id free for any other until its row was written.
            # It goes back only if the order there uses another payment id.
            # The same order (a retry) uses the same payment id: kept, and answered as the first was.
            first = await self._started_order(order_id)
            if reserved and (first is None or first.payment_id == effective):
                start.started = None  # as if unknown: kept
            return self._created_already(order_id, first, given, products)
        finally:
            # Known not to have started (its id taken, Temporal said no): the id goes back, if
            # this call reserved it. Unknown (Temporal did not answer even when asked again, or
            # the caller stopped waiting) keeps it: creating the order again under its id takes
            # it up.
            if reserved and start.started is False:
                await self._release_payment_id(effective, order_id)
        log.info("event=order_created order_id=%s workflow_id=%s", order_id, handle.id)
        return CreatedOrder(
            order_id=order_id,
            workflow_id=handle.id,
            payment_id=order.payment_id,
            amount_cents=amount,
            note=rules.carrier_note(order.address) or "",
        )

    async def _check_and_reserve(
        self, order_id: str, items: list[OrderItem], payment_id: str | None
    ) -> tuple[dict[str, int], str, bool, Any]:
        """``_check_and_reserve_on`` on a connection of the pool, each wait bounded: the
        StackUnreachable of a swamped pool or a PostgreSQL that does not answer."""
        # The wait for a connection is bounded apart from PostgreSQL's answer: it counted in the
        # 5 s, and under load (the benchmark's starts, the API's requests) a create waiting
        # behind other requests was told that PostgreSQL, which answered them all, had not.
        try:
            conn = await self.pool.acquire(timeout=POOL_WAIT_S)
        except asyncio.TimeoutError:
            log.warning("event=create_no_free_connection order_id=%s", order_id)
            raise StackUnreachable(
                f"No connection to PostgreSQL at {self.settings.database_url_redacted} came free within"
                f" {POOL_WAIT_S:g} s (it is swamped, or not answering), so order {order_id} was not created; try again"
                " in a moment, or see ./start.sh status."
            ) from None
        # A hung PostgreSQL (SIGSTOP) held POST /orders for a minute, then "something unexpected"
        # (a review). Nothing has started yet; a reservation that lands late is this order id's
        # own, which creating the order again takes up.
        try:
            return await within(self._check_and_reserve_on(conn, order_id, items, payment_id), CONNECT_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("event=create_database_timed_out order_id=%s", order_id)
            raise StackUnreachable(
                f"PostgreSQL at {self.settings.database_url_redacted} did not answer within {CONNECT_TIMEOUT_S:g} s;"
                f" {self.settings.database_remedy}."
            ) from None

    async def _check_and_reserve_on(
        self, conn: asyncpg.Connection, order_id: str, items: list[OrderItem], payment_id: str | None
    ) -> tuple[dict[str, int], str, bool, Any]:
        """The prices, the payment id reserved and whether this call reserved it, and the
        order's row if it exists already (then nothing is reserved)."""
        try:
            products = {p.sku: p.price_cents for p in await queries.catalog(conn)}
            if problems := rules.item_problems(items, products):
                raise InvalidInput(problems[0])
            # Temporal forgets a closed workflow after the namespace's retention period; the
            # database does not, and a second order under the same id would inherit the first's row.
            # One read: a create of an order that exists answers from its row.
            if (row := await queries.get_order(conn, order_id)) is not None:
                return products, "", False, row
            # The default id too: another order may have been given it explicitly. Reserved, not
            # just looked up: of two orders created at once with one id, the second is refused here.
            effective = payment_id or default_payment_id(order_id)
            owner, reserved = await queries.reserve_payment_id(conn, effective, order_id)
        finally:  # also when given up on: the connection goes back once its query ends
            await self.pool.release(conn)
        if owner != order_id:
            if payment_id:
                raise Taken(f"Payment id {effective} is already used by order {owner}.")
            raise Taken(
                f"The default payment id {effective} is already used by order {owner}; give this order its own"
                " payment id."
            )
        return products, effective, reserved, None

    async def _start_workflow(self, order: OrderInput, amount: int, start: _Start) -> WorkflowHandle:
        """Start the order's workflow, asking first whether Temporal answers; a start whose answer
        is lost is looked up. ``start.started`` says what is known when it raises."""
        order_id = order.order_id
        sent = False
        try:
            # A start Temporal does not answer (stopped with SIGSTOP) waited ~15-24 s for the SDK's
            # connection to give up, and left the order unknown, its payment id kept (a review).
            # Asked first, a silent Temporal gets no start: the order is known not to exist.
            try:
                await self._temporal_answering()
            except NoAnswerFromTemporal as silence:
                log.warning("event=order_not_started_temporal_silent order_id=%s down=%s", order_id, silence.down)
                raise StackUnreachable(
                    f"{temporal_silent(self.settings.temporal_address, silence.down, 'see ./start.sh status')}, so order"
                    f" {order_id} was not started; create it again once Temporal answers."
                ) from None
            sent = True
            try:
                handle = await self.client.start_workflow(
                    OrderWorkflow.run,
                    order,
                    id=order_workflow_id(order_id),
                    task_queue=ORDER_TASK_QUEUE,
                    task_timeout=policies.WORKFLOW_TASK_TIMEOUT,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(ORDER_STATE_ATTRIBUTE, OrderState.RECEIVED.value)]
                    ),
                    # What the Temporal Web UI shows of the order (no name, street or payment id).
                    static_summary=summaries.order_summary(order_id, order.items, amount, order.address),
                    static_details=summaries.order_details(order.items, order.review_window_seconds),
                    rpc_timeout=self.start_timeout,
                )
                start.started = True
            except RPCError as error:
                if error.status == RPCStatusCode.INVALID_ARGUMENT and ORDER_STATE_ATTRIBUTE.name in str(error):
                    # A Temporal brought along without the search attribute (a review: 'something
                    # unexpected went wrong'): the start was refused, so the id goes back.
                    raise StackUnreachable(
                        f"Temporal at {self.settings.temporal_address} has no {ORDER_STATE_ATTRIBUTE.name} search"
                        f" attribute; create it with {temporal_cli()} operator search-attribute create"
                        f" --address {self.settings.temporal_address} --name {ORDER_STATE_ATTRIBUTE.name} --type Keyword."
                    ) from None
                if error.status not in NO_ANSWER:
                    raise
                # The start may have gone through with its answer lost: ask before giving the id back.
                start.started = await self._workflow_exists(order_id)
                if start.started is False and error.status == RPCStatusCode.CANCELLED:
                    # The start's own time-out ran out: it may yet land, so its payment id stays.
                    start.started = None
                if not start.started:
                    raise self._no_answer_from_temporal(
                        error, f"starting order {order_id}",
                        "it may not have started: check with ./start.sh order status"
                        f" {order_id} once the stack is up (./start.sh status)",
                    ) from None
                log.warning("event=order_start_answer_lost order_id=%s error=%r", order_id, error)
                handle = self._handle(order_id)
        except asyncio.CancelledError:
            # The caller stopped waiting (Ctrl-C): the request may have reached Temporal all the
            # same, and a lookup now could come before it lands.
            start.started = None if sent else False
            raise
        return handle

    async def _release_payment_id(self, payment_id: str, order_id: str) -> None:
        """Give back the payment id this create reserved for an order that did not start."""
        try:
            # Not for as long as a hung PostgreSQL holds it (asyncpg's 30 s): left, the
            # reservation is this order id's, as if the start's outcome were unknown.
            await within(queries.release_payment_id(self.pool, payment_id, order_id), CONNECT_TIMEOUT_S)
        except Exception as error:  # the answer to the operator is the start's failure
            log.warning("event=payment_id_release_failed order_id=%s error=%r", order_id, error)

"""Drives a benchmark run: starts N orders keeping C in flight, approves each one as soon as
the database shows it awaiting review, and notices when it ends.

One batched query per tick (OrderService.order_states: the `orders` rows of the orders in
flight) does all the watching: one round trip whatever C is, and no load on the workers,
where a `status` Query per order would be C round trips through Temporal to the order worker.
Starts and approvals run as their own tasks, so a slow start never delays noticing that
another order ended. An approval that fails otherwise than refused (Temporal did not answer,
the command was not sent) is sent again on a later tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from app.errors import Refused, lost_database
from app.service import OrderService
from workflows.model import Address, OrderItem, OrderState

log = logging.getLogger("app.bench")

# A fixed, valid order the carrier serves: a bench order never fails for a business reason.
BENCH_ITEMS = [OrderItem(sku="WIDGET-1", quantity=1)]
BENCH_ADDRESS = Address(name="Bench Mark", street="1 Main St", city="Springfield", postal_code="12345", country="US")
TERMINAL_STATES = [s.value for s in OrderState if s.terminal]


@dataclass
class DriveConfig:
    run_id: str
    orders: int
    concurrency: int
    poll_interval_s: float = 0.1
    review_wait_s: float = 0.0  # a simulated human: wait this long in review before approving
    order_timeout_s: float = 120.0  # stop waiting for an order after this long (it counts as lost)

    def order_id(self, n: int) -> str:
        return f"{order_id_prefix(self.run_id)}{n}"


def order_id_prefix(run_id: str) -> str:
    return f"bench-{run_id}-"


@dataclass
class DriveProgress:
    started: int = 0
    approved: int = 0
    finished: int = 0
    in_flight: int = 0
    awaiting: int = 0
    trouble: str = ""  # why the last watch saw nothing (PostgreSQL not answering), else empty


@dataclass
class DriveOutcome:
    started_ids: list[str] = field(default_factory=list)
    not_started: int = 0
    timed_out: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    # The client's side, for finding where time goes (the results come from the database).
    watch_s: list[float] = field(default_factory=list)
    start_s: list[float] = field(default_factory=list)
    approve_s: list[float] = field(default_factory=list)
    turnaround_s: list[float] = field(default_factory=list)  # start call to noticed ended


class Driver:
    def __init__(
        self, service: OrderService, config: DriveConfig, on_progress: Callable[[DriveProgress], None] = lambda _: None
    ) -> None:
        self.service = service
        self.config = config
        self.on_progress = on_progress
        self.progress = DriveProgress()
        self.outcome = DriveOutcome()
        # Order id -> when its start was requested (monotonic); starting orders count as in flight.
        self._in_flight: dict[str, float] = {}
        self._approving: set[str] = set()
        self._approved: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._next = 1

    async def run(self) -> DriveOutcome:
        began = time.monotonic()
        try:
            while self._next <= self.config.orders or self._in_flight:
                tick = time.monotonic()
                self._top_up()
                await self._watch()
                self.on_progress(self.progress)
                await asyncio.sleep(max(0.0, self.config.poll_interval_s - (time.monotonic() - tick)))
        finally:
            for task in self._tasks:
                task.cancel()
        self.outcome.elapsed_s = time.monotonic() - began
        return self.outcome

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _top_up(self) -> None:
        while len(self._in_flight) < self.config.concurrency and self._next <= self.config.orders:
            order_id = self.config.order_id(self._next)
            self._next += 1
            self._in_flight[order_id] = time.monotonic()
            self._spawn(self._start(order_id))

    async def _start(self, order_id: str) -> None:
        began = time.monotonic()
        try:
            await self.service.create_order(order_id=order_id, items=BENCH_ITEMS, address=BENCH_ADDRESS)
        except Exception as error:  # refused, or Temporal failed the call: not started, as far as we know
            log.warning("event=bench_start_failed order_id=%s error=%r", order_id, error)
            self.outcome.not_started += 1
            self._in_flight.pop(order_id, None)
            return
        self.outcome.start_s.append(time.monotonic() - began)
        self.outcome.started_ids.append(order_id)
        self.progress.started += 1

    async def _watch(self) -> None:
        if not self._in_flight:
            return
        began = time.monotonic()
        try:
            states = await self.service.order_states(list(self._in_flight))
            self.progress.trouble = ""
        except Exception as error:
            # PostgreSQL gone for a while (a restart, a crash): the orders go on without it and
            # wait; the next tick looks again, and an order still counts against its timeout.
            if (lost := lost_database(error, self.service.settings)) is None:
                raise
            log.warning("event=bench_watch_failed error=%r", error)
            self.progress.trouble = f"{lost} Retrying…"
            states = {}
        now = time.monotonic()
        self.outcome.watch_s.append(now - began)
        awaiting = 0
        for order_id, state in states.items():
            if state in TERMINAL_STATES:
                self._done(order_id, now)
            elif state == OrderState.AWAITING_APPROVAL.value and order_id not in self._approved:
                awaiting += 1
                if order_id not in self._approving:
                    self._approving.add(order_id)
                    self._spawn(self._approve(order_id))
        for order_id, started in list(self._in_flight.items()):
            if now - started > self.config.order_timeout_s:
                log.warning("event=bench_order_timeout order_id=%s", order_id)
                self.outcome.timed_out.append(order_id)
                self._done(order_id, now, finished=False)
        self.progress.in_flight = len(self._in_flight)
        self.progress.awaiting = awaiting

    def _done(self, order_id: str, now: float, finished: bool = True) -> None:
        started = self._in_flight.pop(order_id, None)
        self._approving.discard(order_id)
        if finished:
            self.progress.finished += 1
            if started is not None:
                self.outcome.turnaround_s.append(now - started)

    async def _approve(self, order_id: str) -> None:
        began = time.monotonic()
        try:
            if self.config.review_wait_s:
                await asyncio.sleep(self.config.review_wait_s)
                began = time.monotonic()
            await self.service.approve(order_id, by="bench")
        except Refused as error:  # already decided or ended: nothing left to approve
            log.info("event=bench_approve_refused order_id=%s reason=%s", order_id, error)
        except Exception as error:  # the next tick tries again
            log.warning("event=bench_approve_failed order_id=%s error=%r", order_id, error)
            self._approving.discard(order_id)
            return
        self.outcome.approve_s.append(time.monotonic() - began)
        self._approved.add(order_id)
        self._approving.discard(order_id)
        self.progress.approved += 1

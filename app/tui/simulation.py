"""A simulation's orders: created with random catalog items, read back by id, and each approved
as soon as it awaits review if asked to, and what it knows of them. The screen that runs it is
app.tui.simulate; its live line is app.tui.state_counts.SimulationLine."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from typing import Any

from app.errors import OperatorError, StackUnreachable, Unanswered, lost_database
from app.tui.reads import DatabaseDown, from_database
from app.tui.sentences import in_the_tui
from workflows.model import BEFORE_DECISION_STATES, Address, OrderItem, OrderState

log = logging.getLogger("app.tui")

CONCURRENCY = 10
# A read of our orders takes milliseconds; past this PostgreSQL is hanging, and it is said so.
READ_WAIT_S = 3.0
# How often a stopped simulation reads its orders again, waiting for the approvals answered
# to show in their rows (RECORD_WAIT_S in app.tui.simulate).
RECORD_POLL_S = 0.2
# The states only an approval leads to.
APPROVED_STATES = frozenset(
    s.value for s in (OrderState.APPROVED, OrderState.PAID, OrderState.PACKED, OrderState.DISPATCHED, OrderState.SHIPPED)
)
# The states before the review's decision (awaiting it, or on the way to it).
BEFORE_DECISION = frozenset(s.value for s in BEFORE_DECISION_STATES)
SIMULATED_ADDRESS = Address(
    name="Simulated Customer", street="1 Simulation Way", city="Springfield", postal_code="12345", country="US"
)


def random_items(products: list[Any], rng: random.Random) -> list[OrderItem]:
    picked = rng.sample(products, k=rng.randint(1, min(3, len(products))))
    return [OrderItem(sku=p.sku, quantity=rng.randint(1, 3)) for p in picked]


def settled(state: str, auto_approve: bool) -> bool:
    return OrderState(state).terminal or (not auto_approve and state == OrderState.AWAITING_APPROVAL.value)


class Simulation:
    def __init__(self, service: Any, n: int, auto_approve: bool) -> None:
        self.service = service
        self.auto_approve = auto_approve
        prefix = f"sim-{secrets.token_hex(3)}"
        self.order_ids = [f"{prefix}-{i:04d}" for i in range(1, n + 1)]
        self.states: dict[str, str] = {}
        self.failed_to_start: dict[str, str] = {}
        self.approving: set[str] = set()  # an approval queued or sent
        self.sent: set[str] = set()  # an approval sent (it may take effect even if the wait for its answer is cut)
        self.answered: set[str] = set()  # an approval answered (approved or refused)
        self.unanswered: set[str] = set()  # an approval sent whose answer did not come: sent again
        self.approved_ids: set[str] = set()  # answered: approved (its row may not say so yet)
        self.refusals = 0
        self.created_ids: list[str] = []
        self.cut_off: set[str] = set()  # a create the stop cut off: it may have started
        self._slots = asyncio.Semaphore(CONCURRENCY)
        # Approvals have slots of their own: in the creates' they queued behind every create
        # not yet sent, and "approve each as soon as it awaits review" did not.
        self._approval_slots = asyncio.Semaphore(CONCURRENCY)
        self._background: set[asyncio.Task] = set()
        self._reading: asyncio.Future | None = None
        self.database_problem: str | None = None  # why the counts stand still, while they do
        self.stopped = False

    @property
    def started(self) -> list[str]:
        """The orders created: those whose create returned, and those recorded though their
        create was cut off by Ctrl-C (they may have started)."""
        return sorted(set(self.created_ids) | set(self.states))

    @property
    def settled(self) -> int:
        return len(self.failed_to_start) + sum(1 for s in self.states.values() if settled(s, self.auto_approve))

    @property
    def not_recorded(self) -> list[str]:
        """Orders whose create returned but whose row is not written yet: no menu lists them."""
        return [order_id for order_id in self.started if order_id not in self.states]

    @property
    def approved(self) -> int:
        """Approvals answered: approved."""
        return len(self.approved_ids)

    @property
    def approvals_done(self) -> int:
        """Approvals that took effect: those answered, and those whose answer the stop cut off or
        did not come (an order worker stopped) though the order has moved on since."""
        cut_short = self.sent - self.answered
        return self.approved + sum(1 for order_id in cut_short if self.states.get(order_id) in APPROVED_STATES)

    async def create_all(self, products: list[Any]) -> None:
        rng = random.Random()

        async def create(order_id: str) -> None:
            async with self._slots:
                try:
                    await self.service.create_order(
                        order_id=order_id, items=random_items(products, rng), address=SIMULATED_ADDRESS
                    )
                    self.created_ids.append(order_id)
                except OperatorError as error:
                    self.failed_to_start[order_id] = in_the_tui(error)
                except asyncio.CancelledError:
                    self.cut_off.add(order_id)
                    raise
                except Exception as error:
                    # PostgreSQL's checks come before the start: refused by it, the order did not
                    # start. It ended the screen, with no word of the orders already started.
                    if (lost := lost_database(error, self.service.settings)) is None:
                        raise
                    self.failed_to_start[order_id] = in_the_tui(lost)

        await asyncio.gather(*(create(order_id) for order_id in self.order_ids))

    async def poll(self, approve: bool = True) -> None:
        """One query for all of ours, by id; approve those that await review. By id, not from
        the newest page of the list: orders created meanwhile by anyone else pushed ours off
        that page, and the screen then froze on their last state for ever."""
        self.states.update(await self.service.order_states(self.order_ids))
        # A create that failed without knowing whether the order started ("it may not have
        # started"): a row says it did. It counted twice, as started and as failed to start.
        for order_id in self.failed_to_start.keys() & self.states.keys():
            del self.failed_to_start[order_id]
        if self.auto_approve and approve and not self.stopped:  # a read that ends after a stop approves nothing
            for order_id, state in self.states.items():
                if state == OrderState.AWAITING_APPROVAL.value and order_id not in self.approving:
                    self.approving.add(order_id)
                    task = asyncio.create_task(self._approve(order_id))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)

    async def refresh(self, approve: bool = True) -> None:
        """``poll``, waited for at most READ_WAIT_S: with PostgreSQL stopped (SIGSTOP) the bars
        stood still with nothing said, and Ctrl-C froze the TUI until it was resumed (asyncpg's
        cancel of a query waits for the server). A read that does not answer goes on by itself,
        no other starts meanwhile, and ``database_problem`` says why the counts stand still."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self.poll(approve))
            self._reading.add_done_callback(lambda read: read.cancelled() or read.exception())  # retrieved
        try:
            # Shielded: a wait that runs out leaves the read going, for the next refresh to wait on.
            await from_database(self.service, asyncio.shield(self._reading), READ_WAIT_S)
        except DatabaseDown as down:
            log.warning("event=simulation_database_problem problem=%r", str(down))
            self.database_problem = str(down)
            return
        self.database_problem = None

    async def _approve(self, order_id: str) -> None:
        async with self._approval_slots:
            try:
                # Sent once its Update goes to Temporal, not before its checks: a stop (Ctrl-C)
                # during them said "10 approvals were sent and may still take effect" of orders
                # that stayed in review with nobody told to approve them.
                await self.service.approve(order_id, by="simulation", on_sent=lambda: self.sent.add(order_id))
                self.approved_ids.add(order_id)
                self.answered.add(order_id)
            except StackUnreachable as error:
                # Not sent (Temporal silent for the check before it), or not answered in time: not
                # a refusal. Counted as one, the order stayed in review with nobody to approve it
                # (a review). The next read that finds it still awaiting review sends it again.
                self.approving.discard(order_id)
                if not (isinstance(error, Unanswered) and error.temporal):  # that one was not sent
                    self.unanswered.add(order_id)
                log.warning("event=simulated_approval_unanswered order_id=%s error=%s", order_id, error)
            except OperatorError as error:  # decided meanwhile, or expired: the order says why
                if order_id in self.unanswered:
                    # Most likely refused as "already approved by simulation": the approval sent
                    # before took effect once a worker served. Counted as approved once the order
                    # moves on (approvals_done), not as a refusal: with the order worker stopped
                    # a while, the summary said "4 approved" of ten orders shipped.
                    log.info("event=simulated_approval_resent_refused order_id=%s error=%s", order_id, error)
                    return
                self.refusals += 1
                self.answered.add(order_id)
                log.info("event=simulated_approval_refused order_id=%s error=%s", order_id, error)

    def awaiting_review(self) -> list[str]:
        """The orders recorded that have not had their review yet: awaiting it, or on their way
        to it (RECEIVED, VALIDATED). Once the simulation stops approving, each needs an
        operator's decision, unless its approval was sent already. Not those not recorded yet:
        Approve / reject lists only recorded orders (they were said to await review there)."""
        return [
            order_id for order_id in self.started
            # Approved already, its row behind (PostgreSQL slow, or down): it was said to be both.
            if self.states.get(order_id) in BEFORE_DECISION and order_id not in self.approved_ids
        ]

    def approvals_not_recorded(self) -> list[str]:
        """The orders whose approval was answered but whose row still reads before the decision."""
        return [
            order_id for order_id in self.started
            if order_id in self.approved_ids and self.states.get(order_id) in BEFORE_DECISION
        ]

    async def wait_for_approvals_recorded(self, bound_s: float) -> None:
        """Read our orders again until their rows show the approvals answered, for at most
        ``bound_s`` (and not while PostgreSQL does not answer)."""
        deadline = time.monotonic() + bound_s
        while self.approvals_not_recorded() and not self.database_problem and time.monotonic() < deadline:
            await asyncio.sleep(RECORD_POLL_S)
            await self.refresh(approve=False)

    def stop(self) -> None:
        self.stopped = True
        for task in list(self._background):
            task.cancel()

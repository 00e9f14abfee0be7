"""Simulate N orders: create them with random catalog items, optionally approve each as soon
as it awaits review, and follow them with a progress bar until they settle. Ctrl-C stops
the waiting (the orders carry on in their workflows)."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import Counter
from typing import Any

import questionary
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from app.errors import OperatorError, StackUnreachable, lost_database
from app.render import packed, plural, state_style
from app.tui.actions import (
    DatabaseDown,
    fitted,
    from_database,
    needed_from_database,
    needed_from_temporal,
    temporal_silent,
)
from app.tui import pager
from app.tui.dashboard import summary_pieces
from app.tui.forms import small_number
from app.tui.prompts import ask, keys_not_echoed
from workflows.model import BEFORE_DECISION_STATES, Address, OrderItem, OrderState

log = logging.getLogger("app.tui")

MAX_ORDERS = 500
CONCURRENCY = 10
POLL_S = 1.0
# A read of our orders takes milliseconds; past this PostgreSQL is hanging, and it is said so.
READ_WAIT_S = 3.0
# A simulation that stands still this long (nothing created, failed or moved) asks Temporal
# whether it answers: stopped, it held every start for ~30 s with the bars at 0 and nothing said.
STALL_S = 3.0
# Stopped, the summary waits up to this long for the rows of the approvals already answered: the
# workflow records a decision after accepting it, and "25 approved" stood beside
# "AWAITING_APPROVAL 12". Still behind after it, the summary says so.
RECORD_WAIT_S = 2.0
RECORD_POLL_S = 0.2
# The states only an approval leads to.
APPROVED_STATES = frozenset(
    s.value for s in (OrderState.APPROVED, OrderState.PAID, OrderState.PACKED, OrderState.DISPATCHED, OrderState.SHIPPED)
)
SIMULATED_ADDRESS = Address(
    name="Simulated Customer", street="1 Simulation Way", city="Springfield", postal_code="12345", country="US"
)


def random_items(products: list[Any], rng: random.Random) -> list[OrderItem]:
    picked = rng.sample(products, k=rng.randint(1, min(3, len(products))))
    return [OrderItem(sku=p.sku, quantity=rng.randint(1, 3)) for p in picked]


def count_check(text: str) -> bool | str:
    number = small_number(text)
    if number is None or not 1 <= number <= MAX_ORDERS:
        return f"Give a whole number from 1 to {MAX_ORDERS}."
    return True


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
        self.approved = 0  # answered: approved
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
                    self.failed_to_start[order_id] = str(error)
                except asyncio.CancelledError:
                    self.cut_off.add(order_id)
                    raise
                except Exception as error:
                    # PostgreSQL's checks come before the start: refused by it, the order did not
                    # start. It ended the screen, with no word of the orders already started.
                    if (lost := lost_database(error, self.service.settings)) is None:
                        raise
                    self.failed_to_start[order_id] = str(lost)

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
                self.sent.add(order_id)
                await self.service.approve(order_id, by="simulation")
                self.approved += 1
                self.approved_ids.add(order_id)
                self.answered.add(order_id)
            except StackUnreachable as error:
                # Not sent (Temporal silent for the check before it), or not answered in time: not
                # a refusal. Counted as one, the order stayed in review with nobody to approve it
                # (a review). The next read that finds it still awaiting review sends it again.
                self.approving.discard(order_id)
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

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The live line under the progress bars: our orders per state, laid out for the
        terminal's width (broken between two states, not within one)."""
        pieces = summary_pieces(Counter(self.states.values()))
        if self.auto_approve:
            refused = f", refused {self.refusals}" if self.refusals else ""
            pieces.append(Text(f"approved {self.approvals_done}{refused}", style="dim"))
            if lagging := len(self.approvals_not_recorded()):
                # The rows lag the approvals answered: "AWAITING_APPROVAL 7  approved 7" read as a contradiction.
                pieces.append(Text(f"({lagging} not recorded yet)", style="dim"))
        text = packed(pieces, options.max_width)
        if self.database_problem:
            text.append(f"\n{self.database_problem}; retrying…", style="red")
        yield text

    def awaiting_review(self) -> list[str]:
        """The orders recorded that have not had their review yet: awaiting it, or on their way
        to it (RECEIVED, VALIDATED). Once the simulation stops approving, each needs an
        operator's decision, unless its approval was sent already. Not those not recorded yet:
        Approve / reject lists only recorded orders (they were said to await review there)."""
        before = {s.value for s in BEFORE_DECISION_STATES}
        return [
            order_id for order_id in self.started
            # Approved already, its row behind (PostgreSQL slow, or down): it was said to be both.
            if self.states.get(order_id) in before and order_id not in self.approved_ids
        ]

    def approvals_not_recorded(self) -> list[str]:
        """The orders whose approval was answered but whose row still reads before the decision."""
        before = {s.value for s in BEFORE_DECISION_STATES}
        return [
            order_id for order_id in self.started
            if order_id in self.approved_ids and self.states.get(order_id) in before
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


class TemporalSilent(Exception):
    """Temporal did not answer while the simulation stood still; the sentence to show."""


class StallWatch:
    """Asks Temporal, in the background, whether it answers once the simulation has stood still
    for STALL_S (no order created, approved or moved); ``check`` raises TemporalSilent when it
    did not and nothing moved meanwhile. Drawn, it says when Temporal answered that no order
    worker serves: stopped during a simulation, the bars stood still with nothing said."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.seen: Any = None
        self.since = time.monotonic()
        self.asking: asyncio.Task | None = None
        self.no_order_worker = False

    def __rich__(self) -> Any:
        if not self.no_order_worker:
            return Group()
        return Text(
            "No order worker is serving (none runs, or it is stopped: ./start.sh status says which), so the"
            " orders wait until one does.",
            style="yellow",
        )

    def check(self, sim: Simulation) -> None:
        # Not the creates or approvals that failed: with Temporal's port closed each fails
        # after a few seconds (a refusal by the workflow itself is no stall: Temporal answers).
        seen = (len(sim.created_ids), sim.approved, tuple(sim.states.items()))
        now = time.monotonic()
        if seen != self.seen:
            self.seen, self.since = seen, now
            self.no_order_worker = False
        if self.asking is not None and self.asking.done():
            asked, self.asking = self.asking, None
            if asked.exception() is not None:
                log.warning("event=simulation_temporal_check_failed error=%r", asked.exception())
            answer = None if asked.exception() is not None else asked.result()
            self.no_order_worker = answer is False and now - self.since >= STALL_S
            if answer is None and now - self.since >= STALL_S:
                raise TemporalSilent(temporal_silent(self.service, "the simulation stopped"))
        elif self.asking is None and now - self.since >= STALL_S:
            self.asking = asyncio.ensure_future(self.service.order_worker_running())  # None: no answer

    def stop(self) -> None:
        if self.asking is not None:
            self.asking.cancel()


def summary_lines(sim: Simulation, n: int, took: float, stopped: bool, width: int | None = None) -> list[Text]:
    """What the simulation did: how many orders started (and were approved), how many ended in
    which state, how many were still running, which of those are left for the operator to
    review, and which are not recorded yet (no menu lists those). Given a ``width``, the lines
    of counts per state break between two states."""
    started = sim.started
    span = f" ({started[0]} … {started[-1]})" if len(started) > 1 else f" ({started[0]})" if started else ""
    done = [f"{len(started)} of {plural(n, 'order')} started{span}"]
    if sim.auto_approve:
        done.append(f"{sim.approvals_done} approved")
    verb = "Stopped waiting after" if stopped else "Done in"
    lines = [Text(f"{verb} {took:.1f} s: {', '.join(done)}.")]
    ended = Counter(state for state in sim.states.values() if OrderState(state).terminal)
    running = Counter(state for state in sim.states.values() if not OrderState(state).terminal)
    if ended:
        lines.append(states_line(f"Ended {sum(ended.values())}:", ended, width))
    if running:
        # Counted as approved above: said, lest "12 approved" read against "AWAITING_APPROVAL 12".
        lagging = len(sim.approvals_not_recorded())
        note = f"({lagging} of them approved; the database does not show it yet)" if lagging else None
        lines.append(states_line(f"Still running {sum(running.values())}:", running, width, note))
    waiting = sim.awaiting_review()
    # Approvals cut off before their answer: they may still take effect.
    on_the_way = sum(1 for order_id in waiting if order_id in sim.sent - sim.answered)
    left = len(waiting) - on_the_way
    review = []
    if left:
        review.append(f"{plural(left, 'order')} {'awaits' if left == 1 else 'await'} review in the Approve / reject menu")
    if on_the_way:
        review.append(
            f"{plural(on_the_way, 'approval')} {'was' if on_the_way == 1 else 'were'} sent and may still take effect"
        )
    if review:
        lines.append(Text("; ".join(review) + ".", style="yellow"))
    if unrecorded := len(sim.not_recorded):
        lines.append(Text(
            f"{plural(unrecorded, 'order')} started {'is' if unrecorded == 1 else 'are'} not recorded in the database"
            f" yet; Approve / reject lists {'it' if unrecorded == 1 else 'them'} once {'its' if unrecorded == 1 else 'their'}"
            " workflow records it.",
            style="yellow",
        ))
    if cut_off := len(sim.cut_off - set(started)):
        lines.append(Text(
            f"{plural(cut_off, 'create')} {'was' if cut_off == 1 else 'were'} cut off by the stop and may have started.",
            style="yellow",
        ))
    return lines


def states_line(label: str, counts: Counter, width: int | None = None, note: str | None = None) -> Text:
    """``label`` and the count of each state, in the order an order moves through them, then
    ``note``; given a ``width``, broken between two states, not within one."""
    pieces = [
        Text(f"{state.value} {counts[state.value]}", style=state_style(state.value))
        for state in OrderState
        if counts.get(state.value)
    ]
    pieces[0] = Text.assemble(f"{label} ", pieces[0])  # the label stays with the first
    return packed(pieces + ([Text(note)] if note else []), width, separator="  ")


async def simulate_orders(service: Any, console: Console) -> None:
    # First: with PostgreSQL down, say so before the questions rather than after them.
    products = await needed_from_database(service, service.catalog(), "no order can be simulated")
    # Temporal too: stopped, it held every start for ~30 s while the bars sat at 0.
    serving = await needed_from_temporal(service, console, "no order can be simulated")
    n = int((await ask(questionary.text("How many orders?", default="10", validate=count_check))).strip())
    # Broken between words, as every other confirm: at 40 columns it wrapped mid-word.
    question = fitted("Approve each as soon as it awaits review?", console.width)
    auto_approve = await ask(questionary.confirm(question, default=True))
    if serving is False:
        # The bars would stand at 0 with nothing to say why (Create order says so).
        console.print(Text(
            "No order worker is serving (none runs, or it is stopped: see the health line), so the orders"
            " wait until one does; Ctrl-C stops waiting.",
            style="yellow",
        ))
    sim = Simulation(service, n, auto_approve)
    began = time.monotonic()
    creating: asyncio.Task | None = None
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )
    started_bar = progress.add_task("started", total=n)
    settled_bar = progress.add_task("settled", total=n)
    stopped = False
    silent: str | None = None  # why the simulation stopped by itself
    watch = StallWatch(service)

    def show_counts() -> None:
        progress.update(started_bar, completed=len(sim.started))
        progress.update(settled_bar, completed=sim.settled)

    # How to leave: q and Esc, which leave the dashboard, do nothing here, and nothing said so.
    leaving = Text("Ctrl-C stops waiting; the orders carry on.", style="dim")
    with keys_not_echoed(), Live(Group(progress, sim, watch, leaving), console=console, refresh_per_second=4) as live:
        try:
            creating = asyncio.create_task(sim.create_all(products))
            size = console.size
            while not (creating.done() and sim.settled >= n):
                if creating.done():
                    creating.result()  # an unexpected failure while creating ends the screen
                await asyncio.sleep(POLL_S)
                await sim.refresh()
                show_counts()
                watch.check(sim)
                if console.size != size:
                    # The terminal rewrapped the bars drawn for the old size, and the redraw, which
                    # goes back up as many lines as it drew, left pieces of them above the new ones.
                    live.stop()
                    console.clear()
                    live.start(refresh=True)
                    size = console.size
        except asyncio.CancelledError:
            stopped = True
        except TemporalSilent as why:
            stopped, silent = True, str(why)
            log.warning("event=simulation_temporal_silent problem=%r", silent)
        finally:
            watch.stop()
            if creating is not None and not creating.done():
                creating.cancel()
            sim.stop()
        took = time.monotonic() - began  # not the wait for the rows below
        if stopped:
            # Where they stand now, creates cut off midway included (they may have started);
            # the bars left on the screen show the same counts as the summary below them.
            try:
                await sim.refresh(approve=False)
                await sim.wait_for_approvals_recorded(RECORD_WAIT_S)
            except asyncio.CancelledError:  # Ctrl-C again: the summary at once, as it stands
                pass
            except Exception as error:  # the summary below still says what this screen saw
                log.warning("event=simulation_final_poll_failed error=%r", error)
        show_counts()
        live.update(progress)  # the counts per state follow in the summary
    lines = summary_lines(sim, n, took, stopped, console.width)
    if silent:
        lines.append(Text(silent, style="red"))
    if sim.database_problem:
        lines.append(Text(f"{sim.database_problem}: the counts above are those it gave last.", style="red"))
    if sim.failed_to_start:
        first = next(iter(sim.failed_to_start.values()))
        lines.append(Text(f"{len(sim.failed_to_start)} could not start: {first}", style="red"))
    if stopped:
        lines.append(Text("The orders carry on in their workflows; follow them on the live dashboard."))
    # As one answer: at 40x12 the menu left "approved." and "Ended 10: SHIPPED 10" of it in view.
    await pager.say(console, Group(*lines))

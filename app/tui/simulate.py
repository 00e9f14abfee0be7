"""Simulate N orders: create them with random catalog items, optionally approve each as soon
as it awaits review, and follow them with a progress bar until they settle. Ctrl-C stops
the waiting (the orders carry on in their workflows)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import questionary
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from app.tui.question_line import fitted
from app.tui.reads import needed_from_database, needed_from_temporal, temporal_silent
from app.tui.state_counts import SimulationLine
from app.tui import pager
from app.tui.forms import small_number
from app.tui import prompts
from app.tui.prompts import ask, keys_not_echoed
from app.tui.simulation import Simulation
from app.tui.simulation_summary import summary_lines

log = logging.getLogger("app.tui")

MAX_ORDERS = 500
POLL_S = 1.0
# A simulation that stands still this long (nothing created, failed or moved) asks Temporal
# whether it answers: stopped, it held every start for ~30 s with the bars at 0 and nothing said.
STALL_S = 3.0
# Stopped, the summary waits up to this long for the rows of the approvals already answered: the
# workflow records a decision after accepting it, and "25 approved" stood beside
# "AWAITING_APPROVAL 12". Still behind after it, the summary says so.
RECORD_WAIT_S = 2.0


def count_check(text: str) -> bool | str:
    number = small_number(text)
    if number is None or not 1 <= number <= MAX_ORDERS:
        return f"Give a whole number from 1 to {MAX_ORDERS}."
    return True


# What StallWatch's question says of a Temporal that refused the connection.
DOWN = "down"


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
            "No order worker is serving (none runs, or it is stopped: see the health line), so the"
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
            if answer in (None, DOWN) and now - self.since >= STALL_S:
                raise TemporalSilent(temporal_silent(self.service, "the simulation stopped", answer == DOWN))
        elif self.asking is None and now - self.since >= STALL_S:
            self.asking = asyncio.ensure_future(self._worker_serving())

    async def _worker_serving(self) -> bool | str | None:
        """Whether an order worker serves; None if Temporal did not answer, DOWN if it refused the
        connection (killed: "is not reachable", not "is not answering")."""
        serving = await self.service.order_worker_running()
        if serving is None and await self.service.temporal_found_down():
            return DOWN
        return serving

    def stop(self) -> None:
        if self.asking is not None:
            self.asking.cancel()

async def simulate_orders(service: Any, console: Console) -> None:
    products, n, auto_approve = await _what_to_simulate(service, console)
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
    with keys_not_echoed(), Live(Group(progress, SimulationLine(sim), watch, leaving), console=console, refresh_per_second=4) as live:
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
            await _read_where_they_stand(sim)
        show_counts()
        # No bar turns any more: stopped, the "settled" bar's spinner stood frozen mid-turn, as if it ran.
        progress.columns = (TextColumn(" "), *progress.columns[1:])
        live.update(progress)  # the counts per state follow in the summary
    # As one answer: at 40x12 the menu left "approved." and "Ended 10: SHIPPED 10" of it in view.
    await pager.say(console, Group(*_summary(sim, n, took, stopped, silent, console.width)))


async def _what_to_simulate(service: Any, console: Console) -> tuple[Any, int, bool]:
    """The products, how many orders and whether to approve them, once PostgreSQL and Temporal
    have answered; warned first if no order worker serves."""
    # First: with PostgreSQL down, say so before the questions rather than after them.
    products = await needed_from_database(service, service.catalog(), "no order can be simulated")
    # Temporal too: stopped, it held every start for ~30 s while the bars sat at 0.
    serving = await needed_from_temporal(service, console, "no order can be simulated")
    n = int((await ask(prompts.offering("How many orders?", "10", validate=count_check))).strip())
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
    return products, n, auto_approve


async def _read_where_they_stand(sim: Simulation) -> None:
    """Where the orders of a stopped simulation stand now, creates cut off midway included (they
    may have started): the bars left on the screen show the same counts as the summary below them."""
    try:
        await sim.refresh(approve=False)
        await sim.wait_for_approvals_recorded(RECORD_WAIT_S)
    except asyncio.CancelledError:  # Ctrl-C again: the summary at once, as it stands
        pass
    except Exception as error:  # the summary below still says what this screen saw
        log.warning("event=simulation_final_poll_failed error=%r", error)


def _summary(sim: Simulation, n: int, took: float, stopped: bool, silent: str | None, width: int) -> list[Text]:
    """The lines under the bars: the counts, then why it stopped and what went wrong."""
    lines = summary_lines(sim, n, took, stopped, width)
    if silent:
        lines.append(Text(silent, style="red"))
    if sim.database_problem:
        lines.append(Text(f"{sim.database_problem}: the counts above are those it gave last.", style="red"))
    if sim.failed_to_start:
        first = next(iter(sim.failed_to_start.values()))
        lines.append(Text(f"{len(sim.failed_to_start)} could not start: {first}", style="red"))
    if stopped:
        lines.append(Text("The orders carry on in their workflows; follow them on the live dashboard."))
    return lines

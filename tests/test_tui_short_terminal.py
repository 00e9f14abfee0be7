"""The TUI as a new operator meets it, in a short terminal (40x12, the smallest the docs
speak of) above all: what a screen answers stays readable above the menu, a part that is down
is spoken of once per outage, a typed answer's echo breaks between words; and a simulation
says why it stands still. The stack and the service are stand-ins here."""

from __future__ import annotations

import io
from functools import partial
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from app.errors import Refused
from app.tui import actions, pager, prompts
from app.tui import app as tui_app

# The approval refused while the order's workflow tasks keep failing: ten lines at 40 columns.
LONG_REFUSAL = (
    "Order ord-59b9b3dd cannot take the approval now: its workflow tasks keep failing or timing out (an order"
    " worker stopped, or an error in its log: ./start.sh logs order-worker); the approval was not sent, so that"
    " the commands already waiting for the order are kept: send it again once the order goes on (./start.sh"
    " order status ord-59b9b3dd)."
)


@pytest.fixture(autouse=True)
def sigint_given_back():
    yield
    prompts.stop_watching_sigint()


def terminal(width: int, height: int) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, height=height, force_terminal=True, highlight=False), out


def paused(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    pauses: list[str] = []

    async def pause(message: str = "") -> None:
        pauses.append(message)

    monkeypatch.setattr(tui_app, "pause", pause)
    return pauses


@pytest.mark.parametrize(("width", "height", "waits"), [(40, 12, True), (80, 24, False)])
async def test_a_refusal_longer_than_the_menu_leaves_in_view_waits_for_a_key_before_the_menu(
    monkeypatch, width, height, waits
):
    """At 40x12 the health line and the menu (ten lines) left the last two lines of the ten-line
    "cannot take the approval now: its workflow tasks keep failing…" in view, the rest scrolled
    away as it was given. Where the menu would hide part of it, a key is awaited first."""
    pauses = paused(monkeypatch)
    console, out = terminal(width, height)
    tui = tui_app.Tui(console)

    async def refused() -> None:
        raise Refused(LONG_REFUSAL)

    await tui.guarded("Approve / reject", refused)
    assert "Live dashboard)." in out.getvalue()  # its end, as the TUI says it
    assert bool(pauses) == waits, (pauses, out.getvalue())


async def test_a_short_answer_goes_straight_back_to_the_menu(monkeypatch):
    pauses = paused(monkeypatch)
    console, _ = terminal(40, 12)
    tui = tui_app.Tui(console)

    async def refused() -> None:
        raise Refused("Order o-1 is SHIPPED.")

    async def approved() -> None:
        await actions.sent(console, "o-1", "approval", partial(_replied, "Order o-1 approved."))

    await tui.guarded("Approve / reject", refused)
    await tui.guarded("Approve / reject", approved)
    assert pauses == []


async def _replied(text: str, on_sent=None) -> str:
    return text


async def test_a_long_reply_to_a_command_waits_for_a_key_too(monkeypatch):
    """ "No order worker is serving order …, so it cannot answer …" is seven lines at 40 columns."""
    pauses = paused(monkeypatch)
    console, out = terminal(40, 12)
    tui = tui_app.Tui(console)
    reply = LONG_REFUSAL.replace("cannot take", "did not answer")

    async def approved() -> None:
        await actions.sent(console, "o-1", "approval", partial(_replied, reply))

    await tui.guarded("Approve / reject", approved)
    assert "did not answer" in out.getvalue() and len(pauses) == 1


async def test_an_answer_taller_than_the_terminal_goes_through_the_pager(monkeypatch):
    """At 40x8 no pause could keep ten lines in view: they are paged, and the menu follows."""
    pauses = paused(monkeypatch)
    paged: list[list[str]] = []

    async def run_pager(command: list[str]) -> None:
        paged.append(command)

    monkeypatch.setattr(pager, "run_pager", run_pager)
    monkeypatch.setenv("TERM", "xterm-256color")
    console, _ = terminal(40, 8)
    tui = tui_app.Tui(console)

    async def refused() -> None:
        raise Refused(LONG_REFUSAL)

    await tui.guarded("Approve / reject", refused)
    assert len(paged) == 1 and pauses == []


def _stack_with(down: dict[str, str]) -> Any:
    from app.stack.status import PartStatus, StackStatus

    parts = [
        PartStatus(name, healthy=name not in down, detail=down.get(name, "ok"), local=True)
        for name in ("temporal", "postgres", "order-worker", "shipping-worker")
    ]
    return StackStatus(parts, "127.0.0.1:7233", None, "postgresql://postgres@127.0.0.1:5433/orders")


@pytest.mark.parametrize(("width", "height"), [(40, 12), (80, 24)])
async def test_start_what_is_down_is_asked_once_per_outage(monkeypatch, width, height):
    """With PostgreSQL down (not stopped) and "Start what is down?" answered no, the question came
    back above the menu after every screen. It is asked again only when what is down changes."""
    postgres_down = _stack_with({"postgres": "not answering on 127.0.0.1:5433; `./start.sh up` restarts it"})
    both_down = _stack_with({
        "postgres": "not answering on 127.0.0.1:5433; `./start.sh up` restarts it",
        "temporal": "not answering on 127.0.0.1:7233; `./start.sh up` restarts it",
    })
    healthy = _stack_with({})
    statuses = iter([postgres_down, postgres_down, postgres_down, both_down, both_down, healthy, postgres_down])

    class _Stack:
        async def status(self):
            return next(statuses)

    asked: list[str] = []

    async def ask(question: Any, *, escape: bool = True) -> bool:
        asked.append("start")
        return False

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    monkeypatch.setattr(tui_app, "ask", ask)
    console, out = terminal(width, height)
    tui = tui_app.Tui(console)
    counts = []
    for _ in range(7):
        await tui.health()
        counts.append(len(asked))
    assert counts == [1, 1, 1, 2, 2, 2, 3]
    # Not asked again, so the way to start it later is said with the no.
    said = " ".join(Text.from_ansi(out.getvalue()).plain.split())
    assert said.count("./start.sh up, from another shell, starts it.") == 3


class _OrdersShipAtOnce:
    """Orders are created and shipped at once."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    async def order_worker_running(self) -> bool:
        return True

    async def catalog(self) -> list[Any]:
        from db.queries import Product

        return [Product(sku="WIDGET-1", name="Widget", price_cents=899)]

    async def create_order(self, *, order_id: str, **order: Any) -> None:
        self.states[order_id] = "SHIPPED"

    async def list_orders(self, limit: int) -> list[dict]:
        return [{"order_id": i, "state": s} for i, s in self.states.items()]

    async def order_states(self, order_ids: list[str]) -> dict[str, str]:
        return {i: self.states[i] for i in order_ids if i in self.states}


async def test_a_simulation_s_summary_is_kept_in_view_before_the_menu(monkeypatch):
    """At 40x12 the summary ("Done in 12.3 s: 10 of 10 orders started (sim-… … sim-…), 8
    approved." and "Ended 10: SHIPPED 10") went under the menu but for "approved." and its last line."""
    from app.tui import simulate

    answers = iter(["3", False])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    monkeypatch.setattr(simulate, "ask", ask)
    monkeypatch.setattr(simulate, "POLL_S", 0.01)
    pauses = paused(monkeypatch)
    console, out = terminal(40, 12)
    tui = tui_app.Tui(console)
    await tui.guarded("Simulate orders", lambda: simulate.simulate_orders(_OrdersShipAtOnce(), console))
    assert "Ended 3:" in out.getvalue() and len(pauses) == 1


async def test_an_order_created_with_no_order_worker_keeps_its_answer_in_view(monkeypatch):
    """At 40x12, with the order worker stopped, "Order … created for 8.99 (workflow …)." and "No
    order worker is serving … so it waits until one does." (five lines) went out of view under
    the menu and the sentences saying what is down."""
    from app.tui import forms
    from tests.test_tui_menu_and_pager import _form_answers, _ServiceWithoutOrderWorker

    _form_answers(monkeypatch, ["nowork-1", ["WIDGET-1"], "1", True])
    pauses = paused(monkeypatch)
    console, out = terminal(40, 12)
    tui = tui_app.Tui(console)
    await tui.guarded("Create order", lambda: forms.create_order(_ServiceWithoutOrderWorker(), console, {}))
    assert "so it waits until" in out.getvalue() and len(pauses) == 1


async def test_no_order_to_pick_is_said_where_it_stays_in_view(monkeypatch):
    """At 40x12 "There is no order to re-address right now (none is RECEIVED or VALIDATED or
    AWAITING_APPROVAL or APPROVED or PAID or PACKED)." (four lines) went under the menu but for
    its last line."""

    class _NoOrders:
        async def newest_orders(self, states: list[str], limit: int) -> list[dict]:
            return []

    pauses = paused(monkeypatch)
    console, out = terminal(40, 12)
    tui = tui_app.Tui(console)
    await tui.guarded("Update address", lambda: actions.update_address(_NoOrders(), console))
    assert "PACKED)." in out.getvalue() and len(pauses) == 1


@pytest.mark.parametrize("typed", ["customer changed their mind about it", "x"])
async def test_a_typed_answer_wider_than_the_terminal_breaks_between_words(typed):
    """At 40 columns the echo of a cancel's reason broke mid-word: "? Reason (optional) customer
    changed the" above "ir mind about it" (an operator walkthrough at 40x12)."""
    import questionary
    from prompt_toolkit.input import create_pipe_input

    from tests.test_tui_menu_and_pager import _keep_the_last_drawing, _Terminal

    drawn: list[str] = []
    with create_pipe_input() as keys:
        question = questionary.text("Reason (optional)", input=keys, output=_Terminal(12, 40))
        _keep_the_last_drawing(question.application, drawn)
        keys.send_text(typed + "\r")
        assert await prompts.ask(question) == typed
    echo = drawn[-1]
    assert echo.split() == ["?", "Reason", "(optional)", *typed.split()], echo
    assert all(len(line) <= 40 for line in echo.splitlines()), echo


async def test_a_simulation_says_so_when_its_order_worker_stops_midway(monkeypatch):
    """With the order worker stopped a second into a simulation, the bars stood at "settled
    0/10" and "approved 0" for as long as it stayed stopped, with nothing said why (only
    Temporal not answering was said)."""
    import asyncio

    from app.tui import simulate
    from tests.test_tui_menu_and_pager import _ended, _until

    class _WorkerStopsAfterTheStart(_OrdersShipAtOnce):
        asked = 0

        async def order_worker_running(self) -> bool:
            self.asked += 1
            return self.asked == 1  # serving when the simulation starts, then stopped

        async def create_order(self, *, order_id: str, **order: Any) -> None:
            self.states[order_id] = "RECEIVED"  # and there it stays

    answers = iter(["2", False])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    monkeypatch.setattr(simulate, "ask", ask)
    monkeypatch.setattr(simulate, "POLL_S", 0.01)
    monkeypatch.setattr(simulate, "STALL_S", 0.05)
    console, out = terminal(200, 24)
    screen = asyncio.create_task(simulate.simulate_orders(_WorkerStopsAfterTheStart(), console))
    await _until(lambda: "No order worker is serving" in out.getvalue(), "the simulation saying no order worker is serving", screen=screen)
    screen.cancel()  # what Ctrl-C does to the screen
    await _ended(screen, 5)
    assert "so the orders wait until one does" in " ".join(Text.from_ansi(out.getvalue()).plain.split())


async def test_an_approval_that_took_effect_unanswered_counts_as_approved_not_refused(monkeypatch):
    """With the order worker stopped during a simulation, its approvals went unanswered and were
    sent again once the orders still awaited review; the first had taken effect, so the second was
    refused ("already approved by simulation"), and the summary said "4 approved" of ten orders
    that all shipped (the live line "approved 4, refused 6")."""
    import asyncio

    from app.errors import Unanswered
    from app.tui import simulate

    class _FirstApprovalUnanswered(_OrdersShipAtOnce):
        def __init__(self) -> None:
            super().__init__()
            self.approvals: dict[str, int] = {}

        async def create_order(self, *, order_id: str, **order: Any) -> None:
            self.states[order_id] = "AWAITING_APPROVAL"

        async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
            self.approvals[order_id] = self.approvals.get(order_id, 0) + 1
            on_sent()  # each goes to Temporal: the first is unanswered, no worker to take it
            if self.approvals[order_id] == 1:
                raise Unanswered(order_id, "approve", accepted=False, waited_s=20, worker_down=True)
            self.states[order_id] = "SHIPPED"  # the first approval took effect meanwhile
            raise Refused(f"Order {order_id} was already approved by simulation.")

    answers = iter(["2", True])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    monkeypatch.setattr(simulate, "ask", ask)
    monkeypatch.setattr(simulate, "POLL_S", 0.01)
    console, out = terminal(200, 24)
    await asyncio.wait_for(simulate.simulate_orders(_FirstApprovalUnanswered(), console), 10)
    said = " ".join(Text.from_ansi(out.getvalue()).plain.split())
    assert "2 of 2 orders started" in said and "2 approved." in said, said
    assert "refused" not in said, said


async def test_what_ctrl_c_leaves_said_stays_in_view_before_the_menu(monkeypatch):
    """At 40x12 Ctrl-C while an approval waited printed "Stopped waiting. The approval, if it was
    sent already, may still take effect; …" (four lines), then "Back to the menu.", and the menu
    left the last two lines in view."""
    import asyncio

    from tests.test_tui_menu_and_pager import _until

    pauses = paused(monkeypatch)
    console, out = terminal(40, 12)
    tui = tui_app.Tui(console)

    async def unanswered(on_sent) -> str:
        on_sent()  # the Update goes to Temporal, and its answer never comes
        await asyncio.Event().wait()
        return "never"

    async def approving() -> None:
        await actions.sent(console, "o-1", "approval", unanswered)

    guarded = asyncio.ensure_future(tui.guarded("Approve / reject", approving))
    # The spinner: the command is out, and the screen waits for its answer.
    await _until(lambda: "Waiting for order o-1" in Text.from_ansi(out.getvalue()).plain)
    prompts._interrupt()  # what Ctrl-C does
    await asyncio.wait_for(guarded, 5)
    said = " ".join(Text.from_ansi(out.getvalue()).plain.split())
    assert "may still take effect" in said and "Back to the menu." in said
    assert len(pauses) == 1


async def test_the_apology_for_a_failure_stays_in_view_before_the_menu(monkeypatch):
    """At 40x12 "Sorry, something unexpected went wrong; ./start.sh logs cli, from another
    shell, shows the details." is three lines: the menu left the last two, without the apology
    itself. The command it names is one for another shell, as the TUI's other advice says."""
    pauses = paused(monkeypatch)
    console, out = terminal(40, 12)
    tui = tui_app.Tui(console)

    async def failing() -> None:
        raise RuntimeError("a bug")

    await tui.guarded("Audit log", failing)
    said = " ".join(Text.from_ansi(out.getvalue()).plain.split())
    assert "Sorry, something unexpected" in said and "logs cli, from another shell" in said and len(pauses) == 1


def test_help_tui_says_what_the_tui_offers_and_how_to_move_in_it(capsys, monkeypatch, tmp_path):
    """`./start.sh help tui` printed only "usage: ./start.sh tui [-h]": nothing on what it does,
    how to go back, or that quitting leaves the stack running."""
    import logging

    from app.cli import main

    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() points the root logger at its log
    try:
        with pytest.raises(SystemExit):
            main(["tui", "--help"])
    finally:
        root.handlers[:], root.level = handlers, level
    said = " ".join(capsys.readouterr().out.split())
    assert "Esc or Ctrl-C goes back to the menu" in said and "the stack keeps running" in said, said


@pytest.mark.parametrize(("width", "height", "waits"), [(40, 12, [1, 1]), (80, 24, [0, 0])])
async def test_what_is_down_is_kept_in_view_when_it_and_the_menu_do_not_fit(monkeypatch, width, height, waits):
    """At 40x12 with the order worker stopped, the TUI opened on "resumes it." and "Starting
    cannot help a stopped process; resume it as said above.": what was said above, "kill -CONT
    <pid>", had gone out of view under the menu. Said once per outage there, and kept in view."""
    stopped = _stack_with({"order-worker": "stopped (SIGSTOP): not serving order-tq; kill -CONT 4242 resumes it"})

    class _Stack:
        async def status(self):
            return stopped

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    pauses = paused(monkeypatch)
    console, out = terminal(width, height)
    tui = tui_app.Tui(console)
    counts = []
    for _ in range(2):
        await tui.guarded("Health", tui.health)
        counts.append(len(pauses))
    assert counts == waits
    assert "kill -CONT 4242" in " ".join(Text.from_ansi(out.getvalue()).plain.split())


async def test_a_new_order_s_summary_keeps_its_id_items_total_and_address_in_view_at_40x12(monkeypatch):
    """At 40x12 the summary of an order of CABLE-USB and DOOHICKEY took 16 lines before "Create
    this order?": "New order <id>" and the column names scrolled out of view before the question."""
    from app.tui import forms
    from db.queries import Product
    from tests.test_tui_menu_and_pager import _form_answers, _ServiceWithoutOrderWorker
    from workflows.model import Address

    class _Catalog(_ServiceWithoutOrderWorker):
        async def catalog(self) -> list[Any]:
            return [Product("CABLE-USB", "USB-C cable, 1 m", 899), Product("DOOHICKEY", "Doohickey", 12000)]

    _form_answers(monkeypatch, ["ord-3f9a1c2e", ["CABLE-USB", "DOOHICKEY"], "1", "2", False])

    async def address_form(remembered: Any) -> Address:
        return Address(name="Jane Doe", street="42 Harbour Road", city="Springfield", postal_code="12345",
                       country="US", region="IL")

    monkeypatch.setattr(forms, "address_form", address_form)
    console, out = terminal(40, 12)
    await forms.create_order(_Catalog(), console, {})
    lines = Text.from_ansi(out.getvalue()).plain.splitlines()
    first = next(at for at, line in enumerate(lines) if "New order ord-3f9a1c2e" in line)
    summary = lines[first : next(at for at, line in enumerate(lines) if "Nothing was created" in line)]
    assert len(summary) <= 12 - 2, "\n".join(summary)  # the question and the line it is answered on below it
    said = "\n".join(summary)
    assert all(len(line) <= 40 for line in summary)
    for essential in ("USB-C cable", "Doohickey", "248.99", "Total", "Ship to: Jane Doe", "12345, US"):
        assert essential in said, said


async def test_the_key_awaited_before_the_first_menu_does_not_speak_of_going_back_to_it(monkeypatch):
    """At 40x12 with the order worker stopped, the TUI opened on what is down and "Press any key
    to go back to the menu", when no menu had been shown yet."""
    stopped = _stack_with({"order-worker": "stopped (SIGSTOP): not serving order-tq; kill -CONT 4242 resumes it"})
    long_stopped = _stack_with({"order-worker": "stopped (SIGSTOP): not serving order-tq; kill -CONT 4343 resumes it"})
    statuses = iter([stopped, long_stopped])

    class _Stack:
        async def status(self):
            return next(statuses)

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    pauses = paused(monkeypatch)
    console, _ = terminal(40, 12)
    tui = tui_app.Tui(console)
    await tui.guarded("Health", tui.health)  # as run() does, before the first menu
    tui.menu_shown = True
    await tui.guarded("Health", tui.health)  # what is down changed: said again, after a menu
    assert pauses == ["Press any key to see the menu", "Press any key to go back to the menu"]


@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 30)])
async def test_an_answer_stays_in_view_above_what_is_down_said_again_with_the_menu(monkeypatch, width, height):
    """At 80 columns what is down is said again above the menu after every screen, a sentence per
    part, and the check of whether an answer fits counted only the health line and the menu: with
    both workers stopped and PostgreSQL not answering, a ten-line answer's first lines scrolled
    out of view under them with no key awaited."""
    down = _stack_with({
        "postgres": "no answer at postgresql://postgres@127.0.0.1:5433/orders (ConnectionRefusedError: [Errno 111]"
                    " Connect call failed)",
        "order-worker": "stopped (SIGSTOP): not serving order-tq; kill -CONT 26557 resumes it",
        "shipping-worker": "stopped (SIGSTOP): not serving shipping-tq; kill -CONT 26558 resumes it",
    })

    class _Stack:
        async def status(self):
            return down

    async def ask(question: Any, *, escape: bool = True) -> bool:
        return False  # "Start what is down?": no

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    monkeypatch.setattr(tui_app, "ask", ask)
    pauses = paused(monkeypatch)
    console, out = terminal(width, height)
    tui = tui_app.Tui(console)
    await tui.guarded("Health", tui.health)  # as run() does, before the first menu
    tui.menu_shown = True
    pauses.clear()
    menu_rows = len(tui.menu()) + 1
    answer = "\n".join(f"Line {n} of a screen's answer." for n in range(1, height - menu_rows - 3))

    async def answered() -> None:
        await pager.say(console, Text(answer))

    out.seek(0), out.truncate()
    await tui.guarded("Approve / reject", answered)
    await tui.health()  # what comes next above the menu
    rows = pager.screen_rows(out.getvalue(), width) + menu_rows
    assert rows > height, out.getvalue()  # the answer's first line would go out of view
    assert pauses == ["Press any key to go back to the menu"]


async def test_a_new_order_s_answer_keeps_its_total_and_state_in_view_at_40x12(monkeypatch):
    """At 40x12 "Order ord-ee2657e4 created for 139.99 (workflow order-ord-ee2657e4)." went out of
    view under the menu as it was drawn: only "Order ord-ee2657e4 is now AWAITING_APPROVAL." was
    left of the answer, printed apart from it."""
    from app.tui import forms
    from tests.test_tui_menu_and_pager import _form_answers, _ServiceWithoutOrderWorker

    class _Validated(_ServiceWithoutOrderWorker):
        async def order_worker_running(self) -> bool:
            return True

        async def status(self, order_id: str) -> dict:
            return {"state": "AWAITING_APPROVAL"}

    _form_answers(monkeypatch, ["ord-ee2657e4", ["WIDGET-1"], "1", True])
    pauses = paused(monkeypatch)
    console, out = terminal(40, 12)
    tui = tui_app.Tui(console)
    tui.menu_shown = True
    await tui.guarded("Create order", lambda: forms.create_order(_Validated(), console, {}))
    said = " ".join(Text.from_ansi(out.getvalue()).plain.split())
    assert "Order ord-ee2657e4 created for 8.99 (workflow order-ord-ee2657e4)." in said, said
    assert "Order ord-ee2657e4 is now AWAITING_APPROVAL." in said, said
    assert pauses == ["Press any key to go back to the menu"]


async def test_an_answer_stays_in_view_when_what_is_down_changed_during_its_screen(monkeypatch):
    """The check after a screen counts what was said of the stack above the menu the last time:
    with both workers gone during the screen, the two sentences, "Start what is down?" and its
    answer came under the answer too, unforeseen, and its first lines went out of view."""
    healthy = _stack_with({})
    down = _stack_with({"order-worker": "not running", "shipping-worker": "not running"})
    statuses = iter([healthy, down])

    class _Stack:
        async def status(self):
            return next(statuses)

    async def ask(question: Any, *, escape: bool = True) -> bool:
        return False  # "Start what is down?": no

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    monkeypatch.setattr(tui_app, "ask", ask)
    pauses = paused(monkeypatch)
    console, out = terminal(80, 24)
    tui = tui_app.Tui(console)
    await tui.guarded("Health", tui.health)
    tui.menu_shown = True
    menu_rows = len(tui.menu()) + 1
    answer = "\n".join(f"Line {n} of a screen's answer." for n in range(1, 24 - menu_rows - 1))

    async def answered() -> None:
        await pager.say(console, Text(answer))

    out.seek(0), out.truncate()
    await tui.guarded("Approve / reject", answered)
    assert pauses == []  # as far as the screen could tell, it fitted
    await tui.guarded("Health", tui.health)
    rows = pager.screen_rows(out.getvalue(), 80) + 1 + menu_rows  # and the question's answer
    assert rows > 24, out.getvalue()
    assert pauses == ["Press any key to go back to the menu"]
    said = Text.from_ansi(out.getvalue()).plain
    assert said.index("Line 1 of") < said.index("order worker is down")  # kept before what is down is said

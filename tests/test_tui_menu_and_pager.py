"""The TUI's main menu remembers the entry picked last, and output taller than the terminal
goes through a pager (the stack, the service and the pager itself are stand-ins here; the
pseudo-terminal walk in eval_tests/test_tui.py drives the real ones)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import questionary
from rich.console import Console
from rich.text import Text

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.data_structures import Size
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.utils import Event

from app.tui import app as tui_app
from app.tui import pager, prompts, question_line, simulation


def pointed_title(question: Any) -> str:
    controls = [c for c in question.application.layout.find_all_controls() if hasattr(c, "get_pointed_at")]
    return controls[0].get_pointed_at().title


class _NoService:
    async def close(self) -> None:
        pass


def _tui_without_a_stack(monkeypatch: pytest.MonkeyPatch, console: Console, ask: Any) -> tui_app.Tui:
    """A TUI whose menu is answered by ``ask``, with no stack to start, no service to connect
    to and no health line to read."""

    async def nothing(*args: Any) -> None:
        return None

    async def connect(cls: Any, *args: Any, **kwargs: Any) -> _NoService:
        return _NoService()

    monkeypatch.setattr(tui_app, "ask", ask)
    monkeypatch.setattr(tui_app, "ensure_up", nothing)
    monkeypatch.setattr(tui_app.OrderService, "connect", classmethod(connect))
    tui = tui_app.Tui(console)
    monkeypatch.setattr(tui, "health", nothing)
    return tui


async def test_the_menu_opens_on_the_entry_picked_last(monkeypatch: pytest.MonkeyPatch):
    """It used to open on Create order every time: approving five orders took five trips down."""
    asked: list[str] = []
    ran: list[str] = []
    answers = iter([1, 1, 0, 2])  # Approve, Approve again, Create, Quit

    async def ask(question: Any, *, escape: bool = True) -> int:
        asked.append(pointed_title(question))
        return next(answers)

    tui = _tui_without_a_stack(monkeypatch, Console(file=io.StringIO()), ask)

    def screen(name: str) -> Any:
        async def run() -> None:
            ran.append(name)

        return run

    monkeypatch.setattr(tui, "menu", lambda: [("Create", screen("create")), ("Approve", screen("approve")), ("Quit", None)])

    assert await tui.run() == 0
    assert asked == ["Create", "Approve", "Approve", "Create"]
    assert ran == ["approve", "approve", "create"]


@pytest.fixture(autouse=True)
async def sigint_given_back():
    """A prompt installs the TUI's Ctrl-C handler on the event loop, which the tests share: left
    behind, it turned a later test's Ctrl-C into a no-op (test_cli_refusals, run after this
    module)."""
    yield
    prompts.stop_watching_sigint()


@pytest.mark.parametrize("by", ["dana [night shift]", "[/]"])
async def test_a_refusal_that_names_an_operator_is_shown_as_typed_not_read_as_markup(by):
    """The workflow refuses a second decision naming who made the first, and `--by` (CLI, API)
    takes any visible text. Printed as Rich markup, "... approved by dana [night shift]." lost
    the bracket ("by dana ."), and "[/]" raised out of the screen's error handler, ending the
    TUI with "something unexpected"."""
    from app.errors import Refused

    out = io.StringIO()
    tui = tui_app.Tui(Console(file=out, width=200))

    async def refused() -> None:
        raise Refused(f"Order o-1 was already approved by {by}.")

    await tui.guarded("Approve / reject", refused)
    assert f"Order o-1 was already approved by {by}." in out.getvalue()


async def test_esc_then_enter_at_the_menu_picks_the_entry_pointed_at():
    """Esc at the menu does nothing (only Quit and Ctrl-C leave), but Esc and Enter within a
    second read as Meta+Enter, which made the menu return text and the TUI crash."""
    with create_pipe_input() as keys:
        question = tui_app.main_menu([("Create", None), ("Approve", None), ("Quit", None)], 1, input=keys, output=DummyOutput())
        keys.send_text("\x1b\r")
        assert await prompts.ask(question, escape=False) == 1


@pytest.mark.parametrize("keys", ["\x03", "\x1b", "\x04"])  # Ctrl-C, Esc, Ctrl-D
async def test_a_question_left_without_an_answer_is_erased_not_left_as_if_answered(keys):
    """Ctrl-C at "Order id" left "? Order id ord-63125125" on the screen, above "Back to the
    menu.", as if that id had been given (an operator walkthrough)."""
    with create_pipe_input() as typed:
        question = questionary.text("Order id", default="ord-1", input=typed, output=DummyOutput())
        typed.send_text(keys)
        with pytest.raises(prompts.Back):
            await prompts.ask(question)
    assert question.application.erase_when_done


async def test_a_question_ended_by_an_error_is_erased_and_an_answered_one_stays():
    with create_pipe_input() as typed:
        answered = questionary.text("Order id", default="ord-1", input=typed, output=DummyOutput())
        typed.send_text("\r")
        assert await prompts.ask(answered) == "ord-1"
    assert not answered.application.erase_when_done
    with create_pipe_input() as typed:
        broken = questionary.text("Order id", input=typed, output=DummyOutput())
        typed.close()  # the terminal is gone
        with pytest.raises(EOFError):
            await prompts.ask(broken)
    assert broken.application.erase_when_done


class _Terminal(DummyOutput):
    """A terminal of ``rows`` x ``columns`` that shows nothing."""

    def __init__(self, rows: int, columns: int) -> None:
        self.size = Size(rows=rows, columns=columns)

    def get_size(self) -> Size:
        return self.size

    def get_rows_below_cursor_position(self) -> int:
        return 1  # the prompt starts on the bottom line, after the screens before it


@pytest.mark.parametrize("asking", ["select", "checkbox"])
async def test_a_list_taller_than_the_terminal_stays_a_line_shorter_and_scrolls(asking):
    """A pick list of 30 orders was drawn as tall as a 40x12 terminal, its question on the top
    line: erased from there (answered, or Esc), tmux keeps the screen in its scrollback, and
    "? Which order to review?" with the list stayed above the next screen (a review)."""
    heights: list[int] = []
    with create_pipe_input() as keys:
        make = questionary.select if asking == "select" else questionary.checkbox
        question = make(
            "Which order to review?", choices=[f"o-{n}" for n in range(30)], input=keys, output=_Terminal(12, 40)
        )
        def drawn(app: Any) -> None:
            if app.renderer.last_rendered_screen is not None:  # None once erased
                heights.append(app.renderer.last_rendered_screen.height)

        question.application.after_render += drawn
        # To the last choice, past the bottom of the terminal (and picked, for the checkbox).
        keys.send_text("\x1b[B" * 29 + (" " if asking == "checkbox" else "") + "\r")
        answer = await prompts.ask(question)
    assert answer == ("o-29" if asking == "select" else ["o-29"])
    assert heights and max(heights) <= 11, heights


def _screen_text(app: Any) -> str:
    """What the prompt last drew, row by row."""
    screen = app.renderer.last_rendered_screen
    if screen is None:
        return ""
    rows = []
    for y in range(screen.height):
        row = screen.data_buffer[y]
        rows.append("".join(row[x].char for x in range(max(row, default=-1) + 1)).rstrip())
    return "\n".join(rows)


RULE = "Use 1-64 letters, digits, - or _ (start with a letter or digit)."


@pytest.mark.parametrize("asking", ["text", "checkbox"])
async def test_a_refusal_wider_than_the_terminal_is_wrapped_whole_under_the_question(asking):
    """At 40 columns "Use 1-64 letters, digits, - or _ (start" was all a bad order id got, the
    rest cut at the edge (the error line is one line high), and "Pick at least one item with
    the space bar." lost its last words (an operator walkthrough at 40x12)."""
    drawn: list[str] = []
    with create_pipe_input() as keys:
        if asking == "text":
            question = questionary.text("Order id", validate=lambda text: RULE, input=keys, output=_Terminal(12, 40))
            refusal = RULE
        else:
            refusal = "Pick at least one item with the space bar."
            question = questionary.checkbox(
                "Items", choices=["a", "b"], validate=lambda chosen: bool(chosen) or refusal,
                input=keys, output=_Terminal(12, 40),
            )
        question.application.after_render += lambda app: drawn.append(_screen_text(app))
        asked = asyncio.ensure_future(prompts.ask(question))
        keys.send_text("x\r" if asking == "text" else "\r")
        await _until(lambda: any(refusal[:10] in screen for screen in drawn), f"the refusal drawn: {refusal}", screen=asked)
        keys.send_text("\x03")
        with pytest.raises(prompts.Back):
            await asked
    shown = next(screen for screen in drawn if refusal[:10] in screen)
    assert refusal in " ".join(shown.split()), shown
    assert all(word in shown.split() for word in refusal.split()), shown  # broken between words
    assert all(len(line) <= 40 for line in shown.splitlines()), shown


class _TerminalFromTheTop(_Terminal):
    """A terminal whose prompt starts on its top line, the whole screen free below it."""

    def get_rows_below_cursor_position(self) -> int:
        return self.size.rows


@pytest.mark.parametrize("asking", ["text", "checkbox"])
async def test_a_refusal_comes_right_under_the_answer_not_at_the_foot_of_the_terminal(asking):
    """At 40x12 "Use 1-64 letters, …" stood three lines under "? Order id !!", and at 80x24 ten:
    prompt_toolkit let the input fill the terminal and drew the refusal at its foot, as it drew
    the Items question's under empty lines below the list (then under one, questionary's empty
    input line of the prompt session it draws a list's refusal in)."""
    drawn: list[str] = []
    with create_pipe_input() as keys:
        terminal = _TerminalFromTheTop(24, 80)
        if asking == "text":
            refusal = RULE
            question = questionary.text("Order id", validate=lambda text: RULE, input=keys, output=terminal)
        else:
            refusal = "Pick at least one item with the space bar."
            question = questionary.checkbox(
                "Items", choices=["a", "b"], validate=lambda chosen: bool(chosen) or refusal, input=keys, output=terminal,
            )
        question.application.after_render += lambda app: drawn.append(_screen_text(app))
        asked = asyncio.ensure_future(prompts.ask(question))
        await _until(lambda: drawn)
        keys.send_text("x\r" if asking == "text" else "\r")
        await _until(lambda: any(refusal in screen for screen in drawn))
        keys.send_text("\x03")
        with pytest.raises(prompts.Back):
            await asked
    lines = next(screen for screen in drawn if refusal in screen).splitlines()
    answer = max(n for n, line in enumerate(lines) if line.startswith(("? Order id", "   ○ b")))
    assert lines[answer + 1] == refusal, lines


def _keep_the_last_drawing(app: Any, drawn: list[str]) -> None:
    """What the prompt draws, its last drawing (the answer's echo) included: the renderer
    forgets that one as soon as it is drawn."""
    renderer, reset = app.renderer, app.renderer.reset

    def keeping(*args: Any, **kwargs: Any) -> None:
        if renderer.last_rendered_screen is not None:
            drawn.append(_screen_text(app))
        reset(*args, **kwargs)

    renderer.reset = keeping


async def test_an_answered_question_wider_than_the_terminal_breaks_between_words():
    """At 40 columns the echo of the dashboard's answered question broke mid-word: "? Show
    orders in which state? AWAITING_A" above "PPROVAL" (an operator walkthrough at 40x12)."""
    drawn: list[str] = []
    message = "Show orders in which state?"
    with create_pipe_input() as keys:
        question = questionary.select(
            message, choices=["All states", "AWAITING_APPROVAL"], input=keys, output=_Terminal(12, 40)
        )
        _keep_the_last_drawing(question.application, drawn)
        keys.send_text("\x1b[B\r")
        assert await prompts.ask(question) == "AWAITING_APPROVAL"
    echo = drawn[-1]
    assert echo.split() == ["?", *message.split(), "AWAITING_APPROVAL"], echo
    assert all(len(line) <= 40 for line in echo.splitlines()), echo


@pytest.mark.parametrize(("fragments", "columns", "lines"), [
    ([("q", "? Show orders in which state? "), ("a", "AWAITING_APPROVAL")], 40,
     ["? Show orders in which state? ", "AWAITING_APPROVAL"]),
    ([("q", "abc "), ("a", "d")], 4, ["abc", "d"]),  # a space at the edge: the words stay apart
    ([("q", "? Id "), ("a", "sim-520b6b-0042")], 8, ["? Id ", "sim-520b", "6b-0042"]),  # longer than a line
    ([("q", "? 注文 "), ("a", "注文注文")], 10, ["? 注文 ", "注文注文"]),  # in cells
])
def test_an_echo_is_broken_between_words_in_cells(fragments, columns, lines):
    from prompt_toolkit.formatted_text import fragment_list_to_text

    assert fragment_list_to_text(question_line._fragments_between_words(fragments, columns)).split("\n") == lines


def _timeline(lines: int) -> Text:
    return Text("\n".join(f"line {n}" for n in range(1, lines + 1)))


def printing(renderable: Any) -> Any:
    return lambda console: console.print(renderable)


@pytest.fixture
def paged(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], str]]:
    """What went to the pager (as if less were installed and the terminal known)."""
    calls: list[tuple[list[str], str]] = []

    async def run_pager(command: list[str]) -> None:
        calls.append((command, Path(command[-1]).read_text()))

    monkeypatch.setattr(pager.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr(pager, "run_pager", run_pager)
    return calls


def _terminal(height: int = 24) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=80, height=height, force_terminal=True, color_system=None), out


async def test_output_taller_than_the_terminal_goes_whole_through_the_pager(paged):
    console, out = _terminal(height=24)
    assert await pager.show(console, printing(_timeline(24)), "Audit of order o-1.2") is True
    [(command, text)] = paged
    assert command[0] == "/usr/bin/less" and "-R" in command  # colours kept
    prompts = [c for c in command if c.startswith(("-Ps", "-Pm", "-PM"))]
    assert len(prompts) == 3 and len(set(p[3:] for p in prompts)) == 1  # whatever $LESS selects
    # In a less prompt ':' means 'else' and '.' ends a condition: unescaped, the help lost its words.
    assert prompts[0] == "-PsAudit of order o-1\\.2  lines %lt-%lb/%L  q\\: back, space\\: more"
    assert text.splitlines()[0] == "line 1" and text.splitlines()[-1] == "line 24"
    assert out.getvalue() == ""
    assert not Path(command[-1]).exists()  # the page's file is gone once less is


async def test_output_that_fits_with_the_pause_prompt_below_it_is_printed(paged):
    console, out = _terminal(height=24)
    assert await pager.show(console, printing(_timeline(23)), "Audit of order o-1") is False
    assert paged == []
    assert out.getvalue().splitlines() == [f"line {n}" for n in range(1, 24)]


@pytest.mark.parametrize("why", ["no less", "dumb terminal", "not a terminal"])
async def test_without_less_a_terminal_type_or_a_terminal_it_prints(paged, monkeypatch: pytest.MonkeyPatch, why: str):
    console, out = _terminal(height=10)
    if why == "no less":
        monkeypatch.setattr(pager.shutil, "which", lambda name: None)
    elif why == "dumb terminal":
        monkeypatch.setenv("TERM", "dumb")
    else:
        console = Console(file=out, width=80, height=10, force_terminal=False)
    assert await pager.show(console, printing(_timeline(40)), "Audit of order o-1") is False
    assert paged == []
    assert out.getvalue().splitlines()[-1] == "line 40"


def test_an_order_id_in_the_pager_prompt_stays_literal():
    assert pager.prompt_literal("Audit of order a.b:c?d%e\\f") == "Audit of order a\\.b\\:c\\?d\\%e\\\\f"


async def test_a_line_longer_than_the_terminal_counts_for_the_rows_it_wraps_to(paged):
    """A link printed whole (soft wrap) takes two rows of 80 columns: 22 lines and that one
    do not fit 24 rows with the pause prompt below them."""
    console, out = _terminal(height=24)

    def draw(c: Console) -> None:
        c.print(_timeline(22))
        c.print("Workflow history: http://127.0.0.1:8233/" + "x" * 100, soft_wrap=True)

    assert pager.screen_rows("a\n" + "b" * 81 + "\n", 80) == 3
    assert await pager.show(console, draw, "Audit of order o-1") is True


def test_the_pager_prompt_of_the_longest_shortened_id_fits_80_columns(paged):
    """less shows a prompt wider than the screen from its end: it used to lose its first letters."""
    from app.tui.order_labels import short_id

    command = pager.less_command(f"Audit of {short_id('x' * 64)}", "page.txt")
    prompt = next(c for c in command if c.startswith("-Ps"))[3:]
    shown = prompt.replace("\\", "").replace("%lt", "1").replace("%lb", "23").replace("%L", "1234")
    assert shown.startswith("Audit of xxx") and shown.endswith("q: back, space: more")
    assert len(shown) < 80
    # ASCII only: less showed the "…" of the shortened id as raw bytes and lost the prompt's start.
    assert shown.isascii() and "xxx...xxx" in shown and "xxx  lines" in shown


LONG_IDS = [f"customer-2026-11-27-warehouse-berlin-priority-express-order-{n:04d}" for n in (13, 14)]  # 64 characters


class _Listed:
    """Orders awaiting review, two of them with the longest ids there are (64 characters)."""

    settings = SimpleNamespace(database_url_redacted="postgresql://postgres@127.0.0.1:5433/orders")

    async def list_orders(self, **_kwargs: Any) -> list[dict]:
        now = datetime.now(timezone.utc).isoformat()
        orders = [{"order_id": order_id, "state": "AWAITING_APPROVAL", "created_at": now, "amount": "19.99"}
                  for order_id in LONG_IDS]
        return orders + [{"order_id": "short-1", "state": "RECEIVED", "created_at": now, "amount": "259.99"}]


@pytest.mark.parametrize("width", [60, 80, 120])
async def test_long_order_ids_stay_told_apart_and_the_rows_fit_the_terminal(monkeypatch, width):
    """Two 64-character ids both read "customer-2026-11-27-war…" (ids of one batch differ at the
    end), and at 60 columns the rows ran past the edge ("19.9" for 19.99)."""
    from app.tui import actions

    offered: list[str] = []
    question = SimpleNamespace(application=SimpleNamespace(erase_when_done=False, before_render=Event(None)))

    def select(message: str, choices: list, **_: Any) -> Any:
        offered.extend(choice.title for choice in choices)
        return question

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return LONG_IDS[1]

    monkeypatch.setattr(actions.questionary, "select", select)
    monkeypatch.setattr(actions, "ask", ask)
    out = io.StringIO()
    picked = await actions.pick_order(_Listed(), Console(file=out, width=width), None, "inspect")
    assert picked == LONG_IDS[1]
    # Answered, the list is replaced by the order's own line, its id whole.
    assert question.application.erase_when_done
    assert f"Order {LONG_IDS[1]}" in "".join(out.getvalue().splitlines())
    rows = offered[:3]
    assert all(len(row) <= width - 4 for row in rows)  # with questionary's " » " before each
    first, second = (row.split()[0] for row in rows[:2])
    assert first != second and first.endswith("0013") and second.endswith("0014")
    assert first.startswith("customer-")
    assert rows[0].endswith(" 19.99") and rows[2].endswith("259.99")  # amounts whole and lined up
    assert len({row.index("AWAITING") for row in rows[:2]} | {rows[2].index("RECEIVED")}) == 1
    if width >= 120:
        assert LONG_IDS[0] in rows[0]  # whole where there is room


class _ServiceWithoutOrderWorker:
    """The order is created, but no order worker runs: nothing will take it up yet."""

    def __init__(self) -> None:
        self.asked_status = False

    async def catalog(self) -> list[Any]:
        from db.queries import Product

        return [Product(sku="WIDGET-1", name="Widget", price_cents=899)]

    async def refuse_taken_id(self, order_id: str) -> None:
        return None

    async def create_order(self, **order: Any) -> Any:
        from app.service import CreatedOrder

        return CreatedOrder(order_id=order["order_id"], workflow_id=f"order-{order['order_id']}", payment_id="", amount_cents=899)

    async def order_worker_running(self) -> bool:
        return False

    async def status(self, order_id: str) -> dict:
        self.asked_status = True
        return {"state": "RECEIVED"}


async def test_an_order_created_in_the_tui_with_no_order_worker_says_it_waits_for_one(monkeypatch: pytest.MonkeyPatch):
    """The TUI showed a 10 s spinner, then "is starting; follow it on the live dashboard",
    where the command line said that no order worker runs."""
    from app.tui import forms

    _form_answers(monkeypatch, ["nowork-1", ["WIDGET-1"], "1", True])
    service = _ServiceWithoutOrderWorker()
    out = io.StringIO()
    await forms.create_order(service, Console(file=out, width=120), {})
    assert "Order nowork-1 created" in out.getvalue()
    assert "No order worker is serving (none runs, or it is stopped: see the health line), so it waits" in out.getvalue()
    assert service.asked_status is False  # no spinner waiting for a validation that cannot come


async def test_a_create_waiting_on_temporal_shows_a_spinner_and_ctrl_c_says_it_may_still_start(monkeypatch):
    """With Temporal stopped, "Create this order? Yes" was followed by nothing for half a minute
    (the start waits for Temporal), and Ctrl-C then said only "Back to the menu"."""
    from app.tui import forms

    _form_answers(monkeypatch, ["slow-1", ["WIDGET-1"], "1", True])
    started = asyncio.Event()

    class _TemporalStopped(_ServiceWithoutOrderWorker):
        async def create_order(self, **order: Any) -> Any:
            started.set()
            await asyncio.Event().wait()

    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    screen = asyncio.create_task(forms.create_order(_TemporalStopped(), console, {}))
    await started.wait()
    await _until(lambda: "Creating order slow-1" in out.getvalue())  # the spinner's first frame
    screen.cancel()  # what Ctrl-C does to the screen
    with pytest.raises(asyncio.CancelledError):
        await screen
    said = " ".join(out.getvalue().split())
    assert "Creating order slow-1…" in said
    assert "Stopped waiting. Order slow-1 may still start, if its start reached Temporal;" in said


async def test_a_reserved_order_id_is_refused_before_the_rest_of_the_form(monkeypatch: pytest.MonkeyPatch):
    """"counts" was taken as the order id, the items, the address and the summary were filled
    in and confirmed, and only then was it refused as reserved (an operator walkthrough)."""
    from app.tui import forms

    _form_answers(monkeypatch, ["counts", "nowork-2", ["WIDGET-1"], "1", True])
    out = io.StringIO()
    await forms.create_order(_ServiceWithoutOrderWorker(), Console(file=out, width=200), {})
    said = out.getvalue()
    assert "Order id 'counts' is reserved" in said
    assert "Order nowork-2 created" in said


class _SlowApprovals:
    """Orders are created at once and await review; approvals never get an answer."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.approvals_begun = 0
        self.order_worker = True

    async def order_worker_running(self) -> bool:
        return self.order_worker

    async def catalog(self) -> list[Any]:
        from db.queries import Product

        return [Product(sku="WIDGET-1", name="Widget", price_cents=899)]

    async def create_order(self, *, order_id: str, **order: Any) -> None:
        self.states[order_id] = "AWAITING_APPROVAL"

    async def list_orders(self, limit: int) -> list[dict]:
        return [{"order_id": i, "state": s} for i, s in self.states.items()]

    async def order_states(self, order_ids: list[str]) -> dict[str, str]:
        return {i: self.states[i] for i in order_ids if i in self.states}

    async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
        self.approvals_begun += 1
        if on_sent is not None:  # the Update goes to Temporal, and its answer never comes
            on_sent()
        await asyncio.Event().wait()
        return "approved"


@pytest.mark.parametrize("order_worker", [True, False])
async def test_a_simulation_says_when_no_order_worker_serves_its_orders(monkeypatch: pytest.MonkeyPatch, order_worker):
    """With the order worker stopped, the bars stood at 0/5 and "0 orders" with nothing to say
    why, where Create order says no order worker is serving (an operator walkthrough)."""
    from app.tui import simulate

    answers = iter(["5", False])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    class _NoOrderWorker(_SlowApprovals):
        creates = 0

        async def create_order(self, *, order_id: str, **order: Any) -> None:
            self.creates += 1
            if self.order_worker:
                self.states[order_id] = "AWAITING_APPROVAL"

    monkeypatch.setattr(simulate, "ask", ask)
    monkeypatch.setattr(simulate, "POLL_S", 0.01)
    service = _NoOrderWorker()
    service.order_worker = order_worker
    out = io.StringIO()
    screen = asyncio.create_task(simulate.simulate_orders(service, Console(file=out, width=120)))
    await _until(lambda: service.creates == 5)  # the worker was checked before the first create
    screen.cancel()
    await screen
    said = " ".join(out.getvalue().split())
    assert ("No order worker is serving" in said) is not order_worker


def _simulation_answers(monkeypatch: pytest.MonkeyPatch, answers: list[Any], poll_s: float) -> None:
    """Simulate's questions answered in turn with ``answers``, its counts read every ``poll_s``."""
    from app.tui import simulate

    given = iter(answers)

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(given)

    monkeypatch.setattr(simulate, "ask", ask)
    monkeypatch.setattr(simulate, "POLL_S", poll_s)


async def test_a_simulation_stopped_says_which_orders_still_await_review(monkeypatch: pytest.MonkeyPatch):
    """Ctrl-C during a simulation reported "approvals sent 126" while none had been answered,
    and said nothing of the orders left waiting out their review window; then it said "their
    approvals were not sent" of approvals that were sent, and took effect a moment later."""
    from app.tui import simulate

    _simulation_answers(monkeypatch, ["12", True], poll_s=0.01)
    service = _SlowApprovals()
    out = io.StringIO()
    screen = asyncio.create_task(simulate.simulate_orders(service, Console(file=out, width=120)))
    await _until(lambda: service.approvals_begun >= simulation.CONCURRENCY)  # the other two wait for a slot
    screen.cancel()  # what Ctrl-C does to the screen
    await screen
    text = " ".join(out.getvalue().split())  # as the operator reads it, wrapped or not
    assert ": 12 of 12 orders started (" in text and "), 0 approved." in text
    assert (
        "2 orders await review in the Approve / reject menu;"
        " 10 approvals were sent and may still take effect." in text
    )


class _CreatesCutOff(_SlowApprovals):
    """Each create starts its order at once, but its answer never comes before Ctrl-C."""

    async def create_order(self, *, order_id: str, **order: Any) -> None:
        self.states[order_id] = "AWAITING_APPROVAL"
        await asyncio.Event().wait()


async def test_a_simulation_stopped_leaves_bars_that_agree_with_its_summary(monkeypatch: pytest.MonkeyPatch):
    """Stopped before the first poll, the frozen bars said "created 0/40" above a summary of
    "40 of 40 orders created", followed by "40 of them are not reviewed yet: 40 were not sent
    (Approve / reject)"."""
    from app.tui import simulate

    _simulation_answers(monkeypatch, ["40", True], poll_s=3600)  # Ctrl-C comes before the first poll
    service = _CreatesCutOff()
    out = io.StringIO()
    screen = asyncio.create_task(simulate.simulate_orders(service, Console(file=out, width=120)))
    await _until(lambda: len(service.states) >= simulation.CONCURRENCY)  # the others wait for a slot
    screen.cancel()  # what Ctrl-C does to the screen
    await _ended(screen, 10)
    started_bar = next(line for line in out.getvalue().splitlines() if "started " in line and "━" in line)
    assert "10/40" in started_bar
    text = " ".join(out.getvalue().split())  # as the operator reads it, wrapped or not
    assert "Stopped waiting after" in text
    assert ": 10 of 40 orders started (" in text and "), 0 approved." in text
    assert "10 orders await review in the Approve / reject menu." in text
    assert "not sent" not in text
    assert text.count("AWAITING_APPROVAL 10") == 1  # once, in the summary, not also under the bars


@pytest.mark.parametrize(("auto_approve", "states", "sent", "approved", "expected"), [
    (True, {"s-1": "SHIPPED", "s-2": "SHIPPED"}, set(), 2, [
        "Done in 4.0 s: 2 of 2 orders started (s-1 … s-2), 2 approved.",
        "Ended 2: SHIPPED 2",
    ]),
    (False, {"s-1": "AWAITING_APPROVAL", "s-2": "AWAITING_APPROVAL"}, set(), 0, [
        "Done in 4.0 s: 2 of 2 orders started (s-1 … s-2).",
        "Still running 2: AWAITING_APPROVAL 2",
        "2 orders await review in the Approve / reject menu.",
    ]),
    (True, {"s-1": "AWAITING_APPROVAL", "s-2": "REJECTED"}, set(), 0, [
        "Done in 4.0 s: 2 of 2 orders started (s-1 … s-2), 0 approved.",
        "Ended 1: REJECTED 1",
        "Still running 1: AWAITING_APPROVAL 1",
        "1 order awaits review in the Approve / reject menu.",
    ]),
    (True, {"s-1": "AWAITING_APPROVAL", "s-2": "PAID"}, {"s-1"}, 1, [
        "Done in 4.0 s: 2 of 2 orders started (s-1 … s-2), 1 approved.",
        "Still running 2: AWAITING_APPROVAL 1  PAID 1",
        "1 approval was sent and may still take effect.",
    ]),
])
def test_a_simulation_sums_up_what_was_created_approved_and_is_left_to_review(auto_approve, states, sent, approved, expected):
    from app.tui.simulation import Simulation
    from app.tui.simulation_summary import summary_lines

    sim = Simulation(service=None, n=2, auto_approve=auto_approve)
    sim.created_ids = ["s-1", "s-2"]
    sim.states, sim.sent = states, sent
    sim.approved_ids = {f"answered-{n}" for n in range(approved)}  # orders of their own
    assert [line.plain for line in summary_lines(sim, 2, 4.0, stopped=False)] == expected


class _DatabaseHangs(_SlowApprovals):
    """PostgreSQL answers, then hangs (SIGSTOP) once ``hang`` is set: a read never answers, and
    its cancellation waits for the server too (asyncpg asks it to cancel the query)."""

    settings = SimpleNamespace(
        database_url_redacted="postgresql://postgres@127.0.0.1:5433/orders", database_remedy="start it"
    )

    def __init__(self) -> None:
        super().__init__()
        self.hang, self.hung_reads, self.released = False, 0, asyncio.Event()

    async def order_states(self, order_ids: list[str]) -> dict[str, str]:
        if self.hang:
            self.hung_reads += 1
            try:
                await self.released.wait()
            except asyncio.CancelledError:
                await self.released.wait()
                raise
        return await super().order_states(order_ids)


def _refreshes_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a simulation has refreshed its counts so far (one number, in a list)."""
    from app.tui import simulation

    refreshes = [0]
    refresh = simulation.Simulation.refresh

    async def counted(sim: Any, *args: Any, **kwargs: Any) -> None:
        refreshes[0] += 1
        await refresh(sim, *args, **kwargs)

    monkeypatch.setattr(simulation.Simulation, "refresh", counted)
    return refreshes


async def test_a_simulation_goes_on_and_stops_while_postgresql_hangs(monkeypatch):
    """With PostgreSQL stopped (SIGSTOP) the bars stood still with nothing said, and Ctrl-C,
    once or twice, left the TUI frozen until PostgreSQL was resumed: the screen waited for the
    read, then for its cancellation (an operator walkthrough)."""
    from app.tui import simulate, simulation

    _simulation_answers(monkeypatch, ["5", True], poll_s=0.01)  # the approvals never answer: the simulation goes on
    monkeypatch.setattr(simulation, "READ_WAIT_S", 0.05)
    refreshes = _refreshes_counted(monkeypatch)
    service = _DatabaseHangs()
    out = io.StringIO()
    screen = asyncio.create_task(simulate.simulate_orders(service, Console(file=out, width=200)))
    try:
        await _until(lambda: len(service.states) == 5)
        service.hang = True
        await _until(lambda: service.hung_reads >= 1)
        hung_at = refreshes[0]
        await _until(lambda: refreshes[0] >= hung_at + 3)  # several refreshes: no second read while the first hangs
        assert service.hung_reads == 1
        screen.cancel()  # what Ctrl-C does to the screen
        done, _ = await asyncio.wait({screen}, timeout=10)
        assert done, "the screen waited for PostgreSQL"
    finally:
        service.released.set()
    text = " ".join(out.getvalue().split())
    assert "Stopped waiting after" in text and ": 5 of 5 orders started (" in text
    assert (
        "PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders did not answer within 0.05 s:"
        " the counts above are those it gave last." in text
    )


class _DatabaseGoesAway(_SlowApprovals):
    """PostgreSQL refuses connections after the third create: the others cannot start (the
    payment id is reserved before the workflow starts)."""

    settings = _DatabaseHangs.settings

    async def create_order(self, *, order_id: str, **order: Any) -> None:
        if len(self.states) >= 3:
            raise ConnectionRefusedError(111, "Connect call failed")
        self.states[order_id] = "AWAITING_APPROVAL"


async def test_a_simulation_whose_database_goes_away_still_says_what_it_did(monkeypatch):
    """PostgreSQL refusing connections midway ended the screen with "PostgreSQL … is not
    answering" and no word of the orders it had started."""
    from app.tui import simulate

    _simulation_answers(monkeypatch, ["5", False], poll_s=0.01)
    out = io.StringIO()
    await asyncio.wait_for(simulate.simulate_orders(_DatabaseGoesAway(), Console(file=out, width=200)), 5)
    text = " ".join(out.getvalue().split())
    assert ": 3 of 5 orders started (" in text
    assert "2 could not start: PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders is not reachable" in text


async def test_a_simulation_whose_database_goes_away_says_the_tui_offers_to_start_it(monkeypatch):
    """Its remedy as the TUI says it (app.tui.sentences): "start the stack with ./start.sh up"."""
    from app.tui import simulate

    class _DatabaseGoesAwayHere(_DatabaseGoesAway):
        settings = SimpleNamespace(
            database_url_redacted="postgresql://postgres@127.0.0.1:5433/orders",
            database_remedy="start the stack with ./start.sh up",
        )

    _simulation_answers(monkeypatch, ["5", False], poll_s=0.01)
    out = io.StringIO()
    await asyncio.wait_for(simulate.simulate_orders(_DatabaseGoesAwayHere(), Console(file=out, width=200)), 5)
    text = " ".join(out.getvalue().split())
    assert (
        "2 could not start: PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders is not reachable; start the"
        " stack when the TUI offers to, or from another shell with ./start.sh up."
    ) in text, text


async def test_a_simulation_is_drawn_afresh_when_the_terminal_is_resized(monkeypatch):
    """Narrowed during a simulation, the terminal rewrapped the bars drawn for the old width and
    the redraw left pieces of them above the new ones ("⠏ started ━━━ 0/20 0:" / "00:00")."""
    from app.tui import simulate

    _simulation_answers(monkeypatch, ["5", True], poll_s=0.01)  # the approvals never answer: the simulation goes on
    refreshes = _refreshes_counted(monkeypatch)
    service = _SlowApprovals()
    out = io.StringIO()
    console = Console(file=out, width=100, height=24, force_terminal=True, color_system=None)
    screen = asyncio.create_task(simulate.simulate_orders(service, console))
    await _until(lambda: service.approvals_begun == 5)
    begun_at = refreshes[0]
    await _until(lambda: refreshes[0] >= begun_at + 3)
    assert "\x1b[2J" not in out.getvalue()  # not at every refresh
    console.width = 50
    await _until(lambda: "started" in out.getvalue().partition("\x1b[2J")[2])  # cleared, then drawn
    screen.cancel()
    await _ended(screen, 5)
    assert out.getvalue().count("\x1b[2J") == 1


class _ApprovalsTakeEffect(_SlowApprovals):
    """Each approval takes effect at once (the order moves on to PAID), but its answer never
    comes before Ctrl-C."""

    async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
        self.states[order_id] = "PAID"
        return await super().approve(order_id, by, on_sent)


async def _simulation_stopped(monkeypatch, service: Any, count: int, auto_approve: bool, stop_when) -> str:
    """The text a simulation of ``count`` orders prints when Ctrl-C comes once ``stop_when()``."""
    from app.tui import simulate

    _simulation_answers(monkeypatch, [str(count), auto_approve], poll_s=0.01)
    out = io.StringIO()
    screen = asyncio.create_task(simulate.simulate_orders(service, Console(file=out, width=200)))
    await _until(stop_when)
    screen.cancel()  # what Ctrl-C does to the screen
    await _ended(screen, 10)
    return " ".join(out.getvalue().split())  # as the operator reads it, wrapped or not


async def test_a_simulation_stopped_counts_the_approvals_that_took_effect_and_what_still_runs(monkeypatch):
    """Ctrl-C while approvals waited for their answer: the orders had moved on to PAID, and the
    summary said "0 approved", counted them neither as approved nor as pending, and did not say
    that all 12 were still running."""
    from app.tui import simulate

    service = _ApprovalsTakeEffect()
    text = await _simulation_stopped(
        monkeypatch, service, 12, True, lambda: service.approvals_begun >= simulation.CONCURRENCY
    )
    assert ": 12 of 12 orders started (" in text and "), 10 approved." in text
    assert "Still running 12: AWAITING_APPROVAL 2 PAID 10" in text
    assert "Ended" not in text
    assert "2 orders await review in the Approve / reject menu." in text
    assert "may still take effect" not in text


async def test_a_stopped_simulations_bars_keep_no_spinner(monkeypatch):
    """Stopped with Ctrl-C, the "settled" bar kept its spinner, frozen mid-turn ("⠇ settled
    ━━━ 0/10"), beside "Stopped waiting after 1.2 s": as if it still ran."""
    service = _ApprovalsTakeEffect()
    text = await _simulation_stopped(
        monkeypatch, service, 12, True, lambda: service.approvals_begun >= simulation.CONCURRENCY
    )
    assert "settled" in text and "Stopped waiting" in text
    assert not any("\u2800" <= ch <= "\u28ff" for ch in text), text  # Rich's spinners are Braille dots


class _ApprovalsStillChecked(_SlowApprovals):
    """Each approval is still in the checks before its Update (the order's row, whether its
    workflow task fails) when Ctrl-C comes: none is sent."""

    async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
        self.approvals_begun += 1
        await asyncio.Event().wait()
        return "approved"


async def test_a_simulation_stopped_before_its_approvals_were_sent_leaves_them_to_review(monkeypatch):
    """Ctrl-C a second into a simulation of 15: "5 orders await review in the Approve / reject
    menu; 10 approvals were sent and may still take effect". None had been sent (each was still
    in the checks before its Update) and all 15 stayed in review, 10 of them with nobody told to
    approve them (an operator walkthrough, h10)."""
    service = _ApprovalsStillChecked()
    text = await _simulation_stopped(
        monkeypatch, service, 12, True, lambda: service.approvals_begun >= simulation.CONCURRENCY
    )
    assert "Still running 12: AWAITING_APPROVAL 12" in text
    assert "12 orders await review in the Approve / reject menu." in text
    assert "may still take effect" not in text


class _RowsNotWritten(_SlowApprovals):
    """Every order starts, but only the first three get their row (no worker took the others
    up, or their ReceiveOrder did not commit)."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[str] = []

    async def create_order(self, *, order_id: str, **order: Any) -> None:
        self.created.append(order_id)
        if len(self.created) <= 3:
            self.states[order_id] = "AWAITING_APPROVAL"


async def test_a_simulation_does_not_say_that_orders_not_recorded_await_review_in_the_menu(monkeypatch):
    """"8 orders await review in the Approve / reject menu" of eight orders five of which had no
    row: the menu lists orders from the database, and offered three."""
    service = _RowsNotWritten()
    text = await _simulation_stopped(monkeypatch, service, 8, False, lambda: len(service.created) == 8)
    assert ": 8 of 8 orders started (" in text
    assert "Still running 3: AWAITING_APPROVAL 3" in text
    assert "3 orders await review in the Approve / reject menu." in text
    assert "5 orders started are not recorded in the database yet; Approve / reject lists them once" in text


async def test_an_order_whose_start_was_in_doubt_counts_once_when_its_row_appears():
    """A create that failed with "it may not have started" counted as could-not-start, and again
    as started once its row appeared: "2 of 2 orders created" and "1 could not start"."""
    from app.tui.simulation import Simulation
    from app.tui.simulation_summary import summary_lines

    class _Recorded:
        async def order_states(self, order_ids: list[str]) -> dict[str, str]:
            return {"s-1": "SHIPPED", "s-2": "SHIPPED"}

    sim = Simulation(service=_Recorded(), n=2, auto_approve=False)
    sim.order_ids = ["s-1", "s-2"]
    sim.created_ids = ["s-1"]
    sim.failed_to_start = {"s-2": "Temporal did not answer starting order s-2: it may not have started."}
    await sim.poll()
    assert sim.failed_to_start == {} and sim.settled == 2
    assert [line.plain for line in summary_lines(sim, 2, 4.0, stopped=False)] == [
        "Done in 4.0 s: 2 of 2 orders started (s-1 … s-2).", "Ended 2: SHIPPED 2",
    ]


async def test_an_approval_temporal_did_not_take_is_left_to_review_not_said_to_be_sent():
    """Temporal stopped (SIGSTOP) during a simulation: the approvals were not sent (Temporal was
    silent for the check before each), yet the summary said "20 approvals were sent and may still
    take effect", and the orders, resumed, sat in review with nobody told to approve them."""
    from app.errors import Unanswered
    from app.tui.simulation import Simulation
    from app.tui.simulation_summary import summary_lines

    class _Silent:
        """Silent for the check before each approval: the first ones say so after its 3 s, the
        ones sent again are cut off by the stop while they wait for it."""

        def __init__(self) -> None:
            self.asked: list[str] = []

        async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
            self.asked.append(order_id)
            if self.asked.count(order_id) > 1:
                await asyncio.Event().wait()
            raise Unanswered(order_id, "approve", False, 3.0, temporal="127.0.0.1:7233")

    sim = Simulation(service=_Silent(), n=2, auto_approve=True)
    sim.created_ids = ["s-1", "s-2"]
    sim.states = dict.fromkeys(sim.created_ids, "AWAITING_APPROVAL")
    await asyncio.gather(*(sim._approve(order_id) for order_id in sim.created_ids))
    again = [asyncio.ensure_future(sim._approve(order_id)) for order_id in sim.created_ids]
    await asyncio.sleep(0)  # both sent again, waiting for Temporal
    sim.stop()
    for task in again:
        task.cancel()
    await asyncio.gather(*again, return_exceptions=True)
    assert [line.plain for line in summary_lines(sim, 2, 4.0, stopped=True)][1:] == [
        "Still running 2: AWAITING_APPROVAL 2",
        "2 orders await review in the Approve / reject menu.",
    ]


def test_an_approval_answered_is_not_also_said_to_be_pending_while_the_rows_lag():
    """With PostgreSQL stopped the rows still said AWAITING_APPROVAL, and the summary read "17
    approved" and "17 approvals were sent and may still take effect" of the same orders."""
    from app.tui.simulation import Simulation
    from app.tui.simulation_summary import summary_lines

    sim = Simulation(service=None, n=3, auto_approve=True)
    sim.created_ids = ["s-1", "s-2", "s-3"]
    sim.states = dict.fromkeys(sim.created_ids, "AWAITING_APPROVAL")
    sim.sent, sim.answered, sim.approved_ids = {"s-1", "s-2"}, {"s-1"}, {"s-1"}
    assert [line.plain for line in summary_lines(sim, 3, 4.0, stopped=True)][::2] == [
        "Stopped waiting after 4.0 s: 3 of 3 orders started (s-1 … s-3), 1 approved.",
        "1 order awaits review in the Approve / reject menu; 1 approval was sent and may still take effect.",
    ]


def test_keys_typed_while_a_screen_waits_are_not_echoed_and_the_terminal_is_restored():
    """An arrow typed during the 20 s wait printed ^[[B, and each Enter during a simulation left
    a copy of its progress bar behind; the dashboard already turned echo off."""
    import os
    import pty
    import termios

    from app.tui.prompts import keys_not_echoed

    leader, follower = pty.openpty()
    try:
        assert termios.tcgetattr(follower)[3] & termios.ECHO
        with keys_not_echoed(follower):
            assert not termios.tcgetattr(follower)[3] & termios.ECHO
            assert termios.tcgetattr(follower)[3] & termios.ISIG  # Ctrl-C still interrupts
        assert termios.tcgetattr(follower)[3] & termios.ECHO
        with pytest.raises(RuntimeError), keys_not_echoed(follower):
            raise RuntimeError("a screen that fails")
        assert termios.tcgetattr(follower)[3] & termios.ECHO
    finally:
        os.close(leader)
        os.close(follower)


def test_the_cancel_question_says_what_happens_to_the_money_as_the_order_stands():
    """It said "A paid order is refunded" of an order awaiting review, and "Its payment of 39.98 is
    refunded." before the operator had answered: it is asked before the cancel, so it says what will
    happen if confirmed."""
    from app.tui.actions import cancel_question

    charged = {"state": "PACKED", "amount": "17.98", "payment": {"status": "CHARGED"}}  # as order_summary gives it
    assert cancel_question("o-1", charged) == "Cancel order o-1? Its payment of 17.98 will be refunded."
    approved = {"state": "APPROVED", "payment": {"status": "PENDING"}}
    assert cancel_question("o-1", approved) == "Cancel order o-1? If its charge is under way, it will be refunded."
    waiting = {"state": "AWAITING_APPROVAL", "payment": {"status": "PENDING"}}
    assert cancel_question("o-1", waiting) == "Cancel order o-1? It has not been charged."


@pytest.mark.parametrize(("detail", "offered"), [
    ("stopped (SIGSTOP): not serving order-tq; kill -CONT 4242 resumes it", False),
    ("no worker polling order-tq", True),
])
async def test_the_tui_offers_to_start_what_is_down_but_not_a_stopped_process(monkeypatch, detail, offered):
    """It offered "Start what is down?" for a worker stopped with SIGSTOP, which `up` refuses."""
    from app.stack.status import PartStatus, StackStatus

    status = StackStatus(
        [PartStatus("order-worker", healthy=False, detail=detail, local=True)],
        "127.0.0.1:7233", None, "postgresql://postgres@127.0.0.1:5433/orders",
    )

    asked, said = await _health_with(monkeypatch, status)
    assert bool(asked) is offered
    assert ("Starting cannot help a stopped process" in said) is not offered


async def test_the_tui_does_not_offer_to_start_a_temporal_that_refuses_the_credentials(monkeypatch):
    """Temporal answered and refused the credentials (a wrong TEMPORAL_API_KEY): `status` no
    longer advises `up` for it, but the TUI still asked "Start what is down?", and a yes failed at
    once with `up`'s own sentence. Neither starting nor waiting mends credentials."""
    from app.stack.status import PartStatus, StackStatus

    parts = [
        PartStatus(
            "temporal", healthy=False, local=False,
            detail="answered at temporal.example:7233 and refused the credentials (permission denied: Request"
            " unauthorized.); check TEMPORAL_API_KEY or the certificate, or the profile in Temporal's configuration",
        ),
        PartStatus("postgres", healthy=True, detail="accepting queries", local=True),
        PartStatus("order-worker", healthy=False, detail="not known: Temporal refused the credentials", local=True),
    ]
    status = StackStatus(parts, "temporal.example:7233", None, "postgresql://postgres@127.0.0.1:5433/orders")

    asked, said = await _health_with(monkeypatch, status)
    assert not asked
    assert "Starting cannot mend refused credentials; fix them as said above." in said


@pytest.mark.parametrize(("postgres_detail", "offered"), [(None, False), ("no answer at postgresql://x (refused)", True)])
async def test_the_tui_does_not_offer_to_start_workers_down_only_because_temporal_is_stopped(
    monkeypatch, postgres_detail, offered
):
    """With Temporal stopped (SIGSTOP) the workers read as down too ("Temporal is not
    answering"), and the TUI asked "Start what is down?", which `up` then refused (an operator
    walkthrough). PostgreSQL down as well is still worth starting."""
    from app.stack.status import PartStatus, StackStatus

    parts = [
        PartStatus("temporal", healthy=False, detail="stopped (SIGSTOP); kill -CONT 4242 resumes it", local=True),
        PartStatus("postgres", healthy=postgres_detail is None, detail=postgres_detail or "accepting queries", local=True),
        PartStatus("order-worker", healthy=False, detail="Temporal is not answering", local=True),
        PartStatus("shipping-worker", healthy=False, detail="Temporal is not answering", local=True),
    ]
    status = StackStatus(parts, "127.0.0.1:7233", None, "postgresql://postgres@127.0.0.1:5433/orders")

    asked, said = await _health_with(monkeypatch, status)
    assert bool(asked) is offered
    assert ("Starting cannot help a stopped process" in said) is not offered


@pytest.mark.parametrize(("name", "detail", "opens"), [
    ("shipping-worker", "stopped (SIGSTOP): not serving shipping-tq; kill -CONT 4242 resumes it", True),
    ("shipping-worker", "no worker polling shipping-tq", False),
    # A stopped server: no screen could answer, so `./start.sh` says kill -CONT and exits 3 (docs/tui.md).
    ("temporal", "stopped (SIGSTOP); kill -CONT 4242 resumes it", False),
    ("postgres", "stopped (SIGSTOP); kill -CONT 4242 resumes it", False),
])
async def test_the_tui_opens_with_a_worker_only_stopped_and_not_with_one_that_failed(monkeypatch, name, detail, opens):
    """`./start.sh` exited 3 while a worker was stopped with SIGSTOP, though inside the TUI that
    is shown on the health line with how to resume it."""
    from app.stack.status import PartStatus, StackStatus
    from app.stack_cli import StackFailed
    from app.tui import app as tui_app

    class _Opened(Exception):
        pass

    async def ensure_up(console):
        raise StackFailed("The shipping worker is not healthy.")

    class _Stack:
        async def status(self) -> StackStatus:
            part = PartStatus(name, healthy=False, detail=detail, local=True)
            return StackStatus([part], "127.0.0.1:7233", None, "postgresql://postgres@127.0.0.1:5433/orders")

    async def connect(*args, **kwargs):
        raise _Opened()

    monkeypatch.setattr(tui_app, "ensure_up", ensure_up)
    monkeypatch.setattr(tui_app, "Stack", _Stack)
    monkeypatch.setattr(tui_app.OrderService, "connect", staticmethod(connect))
    with pytest.raises(_Opened if opens else StackFailed):
        await tui_app.Tui(Console(file=io.StringIO(), width=80)).run()


class _BusyStack(_SlowApprovals):
    """Others create orders meanwhile (an operator, the API, a bench): the newest page of the
    list holds none of the simulation's orders."""

    async def list_orders(self, limit: int) -> list[dict]:
        return [{"order_id": f"other-{i}", "state": "AWAITING_APPROVAL"} for i in range(limit)]


async def test_a_simulation_follows_its_orders_while_others_create_orders_too():
    """The screen read the newest N+200 orders: with more created meanwhile by anyone else,
    its own fell off that page, and it showed "settled 0/20, PAID 20" for ever (and in its
    summary) while they had shipped."""
    from app.tui.simulation import Simulation

    service = _BusyStack()
    sim = Simulation(service=service, n=3, auto_approve=False)
    for order_id in sim.order_ids:
        service.states[order_id] = "SHIPPED"
    await sim.poll()
    assert sim.states == {order_id: "SHIPPED" for order_id in sim.order_ids}
    assert sim.settled == 3


def test_orders_not_at_review_yet_count_as_not_reviewed_when_a_simulation_stops():
    """It counted only AWAITING_APPROVAL: orders still RECEIVED, or not yet recorded, were left
    out, and then sat awaiting review with no approval coming. Those not recorded are said
    apart: Approve / reject does not list them yet."""
    from app.tui.simulation import Simulation

    sim = Simulation(service=None, n=5, auto_approve=True)
    sim.created_ids = ["s-1", "s-2", "s-3", "s-4", "s-5"]
    sim.states = {"s-1": "AWAITING_APPROVAL", "s-2": "RECEIVED", "s-3": "PAID", "s-4": "SHIPPED"}  # s-5 not recorded
    assert sim.awaiting_review() == ["s-1", "s-2"]
    assert sim.not_recorded == ["s-5"]


def _fits_a_confirm(lines: list[str], width: int) -> bool:
    """Whether a confirm's lines, with "? " before the first and " (Y/n) " after the last, leave
    the terminal's last column free (questionary draws nothing around the others)."""
    from rich.cells import cell_len

    drawn = [f"? {lines[0]}", *lines[1:]]
    drawn[-1] += " (Y/n) "
    return all(cell_len(line) < width for line in drawn)


def test_a_long_confirm_question_is_broken_between_words_to_fit_80_columns():
    """'…That Goes On, Berli' / 'n, 10115, DE? (Y/n)': the terminal broke the word."""
    from app.tui.question_line import fitted

    question = "Ship order ord-8e02e5b8 to Ann Example, 1 Long Street Name That Goes On, Berlin, 10115, DE?"
    lines = fitted(question, 80).splitlines()
    assert len(lines) == 2 and _fits_a_confirm(lines, 80)
    assert " ".join(lines) == question  # every word whole, in order


def test_a_confirm_question_with_an_id_longer_than_its_line_shows_the_whole_id():
    """At 60 columns "Reject order customer-…-order-0022? This cannot be undone." showed the id
    without its end: a line of the question wider than the terminal is cut, not wrapped."""
    from app.tui.question_line import fitted

    question = f"Reject order {LONG_IDS[0]}? This cannot be undone."
    lines = fitted(question, 60).splitlines()
    assert _fits_a_confirm(lines, 60)
    assert "".join(lines).replace(" ", "") == question.replace(" ", "")  # every character, in order
    assert lines[0] == "Reject order"  # broken between words where it can


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120])
def test_a_confirm_question_with_wide_characters_fits_the_terminal_in_cells(width):
    """A Japanese address (two cells a character) or one with emoji made lines of up to 122
    cells at 100 columns: the question was broken by characters, and a line wider than the
    terminal is cut (the test above)."""
    from rich.cells import cell_len

    from app.tui.question_line import fitted

    question = (
        "Ship order ord-12345678 to 山田太郎 🎉🎉🎉, 東京都千代田区丸の内一丁目九番二号 グラントウキョウサウスタワー 🏢🏢,"
        " 東京 🌆, 100-0005, JP?"
    )
    lines = fitted(question, width).splitlines()
    assert _fits_a_confirm(lines, width), [cell_len(line) for line in lines]
    assert "".join(lines).replace(" ", "") == question.replace(" ", "")  # every character, in order
    assert lines[0].startswith("Ship order ord-12345678 to")


class _CreatesQueueUp:
    """Creates that take a while, each order awaiting review as soon as it is created."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.approved: list[str] = []
        self.release = asyncio.Event()

    async def create_order(self, *, order_id: str, **order) -> None:
        self.states[order_id] = "AWAITING_APPROVAL"
        if len(self.states) > 10:  # the first slots' worth gets through; the rest waits
            await self.release.wait()

    async def order_states(self, order_ids: list[str]) -> dict[str, str]:
        return {order_id: self.states[order_id] for order_id in order_ids if order_id in self.states}

    async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
        self.approved.append(order_id)
        self.states[order_id] = "APPROVED"
        return f"Order {order_id} approved."


async def _ended(screen: asyncio.Task, timeout: float) -> None:
    """Wait for a screen given Ctrl-C to end by itself (a generous ``timeout``: it takes well
    under a second). Not wait_for: its cancel at the timeout is Ctrl-C again, which gives the
    summary at once, so a screen that would never have ended passed anyway."""
    await asyncio.wait({screen}, timeout=timeout)
    if not screen.done():
        screen.cancel()
        raise AssertionError(f"the screen did not end within {timeout:g} s of Ctrl-C")
    await screen


async def _until(condition, what: str = "", timeout: float = 5.0, screen: asyncio.Task | None = None) -> None:
    """Wait for ``condition`` (what a screen drew, say), else fail saying that ``what`` did not
    happen within ``timeout`` s (without ``what``: the condition's line), or that ``screen``
    ended before it, and how. A loop counted in sleeps ran on after a miss, to fail later on
    what it had stood for ("DID NOT RAISE", a page of screen text)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        code = getattr(condition, "__code__", None)
        what = what or (f"the condition at {Path(code.co_filename).name}:{code.co_firstlineno}" if code else repr(condition))
        if screen is not None and screen.done():
            how = "cancelled" if screen.cancelled() else repr(screen.exception()) if screen.exception() else "returned"
            raise AssertionError(f"the screen ended ({how}) before {what}")
        if loop.time() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.01)


async def test_a_simulation_approves_orders_while_others_are_still_being_created():
    """'Approve each as soon as it awaits review' did not: approvals queued for the same slots
    as the creates, behind all of them (a review saw 107/300 created, 47 awaiting, 0 approved)."""
    from app.tui.simulation import CONCURRENCY, Simulation

    service = _CreatesQueueUp()
    sim = Simulation(service=service, n=50, auto_approve=True)
    creating = asyncio.create_task(sim.create_all(products=[SimpleNamespace(sku="WIDGET-1")]))
    await _until(lambda: len(service.states) > CONCURRENCY)
    await sim.poll()
    await _until(lambda: len(service.approved) >= CONCURRENCY)
    assert not creating.done()  # approved while creates still waited for their turn
    service.release.set()
    await creating


async def test_ctrl_c_is_pythons_again_once_the_tui_stops_watching_it():
    import signal

    prompts.watch_sigint()
    assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    prompts.stop_watching_sigint()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _DatabaseDown:
    """Temporal answers; PostgreSQL refuses connections, or (hung) never answers."""

    def __init__(self, tmp_path: Path, hung: bool = False) -> None:
        from app.config import Settings

        self.settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
        self.hung, self.sent = hung, []

    async def _database(self) -> Any:
        if self.hung:
            await asyncio.Event().wait()
        raise ConnectionRefusedError(111, "Connect call failed")

    async def list_orders(self, **_kwargs: Any) -> list[dict]:
        return await self._database()

    async def newest_orders(self, states: list[str], limit: int) -> list[dict]:  # a picker's: as the list
        return await self.list_orders()

    async def status(self, order_id: str) -> dict:
        return await self._database()

    async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
        self.sent.append(("approve", order_id))
        return f"Order {order_id} approved."

    async def cancel(self, order_id: str, reason: str, by: str, on_sent: Any = None) -> str:
        self.sent.append(("cancel", order_id))
        return f"Order {order_id} cancelled."


@pytest.mark.parametrize("hung", [False, True])
async def test_with_postgresql_down_the_operators_commands_take_a_typed_id(tmp_path, monkeypatch, hung):
    """The TUI went back to the menu at once ("PostgreSQL ... is not answering"), or, with
    PostgreSQL stopped, showed nothing for a minute and then "something unexpected", while the
    command line sends these to Temporal (an operator walkthrough)."""
    from app.tui import actions, reads

    monkeypatch.setattr(reads, "DATABASE_WAIT_S", 0.05)
    questions: list[str] = []
    answers = iter(["o-7", "approve", "o-8", "", True])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    def fitted(question: str, width: int) -> str:
        questions.append(question)
        return question

    monkeypatch.setattr(actions, "ask", ask)
    monkeypatch.setattr(actions, "fitted", fitted)
    service, out = _DatabaseDown(tmp_path, hung), io.StringIO()
    console = Console(file=out, width=200)
    await actions.approve_or_reject(service, console)
    await actions.cancel_order(service, console)
    assert service.sent == [("approve", "o-7"), ("cancel", "o-8")]
    said = " ".join(out.getvalue().split())
    listing = "did not answer within 0.05 s" if hung else "is not reachable"
    assert said.count(f"{listing}, so the orders cannot be listed; type the order's id.") == 2
    # "Order o-7 approved." alone read as if the order had gone on (the command line says this too).
    assert said.count("The order carries out what it is sent once PostgreSQL answers again.") == 2
    looked_up = (
        "Order o-8 could not be looked up within 0.1 s; the workflow decides." if hung
        else "is not reachable, so order o-8 cannot be looked up; the workflow decides."
    )
    assert looked_up in said
    assert "Order o-7 approved." in said and "Order o-8 cancelled." in said
    assert questions == ["Cancel order o-8? If it has been charged, it will be refunded."]


async def test_an_audit_picked_from_the_list_names_its_order_once(monkeypatch):
    """At 160 columns "Order op-7  AWAITING_APPROVAL", the line the pick list leaves for the order
    picked, stood right above the audit's own first line, the same words."""
    from app.tui import actions

    now = datetime.now(timezone.utc).isoformat()

    class _Service:
        async def list_orders(self, **_kwargs: Any) -> list[dict]:
            return [{"order_id": "op-7", "state": "AWAITING_APPROVAL", "created_at": now, "amount": "17.98"}]

        async def audit(self, order_id: str) -> dict:
            order = {"order_id": order_id, "state": "AWAITING_APPROVAL", "step": "awaiting review", "retries": 0,
                     "last_error": None, "processing_seconds": 0.2, "created_at": now}
            return {"order": order, "timeline": [], "web_ui_url": None}

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return "op-7"

    async def pause(message: str = "") -> None:
        pass

    monkeypatch.setattr(actions, "ask", ask)
    monkeypatch.setattr(actions, "pause", pause)
    out = io.StringIO()
    await actions.audit_log(_Service(), Console(file=out, width=160, height=40))
    lines = [line for line in out.getvalue().splitlines() if "op-7" in line]
    assert lines == ["Order op-7  AWAITING_APPROVAL"], out.getvalue()


@pytest.mark.parametrize("screen", ["create", "simulate", "audit"])
async def test_a_screen_that_needs_postgresql_says_so_when_it_hangs_and_does_not_freeze(tmp_path, monkeypatch, screen):
    """With PostgreSQL stopped (SIGSTOP), Create order showed nothing after "? What next? Create
    order", and Ctrl-C did not bring the menu back until PostgreSQL was resumed (the screen
    waited for the read, then for its cancellation); Simulate did the same, and the Audit log
    asked for an id only to say so after another wait (an operator walkthrough)."""
    from app.errors import StackUnreachable
    from app.tui import actions, forms, reads, simulate

    monkeypatch.setattr(reads, "DATABASE_WAIT_S", 0.05)
    service = _DatabaseDown(tmp_path, hung=True)
    service.catalog = service.audit = lambda *args: service._database()
    answers = iter({"create": [], "simulate": ["5", True], "audit": []}[screen])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    for module in (forms, simulate, actions):
        monkeypatch.setattr(module, "ask", ask)
    console = Console(file=io.StringIO(), width=200)
    running = {
        "create": lambda: forms.create_order(service, console, {}),
        "simulate": lambda: simulate.simulate_orders(service, console),
        "audit": lambda: actions.audit_log(service, console),
    }[screen]()
    with pytest.raises(StackUnreachable) as refused:
        await asyncio.wait_for(running, 10)
    what = {"create": "no order can be created", "simulate": "no order can be simulated",
            "audit": "no audit log can be read"}[screen]  # an id typed would only be refused in turn
    assert str(refused.value) == (
        f"PostgreSQL at {service.settings.database_url_redacted} did not answer within 0.05 s, so {what} now;"
        " see the health line."
    )


async def test_an_address_change_with_postgresql_down_does_not_show_a_blank_current_address(tmp_path, monkeypatch):
    """With PostgreSQL stopped, Update address printed "Current address:" followed by nothing,
    as if the order had no address (an operator walkthrough)."""
    from app.tui import actions, reads
    from workflows.model import Address

    monkeypatch.setattr(reads, "DATABASE_WAIT_S", 0.05)
    answers = iter(["o-7", True])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    async def address_form(default: Any) -> Address:
        return Address(name="Bo", street="2 Side St", city="Paris", postal_code="75001", country="FR")

    async def update_address(order_id: str, address: Any, by: str, on_sent: Any = None) -> str:
        return f"Address of order {order_id} updated."

    monkeypatch.setattr(actions, "ask", ask)
    monkeypatch.setattr(actions, "address_form", address_form)
    service, out = _DatabaseDown(tmp_path), io.StringIO()
    service.update_address = update_address
    await actions.update_address(service, Console(file=out, width=200))
    said = out.getvalue()
    assert "cannot be looked up; the workflow decides." in said
    assert "Current address" not in said
    assert "Address of order o-7 updated." in said


async def test_an_address_change_to_the_same_address_is_refused_before_the_confirmation(monkeypatch):
    """"Ship order … to <the address it has>? Yes", and only then "Order … already ships to that
    address." (an operator walkthrough): the screen knows the order's address."""
    from app.tui import actions
    from workflows.model import Address

    current = {"name": "Ann", "street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US",
               "region": ""}
    asked: list[str] = []

    class _Service:
        async def status(self, order_id: str) -> dict:
            return {"state": "AWAITING_APPROVAL", "address": current}

        async def update_address(self, *args: Any, **kwargs: Any) -> str:
            raise AssertionError("nothing to send")

    async def pick_order(*args: Any, **kwargs: Any) -> str:
        return "o-1"

    async def address_form(default: Any) -> Address:
        return Address(**{**default, "country": "us", "city": " Springfield "})  # the same, as typed

    async def confirmed(console: Any, question: str, *, default: bool) -> bool:
        asked.append(question)
        return True

    monkeypatch.setattr(actions, "pick_order", pick_order)
    monkeypatch.setattr(actions, "address_form", address_form)
    monkeypatch.setattr(actions, "confirmed", confirmed)
    out = io.StringIO()
    await actions.update_address(_Service(), Console(file=out, width=200))
    assert asked == []
    assert "Order o-1 already ships to that address; nothing was changed." in out.getvalue()


def test_a_reason_is_checked_as_it_is_typed_not_after_the_confirmation():
    """A 600-character reason was taken, "Reject order ...? This cannot be undone." answered
    yes, and only then refused: "The reason is longer than 500 characters." (an operator
    walkthrough)."""
    from app import checks
    from app.tui.actions import reason_check

    reject, cancel = reason_check(checks.reject, "o-1"), reason_check(checks.cancel, "o-1")
    assert reject("word " * 120) == "The reason is longer than 500 characters."
    assert cancel("word " * 120) == "The reason is longer than 500 characters."
    assert reject("  ") == "A rejection needs a reason."
    assert cancel("") is True and cancel("changed my mind") is True and reject("fraud") is True


@pytest.mark.parametrize("same, created", [(False, True), (True, True), (False, False)])
async def test_the_last_orders_address_is_offered_not_filled_in_unasked(monkeypatch, same, created):
    """Six Enters shipped a new order to the last customer (an operator walkthrough); and an
    order not created was remembered all the same."""
    from app.tui import forms
    from workflows.model import Address

    last = {"name": "Ann", "street": "1 Main St", "city": "Springfield", "region": "", "postal_code": "12345", "country": "US"}
    typed = Address(name="Bo", street="2 Side St", city="Paris", postal_code="75001", country="FR")
    answers = iter(["o-9", ["WIDGET-1"], "1", same, created])
    asked: list[Any] = []

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    async def address_form(default: Any) -> Address:
        asked.append(default)
        return typed

    monkeypatch.setattr(forms, "ask", ask)
    monkeypatch.setattr(forms, "address_form", address_form)
    remembered = {"address": last}
    await forms.create_order(_ServiceWithoutOrderWorker(), Console(file=io.StringIO(), width=120), remembered)
    assert asked == [last if same else None]
    assert remembered["address"] == (typed.__dict__ if created else last)


async def test_a_screen_waits_for_the_database_but_not_for_its_cancellation():
    """asyncpg's cancel of a query asks the server, which a SIGSTOP keeps from answering: with
    asyncio.wait_for the dashboard froze ~30 s past its 3 s (an operator walkthrough)."""
    from app.waiting import within

    released, cancelling, ended = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_to_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelling.set()
            await released.wait()  # the cancel waits for a server that does not answer
            raise
        finally:
            ended.set()

    with pytest.raises(asyncio.TimeoutError):
        await within(slow_to_cancel(), 0.05)
    await cancelling.wait()
    assert not ended.is_set()  # given up on while its cancel is still under way
    released.set()  # it ends by itself, its error retrieved
    await ended.wait()
    assert await within(asyncio.sleep(0, result="read"), 1.0) == "read"


async def test_the_last_address_question_is_broken_between_words_to_fit_80_columns(monkeypatch):
    """'…Hohenzollern-Sigmar' / 'ingen, …, Frankfur' / 't am Main': the terminal broke the words of
    a long last address (an operator walkthrough at 80x24); every other confirm is fitted."""
    from app.tui import forms

    last = {"name": "Maximilian Alexander von Hohenzollern-Sigmaringen", "street": "Königin-Elisabeth-Straße 123, Hinterhaus",
            "city": "Frankfurt am Main", "region": "Hessen", "postal_code": "60311", "country": "DE"}
    asked: list[str] = []

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return False

    def confirm(message: str, **options: Any) -> str:
        asked.append(message)
        return message

    monkeypatch.setattr(forms, "ask", ask)
    monkeypatch.setattr(forms.questionary, "confirm", confirm)
    assert await forms.same_address_as_last(last, 80) is None
    lines = asked[0].splitlines()
    assert len(lines) > 1 and _fits_a_confirm(lines, 80)
    assert " ".join(lines) == f"Ship to the last order's address ({forms.address_line(last)})?"


async def _health_with(monkeypatch, status) -> tuple[list, str]:
    """The TUI's health check on this stack status: the questions it asked (each answered no)
    and what it printed."""
    from app.tui import app as tui_app

    class _Stack:
        async def status(self):
            return status

    asked = []

    async def ask(question, **_):
        asked.append(question)
        return False

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    monkeypatch.setattr(tui_app, "ask", ask)
    out = io.StringIO()
    await tui_app.Tui(Console(file=out, width=100)).health()
    return asked, out.getvalue()


@pytest.mark.parametrize(("width", "height", "lines"), [(40, 12, 1), (60, 14, 1), (80, 24, 2), (120, 40, 1)])
async def test_a_short_terminal_keeps_the_health_line_to_one_line_so_the_last_answer_stays_in_view(
    monkeypatch, width, height, lines
):
    """At 40x12 the health line (three lines) and the menu (nine) filled the terminal: the
    answer of the screen just left ("Order o-12 approved.", "… is now AWAITING_APPROVAL") was
    pushed out of view as soon as it was given (an operator walkthrough)."""
    from app.stack.status import PartStatus, StackStatus
    from app.tui import app as tui_app

    parts = [PartStatus(name, healthy=True, detail="ok", local=True)
             for name in ("temporal", "postgres", "order-worker", "shipping-worker")]
    status = StackStatus(parts, "127.0.0.1:7233", "http://127.0.0.1:8233", "postgresql://postgres@127.0.0.1:5433/orders")

    class _Stack:
        async def status(self):
            return status

    async def ensure_up(console: Console) -> StackStatus:  # "Start what is down?" answered yes
        return status

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    monkeypatch.setattr(tui_app, "ensure_up", ensure_up)
    for screen in ("health", "start_stack"):
        out = io.StringIO()
        await getattr(tui_app.Tui(Console(file=out, width=width, height=height)), screen)()
        shown = out.getvalue().splitlines()
        assert len(shown) == lines, (screen, shown)
        assert "✓" in shown[0] and all(len(line) <= width for line in shown)
        assert (lines == 1 and height < 20) == ("Web UI" not in out.getvalue()), shown


async def test_keys_typed_while_the_health_line_is_read_are_not_echoed(monkeypatch):
    """With Temporal stopped the health line above the menu took seconds to read, and a Ctrl-C
    typed meanwhile printed "^C" before "Back to the menu." (an arrow, "^[[B")."""
    import contextlib

    from app.stack.status import PartStatus, StackStatus
    from app.tui import app as tui_app

    parts = [PartStatus(name, healthy=True, detail="ok", local=True)
             for name in ("temporal", "postgres", "order-worker", "shipping-worker")]
    status = StackStatus(parts, "127.0.0.1:7233", "http://127.0.0.1:8233", "postgresql://postgres@127.0.0.1:5433/orders")
    quiet: list[bool] = []
    read_quietly: list[bool] = []

    @contextlib.contextmanager
    def keys_not_echoed() -> Any:
        quiet.append(True)
        try:
            yield
        finally:
            quiet.pop()

    class _Stack:
        async def status(self) -> StackStatus:
            read_quietly.append(bool(quiet))
            return status

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    monkeypatch.setattr(tui_app, "keys_not_echoed", keys_not_echoed)
    await tui_app.Tui(Console(file=io.StringIO(), width=80, height=24)).health()
    assert read_quietly == [True]


@pytest.mark.parametrize(("width", "height", "again"), [(40, 12, 1), (80, 24, 4)])
async def test_a_short_terminal_says_what_is_down_once_not_at_every_return_to_the_menu(
    monkeypatch, width, height, again
):
    """At 40x12 with the order worker stopped, "order worker is down: …" (three lines) and
    "Starting cannot help a stopped process" (two) were printed above the menu after every
    screen, and pushed its answer ("… the approval may still take effect once one does") out of
    view. In a short terminal the one-line summary stands for them until what is down changes."""
    from app.stack.status import PartStatus, StackStatus
    from app.tui import app as tui_app

    def stack(detail: str) -> StackStatus:
        parts = [PartStatus(name, healthy=True, detail="ok", local=True) for name in ("temporal", "postgres", "shipping-worker")]
        parts.append(PartStatus("order-worker", healthy=False, detail=detail, local=True))
        return StackStatus(parts, "127.0.0.1:7233", None, "postgresql://postgres@127.0.0.1:5433/orders")

    stopped = stack("stopped (SIGSTOP): not serving order-tq; kill -CONT 4242 resumes it")
    statuses = iter([stopped, stopped, stack("stopped (SIGSTOP): not serving order-tq; kill -CONT 4343 resumes it")])

    class _Stack:
        async def status(self):
            return next(statuses)

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    out = io.StringIO()
    tui = tui_app.Tui(Console(file=out, width=width, height=height))
    said = []
    for _ in range(3):
        await tui.health()
        said.append(out.getvalue().splitlines())
        out.seek(0), out.truncate()
    assert "kill -CONT 4242" in " ".join(said[0]) and "Starting cannot help" in " ".join(said[0]), said
    assert len(said[1]) == again and "order worker stopped" in said[1][0], said
    assert "kill -CONT 4343" in " ".join(said[2]), said  # what is down changed: said again


def _form_answers(monkeypatch, answers: list) -> None:
    """The create form answered in turn from ``answers``, with a fixed address."""
    from app.tui import forms
    from workflows.model import Address

    given = iter(answers)

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(given)

    async def address_form(remembered: Any) -> Address:
        return Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")

    monkeypatch.setattr(forms, "ask", ask)
    monkeypatch.setattr(forms, "address_form", address_form)


class _TemporalStops(_SlowApprovals):
    """Temporal answers the first health check, then stops (SIGSTOP): a start never returns and
    the health check gets no answer (order_worker_running: None)."""

    settings = SimpleNamespace(temporal_address="127.0.0.1:7233", database_url_redacted="postgresql://x")

    def __init__(self, answers_first: bool = True) -> None:
        super().__init__()
        self.answers = answers_first
        self.creates_begun = 0

    async def order_worker_running(self) -> bool | None:
        return True if self.answers else None

    async def temporal_found_down(self) -> bool:
        return False  # stopped: it leaves calls unanswered, it does not refuse them

    async def create_order(self, *, order_id: str, **order: Any) -> None:
        self.creates_begun += 1
        self.answers = False
        await asyncio.Event().wait()


async def test_a_simulation_says_within_seconds_that_temporal_is_not_answering_and_ends(monkeypatch):
    """With Temporal stopped the bars sat at 0 for ~30 s with nothing said, then counted ten
    orders "settled" that had not started, ten every 30 s (an operator walkthrough)."""
    from app.tui import simulate

    _simulation_answers(monkeypatch, ["50", True], poll_s=0.01)
    monkeypatch.setattr(simulate, "STALL_S", 0.05)
    service = _TemporalStops()
    out = io.StringIO()
    await asyncio.wait_for(simulate.simulate_orders(service, Console(file=out, width=200)), 5)
    text = " ".join(out.getvalue().split())
    assert "Temporal at 127.0.0.1:7233 is not answering, so the simulation stopped; see the health line." in text
    assert service.creates_begun == simulation.CONCURRENCY  # no more were sent
    assert "10 creates were cut off by the stop and may have started." in text


async def test_a_simulation_says_temporal_is_not_reachable_when_it_went_down(monkeypatch):
    """Killed rather than stopped, it said "is not answering" too, where a command says "is not
    reachable" of the same stack."""
    from app.tui import simulate

    class _TemporalGoesDown(_TemporalStops):
        async def temporal_found_down(self) -> bool:
            return True

    _simulation_answers(monkeypatch, ["50", True], poll_s=0.01)
    monkeypatch.setattr(simulate, "STALL_S", 0.05)
    out = io.StringIO()
    await asyncio.wait_for(simulate.simulate_orders(_TemporalGoesDown(), Console(file=out, width=200)), 5)
    assert "Temporal at 127.0.0.1:7233 is not reachable, so the simulation stopped; see the health line." in " ".join(
        out.getvalue().split()
    )


async def test_a_simulation_with_temporal_not_answering_says_so_before_its_questions(monkeypatch):
    from app.errors import StackUnreachable
    from app.tui import simulate

    _simulation_answers(monkeypatch, [], poll_s=0.01)  # a question asked would fail: none is left
    with pytest.raises(StackUnreachable, match=r"^Temporal at 127.0.0.1:7233 is not answering, so no order can be"
                       r" simulated now; see the health line\.$"):
        await simulate.simulate_orders(_TemporalStops(answers_first=False), Console(file=io.StringIO()))


class _DatabaseHangsAfterTheList(_DatabaseDown):
    """The list is read; then PostgreSQL stops (SIGSTOP): a read never answers, nor does its
    cancellation (asyncpg asks the server to cancel the query)."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, hung=True)
        self.lookups, self.released = 0, asyncio.Event()

    async def list_orders(self, **_kwargs: Any) -> list[dict]:
        return [{"order_id": "o-1", "state": "AWAITING_APPROVAL", "created_at": None, "amount": "1.00"}]

    async def status(self, order_id: str) -> dict:
        self.lookups += 1
        try:
            await self.released.wait()
        except asyncio.CancelledError:
            await self.released.wait()
            raise
        raise AssertionError("PostgreSQL resumed: the screen should not have waited for it")


@pytest.mark.parametrize("screen", ["review", "cancel"])
async def test_a_typed_id_is_looked_up_within_the_limit_while_postgresql_hangs(tmp_path, monkeypatch, screen):
    """"Type an order id…" with PostgreSQL stopped after the list was read: the check of the id
    typed waited for ever with nothing on the screen, and Ctrl-C froze the TUI until PostgreSQL
    was resumed (an operator walkthrough)."""
    from app.tui import actions, reads

    monkeypatch.setattr(reads, "DATABASE_WAIT_S", 0.05)
    answers = iter({"review": [actions.TYPE_ID, "o-7", "approve"], "cancel": [actions.TYPE_ID, "o-7", "", True]}[screen])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    monkeypatch.setattr(actions, "ask", ask)
    service, out = _DatabaseHangsAfterTheList(tmp_path), io.StringIO()
    running = {"review": actions.approve_or_reject, "cancel": actions.cancel_order}[screen]
    screen_task = asyncio.ensure_future(running(service, Console(file=out, width=200)))
    try:
        done, _ = await asyncio.wait({screen_task}, timeout=10)
        assert done, "the screen waited for PostgreSQL"
        screen_task.result()
    finally:
        service.released.set()
        if not screen_task.done():
            screen_task.cancel()
            await asyncio.wait({screen_task})
    said = " ".join(out.getvalue().split())
    assert said.count("Order o-7 could not be looked up within 0.1 s; the workflow decides.") == 1
    assert service.lookups == 1  # not once for the id and again for the cancel's question
    assert service.sent == [({"review": "approve", "cancel": "cancel"}[screen], "o-7")]


@pytest.mark.parametrize("width", [24, 30, 36, 40, 46])
def test_pick_list_rows_fit_a_narrow_terminal_and_keep_their_ids_apart(width):
    """Under ~47 columns each row was wider than the terminal and wrapped onto a second line."""
    from app.tui.order_labels import order_choice_labels

    now = datetime.now(timezone.utc)
    orders = [{"order_id": order_id, "state": "AWAITING_APPROVAL", "created_at": now.isoformat(), "amount": "19.99"}
              for order_id in LONG_IDS]
    orders += [{"order_id": "sim-520b6b-0082", "state": "RECEIVED", "created_at": now.isoformat(), "amount": "259.99"}]
    rows = order_choice_labels(orders, now, width)
    assert all(len(row) <= width - 4 for row in rows), rows  # with questionary's " » " before each
    first, second, short = (row.split()[0] for row in rows)
    assert first != second and first.endswith("0013") and second.endswith("0014")
    if width >= 30:
        assert short == "sim-520b6b-0082"  # a short id stays whole
        assert rows[2].split()[1].startswith("RECEIV")


async def test_an_open_pick_list_is_laid_out_afresh_when_the_terminal_is_resized(monkeypatch):
    """Narrowed while the list was open, its rows kept the old width and each wrapped onto a
    second line (prompt_toolkit redraws on a resize, with the titles it was given)."""
    from prompt_toolkit.data_structures import Size

    from app.tui import actions

    seen: list[list[str]] = []

    async def ask(question: Any, *, escape: bool = True) -> Any:
        application = question.application
        [control] = [c for c in application.layout.find_all_controls() if hasattr(c, "get_pointed_at")]
        for columns in (120, 40):
            monkeypatch.setattr(application.output, "get_size", lambda columns=columns: Size(rows=24, columns=columns))
            application.before_render.fire()  # what a redraw after SIGWINCH does first
            seen.append([str(choice.title) for choice in control.choices[:3]])
        return LONG_IDS[0]

    monkeypatch.setattr(actions, "ask", ask)
    await actions.pick_order(_Listed(), Console(file=io.StringIO(), width=80), None, "inspect")
    wide, narrow = seen
    assert LONG_IDS[0] in wide[0]  # whole where there is room
    assert all(len(row) <= 40 - 4 for row in narrow), narrow


async def test_the_address_an_order_has_is_sent_while_another_change_is_being_recorded(monkeypatch):
    """Another operator's change accepted and not recorded yet: the TUI refused the address the
    order had as "already ships to that address", where the workflow takes it (the order is
    about to ship elsewhere, and this operator means it to ship here)."""
    from app.tui import actions
    from workflows.model import Address

    current = {"name": "Ann", "street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US",
               "region": ""}
    sent: list[Address] = []

    class _Service:
        async def status(self, order_id: str) -> dict:
            return {"state": "AWAITING_APPROVAL", "address": current, "address_change_pending": True}

        async def update_address(self, order_id: str, address: Address, by: str, on_sent: Any = None) -> str:
            sent.append(address)
            return f"Address of order {order_id} updated."

    async def pick_order(*args: Any, **kwargs: Any) -> str:
        return "o-1"

    async def address_form(default: Any) -> Address:
        return Address(**default)

    async def confirmed(console: Any, question: str, *, default: bool) -> bool:
        return True

    monkeypatch.setattr(actions, "pick_order", pick_order)
    monkeypatch.setattr(actions, "address_form", address_form)
    monkeypatch.setattr(actions, "confirmed", confirmed)
    out = io.StringIO()
    await actions.update_address(_Service(), Console(file=out, width=200))
    said = " ".join(out.getvalue().split())
    assert "Current address: Ann, 1 Main St, Springfield, 12345, US (another change to it is being recorded)" in said
    assert "already ships" not in said
    assert sent == [Address(**current)]
    assert "Address of order o-1 updated." in said


def _questions_drawn(monkeypatch: Any, questionary_module: Any) -> list[str]:
    """Each select's question line as questionary draws it, its hint included."""
    drawn: list[str] = []
    real_select = questionary_module.select

    def select(message: str, choices: list, instruction: str | None = None, **options: Any) -> Any:
        drawn.append(f"? {message} {instruction or '(Use arrow keys)'}".rstrip())
        return real_select(message, choices, instruction=instruction, **options)

    monkeypatch.setattr(questionary_module, "select", select)
    return drawn


@pytest.mark.parametrize("width", [36, 40, 80])
async def test_the_pick_lists_question_is_not_broken_mid_word_in_a_narrow_terminal(monkeypatch, width):
    """At 40 columns "? Which order to re-address? (Use arrow keys)" wrapped as "(Use arrow
    key" / "s)" (an operator walkthrough): the hint goes when it does not fit."""
    from app.tui import actions

    drawn = _questions_drawn(monkeypatch, actions.questionary)

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return LONG_IDS[0]

    monkeypatch.setattr(actions, "ask", ask)
    await actions.pick_order(_Listed(), Console(file=io.StringIO(), width=width), None, "re-address")
    [question] = drawn
    assert len(question) < width and ("(Use arrow keys)" in question) is (width >= 80), question


@pytest.mark.parametrize("width", [24, 28, 40, 80])
async def test_the_menus_question_is_not_broken_mid_word_in_a_narrow_terminal(monkeypatch, width):
    """Under 30 columns "? What next? (Use arrow keys)" wrapped as "(Use arrow keys" / ")": the
    hint goes when it does not fit, as at every other list."""
    drawn = _questions_drawn(monkeypatch, tui_app.questionary)

    async def ask(question: Any, *, escape: bool = True) -> int:
        return len(tui.menu()) - 1  # Quit

    monkeypatch.setattr(tui_app, "goodbye", lambda local: "")
    tui = _tui_without_a_stack(monkeypatch, Console(file=io.StringIO(), width=width), ask)
    assert await tui.run() == 0
    [question] = drawn
    assert len(question) < width and ("(Use arrow keys)" in question) is (width >= 40), question


async def test_create_order_says_before_its_form_that_temporal_is_not_answering(monkeypatch):
    """With Temporal stopped, the whole form was filled in and confirmed, and only then did a
    spinner wait ~30 s for the start to fail (an operator walkthrough); Simulate says so first."""
    from app.errors import StackUnreachable
    from app.tui import forms

    _form_answers(monkeypatch, [])  # a question asked would fail: none is left

    class _TemporalSilent(_ServiceWithoutOrderWorker):
        settings = SimpleNamespace(temporal_address="127.0.0.1:7233")

        async def order_worker_running(self) -> bool | None:
            return None

        async def temporal_found_down(self) -> bool:
            return False

    with pytest.raises(StackUnreachable, match=r"^Temporal at 127.0.0.1:7233 is not answering, so no order can be"
                       r" created now; see the health line\.$"):
        await forms.create_order(_TemporalSilent(), Console(file=io.StringIO()), {})

    class _TemporalDown(_TemporalSilent):
        async def temporal_found_down(self) -> bool:
            return True

    # Killed rather than stopped: "is not reachable", as `order approve` says it of the same stack
    # (the screen said "is not answering").
    with pytest.raises(StackUnreachable, match=r"^Temporal at 127.0.0.1:7233 is not reachable, so no order can be"
                       r" created now; see the health line\.$"):
        await forms.create_order(_TemporalDown(), Console(file=io.StringIO()), {})


def test_the_pager_prompt_leaves_its_title_out_rather_than_show_a_piece_of_it(paged):
    """At 40 columns less showed the prompt from its end: "1  lines 1-14/98  q: back, space:
    more", the "1" what was left of "Audit of walk-1" (an operator walkthrough)."""
    wide = next(c for c in pager.less_command("Audit of walk-1", "page.txt", 80) if c.startswith("-Ps"))[3:]
    narrow = next(c for c in pager.less_command("Audit of walk-1", "page.txt", 40) if c.startswith("-Ps"))[3:]
    assert wide.startswith("Audit of walk-1  lines %lt")
    assert "walk" not in narrow and narrow.endswith("q\\: back, space\\: more")


@pytest.mark.parametrize("width", range(30, 81))
def test_the_pager_prompt_is_shown_whole_with_four_digit_line_numbers(width):
    """At 40 columns the last page of a 150-line audit read "ines 142-150/150  q: back, space:
    more": less shows a prompt longer than the screen less two columns from its end. (The
    lines of the page say how long its numbers can be.)"""
    prompt = next(c for c in pager.less_command("Audit of walk-1", "page.txt", width, 1234) if c.startswith("-Ps"))[3:]
    shown = prompt.replace("\\", "").replace("%lt", "1234").replace("%lb", "1234").replace("%L", "1234")
    assert len(shown) <= width - 2, shown
    assert shown.startswith(("Audit of walk-1  lines 1234-1234/1234", "lines 1234-1234/1234", "line 1234/1234")), shown


class _DatabaseHangsAtTheCreate(_ServiceWithoutOrderWorker):
    """PostgreSQL stops (SIGSTOP) as the order is created: the create's reads never answer, and
    neither does their cancellation (asyncpg asks the server to cancel the query)."""

    def __init__(self) -> None:
        super().__init__()
        self.released, self.begun = asyncio.Event(), asyncio.Event()

    async def order_worker_running(self) -> bool:
        return True

    async def create_order(self, **order: Any) -> Any:
        self.begun.set()
        try:
            await self.released.wait()
        except asyncio.CancelledError:
            await self.released.wait()
            raise
        raise AssertionError("PostgreSQL resumed: the screen should not have waited for it")

    async def status(self, order_id: str) -> dict:
        return await self.create_order()


async def test_ctrl_c_stops_a_create_waiting_on_a_hung_postgresql_at_once(monkeypatch):
    """With PostgreSQL stopped after the form, "Creating order…" spun, and Ctrl-C, which it
    says stops waiting, froze the TUI until PostgreSQL was resumed (an operator walkthrough)."""
    from app.tui import forms

    _form_answers(monkeypatch, ["hung-1", ["WIDGET-1"], "1", True])
    service, out = _DatabaseHangsAtTheCreate(), io.StringIO()
    screen = asyncio.create_task(forms.create_order(service, Console(file=out, width=200), {}))
    try:
        await asyncio.wait_for(service.begun.wait(), 10)
        screen.cancel()  # what Ctrl-C does to the screen
        done, _ = await asyncio.wait({screen}, timeout=10)
        assert done, "the screen waited for PostgreSQL"
    finally:
        service.released.set()
    assert "Stopped waiting. Order hung-1 may still start" in " ".join(out.getvalue().split())


async def test_following_a_new_order_ends_on_time_while_postgresql_hangs():
    """After "Order … created", "Waiting for order … to be validated" waited for a status read
    with no limit: with PostgreSQL stopped it spun for as long, and Ctrl-C froze the TUI."""
    from app.tui import forms

    service, out = _DatabaseHangsAtTheCreate(), io.StringIO()
    try:
        said = await asyncio.wait_for(forms.show_progress(service, Console(file=out, width=200), "o-1", wait_s=0.2), 2)
    finally:
        service.released.set()
    assert said.plain == "Order o-1 is starting; follow it on the live dashboard."


async def test_a_running_simulation_says_how_to_stop_waiting(monkeypatch):
    """The bars gave no hint of how to leave, and q or Esc, which leave the dashboard, did
    nothing (an operator walkthrough); the hint goes with the bars once they stop."""
    from app.tui import simulate

    _simulation_answers(monkeypatch, ["5", True], poll_s=0.01)  # the approvals never answer: it goes on
    service, out = _SlowApprovals(), io.StringIO()
    console = Console(file=out, width=100, height=24, force_terminal=True, color_system=None)
    screen = asyncio.create_task(simulate.simulate_orders(service, console))
    await _until(lambda: "Ctrl-C stops waiting; the orders carry on." in out.getvalue())
    screen.cancel()
    await _ended(screen, 5)
    last = out.getvalue().rpartition("Stopped waiting after")[0].rpartition("started")[2]
    assert "Ctrl-C stops waiting" not in last  # the bars left on the screen come without it


async def test_approvals_failing_one_after_another_do_not_hide_that_temporal_is_not_answering(monkeypatch):
    """With Temporal's port closed each approval failed after a moment ("did not answer"), and
    each failure counted as the simulation moving on: it took twice as long to say why."""
    from app.errors import StackUnreachable
    from app.tui import simulate

    _simulation_answers(monkeypatch, ["100", True], poll_s=0.01)
    monkeypatch.setattr(simulate, "STALL_S", 0.05)

    class _TemporalGone(_SlowApprovals):
        settings = SimpleNamespace(temporal_address="127.0.0.1:7233")

        def __init__(self) -> None:
            super().__init__()
            self.failed: set[str] = set()

        async def order_worker_running(self) -> bool | None:
            return None if self.states else True  # answered the check before the questions only

        async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
            await asyncio.sleep(0.05)
            self.failed.add(order_id)
            raise StackUnreachable("Temporal at 127.0.0.1:7233 did not answer while approving.")

    service, out = _TemporalGone(), io.StringIO()
    await asyncio.wait_for(simulate.simulate_orders(service, Console(file=out, width=200)), 5)
    assert "Temporal at 127.0.0.1:7233 is not answering, so the simulation stopped" in " ".join(out.getvalue().split())
    # Said while other orders' approvals were still to come (10 at a time), not once every
    # order's had failed, as when each failure counted as the simulation moving on.
    assert len(service.failed) < 100, len(service.failed)


class _TemporalSilentOnce(_CreatesQueueUp):
    """The first approval of each order finds Temporal silent: not sent, so not a refusal."""

    def __init__(self) -> None:
        super().__init__()
        self.tries: dict[str, int] = {}

    async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
        from app.errors import Unanswered

        self.tries[order_id] = self.tries.get(order_id, 0) + 1
        if self.tries[order_id] == 1:
            raise Unanswered(order_id, "approve", False, 3, temporal="127.0.0.1:7233")
        return await super().approve(order_id, by)


async def test_a_simulation_sends_an_approval_again_that_temporal_did_not_take():
    """An approval not sent (Temporal silent for the check before it) was counted as refused,
    and its order stayed in review with nobody to approve it (a review)."""
    from app.tui.simulation import Simulation

    service = _TemporalSilentOnce()
    service.release.set()
    sim = Simulation(service=service, n=3, auto_approve=True)
    await sim.create_all(products=[SimpleNamespace(sku="WIDGET-1")])
    await sim.poll()
    await _until(lambda: sum(service.tries.values()) == 3 and not sim.approving)
    await sim.poll()
    await _until(lambda: len(service.approved) == 3)
    assert sim.refusals == 0
    assert sim.approved == 3


def test_a_simulation_of_one_order_names_it_once():
    """One order simulated was summed up as "1 of 1 orders started (sim-c5f8fe-0001 …
    sim-c5f8fe-0001)": a range from an id to itself, and "orders" for one."""
    from app.tui.simulation import Simulation
    from app.tui.simulation_summary import summary_lines

    sim = Simulation(service=None, n=1, auto_approve=True)
    sim.created_ids = ["s-1"]
    sim.states, sim.sent, sim.approved_ids = {"s-1": "SHIPPED"}, set(), {"s-1"}
    assert summary_lines(sim, 1, 4.0, stopped=False)[0].plain == "Done in 4.0 s: 1 of 1 order started (s-1), 1 approved."


class _ApprovalRowsLag(_SlowApprovals):
    """Each approval is answered at once, but the order's row says so only ``lag_s`` later (the
    workflow records the decision after accepting it), or never (``lag_s`` None)."""

    def __init__(self, lag_s: float | None) -> None:
        super().__init__()
        self.lag_s = lag_s
        self.answered = 0
        self.reads = 0

    async def order_states(self, order_ids: list[str]) -> dict[str, str]:
        self.reads += 1
        return await super().order_states(order_ids)

    async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
        self.answered += 1
        if self.lag_s is not None:
            asyncio.get_running_loop().call_later(self.lag_s, self.states.__setitem__, order_id, "PAID")
        return f"Order {order_id} approved."


async def test_a_simulation_stopped_waits_briefly_for_the_approvals_it_was_answered_to_be_recorded(monkeypatch):
    """Ctrl-C early in a simulation read "25 approved" beside "Still running 25: AWAITING_APPROVAL
    12 …": the rows lagged behind the approvals already accepted. The summary waits a moment,
    within a bound, for the database to show them."""
    from app.tui import simulate

    service = _ApprovalRowsLag(lag_s=0.3)
    text = await _simulation_stopped(monkeypatch, service, 12, True, lambda: service.answered == 12)
    assert "), 12 approved." in text
    assert "Still running 12: PAID 12" in text
    assert "AWAITING_APPROVAL" not in text.split("Stopped waiting after", 1)[1]


async def test_a_simulation_stopped_says_which_approved_orders_the_database_does_not_show_yet(monkeypatch):
    """With the rows still behind once the wait is over (PostgreSQL slow, the order worker
    stopped), the summary says so rather than "12 approved" beside "AWAITING_APPROVAL 12"."""
    from app.tui import simulate

    monkeypatch.setattr(simulate, "RECORD_WAIT_S", 0.2)
    service = _ApprovalRowsLag(lag_s=None)
    # The wait has its bound: a summary waiting for rows that never come would miss the 10 s
    # _simulation_stopped gives the stopped screen to end by itself, fifty times this wait.
    text = await _simulation_stopped(monkeypatch, service, 12, True, lambda: service.answered == 12)
    assert "), 12 approved." in text
    assert "Still running 12: AWAITING_APPROVAL 12 (12 of them approved; the database does not show it yet)" in text
    assert "await review" not in text


async def test_ctrl_c_again_while_a_stopped_simulation_waits_for_its_rows_gives_the_summary_at_once(monkeypatch):
    from app.tui import simulate, simulation

    monkeypatch.setattr(simulate, "RECORD_WAIT_S", 3600)
    monkeypatch.setattr(simulation, "RECORD_POLL_S", 0.01)
    _simulation_answers(monkeypatch, ["3", True], poll_s=0.01)
    service = _ApprovalRowsLag(lag_s=None)
    out = io.StringIO()
    screen = asyncio.create_task(simulate.simulate_orders(service, Console(file=out, width=200)))
    await _until(lambda: service.answered == 3)
    screen.cancel()  # what Ctrl-C does to the screen
    reads = service.reads
    await _until(lambda: service.reads >= reads + 3)  # the last read, then the rows read again and again
    assert not screen.done()
    screen.cancel()  # and again
    await _ended(screen, 5)
    text = " ".join(out.getvalue().split())
    assert "), 3 approved." in text and "(3 of them approved; the database does not show it yet)" in text


def _items_products() -> dict[str, Any]:
    from db.queries import Product

    return {p.sku: p for p in (
        Product("CABLE-USB", "USB-C cable, 1 m", 899), Product("DOOHICKEY", "Doohickey", 12000),
        Product("GADGET-2", "Gadget", 4950),
    )}


def _question_line(question: Any) -> list[str]:
    """The question's line (with its hint) as it would be drawn now, line by line, spaces kept."""
    from prompt_toolkit.formatted_text import fragment_list_to_text, to_formatted_text

    session = question_line.prompt_session(question.application)
    return fragment_list_to_text(to_formatted_text(session.message)).split("\n")


@pytest.mark.parametrize("width", [8, 12, 15, 16, 30, 36, 40, 43, 46, 52, 80])
async def test_the_items_question_breaks_its_hint_between_words_in_a_narrow_terminal(width):
    """At 43 columns "? Items (arrows move, space picks, enter when done)" wrapped as "… enter wh"
    / "en done)", and at 40 its second line began with a space (" when done)"); under 16 the
    question's line ended with a space before the hint's line break."""
    from app.tui import forms

    with create_pipe_input() as keys:
        question = forms.items_question(_items_products(), width, input=keys, output=_Terminal(24, width))
        lines = _question_line(question)
    assert all(len(line) < width and line == line.strip() for line in lines), lines
    assert " ".join(" ".join(lines).split()) == "? Items (arrows move, space picks, enter when done)"
    if width >= 30:
        assert len(lines) == (1 if width >= 52 else 2), lines


class _Narrowed(_Terminal):
    """A terminal whose width the test changes, and which notes when its screen is cleared."""

    cleared = 0

    def erase_screen(self) -> None:
        self.cleared += 1


async def test_an_open_items_list_is_drawn_afresh_when_the_terminal_is_narrowed():
    """Narrowed from 80 to 40 columns with the Items list open, tmux rewrapped the question's
    line and the redrawing left its first half above it: "? Items (arrows move, space picks,
    enter" twice, the hint fitted for 80 columns broken mid-phrase under them."""
    from app.tui import forms

    terminal = _Narrowed(24, 80)
    drawn: list[str] = []
    with create_pipe_input() as keys:
        question = forms.items_question(_items_products(), 80, input=keys, output=terminal)
        question.application.after_render += lambda app: drawn.append(_screen_text(app))
        answering = asyncio.ensure_future(prompts.ask(question))
        await _until(lambda: drawn)
        assert terminal.cleared == 0
        terminal.size = Size(rows=24, columns=40)
        os.kill(os.getpid(), signal.SIGWINCH)  # what the terminal sends
        await _until(lambda: terminal.cleared)
        await _until(lambda: "when done)" in drawn[-1] and len(drawn[-1].splitlines()[0]) < 40)
        keys.send_text(" \r")
        assert await asyncio.wait_for(answering, 5) == ["CABLE-USB"]
    narrowed = next(screen for screen in reversed(drawn) if "when done)" in screen).splitlines()
    assert narrowed[:2] == ["? Items (arrows move, space picks,", "enter when done)"], narrowed
    assert terminal.cleared == 1


async def test_a_pick_lists_arrow_hint_goes_when_the_terminal_is_narrowed_under_it():
    """Opened at 160 columns and narrowed to 40, "? Which order to review? (Use arrow keys" stood
    above ")": the hint was kept or left out once, for the width the list opened at."""
    terminal = _Narrowed(30, 160)
    drawn: list[str] = []
    with create_pipe_input() as keys:
        question = questionary.select(
            "Which order to review?", choices=["o-1", "o-2"], instruction=question_line.select_hint("Which order to review?", 160),
            input=keys, output=terminal,
        )
        question.application.after_render += lambda app: drawn.append(_screen_text(app))
        answering = asyncio.ensure_future(prompts.ask(question))
        await _until(lambda: drawn)
        assert drawn[-1].startswith("? Which order to review? (Use arrow keys)")
        terminal.size = Size(rows=12, columns=40)
        os.kill(os.getpid(), signal.SIGWINCH)  # what the terminal sends
        await _until(lambda: terminal.cleared)
        await _until(lambda: "o-1" in drawn[-1])
        keys.send_text("\r")
        assert await asyncio.wait_for(answering, 5) == "o-1"
    narrowed = next(screen for screen in reversed(drawn) if "o-2" in screen).splitlines()
    assert narrowed[0] == "? Which order to review?", narrowed
    assert narrowed[1].endswith("o-1"), narrowed


async def test_a_question_fitted_to_the_terminal_is_broken_again_when_it_is_narrowed():
    """Asked at 80 columns and narrowed to 40, "? Ship order sim-e44b27-0006 to Simulated
    Customer, 9 Other Street," was cut at the edge ("… to Simulate"): its line breaks were made
    for 80 columns, and prompt_toolkit cuts a question's lines above the last one."""
    from app.tui.question_line import fitted

    question_text = "Ship order sim-e44b27-0006 to Simulated Customer, 9 Other Street, Springfield, 12345, US?"
    terminal = _Narrowed(24, 80)
    drawn: list[str] = []
    with create_pipe_input() as keys:
        question = questionary.confirm(fitted(question_text, 80), input=keys, output=terminal)
        question.application.after_render += lambda app: drawn.append(_screen_text(app))
        answering = asyncio.ensure_future(prompts.ask(question))
        await _until(lambda: drawn)
        terminal.size = Size(rows=12, columns=40)
        os.kill(os.getpid(), signal.SIGWINCH)  # what the terminal sends
        await _until(lambda: terminal.cleared)
        await _until(lambda: "(Y/n)" in drawn[-1])
        narrowed = drawn[-1].splitlines()
        keys.send_text("y")
        assert await asyncio.wait_for(answering, 5) is True
    assert all(len(line) < 40 for line in narrowed), narrowed
    assert " ".join(" ".join(narrowed).split()) == f"? {question_text} (Y/n)", narrowed


async def test_a_question_narrowed_but_still_within_the_terminal_leaves_the_screen_as_it_is():
    """"Press any key to go back to the menu" under a long answer, the terminal narrowed from 80 to
    60 columns: the screen is not cleared (the answer the pause keeps in view would go), as the
    terminal has no line of the question to rewrap."""
    terminal = _Narrowed(24, 80)
    drawn: list[str] = []
    with create_pipe_input() as keys:
        question = questionary.press_any_key_to_continue("Press any key to go back to the menu", input=keys, output=terminal)
        question.application.after_render += lambda app: drawn.append(_screen_text(app))
        answering = asyncio.ensure_future(prompts.ask(question))
        await _until(lambda: drawn)
        terminal.size = Size(rows=24, columns=60)
        os.kill(os.getpid(), signal.SIGWINCH)  # what the terminal sends
        await _until(lambda: len(drawn) > 1)
        keys.send_text("x")
        with pytest.raises(prompts.Back):  # a key pressed answers the pause with nothing
            await asyncio.wait_for(answering, 5)
    assert terminal.cleared == 0


def test_press_any_key_starts_at_the_edge_like_every_other_line():
    """questionary draws " Press any key to go back to the menu ": under an answer, the only line
    of the screen that began with a space."""
    with create_pipe_input() as keys:
        question = prompts.any_key("Press any key to go back to the menu", input=keys, output=_Terminal(12, 40))
        assert _question_line(question)[0].startswith("Press any key to go back to the menu")


@pytest.mark.parametrize(("choice", "width"), [("All states", 40), ("AWAITING_APPROVAL", 47)])
async def test_an_answered_question_as_wide_as_the_terminal_leaves_no_blank_line_under_it(choice, width):
    """At 40x12 "? Show orders in which state? All states" is exactly 40 columns: the cursor after
    it wrapped onto a line of its own, and a blank line stood between the echo and the dashboard
    (then the menu)."""
    drawn: list[str] = []
    with create_pipe_input() as keys:
        question = questionary.select(
            "Show orders in which state?", choices=["All states", "AWAITING_APPROVAL"], input=keys,
            output=_Terminal(12, width),
        )
        _keep_the_last_drawing(question.application, drawn)
        keys.send_text(("\x1b[B" if choice != "All states" else "") + "\r")
        assert await prompts.ask(question) == choice
    echo = drawn[-1]
    assert echo.split() == ["?", "Show", "orders", "in", "which", "state?", *choice.split()], echo
    assert "" not in echo.split("\n") and all(len(line) < width for line in echo.split("\n")), echo


async def _confirm_as_drawn(question: str, width: int) -> list[str]:
    """The lines of a confirm question for ``question`` as fitted and drawn ``width`` columns
    wide, each checked to fit (not wrapped by the terminal) and to say the question whole."""
    from app.tui.question_line import fitted

    drawn: list[str] = []
    with create_pipe_input() as keys:
        confirm = questionary.confirm(fitted(question, width), input=keys, output=_Terminal(12, width))
        confirm.application.after_render += lambda app: drawn.append(_screen_text(app))
        keys.send_text("y")
        assert await prompts.ask(confirm) is True
    asking = next(screen for screen in drawn if "(Y/n)" in screen).splitlines()
    assert all(len(line) < width for line in asking), asking  # none wrapped by the terminal
    assert " ".join(" ".join(asking).split()) == f"? {question} (Y/n)"
    return asking


@pytest.mark.parametrize("width", [40, 60, 80])
async def test_a_confirm_question_uses_the_width_of_the_terminal(width):
    """At 40 columns "? Ship order h4-rev-1 to Ann" broke at 28 characters, 12 columns left free
    on every line for what questionary puts around the first and the last only ("? " before,
    " (Y/n) " after; an operator walkthrough of Update address at 40x12)."""
    question = "Ship order h4-rev-1 to Ann Lee, 1 Main St, Springfield, 12345, US?"
    asking = await _confirm_as_drawn(question, width)
    # The first line ends only where its next word would not fit.
    assert len(asking) == 1 or len(f"{asking[0]} {asking[1].split()[0]}") >= width, asking


@pytest.mark.parametrize("width", [40, 60, 80])
@pytest.mark.parametrize("spare", [0, 1, 2, 6])
async def test_a_one_line_confirm_question_leaves_room_for_both_ends(width, spare):
    """A question short enough for one line has "? " before it and " (Y/n) " after it on that
    same line: one of 31 or 32 characters at 40 columns was left on one line, 41 columns drawn,
    and the terminal wrapped " (Y/n) " under it."""
    question = "Cancel order " + "x" * (width - 1 - len("? Cancel order ? (Y/n) ") + spare) + "?"
    asking = await _confirm_as_drawn(question, width)
    # With no spare column the whole of it, " (Y/n) " included, takes width - 1: one line. With
    # any, the long word goes on the next line, its ends with it.
    assert len(asking) == (1 if spare == 0 else 2), asking


@pytest.mark.parametrize(("keys_sent", "echoed"), [(" \r", "CABLE-USB"), (" \x1b[B\x1b[B \r", "CABLE-USB, GADGET-2")])
async def test_the_items_picked_are_echoed_by_their_sku(keys_sent, echoed):
    """One item picked echoed its whole label, price included ("? Items [USB-C cable, 1 m
    (CABLE-USB)  8.99]", broken over lines at 40 columns), and two "done (2 selections)", which
    said nothing of what was picked (an operator walkthrough at 40x12)."""
    from db.queries import Product
    from app.tui import forms

    products = {p.sku: p for p in (
        Product("CABLE-USB", "USB-C cable, 1 m", 899), Product("DOOHICKEY", "Doohickey", 12000),
        Product("GADGET-2", "Gadget", 4950),
    )}
    drawn: list[str] = []
    with create_pipe_input() as keys:
        question = forms.items_question(products, 40, input=keys, output=_Terminal(12, 40))
        _keep_the_last_drawing(question.application, drawn)
        keys.send_text(keys_sent)
        assert await prompts.ask(question) == echoed.split(", ")
    assert " ".join(drawn[-1].split()) == f"? Items {echoed}"


@pytest.mark.parametrize("temporal", ["stopped before the start", "killed before the start", "stopped at the start"])
async def test_a_create_that_meets_temporal_stopped_after_its_check_points_to_the_health_line(monkeypatch, temporal):
    """Temporal answered the check before the form and stopped before the start: the TUI said
    "(stopped or swamped: see ./start.sh status)", a command for another shell, where its other
    sentences point to the health line above the menu."""
    from datetime import timedelta

    from app.config import Settings
    from app.service import OrderService
    from tests import test_service_commands as service_tests

    service_tests._creatable(monkeypatch)
    monkeypatch.setattr("app.service.temporal_errors.QUERY_TIMEOUT", timedelta(seconds=0.1))
    monkeypatch.setattr("app.service.create.START_TIMEOUT", timedelta(seconds=0.1))
    client = {
        "stopped before the start": service_tests._StoppedBeforeTheStart,
        "killed before the start": service_tests._DownBeforeTheStart,
        "stopped at the start": service_tests._TemporalStopped,
    }[temporal]()

    class _TemporalStopsAfterTheCheck(OrderService):
        async def catalog(self) -> list[Any]:
            from db.queries import Product

            return [Product(sku="SKU-1", name="Thing", price_cents=1000)]

        async def refuse_taken_id(self, order_id: str) -> None:
            return None

        async def order_worker_running(self) -> bool:  # the check before the form: Temporal answered
            return True

    service = _TemporalStopsAfterTheCheck(settings=Settings.from_env({}), client=client, pool=service_tests._NoOrderRow())
    _form_answers(monkeypatch, ["o-7", ["SKU-1"], "1", True])
    out = io.StringIO()
    tui = tui_app.Tui(Console(file=out, width=400))
    tui.service = service
    await asyncio.wait_for(tui.guarded("Create order", lambda: tui_app.create_order(service, tui.console, {})), 5)
    said = " ".join(out.getvalue().split())
    assert "Temporal at 127.0.0.1:7233" in said and "order o-7" in said, said
    assert "./start.sh" not in said and "see the health line" in said, said


@pytest.mark.parametrize("closing", ["\x1b", "\x03", "ord-1\r"])  # Esc, Ctrl-C, an answer
async def test_keys_typed_in_one_burst_with_the_key_that_closes_a_question_do_not_reach_the_next(closing):
    """Esc then j j typed quickly (or pasted) at a question: prompt_toolkit had read all three
    at once, kept the two after the Esc for the next question, and the menu opened two entries
    down from where it points."""
    with create_pipe_input() as keys:
        first = questionary.text("Order id", input=keys, output=DummyOutput())
        keys.send_text(closing + "jj")
        try:
            await prompts.ask(first)
        except prompts.Back:
            pass
        menu = tui_app.main_menu([("Create", None), ("Approve", None), ("Quit", None)], 0, input=keys, output=DummyOutput())
        keys.send_text("\r")  # typed once the menu is open
        assert await asyncio.wait_for(prompts.ask(menu, escape=False), 5) == 0


async def test_enter_typed_twice_at_the_menu_picks_the_entry_and_answers_nothing_after_it():
    """The second Enter of a double press at the menu answered the next question (the order id
    offered) with the operator still reading it."""
    with create_pipe_input() as keys:
        menu = tui_app.main_menu([("Create", None), ("Approve", None), ("Quit", None)], 1, input=keys, output=DummyOutput())
        keys.send_text("\r\r")
        assert await prompts.ask(menu, escape=False) == 1
        order_id = questionary.text("Order id", default="ord-1", input=keys, output=DummyOutput())
        keys.send_text("2\r")
        assert await asyncio.wait_for(prompts.ask(order_id), 5) == "ord-12"


@pytest.mark.parametrize(("width", "height"), [(80, 24), (40, 12)])
async def test_ctrl_c_while_the_health_line_is_read_leaves_a_line_that_says_so(monkeypatch, width, height):
    """With Temporal stopped the health line took seconds to read; Ctrl-C meanwhile showed the
    menu with no health line at all, only "Back to the menu." from a screen never left."""
    reading = asyncio.Event()

    class _SlowStack:
        async def status(self) -> Any:
            reading.set()
            await asyncio.Event().wait()

    monkeypatch.setattr(tui_app, "Stack", _SlowStack)
    out = io.StringIO()
    tui = tui_app.Tui(Console(file=out, width=width, height=height))
    checking = asyncio.ensure_future(tui.guarded("Health", tui.health))
    await asyncio.wait_for(reading.wait(), 5)
    prompts._interrupt()  # what Ctrl-C does
    await asyncio.wait_for(checking, 5)
    shown = out.getvalue().splitlines()
    assert len(shown) == 1 and len(shown[0]) <= width, shown
    assert "Health check interrupted" in shown[0], shown
    assert tui.health_rows == 1 and tui.down_rows == 0


async def test_a_short_terminals_one_line_summary_of_what_is_down_stays_one_line(monkeypatch):
    """At 40x12 with the whole stack down, "✗ Temporal, PostgreSQL, order worker, shipping worker
    down" took two lines where one was counted: print() joined it into a new Text, which wrapped
    it, and the line's cut at the edge was lost."""
    from app.stack.status import PartStatus, StackStatus

    parts = [PartStatus(name, healthy=False, detail="not running", local=True)
             for name in ("temporal", "postgres", "order-worker", "shipping-worker")]
    status = StackStatus(parts, "127.0.0.1:7233", None, "postgresql://postgres@127.0.0.1:5433/orders")

    class _Stack:
        async def status(self):
            return status

    async def ensure_up(console: Console) -> StackStatus:  # "Start what is down?" answered yes, in vain
        return status

    monkeypatch.setattr(tui_app, "Stack", _Stack)
    monkeypatch.setattr(tui_app, "ensure_up", ensure_up)
    for screen in ("health", "start_stack"):
        out = io.StringIO()
        tui = tui_app.Tui(Console(file=out, width=40, height=12))
        monkeypatch.setattr(tui_app, "ask", lambda question, **_: asyncio.sleep(0, False))
        await getattr(tui, screen)()
        shown = out.getvalue().splitlines()
        assert shown[0].startswith("✗ Temporal, PostgreSQL") and len(shown[0]) <= 40, shown
        assert not any(line.startswith("shipping worker down") for line in shown[1:]), shown


class _OneOrderListed(_DatabaseDown):
    """The list is read; an id typed is looked up in a store that holds only ``known``."""

    def __init__(self, tmp_path: Path, known: dict[str, str]) -> None:
        super().__init__(tmp_path)
        self.known = known

    async def list_orders(self, **_kwargs: Any) -> list[dict]:
        return [{"order_id": "o-1", "state": "AWAITING_APPROVAL", "created_at": None, "amount": "1.00"}]

    async def status(self, order_id: str) -> dict:
        from app.errors import NotFound

        if order_id not in self.known:
            raise NotFound(f"There is no order {order_id}.")
        return {"order_id": order_id, "state": self.known[order_id], "payment": {"status": "PENDING"}}


@pytest.mark.parametrize("screen", ["review", "cancel"])
async def test_an_unknown_typed_id_is_refused_and_asked_again(tmp_path, monkeypatch, screen):
    """"Type an order id…" with a typo (an unknown id, or one in a state the screen is not for)
    went back to the menu; the operator had to open the screen and pick "Type an order id…"
    again. Now the refusal is shown and the id asked for again."""
    from app.tui import actions

    answers = iter({"review": [actions.TYPE_ID, "o-77", "o-5", "o-7", "approve"],
                    "cancel": [actions.TYPE_ID, "o-77", "o-5", "o-7", "", True]}[screen])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    monkeypatch.setattr(actions, "ask", ask)
    service, out = _OneOrderListed(tmp_path, {"o-7": "AWAITING_APPROVAL", "o-5": "SHIPPED"}), io.StringIO()
    running = {"review": actions.approve_or_reject, "cancel": actions.cancel_order}[screen]
    await running(service, Console(file=out, width=200))
    said = " ".join(out.getvalue().split())
    assert said.count("There is no order o-77.") == 1
    assert said.count(f"Order o-5 is SHIPPED: it cannot be {actions.PAST[screen]} now.") == 1
    assert next(answers, None) is None  # every answer was asked for
    assert service.sent == [({"review": "approve", "cancel": "cancel"}[screen], "o-7")]


async def test_the_typed_id_prompt_still_backs_out_after_a_refusal(tmp_path, monkeypatch):
    """Asked again after a typo, Ctrl-C/Esc still goes back to the menu."""
    from app.tui import actions
    from app.tui.prompts import Back

    answers = iter([actions.TYPE_ID, "o-77"])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        try:
            return next(answers)
        except StopIteration:
            raise Back() from None

    monkeypatch.setattr(actions, "ask", ask)
    service, out = _OneOrderListed(tmp_path, {}), io.StringIO()
    with pytest.raises(Back):
        await actions.cancel_order(service, Console(file=out, width=200))
    assert "There is no order o-77." in out.getvalue()
    assert service.sent == []


class _CommandNeverAnswered(_OneOrderListed):
    """A command whose answer never comes: stopped before its Update goes out (the checks before
    it wait), or after (Temporal has it)."""

    def __init__(self, tmp_path: Path, goes_out: bool) -> None:
        super().__init__(tmp_path, {"o-1": "AWAITING_APPROVAL"})
        self.goes_out, self.waiting = goes_out, asyncio.Event()

    async def _unanswered(self, on_sent: Any) -> str:
        if self.goes_out and on_sent is not None:
            on_sent()
        self.waiting.set()
        await asyncio.Event().wait()
        return "never"

    async def approve(self, order_id: str, by: str, on_sent: Any = None) -> str:
        return await self._unanswered(on_sent)

    async def reject(self, order_id: str, reason: str, by: str, on_sent: Any = None) -> str:
        return await self._unanswered(on_sent)

    async def cancel(self, order_id: str, reason: str, by: str, on_sent: Any = None) -> str:
        return await self._unanswered(on_sent)

    async def update_address(self, order_id: str, address: Any, by: str, on_sent: Any = None) -> str:
        return await self._unanswered(on_sent)


# Each screen's answers (the order picked, then its questions, confirmations included), and what
# its sentence calls the command.
_SCREENS_THAT_SEND = {
    "approve": ("approve_or_reject", ["o-1", "approve"], "approval"),
    "reject": ("approve_or_reject", ["o-1", "reject", "fraud", True], "rejection"),
    "cancel": ("cancel_order", ["o-1", "", True], "cancel"),
    "address": ("update_address", ["o-1", True], "address change"),
}


@pytest.mark.parametrize("goes_out", [True, False])
@pytest.mark.parametrize("command", list(_SCREENS_THAT_SEND))
async def test_ctrl_c_while_a_command_is_awaited_says_whether_it_was_sent(tmp_path, monkeypatch, command, goes_out):
    """It said "The approval, if it was sent already, may still take effect" either way, and so
    did a rejection, a cancel and an address change: the service says when the Update goes out
    (on_sent), so the TUI says which it was."""
    from app.tui import actions
    from workflows.model import Address

    screen_name, replies, what = _SCREENS_THAT_SEND[command]
    answers = iter(replies)

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    async def address_form(default: Any) -> Address:
        return Address(name="Bo", street="2 Side St", city="Paris", postal_code="75001", country="FR")

    monkeypatch.setattr(actions, "ask", ask)
    monkeypatch.setattr(actions, "address_form", address_form)
    service, out = _CommandNeverAnswered(tmp_path, goes_out), io.StringIO()
    screen = asyncio.ensure_future(getattr(actions, screen_name)(service, Console(file=out, width=200)))
    await asyncio.wait_for(service.waiting.wait(), 5)
    screen.cancel()  # what Ctrl-C does to the screen's task
    with pytest.raises(asyncio.CancelledError):
        await screen
    said = " ".join(out.getvalue().split())
    if goes_out:
        assert f"Stopped waiting. The {what} was sent and may still take effect;" in said
    else:
        assert f"Stopped waiting. The {what} was not sent; nothing was changed." in said
    assert "if it was sent already" not in said
    assert next(answers, None) is None  # every answer was asked for


async def test_an_unknown_id_typed_for_an_audit_is_refused_and_asked_again(tmp_path, monkeypatch):
    """The audit's "Type an order id…" with a typo went back to the menu, as the other screens'
    did; its audit is read once, for the id that names an order."""
    from app.config import Settings
    from app.errors import NotFound
    from app.tui import actions

    now = datetime.now(timezone.utc).isoformat()

    class _Service:
        settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
        reads: list[str] = []

        async def list_orders(self, **_kwargs: Any) -> list[dict]:
            return [{"order_id": "op-1", "state": "SHIPPED", "created_at": now, "amount": "17.98"}]

        async def audit(self, order_id: str) -> dict:
            self.reads.append(order_id)
            if order_id != "op-7":
                raise NotFound(f"There is no order {order_id}.")
            order = {"order_id": order_id, "state": "AWAITING_APPROVAL", "step": "awaiting review", "retries": 0,
                     "last_error": None, "processing_seconds": 0.2, "created_at": now}
            return {"order": order, "timeline": [], "web_ui_url": None}

    answers = iter([actions.TYPE_ID, "o-77", "op-7"])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    async def pause(message: str = "") -> None:
        pass

    monkeypatch.setattr(actions, "ask", ask)
    monkeypatch.setattr(actions, "pause", pause)
    service, out = _Service(), io.StringIO()
    await actions.audit_log(service, Console(file=out, width=160, height=40))
    said = " ".join(out.getvalue().split())
    assert said.count("There is no order o-77.") == 1
    assert "Order op-7" in said and "AWAITING_APPROVAL" in said
    assert service.reads == ["o-77", "op-7"]

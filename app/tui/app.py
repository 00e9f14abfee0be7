"""The TUI's main loop: bring the stack up, then the menu until the operator quits. Each
screen runs on its own; an operator error is one red sentence, anything unexpected is logged
and shown as a short apology, and Ctrl-C anywhere goes back to the menu."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import questionary
from questionary import Choice
from rich.console import Console, Group
from rich.text import Text

from app.config import Settings
from app.errors import OperatorError, Unanswered, lost_database
from app.service import OrderService
from app.stack import Stack
from app.stack.health import is_stopped, refuses_credentials
from app.stack.processes import running_pid
from app.stack.parts import SERVERS
from app.stack_cli import StackFailed, ensure_up
from app.tui import actions, pager
from app.tui.dashboard import refuse_a_terminal_that_cannot_redraw, run_dashboard
from app.tui.forms import create_order
from app.tui.health import down_parts, goodbye, health_interrupted, health_line, health_summary
from app.tui.prompts import Back, ask, keys_not_echoed, pause, run_screen, stop_watching_sigint
from app.tui.question_line import select_hint
from app.tui.sentences import in_the_tui
from app.tui.simulate import simulate_orders
from workflows.model import OrderState

log = logging.getLogger("app.tui")

ALL_STATES = "\0all"
# Lines kept in view above the health line and the menu for the last lines of the screen just
# left (its answer): at 40x12 the health line (three lines) and the menu (nine) filled the
# terminal, and "Order o-12 approved." went out of view as it was given.
ANSWER_LINES = 4
# "? Start what is down? No" and "Left down; …" under what is down.
OFFER_LINES = 2


def main_menu(entries: list[tuple[str, Any]], pointed: int, **prompt_options: Any) -> questionary.Question:
    return questionary.select(
        "What next?",
        choices=[Choice(label, value=i) for i, (label, _) in enumerate(entries)],
        default=pointed,
        **prompt_options,
    )


class Tui:
    def __init__(self, console: Console, on_up: Callable[[], None] | None = None) -> None:
        self.console = console
        self.on_up = on_up  # called once the stack is up (Ctrl-C no longer stops its start)
        self.service: OrderService | None = None
        self.remembered: dict[str, Any] = {}  # the last address typed, offered again
        self.last_pick = 0  # the menu opens on the entry picked last (approving one order after another)
        self.said_down: list[str] = []  # what is down, as last said above the menu
        self.offered_start: list[str] = []  # the parts down when "Start what is down?" was last asked
        self.health_rows = 1  # the rows the health line took, as last printed above the menu
        self.health_shown = False  # whether the health check got as far as its line
        # The rows of what is down, said again with the health line above the menu after every
        # screen (in a short terminal, once per outage: 0 then).
        self.down_rows = 0
        self.answer_in_view = 0  # the rows of the last screen's answer, in view with no key awaited
        self.menu_shown = False  # before it, a key awaited leads to the menu, not back to it

    def menu(self) -> list[tuple[str, Callable[[], Awaitable[None]] | None]]:
        service, console = self.service, self.console
        return [
            ("Create order", lambda: create_order(service, console, self.remembered)),
            ("Approve / reject", lambda: actions.approve_or_reject(service, console)),
            ("Update address", lambda: actions.update_address(service, console)),
            ("Cancel order", lambda: actions.cancel_order(service, console)),
            ("Live dashboard", self.dashboard),
            ("Audit log", lambda: actions.audit_log(service, console)),
            ("Simulate orders", lambda: simulate_orders(service, console)),
            ("Quit", None),
        ]

    async def run(self) -> int:
        self.console.print("[bold]Order Tracker[/]")
        try:
            # A spinner, not a line that stayed on the screen after the check was done.
            with self.console.status("Checking the stack…"):
                await ensure_up(self.console)
        except StackFailed:
            # Only a worker stopped (SIGSTOP, a debugger): `up` refuses it, but the TUI can open,
            # and its health line says how to resume it. Anything else stays the start's failure.
            down = [part for part in (await Stack().status()).parts if not part.healthy]
            if not down or any(part.name in SERVERS or not is_stopped(part) for part in down):
                raise
        if self.on_up is not None:
            self.on_up()
        self.service = await OrderService.connect()
        try:
            while True:
                await self.guarded("Health", self.health)
                entries = self.menu()
                try:
                    # Esc at the menu would quit: only Ctrl-C and Quit do
                    hint = select_hint("What next?", self.console.width)
                    self.menu_shown = True
                    picked = await ask(main_menu(entries, self.last_pick, instruction=hint), escape=False)
                except Back:
                    picked = len(entries) - 1
                self.last_pick = picked
                label, screen = entries[picked]
                if screen is None:
                    break
                await self.guarded(label, screen)
        finally:
            stop_watching_sigint()
            await self.service.close()
        try:
            farewell = goodbye({name: running_pid(spec) is not None for name, spec in Stack().specs().items()})
        except Exception:  # quitting must not fail on a question about the stack
            log.warning("event=tui_goodbye_status_failed", exc_info=True)
            farewell = ""
        if farewell:
            self.console.print(farewell)
        return 0

    async def health(self) -> None:
        """The health line; when a part is down, offer to start it rather than fail later."""
        self.health_shown = False
        # Seconds with a server stopped: a key typed meanwhile was echoed ("^C" before "Back to the menu.").
        with keys_not_echoed():
            status = await Stack().status()
        line = self.health_above_menu(status)
        sentences = down_parts(status)
        # In a short terminal, said once until what is down changes, and then the one-line summary
        # stands for them: at 40x12 they and the menu pushed the answer just given out of view.
        said_before = sentences == self.said_down and self.short_of_lines(status)
        self.said_down = sentences
        down = [part for part in status.parts if not part.healthy]
        # A stopped server (SIGSTOP) takes the workers down with it, and `up` stops at it.
        server_stopped = any(is_stopped(part) for part in down if part.name in SERVERS)
        stopped = bool(down) and all(is_stopped(p) or (server_stopped and p.name not in SERVERS) for p in down)
        # Temporal answered and said no (as `status` says, `up` cannot mend credentials).
        refused = any(refuses_credentials(part) for part in down)
        said = [Text(sentence, style="red") for sentence in sentences]
        if stopped:  # `up` refuses a stopped process (it would start a second one beside it)
            said.append(Text("Starting cannot help a stopped process; resume it as said above.", style="yellow"))
        elif refused:
            said.append(Text("Starting cannot mend refused credentials; fix them as said above.", style="yellow"))
        # Asked once per outage: a no (or Esc) stands until what is down changes; it was asked
        # again above the menu after every screen.
        offer = bool(down) and not stopped and not refused and self.offered_start != [part.name for part in down]
        # The answer just given stays in view under all of it: what is down may have changed
        # since the screen's own check, which counted what was said here the last time.
        said_rows = pager.rows(self.console, Group(*said)) if said else 0
        self.health_rows = line.plain.count("\n") + 1
        self.down_rows = 0 if self.short_of_lines(status) else said_rows
        await self.keep_in_view(self.health_rows + (0 if said_before else said_rows) + (OFFER_LINES if offer else 0))
        self.print_health(line)
        self.health_shown = True
        if status.healthy:
            self.offered_start = []
            return
        if not said_before:
            # As an answer, kept in view: at 40x12 they, the line above and the menu took fifteen
            # lines, and "kill -CONT <pid>" went out of view as the TUI opened.
            await pager.say(self.console, Group(*said))
        if not offer:
            if stopped:
                self.offered_start = []
            return
        self.offered_start = [part.name for part in down]
        pager.answer_rows()  # the question comes right under them: no key to press for them too
        try:
            start = await ask(questionary.confirm("Start what is down?", default=True))
        except Back:
            return
        if start:
            await self.guarded("Start the stack", self.start_stack)
        else:  # not asked again while the same parts are down: say how to start them later
            self.console.print("[dim]Left down; ./start.sh up, from another shell, starts it.[/]")

    async def keep_in_view(self, rows_above_menu: int) -> None:
        """Wait for a key before ``rows_above_menu`` and the menu push the last screen's answer,
        still in view, out of it."""
        rows, self.answer_in_view = self.answer_in_view, 0
        if rows and rows + rows_above_menu + len(self.menu()) + 1 > self.console.height:
            await self.key_before_the_menu()

    async def key_before_the_menu(self) -> None:
        # At start-up, what is down is said before any menu: there is none to go back to.
        await pause("Press any key to go back to the menu" if self.menu_shown else "Press any key to see the menu")

    async def start_stack(self) -> None:
        status = await ensure_up(self.console)
        self.print_health(self.health_above_menu(status))

    def print_health(self, line: Text) -> None:
        """The health line, a one-line one cut at the edge: print() joins a Text into a new one,
        which wrapped "✗ Temporal, PostgreSQL, order worker, shipping worker down" at 40 columns."""
        self.console.print(line, no_wrap=line.no_wrap, overflow=line.overflow)

    def health_above_menu(self, status: Any) -> Text:
        """The health line, or, where it and the menu would leave fewer than ANSWER_LINES, one
        line saying what is down, or that nothing is."""
        return health_summary(status) if self.short_of_lines(status) else health_line(status, self.console.width)

    def short_of_lines(self, status: Any) -> bool:
        """Whether the health line and the menu would leave fewer than ANSWER_LINES above them."""
        line = health_line(status, self.console.width)
        menu_lines = len(self.menu()) + 1  # and its question
        return line.plain.count("\n") + 1 + menu_lines + ANSWER_LINES > self.console.height

    async def guarded(self, label: str, screen: Callable[[], Awaitable[Any]]) -> None:
        async def shielded() -> None:
            try:
                await screen()
            except Back:
                self.console.print("[dim]Back to the menu.[/]")
            except OperatorError as error:  # its text may quote an operator's (a name in brackets)
                style = "yellow" if isinstance(error, Unanswered) else "red"  # it may still take effect
                await pager.say(self.console, Text(in_the_tui(error), style=style))
            except Exception as error:
                if (lost := lost_database(error, self.service.settings if self.service else Settings.from_env())):
                    log.warning("event=tui_database_lost screen=%r", label, exc_info=True)
                    await pager.say(self.console, Text(in_the_tui(lost), style="red"))
                    return
                log.exception("event=tui_screen_failed screen=%r", label)
                sorry = "Sorry, something unexpected went wrong; ./start.sh logs cli, from another shell, shows the details."
                await pager.say(self.console, Text(sorry, style="red"))

        pager.answer_rows()  # one left by an earlier screen is not this one's
        if not await run_screen(shielded()):  # Ctrl-C: what the screen said as it stopped stays in view too
            self.interrupted(screen)
        # The menu drawn under a longer answer would push its first lines out of view; after a
        # screen, so would what is down, said again above the menu (not after the health's own).
        left = self.rows_left_for_answer(then_health=screen != self.health)
        rows = pager.answer_rows() if self.console.is_terminal else 0
        self.answer_in_view = 0 if rows > left else rows  # the health step keeps one left in view
        if rows and rows > left:
            await self.key_before_the_menu()

    def interrupted(self, screen: Callable[[], Awaitable[Any]]) -> None:
        """What Ctrl-C leaves said: back to the menu, or, while the health line was read, a line
        in its place (the menu came with none above it, from a screen never left)."""
        if screen != self.health or self.health_shown:
            self.console.print("[dim]Back to the menu.[/]")
            return
        self.health_rows, self.down_rows = 1, 0
        self.print_health(health_interrupted())

    def rows_left_for_answer(self, then_health: bool = True) -> int:
        """The rows the health line and the menu leave in view above them, and, ``then_health``,
        what is down said again with the health line: at 80 columns and wider a sentence per part
        down, which the check left out, and a long answer's first lines went out of view."""
        down_rows = self.down_rows if then_health else 0
        return self.console.height - self.health_rows - down_rows - (len(self.menu()) + 1)

    async def dashboard(self) -> None:
        refuse_a_terminal_that_cannot_redraw(self.console)  # before the question, not after it
        choices = [Choice("All states", value=ALL_STATES)] + [Choice(s.value, value=s.value) for s in OrderState]
        message = "Show orders in which state?"
        state = await ask(
            questionary.select(message, choices=choices, instruction=select_hint(message, self.console.width))
        )
        await run_dashboard(self.service, self.console, None if state == ALL_STATES else state)


async def run_tui(console: Console | None = None, on_up: Callable[[], None] | None = None) -> int:
    return await Tui(console or Console(highlight=False), on_up).run()

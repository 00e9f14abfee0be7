"""The screens that act on one order: approve or reject, change its address, cancel it, read
its audit timeline. Each offers only the orders the action is allowed for right now; the
workflow still has the last word, and its answer or refusal is shown as it gave it."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from datetime import datetime, timezone
from functools import partial
from typing import Any, Awaitable, Callable

import questionary
from questionary import Choice
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from app import checks, render, render_audit
from app.errors import InvalidInput, NotFound, Refused, StackUnreachable, lost_database
from app.tui import pager
from app.tui.fitting import relabel_on_resize
from app.tui.forms import address_form, order_id_check
from app.tui.prompts import Back, ask, keys_not_echoed, pause
from app.tui.question_line import select_hint
from app.waiting import within
from activities import rules
from workflows.model import BEFORE_DECISION_STATES, PAST_DISPATCH_STATES, Address, OrderState

PICK_LIMIT = 30
PAST = {"review": "reviewed", "re-address": "re-addressed", "cancel": "cancelled"}
TYPE_ID = "\0type"
BACK = "\0back"

REVIEWABLE = [OrderState.AWAITING_APPROVAL, *sorted(BEFORE_DECISION_STATES - {OrderState.AWAITING_APPROVAL})]
CHANGEABLE = [s for s in OrderState if not s.terminal and s not in PAST_DISPATCH_STATES]


def age(created_at: str | None, now: datetime) -> str:
    if not created_at:
        return ""
    seconds = max(0, int((now - datetime.fromisoformat(created_at)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


# What questionary draws before each choice (" » "), and a column left free: a line as wide as
# the terminal wraps in some of them.
CHOICE_FRAME = 4
# An id is never shortened below this: its start and end still tell it apart.
SHORTEST_ID = 16
# A state is cut no shorter than this ("AWAI…"): narrower, the terminal wraps the row.
SHORTEST_STATE = 5


def order_choice_labels(orders: list[dict[str, Any]], now: datetime, width: int = 80) -> list[str]:
    """One line per order, lined up, that fits ``width`` columns: an id too long for the room
    left keeps its start and its end (the ids of one batch differ at the end; cut at the end,
    two 64-character ids read the same). Narrower still, the amount goes, then the age, then
    the state is cut short: under ~47 columns each row wrapped onto a second line. The choice
    keeps the id whole."""
    states = max(len(o["state"]) for o in orders)
    amounts = max(len(str(o.get("amount", ""))) for o in orders)
    ages = 8
    longest = max(len(o["order_id"]) for o in orders)
    keep = min(longest, SHORTEST_ID)  # the id's room, before anything else gives way
    room = width - CHOICE_FRAME

    def id_room() -> int:
        return room - (1 + states) - (1 + ages if ages else 0) - (2 + amounts if amounts else 0)

    if id_room() < keep:  # a narrow terminal: the amount goes first
        amounts = 0
    if id_room() < keep:
        ages = 0
    if id_room() < keep:
        states = max(SHORTEST_STATE, room - 1 - keep)
    id_width = min(longest, max(id_room(), SHORTEST_STATE))
    labels = []
    for o in orders:
        shown = short_id(o["order_id"], id_width)
        state = o["state"] if len(o["state"]) <= states else o["state"][: states - 1] + "…"
        label = f"{shown:<{id_width}} {state:<{states}}"
        if ages:
            label += f" {age(o.get('created_at'), now):>{ages}}"
        labels.append(label + (f"  {o.get('amount', ''):>{amounts}}" if amounts else ""))
    return labels


def short_id(order_id: str, longest: int = 24) -> str:
    """The id whole, or its start and end around a "…" (its end tells a batch's ids apart)."""
    if len(order_id) <= longest:
        return order_id
    head = (longest - 1) // 2
    return order_id[:head] + "…" + order_id[len(order_id) - (longest - 1 - head):]


# How long a screen waits for PostgreSQL before it says the database is not answering: a
# stopped (SIGSTOP) PostgreSQL left the screen blank for a minute, then "something unexpected".
DATABASE_WAIT_S = 5.0


class DatabaseDown(Exception):
    """PostgreSQL did not answer a screen's read; the sentence to show."""


async def from_database(service: Any, reading: Awaitable[Any], wait_s: float | None = None) -> Any:
    """``reading``'s result; DatabaseDown if PostgreSQL is out of reach or does not answer in
    ``wait_s`` (DATABASE_WAIT_S), without waiting for the read's cancellation (``within``)."""
    wait_s = DATABASE_WAIT_S if wait_s is None else wait_s
    try:
        return await within(reading, wait_s)
    except asyncio.TimeoutError:
        where = f"PostgreSQL at {service.settings.database_url_redacted}"  # here: a stand-in may have no settings
        raise DatabaseDown(f"{where} did not answer within {wait_s:g} s") from None
    except Exception as error:
        if lost_database(error, service.settings) is not None:
            raise DatabaseDown(f"PostgreSQL at {service.settings.database_url_redacted} is not reachable") from None
        raise


async def needed_from_database(service: Any, reading: Awaitable[Any], cannot: str) -> Any:
    """``reading``'s result, for a screen that cannot go on without it. With PostgreSQL out of
    reach or not answering, StackUnreachable saying what ``cannot`` be done: with PostgreSQL
    stopped (SIGSTOP) such a screen showed nothing, and Ctrl-C did not bring the menu back
    until it was resumed (the screen waited for the read, then for its cancellation)."""
    try:
        return await from_database(service, reading)
    except DatabaseDown as down:
        raise StackUnreachable(f"{down}, so {cannot} now; see the health line.") from None


async def needed_from_temporal(service: Any, console: Console, cannot: str) -> bool:
    """Whether an order worker serves (False) or not (True), for a screen that cannot go on
    without Temporal; StackUnreachable saying what ``cannot`` be done if Temporal does not answer
    (3 s): stopped, it held a start ~30 s, after the whole form, with the bars or a spinner."""
    with keys_not_echoed(), console.status("Checking Temporal…"):
        serving = await service.order_worker_running()  # None: Temporal did not answer
    if serving is None:
        raise StackUnreachable(temporal_silent(service, f"{cannot} now", await service.temporal_found_down()))
    return serving


def temporal_silent(service: Any, consequence: str, down: bool = False) -> str:
    """``down``: Temporal refused the connection ("is not reachable", as a command says it), rather
    than leave the call unanswered ("is not answering")."""
    how = "is not reachable" if down else "is not answering"
    return f"Temporal at {service.settings.temporal_address} {how}, so {consequence}; see the health line."


async def _listed(service: Any, states: list[OrderState] | None) -> list[dict[str, Any]]:
    if states is None:
        return await service.list_orders(limit=PICK_LIMIT)
    return await service.newest_orders([s.value for s in states], limit=PICK_LIMIT)


async def pick_order(
    service: Any,
    console: Console,
    states: list[OrderState] | None,
    action: str,
    *,
    cannot_without: str = "",
    looked: dict[str, dict[str, Any]] | None = None,
    named: bool = True,
    read: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
) -> str:
    """An order id chosen from the newest orders in ``states`` (all states when None). With
    PostgreSQL out of reach there is no list: the id is typed, and the workflow decides (the
    commands go to Temporal, which keeps them, as on the command line), unless the screen
    ``cannot_without`` PostgreSQL (the sentence why): then StackUnreachable. An id typed is
    looked up (``looked_up``), or what the screen shows of it is ``read``, and what came back is
    left in ``looked``, for the screen not to ask again (typed_order_id).
    One picked from the list gets a line of its own ("Order o-1  SHIPPED") unless not ``named``."""
    try:
        with keys_not_echoed(), console.status("Listing orders…"):
            orders = await from_database(service, _listed(service, states))
    except DatabaseDown as down:
        if cannot_without:  # an id typed would only be refused in turn, after another wait
            raise StackUnreachable(f"{down}, so {cannot_without} now; see the health line.") from None
        # As the command line says: the answer ("approved.") alone read as if the order had gone on.
        console.print(
            f"[yellow]{down}, so the orders cannot be listed; type the order's id. The order carries out what"
            " it is sent once PostgreSQL answers again.[/]"
        )
        return (await ask(questionary.text("Order id", validate=order_id_check))).strip()
    if not orders:
        if states is None:
            await pager.say(console, Text(f"There is no order to {action} yet: create one first."))
        else:
            none = " or ".join(s.value for s in states)
            await pager.say(console, Text(f"There is no order to {action} right now (none is {none})."))
        raise Back()
    now = datetime.now(timezone.utc)
    labels = order_choice_labels(orders, now, console.width)
    listed = [Choice(label, value=o["order_id"]) for label, o in zip(labels, orders)]
    choices = listed + [Choice("Type an order id…", value=TYPE_ID), Choice("Back", value=BACK)]
    message = f"Which order to {action}?"
    question = questionary.select(message, choices=choices, instruction=select_hint(message, console.width))
    # Answered, the list goes and the order gets a line of its own, with its id whole: drawn
    # after the question, the row picked ran past the edge ("… AWAITING_APPR" / "OVAL 5s ago").
    question.application.erase_when_done = True
    refit_on_resize(question.application, listed, orders, now)
    picked = await ask(question)
    if picked == BACK:
        raise Back()
    if picked == TYPE_ID:
        picked = await typed_order_id(service, console, states, action, looked, read)
    elif named:
        state = next(o["state"] for o in orders if o["order_id"] == picked)
        console.print(Text.assemble("Order ", (picked, "bold"), "  ", render.state_text(state)))
    return picked


async def typed_order_id(
    service: Any,
    console: Console,
    states: list[OrderState] | None,
    action: str,
    looked: dict[str, dict[str, Any]] | None,
    read: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
) -> str:
    """An id typed, asked again until it names an order ``action`` is allowed for (a typo went
    back to the menu, to open the screen and pick "Type an order id…" again); Ctrl-C/Esc backs out.
    What is read of it, its status or what the screen would ``read`` instead, is left in ``looked``."""
    while True:
        picked = (await ask(questionary.text("Order id", validate=order_id_check))).strip()
        if states is None and read is None:
            return picked
        try:
            if read is not None:
                found = await read(picked)
            else:
                # Not offered, so refused now rather than after a form. Within a limit, with a spinner:
                # with PostgreSQL stopped (SIGSTOP) after the list was read, this waited for ever with
                # nothing shown, and Ctrl-C froze the TUI with it.
                found = await looked_up(console, service, picked)
                if states is not None and found and found["state"] not in {s.value for s in states}:
                    raise Refused(f"Order {picked} is {found['state']}: it cannot be {PAST[action]} now.")
        except (NotFound, Refused) as refusal:
            console.print(Text(str(refusal), style="red"))
            continue
        if looked is not None:
            looked[picked] = found
        return picked


def refit_on_resize(application: Any, choices: list[Choice], orders: list[dict[str, Any]], now: datetime) -> None:
    """The rows made for the terminal's width as it is now: narrowed, each wrapped onto a second line."""
    relabel_on_resize(application, choices, lambda width: order_choice_labels(orders, now, width))


async def answer(console: Console, text: str) -> None:
    """An answer is shown as typed: it may quote an operator's text (a reason, a name in brackets)."""
    await pager.say(console, Text(text, style="green"))


async def sent(console: Console, order_id: str, what: str, command: Callable[..., Awaitable[str]]) -> None:
    """Send a command and show its answer; a spinner while the workflow takes its time (up to
    20 s when a worker is down). Ctrl-C stops the waiting, not the command. ``command``: the
    service's method with its arguments but ``on_sent`` (a partial), which this gives it, to say
    plainly on Ctrl-C whether the command went to Temporal: stopped in the checks before it,
    nothing went out (it said "if it was sent already, may still take effect" either way)."""
    gone = asyncio.Event()
    try:
        with keys_not_echoed(), console.status(f"Waiting for order {order_id} to answer…  (Ctrl-C stops waiting)"):
            reply = await command(on_sent=gone.set)
    except asyncio.CancelledError:
        if gone.is_set():
            stopped = (
                f"Stopped waiting. The {what} was sent and may still take effect; the audit log or the dashboard"
                " will show it."
            )
        else:
            stopped = f"Stopped waiting. The {what} was not sent; nothing was changed."
        await pager.say(console, Text(stopped, style="yellow"))
        raise
    await answer(console, reply)


# What questionary puts around a confirm's question: "? " before its first line, " (Y/n) " after
# its last (then the answer, which the echo breaks anew); every line keeps the last column free.
CONFIRM_BEFORE = 2
CONFIRM_AFTER = 7
# No line of a question is made narrower than this, however narrow the terminal.
NARROWEST_LINE = 10


def fitted(question: str, width: int) -> str:
    """The question broken between words to fit the terminal: the terminal broke a long one
    (an address, a long order id) in the middle of a word. A word longer than a line (a
    64-character id at 60 columns) is broken too: a line of a question wider than the
    terminal is cut, and the id lost its end. Measured in terminal cells, not characters: a
    Japanese address or emoji take two cells a character (lines of 122 cells at 100 columns).
    Only the first line and the last leave room for what questionary draws around them: 12
    columns left free on every line broke "Ship order h4-rev-1 to Ann" at 28 of 40 columns."""
    line = max(NARROWEST_LINE, width - 1)
    first = max(NARROWEST_LINE, line - CONFIRM_BEFORE)
    lines = between_words(question.split(), first, line)
    last = max(NARROWEST_LINE, line - CONFIRM_AFTER)
    if len(lines) == 1 and cell_len(lines[0]) > max(NARROWEST_LINE, last - CONFIRM_BEFORE):
        # The first line is the last too, with "? " and " (Y/n) " around it: its last word goes
        # to a line of its own (41 columns were drawn at 40, and the terminal wrapped "(Y/n)").
        *head, tail = lines[0].split()
        lines = [*between_words(head, first, line), tail] if head else between_words([tail], first - CONFIRM_AFTER, last)
    if cell_len(lines[-1]) > last:  # no room left for " (Y/n) ": the last line broken again, narrower
        lines[-1:] = between_words(lines[-1].split(), last, last)
    return "\n".join(lines)


def between_words(words: list[str], first: int, rest: int) -> list[str]:
    """``words`` on lines of at most ``first`` cells, then ``rest``; a word longer than a line in pieces."""
    lines = [""]
    for word in words:
        room = first if len(lines) == 1 else rest
        if lines[-1] and cell_len(f"{lines[-1]} {word}") <= room:
            lines[-1] += f" {word}"
            continue
        if lines[-1]:
            lines.append("")  # a word that does not fit goes to a line of its own, in pieces if it must
        for char in word:
            if cell_len(lines[-1] + char) > (first if len(lines) == 1 else rest):
                lines.append("")
            lines[-1] += char
    return lines


async def confirmed(console: Console, question: str, *, default: bool) -> bool:
    """The operator's yes; a no says that nothing changed."""
    if await ask(questionary.confirm(fitted(question, console.width), default=default)):
        return True
    console.print("Nothing was changed.")
    return False


def reason_check(command: Callable[..., None], order_id: str) -> Callable[[str], bool | str]:
    """A reason judged as it is typed by the command's own checks (app.checks): one too long
    was refused only after "This cannot be undone?" was answered yes."""

    def check(text: str) -> bool | str:
        try:
            command(order_id, text, by=checks.DEFAULT_BY)
        except InvalidInput as problem:
            return str(problem)
        return True

    return check


async def approve_or_reject(service: Any, console: Console) -> None:
    order_id = await pick_order(service, console, REVIEWABLE, "review")
    decision = await ask(
        questionary.select(
            "Approve or reject?",
            instruction=select_hint("Approve or reject?", console.width),
            choices=[Choice("Approve", value="approve"), Choice("Reject…", value="reject"), Choice("Back", value=BACK)],
        )
    )
    if decision == "approve":
        await sent(console, order_id, "approval", partial(service.approve, order_id, by=checks.DEFAULT_BY))
    elif decision == "reject":
        reason = await ask(questionary.text("Reason for rejecting", validate=reason_check(checks.reject, order_id)))
        if not await confirmed(console, f"Reject order {order_id}? This cannot be undone.", default=False):
            return
        await sent(console, order_id, "rejection", partial(service.reject, order_id, reason, by=checks.DEFAULT_BY))


async def update_address(service: Any, console: Console) -> None:
    looked: dict[str, dict[str, Any]] = {}
    order_id = await pick_order(service, console, CHANGEABLE, "re-address", looked=looked)
    current = looked[order_id] if order_id in looked else await looked_up(console, service, order_id)
    # Another operator's change accepted and not recorded yet: the address may be about to
    # differ, and the workflow takes this one too. It was refused here as "already ships there".
    pending = bool(current.get("address_change_pending"))
    if current.get("address"):  # not looked up (PostgreSQL down): no "Current address:" left blank
        console.print(
            "Current address:", Text(render.address_line(current["address"])),
            Text("(another change to it is being recorded)", style="yellow") if pending else "",
        )
    address = await address_form(current.get("address"))
    if (
        (known := current.get("address"))
        and not pending
        and rules.normalise_address(address)
        == rules.normalise_address(Address(**{field.name: str(known.get(field.name) or "") for field in fields(Address)}))
    ):
        # Refused now rather than after "Ship order … to …? Yes" (the workflow refuses it too).
        console.print(f"Order {order_id} already ships to that address; nothing was changed.")
        return
    if not await confirmed(console, f"Ship order {order_id} to {render.address_line(address.__dict__)}?", default=True):
        return
    changing = partial(service.update_address, order_id, address, by=checks.DEFAULT_BY)
    await sent(console, order_id, "address change", changing)


async def looked_up(console: Console, service: Any, order_id: str) -> dict[str, Any]:
    """The order's status, with a spinner: with its worker stopped the workflow's answer takes
    seconds to give up on, and the screen froze with no sign of life. With PostgreSQL out of
    reach, nothing (the screen says so and goes on without it)."""
    # The workflow's answer may take seconds of its own (a worker stopped): more time.
    wait_s = 2 * DATABASE_WAIT_S
    try:
        with keys_not_echoed(), console.status(f"Looking up order {order_id}…"):
            return await within(service.status(order_id), wait_s)
    except asyncio.TimeoutError:  # PostgreSQL, or Temporal: the status asks both
        console.print(f"[yellow]Order {order_id} could not be looked up within {wait_s:g} s; the workflow decides.[/]")
    except Exception as error:
        if lost_database(error, service.settings) is None:
            raise
        console.print(
            f"[yellow]PostgreSQL at {service.settings.database_url_redacted} is not reachable, so order {order_id}"
            " cannot be looked up; the workflow decides.[/]"
        )
    return {}


def cancel_question(order_id: str, status: dict[str, Any]) -> str:
    """What a cancel would do to the money, as the order stands: a charged payment will be refunded;
    one not charged yet never will be. Asked before the cancel, so it speaks of what will happen.
    (It said "A paid order is refunded" of every order.)"""
    payment = (status.get("payment") or {}).get("status")
    if payment == "CHARGED":
        amount = status.get("amount")
        return f"Cancel order {order_id}? Its payment{f' of {amount}' if amount else ''} will be refunded."
    if status.get("state") == OrderState.APPROVED.value:  # the charge may be under way
        return f"Cancel order {order_id}? If its charge is under way, it will be refunded."
    if not status:  # not looked up: the database is out of reach
        return f"Cancel order {order_id}? If it has been charged, it will be refunded."
    return f"Cancel order {order_id}? It has not been charged."


async def cancel_order(service: Any, console: Console) -> None:
    looked: dict[str, dict[str, Any]] = {}
    order_id = await pick_order(service, console, CHANGEABLE, "cancel", looked=looked)
    reason = await ask(questionary.text("Reason (optional)", validate=reason_check(checks.cancel, order_id)))
    # Afresh, for the money as it stands after the reason; not when the id typed could not be looked up.
    current = {} if looked.get(order_id) == {} else await looked_up(console, service, order_id)
    if not await confirmed(console, cancel_question(order_id, current), default=False):
        return
    await sent(console, order_id, "cancel", partial(service.cancel, order_id, reason, by=checks.DEFAULT_BY))


async def audit_log(service: Any, console: Console) -> None:
    async def read(order_id: str) -> dict[str, Any]:
        cannot = f"the audit log of order {order_id} cannot be read"
        return await needed_from_database(service, service.audit(order_id), cannot)

    audits: dict[str, dict[str, Any]] = {}  # an id typed is read as it is typed: a typo is asked again
    # Not named on a line of its own: the audit's first line names the order and its state.
    order_id = await pick_order(
        service, console, None, "inspect", cannot_without="no audit log can be read", named=False,
        looked=audits, read=read,
    )
    audit = audits[order_id] if order_id in audits else await read(order_id)
    # with the Web UI link to the workflow's history; a timeline taller than the screen through less
    now = datetime.now(timezone.utc)  # an order in flight that has recorded nothing for a while says so
    if not await pager.show(console, lambda c: render_audit.print_audit(c, audit, now), f"Audit of {short_id(order_id)}"):
        await pause()

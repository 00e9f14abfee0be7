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
from rich.console import Console
from rich.text import Text

from app import checks, render, render_audit
from app.errors import InvalidInput, NotFound, Refused, StackUnreachable
from app.tui import pager
from app.tui.forms import address_form, order_id_check
from app.tui.order_labels import order_choice_labels, refit_on_resize, short_id
from app.tui.prompts import Back, ask, keys_not_echoed, pause
from app.tui.question_line import fitted, select_hint
from app.tui.reads import DatabaseDown, from_database, looked_up, needed_from_database
from activities import rules
from workflows.model import BEFORE_DECISION_STATES, PAST_DISPATCH_STATES, Address, OrderState

PICK_LIMIT = 30
PAST = {"review": "reviewed", "re-address": "re-addressed", "cancel": "cancelled"}
TYPE_ID = "\0type"
BACK = "\0back"

REVIEWABLE = [OrderState.AWAITING_APPROVAL, *sorted(BEFORE_DECISION_STATES - {OrderState.AWAITING_APPROVAL})]
CHANGEABLE = [s for s in OrderState if not s.terminal and s not in PAST_DISPATCH_STATES]


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

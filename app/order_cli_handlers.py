"""What each `order` command does, once app.order_cli has parsed it: check, call OrderService,
print (Rich for people, one JSON document with --json).

Each handler runs the service's own input checks (app.checks) before it connects, so bad input
is refused as such even with the stack down. Errors are OperatorErrors, turned into one sentence
and an exit code by app.cli.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from functools import partial
from typing import Any, Awaitable, Callable

from rich.console import Console
from rich.markup import escape

from activities import rules
from app import checks, render, render_audit
from app.errors import InvalidInput
from app.order_cli_input import parse_address, parse_item
from app.service import NO_ORDER_WORKER_WARNING, OrderService, new_order_id


# ---------------------------------------------------------------------- output


def _emit(args: argparse.Namespace, document: Any, human) -> None:
    if args.json:
        json.dump(document, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        human(Console())


def _say(args: argparse.Namespace, order_id: str, message: str, warning: str = "") -> None:
    document = {"order_id": order_id, "accepted": True, "message": message} | ({"warning": warning} if warning else {})

    def human(console: Console) -> None:
        console.print(message, soft_wrap=True)
        if warning:
            console.print(f"[yellow]{escape(warning)}[/]", soft_wrap=True)

    _emit(args, document, human)


# ---------------------------------------------------------------------- handlers


async def _create(args: argparse.Namespace) -> int:
    if not args.items:
        raise InvalidInput("An order needs at least one --item SKU:QTY.")
    # Only an omitted --id or --payment-id gets the default: one given empty is more likely an
    # unset shell variable than a wish for a random id, so it is refused like any malformed id.
    if args.payment_id is not None and not args.payment_id.strip():
        raise InvalidInput(rules.payment_id_problem(args.payment_id))
    order = dict(
        order_id=new_order_id() if args.order_id is None else args.order_id,
        items=[parse_item(text) for text in args.items],
        address=parse_address(args),
        payment_id=args.payment_id,
        review_window_seconds=args.review_window,
    )
    checks.create_order(**order)
    # Ctrl-C stops the waiting, not the start (as for a command, _sent): said with the order's
    # id, which the operator may never have seen (a new one), so that it is not created twice.
    order_id = order["order_id"]
    args.on_interrupt = (
        f"Stopped waiting: order {order_id}, if its start reached Temporal, may still start;"
        f" check with ./start.sh order status {order_id}."
    )
    async with await OrderService.connect() as service:
        created = await service.create_order(**order)
        args.on_interrupt = f"Stopped: order {order_id} was created; see it with ./start.sh order status {order_id}."
        worker_running = await service.order_worker_running()
    args.on_interrupt = None
    document = asdict(created) | {"amount": render.format_cents(created.amount_cents)}
    waiting = NO_ORDER_WORKER_WARNING  # as POST /orders says it
    if worker_running is False:
        document["warning"] = waiting
    if created.already_created:  # a repeated create (a script's retry): the order is there, as asked
        _emit(args, document, lambda c: c.print(
            f"Order [bold]{created.order_id}[/] was already created with these items, address and payment id"
            f" (workflow {created.workflow_id}); nothing new was started, and it is {created.state} now."
            + (f" {waiting}" if worker_running is False else "")
            + (f"\n[yellow]{escape(created.note)}[/]" if created.note else ""),  # as the first create said it
            soft_wrap=True,
        ))
        return 0
    _emit(
        args,
        document,
        lambda c: c.print(
            f"Order [bold]{created.order_id}[/] created for {render.format_cents(created.amount_cents)}"
            f" (workflow {created.workflow_id}); it awaits review once validated."
            + (f" {waiting}" if worker_running is False else "")
            + (f"\n[yellow]{escape(created.note)}[/]" if created.note else ""),
            soft_wrap=True,
        ),
    )
    return 0


async def _sent(
    args: argparse.Namespace, what: str, command: Callable[..., Awaitable[str]], *, recorded: bool = False
) -> None:
    """Connect, send a command (an Update) and say its answer. Ctrl-C stops the waiting, not the
    command; app.cli then says, instead of "Interrupted.", whether it went to Temporal: ``command``
    is an OrderService method with its arguments but the service and ``on_sent`` (a partial), which
    this gives it (the TUI's app.tui.actions.sent does the same). Stopped before it goes out
    (connecting, up to 5 s with PostgreSQL not answering, where it said only "Interrupted."; the
    database's row; the workflow's task), nothing was sent.
    ``recorded``: the order answers only once the database has the outcome (a cancel's ending,
    an address change), so no warning that it records the command once PostgreSQL is back."""
    args.on_interrupt = f"Stopped: the {what} was not sent; nothing was changed."

    def went() -> None:
        args.on_interrupt = (
            f"Stopped waiting: the {what} was sent and may still take effect;"
            f" check with ./start.sh order status {args.order_id}."
        )

    async with await OrderService.connect(**COMMAND_CONNECTION) as service:
        reply = await command(service, on_sent=went)
        # Temporal took it; with PostgreSQL out of reach the order records it once the database is back.
        _say(args, args.order_id, reply, "" if recorded else await service.database_warning())
        args.on_interrupt = None


# Temporal carries the commands, and the order records them once PostgreSQL is back; without
# Temporal the database can still say that the order has ended (a refusal, exit 1, not exit 3).
COMMAND_CONNECTION = {"temporal": "optional", "database": "optional"}
# What a refusal of a malformed --request-id calls it (the service's check says the API's header).
REQUEST_ID_LABEL = "--request-id"


async def _approve(args: argparse.Namespace) -> int:
    checks.approve(args.order_id, by=args.by)
    checks.request_id(args.request_id, REQUEST_ID_LABEL)
    approving = partial(OrderService.approve, order_id=args.order_id, by=args.by, request_id=args.request_id)
    await _sent(args, "approval", approving)
    return 0


async def _reject(args: argparse.Namespace) -> int:
    return await _with_reason(args, checks.reject, OrderService.reject, "rejection")


async def _cancel(args: argparse.Namespace) -> int:
    return await _with_reason(args, checks.cancel, OrderService.cancel, "cancel", recorded=True)


async def _with_reason(
    args: argparse.Namespace, check: Callable[..., None], command: Callable[..., Awaitable[str]], what: str,
    *, recorded: bool = False,
) -> int:
    """A reject or a cancel: the same checks of the id, the reason, who and the request id."""
    check(args.order_id, args.reason, by=args.by)
    checks.request_id(args.request_id, REQUEST_ID_LABEL)
    sending = partial(command, order_id=args.order_id, reason=args.reason, by=args.by, request_id=args.request_id)
    await _sent(args, what, sending, recorded=recorded)
    return 0


async def _address(args: argparse.Namespace) -> int:
    address = parse_address(args)
    try:
        checks.update_address(args.order_id, address, by=args.by)
    except InvalidInput as error:
        if "incomplete" not in str(error):
            raise
        # `--city X` alone reads like a change of the city: say that the whole address is needed.
        raise InvalidInput(
            f"{str(error).rstrip('.')}; `order address` takes the whole new address"
            " (--name, --street, --city, --postal-code, --country, or --address JSON)."
        ) from None
    checks.request_id(args.request_id, REQUEST_ID_LABEL)
    changing = partial(
        OrderService.update_address, order_id=args.order_id, address=address, by=args.by, request_id=args.request_id
    )
    await _sent(args, "address change", changing, recorded=True)
    return 0


async def _status(args: argparse.Namespace) -> int:
    checks.status(args.order_id)
    async with await OrderService.connect(temporal="optional") as service:  # the database answers without it
        status = await service.status(args.order_id)

    def human(console: Console) -> None:
        console.print(render.status_panel(status))
        if (link := render.audit_link(status)) is not None:  # whole, to click or copy
            console.print(link, soft_wrap=True)
        if status.get("reset_command"):  # on one line, to copy (the panel wraps it)
            console.print(f"To go on from where it stopped: {escape(status['reset_command'])}", soft_wrap=True)

    _emit(args, status, human)
    return 0


async def _list(args: argparse.Namespace) -> int:
    state = checks.list_orders(state=args.state, limit=args.limit, offset=args.offset)
    async with await OrderService.connect(temporal=False) as service:  # it reads only the database
        document, counts = await service.order_page(state=state, limit=args.limit, offset=args.offset)
    orders = document["orders"]

    def human(console: Console) -> None:
        if orders:
            console.print(render.orders_table(orders, width=console.width))
        console.print(
            render.page_line(len(orders), args.offset, document["total"], state, sum(counts.values())),
            style="dim",
            soft_wrap=True,
        )

    _emit(args, document, human)
    return 0


async def _audit(args: argparse.Namespace) -> int:
    checks.audit(args.order_id)
    async with await OrderService.connect(temporal="optional") as service:  # the audit is the database's
        audit = await service.audit(args.order_id)
    now = datetime.now(timezone.utc)  # an order in flight that has recorded nothing for a while says so
    _emit(args, audit, lambda c: render_audit.print_audit(c, audit, now))
    return 0


async def _catalog(args: argparse.Namespace) -> int:
    async with await OrderService.connect(temporal=False) as service:  # it reads only the database
        products = await service.catalog()
    document = {
        "products": [
            {"sku": p.sku, "name": p.name, "price_cents": p.price_cents, "price": render.format_cents(p.price_cents)}
            for p in products
        ]
    }
    _emit(args, document, lambda c: c.print(render.catalog_table(products)))
    return 0

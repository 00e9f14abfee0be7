"""The API's commands: create an order, and the operator's approve, reject, cancel and address
change, each with an optional Idempotency-Key."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from activities import rules
from app.api_bodies import (
    AddressChangeIn, CancelIn, CommandOut, CreatedOut, CreateOrderIn, DecisionIn, RejectIn, Service, error_answers,
    idempotency_key,
)
from app.errors import InvalidInput
from app.service import NO_ORDER_WORKER_WARNING, OrderService, OtherContent, keyed_order_id, new_order_id
from workflows.model import OrderItem, format_cents

commands = APIRouter()


@commands.post(
    "/orders", status_code=201,
    responses={
        200: {"model": CreatedOut, "description": "Already created: the same order was created before (a retry)"},
        **error_answers(409, 413, 415, 422),
    },
    response_model=CreatedOut, response_model_exclude_none=True,
)
async def create_order(
    response: Response, service: Service, body: CreateOrderIn, key: str | None = Depends(idempotency_key)
) -> CreatedOut:
    # Only an omitted payment id gets the default pay-<id>: a blank one is refused, as in the CLI.
    if body.payment_id is not None and not body.payment_id.strip():
        raise InvalidInput(rules.payment_id_problem(body.payment_id))
    if body.order_id is not None:  # only an omitted id gets a new one: "" is refused as malformed, as in the CLI
        order_id = body.order_id
    else:  # a retry under the same key is the same order (answered as already created)
        order_id = new_order_id() if key is None else keyed_order_id(key)
    try:
        created = await service.create_order(
            order_id=order_id,
            items=[OrderItem(sku=i.sku.strip().upper(), quantity=i.quantity) for i in body.items],
            address=body.address.to_model(),
            payment_id=body.payment_id,
            review_window_seconds=body.review_window_seconds,
        )
    except OtherContent as other:
        if body.order_id is not None or key is None:
            raise
        # The id is the key's, not one the client chose: its reuse with another body is the
        # client's mistake, a 422 as the IETF's Idempotency-Key draft has it.
        raise InvalidInput(
            f"This Idempotency-Key was sent before with another order ({order_id}, with {other.said});"
            " send a new order under a new key."
        ) from None
    if created.already_created:  # a retry: the same answer as the first, but nothing was created now
        response.status_code = 200
    # Exact money as every other answer gives it ("59.97"), beside the cents, as the CLI's create --json.
    waiting = await service.order_worker_running() is False
    return CreatedOut(
        **created.__dict__, amount=format_cents(created.amount_cents),
        warning=NO_ORDER_WORKER_WARNING if waiting else None,
    )


async def answered(service: OrderService, order_id: str, message: str, recorded: bool = False) -> CommandOut:
    """``recorded``: the order answered once the database had the outcome (a cancel's ending,
    an address change), so no warning that it records the command once PostgreSQL is back."""
    warning = "" if recorded else await service.database_warning()
    return CommandOut(order_id=order_id, accepted=True, message=message, warning=warning or None)


# Without a warning the answer has no such field, as `order approve --json` has none.
command = dict(response_model=CommandOut, response_model_exclude_none=True)


@commands.post("/orders/{order_id}/approve", responses=error_answers(404, 409, 413, 415, 422), **command)
async def approve(
    service: Service, order_id: str, body: DecisionIn | None = None, key: str | None = Depends(idempotency_key)
) -> CommandOut:
    message = await service.approve(order_id, by=(body or DecisionIn()).by, request_id=key)
    return await answered(service, order_id, message)


@commands.post("/orders/{order_id}/reject", responses=error_answers(404, 409, 413, 415, 422), **command)
async def reject(
    service: Service, order_id: str, body: RejectIn, key: str | None = Depends(idempotency_key)
) -> CommandOut:
    message = await service.reject(order_id, body.reason, by=body.by, request_id=key)
    return await answered(service, order_id, message)


@commands.post("/orders/{order_id}/cancel", responses=error_answers(404, 409, 413, 415, 422), **command)
async def cancel(
    service: Service, order_id: str, body: CancelIn | None = None, key: str | None = Depends(idempotency_key)
) -> CommandOut:
    body = body or CancelIn()
    message = await service.cancel(order_id, body.reason, by=body.by, request_id=key)
    return await answered(service, order_id, message, recorded=True)


@commands.put("/orders/{order_id}/address", responses=error_answers(404, 409, 413, 415, 422), **command)
async def change_address(
    service: Service, order_id: str, body: AddressChangeIn, key: str | None = Depends(idempotency_key)
) -> CommandOut:
    message = await service.update_address(order_id, body.address.to_model(), by=body.by, request_id=key)
    return await answered(service, order_id, message, recorded=True)

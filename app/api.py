"""The REST API: a thin shell over OrderService, like the CLI and the TUI. OpenAPI docs at
/docs. Operator errors map to HTTP statuses with the same one-sentence reasons (app/api_errors.py);
the bodies are app/api_bodies.py's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any, AsyncIterator, Awaitable, TypeVar

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi_offline import FastAPIOffline

from activities import rules
from app.api_bodies import (
    AddressChangeIn, CancelIn, CommandOut, CreatedOut, CreateOrderIn, DecisionIn, PlainWhole, RejectIn, error_answers,
    idempotency_key, no_unknown_query,
)
from app.api_body_limit import BodyLimit
from app.api_errors import answer_errors
from app.checks import MAX_OFFSET, MAX_PAGE_SIZE
from app.errors import InvalidInput, StackUnreachable
from app.service import NO_ORDER_WORKER_WARNING, OrderService, OtherContent, keyed_order_id, new_order_id
from app.waiting import within
from workflows.model import OrderItem, format_cents

log = logging.getLogger("app.api")
T = TypeVar("T")

# How long a read waits before its answer is a 503: with PostgreSQL stopped (SIGSTOP) every GET
# waited a minute, then answered 500 "something unexpected" (asyncpg's command timeout). The
# status's Query to the workflow has its own 3 s within it.
READ_WAIT_S = 10.0


def create_app(service: OrderService | None = None) -> FastAPI:
    """The app; with no service given it connects on start-up and closes on shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = service or await OrderService.connect(pool_size=10)
        try:
            yield
        finally:
            if service is None:
                await app.state.service.close()

    # /docs and /redoc with Swagger UI and ReDoc served from the installed package: FastAPI's own
    # pages load them from cdn.jsdelivr.net, and stayed blank on a machine without the internet.
    app = FastAPIOffline(
        title="Order Tracker", version="1.0", lifespan=lifespan, dependencies=[Depends(no_unknown_query)]
    )
    app.add_middleware(BodyLimit)
    answer_errors(app)

    def svc(request: Request) -> OrderService:
        return request.app.state.service

    async def read(request: Request, reading: Awaitable[T], asks_temporal: bool = False) -> T:
        """``reading``'s result, or a 503 saying PostgreSQL did not answer in READ_WAIT_S (or,
        for a read that also asks Temporal, that one of the two did not); the read is left to
        end by itself (app.waiting.within: asyncpg's cancel would ask the stopped server too)."""
        try:
            return await within(reading, READ_WAIT_S)
        except asyncio.TimeoutError:
            settings = svc(request).settings
            log.warning("event=api_read_timed_out path=%s wait_s=%s", request.url.path, READ_WAIT_S)
            if asks_temporal:  # a slow Temporal can use the wait up on its own (a review)
                raise StackUnreachable(
                    f"PostgreSQL at {settings.database_url_redacted} or Temporal at {settings.temporal_address}"
                    f" did not answer within {READ_WAIT_S:g} s; see which with ./start.sh status."
                ) from None
            raise StackUnreachable(
                f"PostgreSQL at {settings.database_url_redacted} did not answer within {READ_WAIT_S:g} s;"
                f" {settings.database_remedy}."
            ) from None

    @app.get("/catalog", responses=error_answers())
    async def catalog(request: Request) -> list[dict[str, Any]]:
        products = await read(request, svc(request).catalog())
        # Exact money beside the cents, as `order catalog --json` and every amount give it.
        return [
            {"sku": p.sku, "name": p.name, "price_cents": p.price_cents, "price": format_cents(p.price_cents)}
            for p in products
        ]

    @app.get("/orders", responses=error_answers(422))
    async def list_orders(
        request: Request,
        state: str | None = None,
        limit: Annotated[PlainWhole, Query(description=f"1 to {MAX_PAGE_SIZE}")] = 50,
        offset: Annotated[PlainWhole, Query(description=f"0 to {MAX_OFFSET}")] = 0,
    ) -> dict[str, Any]:
        # Bounds are the service's (app.checks), refused with its sentence like every other input.
        page, _counts = await read(request, svc(request).order_page(state=state, limit=limit, offset=offset))
        return page

    @app.get("/orders/counts", responses=error_answers())
    async def counts(request: Request) -> dict[str, int]:
        return await read(request, svc(request).state_counts())

    @app.post(
        "/orders", status_code=201,
        responses={
            200: {"model": CreatedOut, "description": "Already created: the same order was created before (a retry)"},
            **error_answers(409, 413, 415, 422),
        },
        response_model=CreatedOut, response_model_exclude_none=True,
    )
    async def create_order(
        request: Request, response: Response, body: CreateOrderIn, key: str | None = Depends(idempotency_key)
    ) -> CreatedOut:
        service = svc(request)
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

    @app.get("/orders/{order_id}", responses=error_answers(404, 422, not_yet_recorded=True))
    async def status(request: Request, order_id: str) -> dict[str, Any]:
        return await read(request, svc(request).status(order_id), asks_temporal=True)

    @app.get("/orders/{order_id}/audit", responses=error_answers(404, 422, not_yet_recorded=True))
    async def audit(request: Request, order_id: str) -> dict[str, Any]:
        return await read(request, svc(request).audit(order_id))

    async def answered(request: Request, order_id: str, message: str, recorded: bool = False) -> CommandOut:
        """``recorded``: the order answered once the database had the outcome (a cancel's ending,
        an address change), so no warning that it records the command once PostgreSQL is back."""
        warning = "" if recorded else await svc(request).database_warning()
        return CommandOut(order_id=order_id, accepted=True, message=message, warning=warning or None)

    # Without a warning the answer has no such field, as `order approve --json` has none.
    command = dict(response_model=CommandOut, response_model_exclude_none=True)

    @app.post("/orders/{order_id}/approve", responses=error_answers(404, 409, 413, 415, 422), **command)
    async def approve(
        request: Request, order_id: str, body: DecisionIn | None = None, key: str | None = Depends(idempotency_key)
    ) -> CommandOut:
        message = await svc(request).approve(order_id, by=(body or DecisionIn()).by, request_id=key)
        return await answered(request, order_id, message)

    @app.post("/orders/{order_id}/reject", responses=error_answers(404, 409, 413, 415, 422), **command)
    async def reject(
        request: Request, order_id: str, body: RejectIn, key: str | None = Depends(idempotency_key)
    ) -> CommandOut:
        message = await svc(request).reject(order_id, body.reason, by=body.by, request_id=key)
        return await answered(request, order_id, message)

    @app.post("/orders/{order_id}/cancel", responses=error_answers(404, 409, 413, 415, 422), **command)
    async def cancel(
        request: Request, order_id: str, body: CancelIn | None = None, key: str | None = Depends(idempotency_key)
    ) -> CommandOut:
        body = body or CancelIn()
        message = await svc(request).cancel(order_id, body.reason, by=body.by, request_id=key)
        return await answered(request, order_id, message, recorded=True)

    @app.put("/orders/{order_id}/address", responses=error_answers(404, 409, 413, 415, 422), **command)
    async def change_address(
        request: Request, order_id: str, body: AddressChangeIn, key: str | None = Depends(idempotency_key)
    ) -> CommandOut:
        message = await svc(request).update_address(order_id, body.address.to_model(), by=body.by, request_id=key)
        return await answered(request, order_id, message, recorded=True)

    return app

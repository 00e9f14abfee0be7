"""The API's reads: the catalog, the order list and its counts, an order's status and audit
timeline, each answered within READ_WAIT_S or as a 503."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Awaitable, TypeVar

from fastapi import APIRouter, Query, Request

from app.api_bodies import PlainWhole, Service, error_answers, order_service
from app.checks import MAX_OFFSET, MAX_PAGE_SIZE
from app.errors import StackUnreachable
from app.waiting import within
from workflows.model import format_cents

log = logging.getLogger("app.api")
T = TypeVar("T")

# How long a read waits before its answer is a 503: with PostgreSQL stopped (SIGSTOP) every GET
# waited a minute, then answered 500 "something unexpected" (asyncpg's command timeout). The
# status's Query to the workflow has its own 3 s within it.
READ_WAIT_S = 10.0

reads = APIRouter()


async def read(request: Request, reading: Awaitable[T], asks_temporal: bool = False) -> T:
    """``reading``'s result, or a 503 saying PostgreSQL did not answer in READ_WAIT_S (or,
    for a read that also asks Temporal, that one of the two did not); the read is left to
    end by itself (app.waiting.within: asyncpg's cancel would ask the stopped server too)."""
    try:
        return await within(reading, READ_WAIT_S)
    except asyncio.TimeoutError:
        settings = (await order_service(request)).settings
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


@reads.get("/catalog", responses=error_answers())
async def catalog(request: Request, service: Service) -> list[dict[str, Any]]:
    products = await read(request, service.catalog())
    # Exact money beside the cents, as `order catalog --json` and every amount give it.
    return [
        {"sku": p.sku, "name": p.name, "price_cents": p.price_cents, "price": format_cents(p.price_cents)}
        for p in products
    ]


@reads.get("/orders", responses=error_answers(422))
async def list_orders(
    request: Request,
    service: Service,
    state: str | None = None,
    limit: Annotated[PlainWhole, Query(description=f"1 to {MAX_PAGE_SIZE}")] = 50,
    offset: Annotated[PlainWhole, Query(description=f"0 to {MAX_OFFSET}")] = 0,
) -> dict[str, Any]:
    # Bounds are the service's (app.checks), refused with its sentence like every other input.
    page, _counts = await read(request, service.order_page(state=state, limit=limit, offset=offset))
    return page


@reads.get("/orders/counts", responses=error_answers())
async def counts(request: Request, service: Service) -> dict[str, int]:
    return await read(request, service.state_counts())


@reads.get("/orders/{order_id}", responses=error_answers(404, 422, not_yet_recorded=True))
async def status(request: Request, service: Service, order_id: str) -> dict[str, Any]:
    return await read(request, service.status(order_id), asks_temporal=True)


@reads.get("/orders/{order_id}/audit", responses=error_answers(404, 422, not_yet_recorded=True))
async def audit(request: Request, service: Service, order_id: str) -> dict[str, Any]:
    return await read(request, service.audit(order_id))

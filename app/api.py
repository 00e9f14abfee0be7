"""The REST API: a thin shell over OrderService, like the CLI and the TUI. OpenAPI docs at
/docs. Operator errors map to HTTP statuses with the same one-sentence reasons."""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import logging
from typing import Annotated, Any, AsyncIterator, Awaitable, TypeVar

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from temporalio.service import RPCError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException

from activities import rules
from app.api_body_limit import BodyLimit
from app import checks
from app.checks import MAX_OFFSET, MAX_PAGE_SIZE, MAX_REQUEST_ID, cut
from app.cli_numbers import plain_whole
from app.errors import (
    InvalidInput, NotFound, NotYetRecorded, OperatorError, Refused, StackUnreachable, Taken, TemporalRefused,
    lost_database, temporal_refused,
)
from app.service import (
    NEW_ORDER_ID_FORM, NO_ANSWER, NO_ORDER_WORKER_WARNING, OrderService, OtherContent, keyed_order_id, new_order_id,
)
from app.service.temporal_errors import temporal_down
from app.waiting import within
from workflows.model import Address, OrderItem, format_cents

log = logging.getLogger("app.api")
T = TypeVar("T")

# How long a read waits before its answer is a 503: with PostgreSQL stopped (SIGSTOP) every GET
# waited a minute, then answered 500 "something unexpected" (asyncpg's command timeout). The
# status's Query to the workflow has its own 3 s within it.
READ_WAIT_S = 10.0

# The first that fits: a taken id is a conflict, not a malformed request.
# Temporal refusing the API's own credentials is a bad gateway: the client cannot mend it.
STATUS_BY_ERROR = {
    Taken: 409, InvalidInput: 422, Refused: 409, NotFound: 404, StackUnreachable: 503, TemporalRefused: 502,
}


# Pydantic's kinds of "not an object" where the schema wants one ("Input should be a valid
# dictionary or object to extract fields from").
NOT_AN_OBJECT = frozenset({"model_type", "model_attributes_type", "dict_type"})
# GET /orders's page bounds, refused in the sentence of one out of range when they are no number.
PAGE_BOUNDS = {"limit": (1, MAX_PAGE_SIZE), "offset": (0, MAX_OFFSET)}


def _quantity_problem(error: dict[str, Any], body: Any) -> str | None:
    """An item's quantity that is no whole number (1.5, "2", true), in the words of one that is
    not positive: it was Pydantic's "items.0.quantity: Input should be a valid integer."."""
    loc = tuple(error.get("loc", ()))
    if len(loc) != 4 or loc[:2] != ("body", "items") or loc[3] != "quantity":
        return None
    if not str(error.get("type")).startswith("int_"):
        return None
    try:
        sku = body["items"][loc[2]]["sku"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(sku, str):
        return None
    given = rules.quoted(error.get("input"))
    return f"The quantity of {rules.quoted(sku.strip().upper())} must be a positive whole number, not {given}."


def sent_as_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body with this Content-Type as JSON: application/json or
    application/*+json (as fastapi.routing does). A body without one is not read as JSON
    (FastAPI's strict_content_type, on by default since 0.132)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def idempotency_key(
    key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description=f"1 to {MAX_REQUEST_ID} printable ASCII characters, chosen by the client (a UUID, say) and sent"
        " again with a retry of the same request. POST /orders without an order_id: the new order id is derived"
        " from it (ord- and 16 hex digits), so a retry is the same order and is answered 200 with already_created:"
        " true, and the key sent again with another order's items, address or payment id is refused with 422; with"
        " an order_id, the order id is the key and this header is not used. A command (approve, reject,"
        " cancel, address): a retry under the same key is answered with the first one's outcome, and the order"
        " does not carry it out again; the key sent again with another body is refused with 422.",
    ),
) -> str | None:
    """The client's Idempotency-Key, checked; None without one."""
    checks.request_id(key)
    return key


class ErrorOut(BaseModel):
    """Every refusal and failure: one sentence."""

    detail: str


def _errors(*statuses: int, not_yet_recorded: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of the error answers a route gives: each a {"detail": sentence}
    (422 too, not FastAPI's list of validation errors), and 502, 503 and 500 from every route.
    ``not_yet_recorded``: a read of one order, whose 503 may also be an order started and not
    yet recorded, with Retry-After."""
    said = {
        404: "No such order",
        409: "Refused by the order, or the id (or payment id) is already taken",
        413: "A body larger than 1 MiB",
        415: "A body not sent as JSON (Content-Type: application/json)",
        422: "Bad input",
        502: "Temporal refused the API's credentials",
        503: "A part of the stack is not answering",
        500: "A bug (logged)",
    }
    answers: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorOut, "description": said[status]} for status in (*statuses, 502, 503, 500)
    }
    if not_yet_recorded:
        answers[503] = {
            "model": ErrorOut,
            "description": f"{said[503]}, or the order has been started but not yet recorded (try again after"
            " Retry-After)",
            "headers": {
                "Retry-After": {
                    "description": "Only for an order not yet recorded: seconds to wait before asking again",
                    "schema": {"type": "integer"},
                },
            },
        }
    return answers


class CreatedOut(BaseModel):
    """An order started: its amount as exact money ("59.97") beside the cents, as `order create --json`."""

    order_id: str
    workflow_id: str
    payment_id: str
    amount_cents: int
    amount: str
    state: str = Field(description="RECEIVED for an order just created; its state now if it was already created")
    already_created: bool = Field(
        False,
        description="true when the order with this id and the same items, address and payment id existed already"
        " (a retried create, answered 200 instead of 201): nothing new was started",
    )
    note: str = Field("", description="What will follow, say that the carrier does not deliver there; empty if nothing")
    warning: str | None = Field(
        None, description="Only when no order worker is serving: the order waits until one does (as the CLI warns)"
    )


class CommandOut(BaseModel):
    """An operator's command the order accepted, in its own words."""

    order_id: str
    accepted: bool
    message: str
    warning: str | None = Field(
        None,
        description="Only when PostgreSQL is out of reach after an approve or a reject: Temporal took the command,"
        " and the order records it and goes on once PostgreSQL answers again (as the CLI and the TUI warn); a"
        " cancel or an address change answers only once the database has it",
    )


def _plain_whole(value: Any) -> Any:
    """A query's number in plain decimal, as the command line reads it: pydantic also took
    "1_0" as 10, " 5" and "10.0"; refused as "abc" is."""
    if isinstance(value, str) and plain_whole(value) is None:
        raise PydanticCustomError("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
    return value


PlainWhole = Annotated[int, BeforeValidator(_plain_whole)]


class _In(BaseModel):
    """Strict: a JSON true is not a quantity of 1, nor "2" a number (the CLI refuses both); and a
    field it does not know is refused, not dropped (a typo such as review_window_s was ignored,
    and the order got the default)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class AddressIn(_In):
    name: str
    street: str
    city: str
    postal_code: str
    country: str = Field(description="ISO 3166 alpha-2, e.g. US")
    region: str = ""

    def to_model(self) -> Address:
        return Address(**self.model_dump())


class ItemIn(_In):
    sku: str
    quantity: int


class CreateOrderIn(_In):
    order_id: str | None = Field(None, description=f"default: a new {NEW_ORDER_ID_FORM}")
    items: list[ItemIn]
    address: AddressIn
    payment_id: str | None = None
    review_window_seconds: float | None = None


class DecisionIn(_In):
    by: str = checks.DEFAULT_BY


class RejectIn(_In):
    reason: str
    by: str = checks.DEFAULT_BY


class CancelIn(_In):
    reason: str = ""
    by: str = checks.DEFAULT_BY


class AddressChangeIn(_In):
    address: AddressIn
    by: str = checks.DEFAULT_BY


def _no_unknown_query(request: Request) -> None:
    """A query parameter the path does not take, or one given twice, is refused, as an unknown
    body field is: with `GET /orders?sate=PAID` (a typo) every order came back, unfiltered, with
    200 (a review)."""
    route = request.scope.get("route")
    if route is not None and not getattr(route, "include_in_schema", True):
        # The docs pages (fastapi_offline adds them as routes, FastAPI did not): /docs?x=1 and
        # the OAuth redirect's ?code=...&state=... were refused, /openapi.json?x=1 was not.
        return
    known = _query_names(route.dependant) if route else set()
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
        raise InvalidInput(f"{request.url.path} has no query parameter {cut(unknown[0])!r}; {takes}.")
    # FastAPI keeps the last of a parameter given twice: `?state=CANCELLED&state=PAID` listed
    # the PAID orders alone, with 200, to a client that meant either.
    repeated = sorted(name for name in known if len(request.query_params.getlist(name)) > 1)
    if repeated:
        times = len(request.query_params.getlist(repeated[0]))
        raise InvalidInput(f"{request.url.path} takes query parameter {repeated[0]!r} once, not {times} times.")


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route takes, its dependencies' included (FastAPI's Dependant)."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


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
        title="Order Tracker", version="1.0", lifespan=lifespan, dependencies=[Depends(_no_unknown_query)]
    )
    app.add_middleware(BodyLimit)

    @app.exception_handler(OperatorError)
    async def operator_error(_request: Request, error: OperatorError) -> JSONResponse:
        status = next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind)), 400)
        # An order started and not yet recorded is there in a moment: a 404 said "no such order".
        headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, NotYetRecorded) else None
        return JSONResponse({"detail": str(error)}, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        """FastAPI's own refusals; a body it cannot decode (not UTF-8) is bad input like any
        other (422, one sentence), not its 400 "There was an error parsing the body"; a path or
        method it does not have, a sentence saying which, not "Not Found"."""
        if error.status_code == 400 and error.detail == "There was an error parsing the body":
            return JSONResponse({"detail": "The request body is not valid JSON."}, status_code=422)
        path = request.url.path if len(request.url.path) <= 80 else request.url.path[:80] + "…"
        if error.status_code == 404 and error.detail == "Not Found":
            detail = f"There is no {request.method} {path} in this API; /docs lists what there is."
            return JSONResponse({"detail": detail}, status_code=404)
        if error.status_code == 405:
            detail = f"{request.method} is not allowed on {path}; /docs lists what there is."
            return JSONResponse({"detail": detail}, status_code=405, headers=error.headers)
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, error: RequestValidationError) -> JSONResponse:
        """A body or query that does not fit the schema: one sentence, like every refusal."""
        first = error.errors()[0] if error.errors() else {}
        if first.get("type") == "json_invalid":
            return JSONResponse({"detail": "The request body is not valid JSON."}, status_code=422)
        if first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",):
            return JSONResponse({"detail": "The request needs a JSON body."}, status_code=422)
        where = ".".join(cut(str(part)) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
        if (quantity := _quantity_problem(first, error.body)) is not None:
            return JSONResponse({"detail": quantity}, status_code=422)
        if tuple(first.get("loc", ()))[:1] == ("query",) and where in PAGE_BOUNDS:
            # It was Pydantic's "limit: Input should be a valid integer, unable to parse string as an integer."
            low, high = PAGE_BOUNDS[where]
            given = cut(str(first.get("input", "")))
            return JSONResponse(
                {"detail": f"The {where} must be a whole number between {low} and {high}, not {given!r}."}, status_code=422
            )
        if first.get("type") == "extra_forbidden":
            return JSONResponse({"detail": f"The request has a field this API does not know: {where}."}, status_code=422)
        if first.get("type") in NOT_AN_OBJECT:
            if where:
                return JSONResponse({"detail": f"{where} must be a JSON object."}, status_code=422)
            # A body sent as text (or a form) is not read as JSON at all, whatever it holds.
            if not sent_as_json(request.headers.get("content-type")):
                return JSONResponse(
                    {"detail": "The request body must be a JSON object, sent as Content-Type: application/json."},
                    status_code=415,
                )
            return JSONResponse({"detail": "The request body must be a JSON object."}, status_code=422)
        message = str(first.get("msg", "invalid input")).rstrip(".")
        return JSONResponse({"detail": f"{where or 'The request'}: {message}."}, status_code=422)

    @app.middleware("http")
    async def unexpected(request: Request, call_next: Any) -> Any:
        """What no handler above knows: the stack went away under the API (503, as at start-up),
        or a bug (500). One sentence either way, never Starlette's plain-text 500; the
        traceback goes to the log."""
        try:
            return await call_next(request)
        except Exception as error:
            settings = svc(request).settings
            if (lost := lost_database(error, settings)) is not None:
                log.warning("event=api_database_lost path=%s error=%r", request.url.path, error)
                return JSONResponse({"detail": str(lost)}, status_code=503)
            if (refused := temporal_refused(error, settings.temporal_address)) is not None:
                # Not a bug (500 with a traceback): Temporal answered, and said no to the API's credentials.
                log.warning("event=api_temporal_refused path=%s error=%r", request.url.path, error)
                return JSONResponse({"detail": str(refused)}, status_code=502)
            if isinstance(error, RPCError) and error.status in NO_ANSWER:
                log.warning("event=api_temporal_no_answer path=%s error=%r", request.url.path, error)
                how = "is not reachable" if temporal_down(error) else "is not answering"
                return JSONResponse(
                    # Its remedy: `up` starts a server of ours that is down, but cannot resume one
                    # that is stopped (SIGSTOP), which then says kill -CONT; a server of theirs, check it.
                    # Refused or dropped (down) is "not reachable", as the command line says it.
                    {"detail": f"Temporal at {settings.temporal_address} {how}; {settings.temporal_remedy}."},
                    status_code=503,
                )
            log.exception("event=api_unexpected_error method=%s path=%s", request.method, request.url.path)
            return JSONResponse(
                {"detail": "Something unexpected went wrong; the details are in the API's log (./start.sh logs api)."},
                status_code=500,
            )

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

    @app.get("/catalog", responses=_errors())
    async def catalog(request: Request) -> list[dict[str, Any]]:
        products = await read(request, svc(request).catalog())
        # Exact money beside the cents, as `order catalog --json` and every amount give it.
        return [
            {"sku": p.sku, "name": p.name, "price_cents": p.price_cents, "price": format_cents(p.price_cents)}
            for p in products
        ]

    @app.get("/orders", responses=_errors(422))
    async def list_orders(
        request: Request,
        state: str | None = None,
        limit: Annotated[PlainWhole, Query(description=f"1 to {MAX_PAGE_SIZE}")] = 50,
        offset: Annotated[PlainWhole, Query(description=f"0 to {MAX_OFFSET}")] = 0,
    ) -> dict[str, Any]:
        # Bounds are the service's (app.checks), refused with its sentence like every other input.
        page, _counts = await read(request, svc(request).order_page(state=state, limit=limit, offset=offset))
        return page

    @app.get("/orders/counts", responses=_errors())
    async def counts(request: Request) -> dict[str, int]:
        return await read(request, svc(request).state_counts())

    @app.post(
        "/orders", status_code=201,
        responses={
            200: {"model": CreatedOut, "description": "Already created: the same order was created before (a retry)"},
            **_errors(409, 413, 415, 422),
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

    @app.get("/orders/{order_id}", responses=_errors(404, 422, not_yet_recorded=True))
    async def status(request: Request, order_id: str) -> dict[str, Any]:
        return await read(request, svc(request).status(order_id), asks_temporal=True)

    @app.get("/orders/{order_id}/audit", responses=_errors(404, 422, not_yet_recorded=True))
    async def audit(request: Request, order_id: str) -> dict[str, Any]:
        return await read(request, svc(request).audit(order_id))

    async def answered(request: Request, order_id: str, message: str, recorded: bool = False) -> CommandOut:
        """``recorded``: the order answered once the database had the outcome (a cancel's ending,
        an address change), so no warning that it records the command once PostgreSQL is back."""
        warning = "" if recorded else await svc(request).database_warning()
        return CommandOut(order_id=order_id, accepted=True, message=message, warning=warning or None)

    # Without a warning the answer has no such field, as `order approve --json` has none.
    command = dict(response_model=CommandOut, response_model_exclude_none=True)

    @app.post("/orders/{order_id}/approve", responses=_errors(404, 409, 413, 415, 422), **command)
    async def approve(
        request: Request, order_id: str, body: DecisionIn | None = None, key: str | None = Depends(idempotency_key)
    ) -> CommandOut:
        message = await svc(request).approve(order_id, by=(body or DecisionIn()).by, request_id=key)
        return await answered(request, order_id, message)

    @app.post("/orders/{order_id}/reject", responses=_errors(404, 409, 413, 415, 422), **command)
    async def reject(
        request: Request, order_id: str, body: RejectIn, key: str | None = Depends(idempotency_key)
    ) -> CommandOut:
        message = await svc(request).reject(order_id, body.reason, by=body.by, request_id=key)
        return await answered(request, order_id, message)

    @app.post("/orders/{order_id}/cancel", responses=_errors(404, 409, 413, 415, 422), **command)
    async def cancel(
        request: Request, order_id: str, body: CancelIn | None = None, key: str | None = Depends(idempotency_key)
    ) -> CommandOut:
        body = body or CancelIn()
        message = await svc(request).cancel(order_id, body.reason, by=body.by, request_id=key)
        return await answered(request, order_id, message, recorded=True)

    @app.put("/orders/{order_id}/address", responses=_errors(404, 409, 413, 415, 422), **command)
    async def change_address(
        request: Request, order_id: str, body: AddressChangeIn, key: str | None = Depends(idempotency_key)
    ) -> CommandOut:
        message = await svc(request).update_address(order_id, body.address.to_model(), by=body.by, request_id=key)
        return await answered(request, order_id, message, recorded=True)

    return app

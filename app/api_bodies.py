"""What the API's requests and answers hold: the bodies (Pydantic models, strict), the
Idempotency-Key header, the query parameters a path takes, and the OpenAPI description of the
error answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from app import checks
from app.checks import MAX_REQUEST_ID, cut
from app.cli_numbers import plain_whole
from app.errors import InvalidInput
from app.service import NEW_ORDER_ID_FORM, OrderService
from workflows.model import Address


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


def error_answers(*statuses: int, not_yet_recorded: bool = False) -> dict[int | str, dict[str, Any]]:
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


async def order_service(request: Request) -> OrderService:
    """The OrderService every route answers with: the app's, made by its lifespan (app.api)."""
    return request.app.state.service


Service = Annotated[OrderService, Depends(order_service)]


def no_unknown_query(request: Request) -> None:
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

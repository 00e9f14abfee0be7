"""How the API answers what goes wrong, each in one sentence with the HTTP status a client acts
on: an operator's error, FastAPI's own refusals, a body or query that does not fit the schema,
and what no handler knows (the stack gone from under the API, or a bug)."""

from __future__ import annotations

import email.message
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from activities import rules
from app.checks import MAX_OFFSET, MAX_PAGE_SIZE, cut
from app.errors import (
    InvalidInput, NotFound, NotYetRecorded, OperatorError, Refused, StackUnreachable, Taken, TemporalRefused,
    lost_database, temporal_refused,
)
from app.service import NO_ANSWER
from app.service.temporal_errors import temporal_down

log = logging.getLogger("app.api")

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


def answer_errors(app: FastAPI) -> None:
    """Give ``app`` the answers below. Call it after adding the app's other middleware: the last
    added runs outermost, so that ``unexpected`` also answers what they raise."""
    app.exception_handler(OperatorError)(operator_error)
    app.exception_handler(StarletteHTTPException)(http_error)
    app.exception_handler(RequestValidationError)(malformed)
    app.middleware("http")(unexpected)


async def operator_error(_request: Request, error: OperatorError) -> JSONResponse:
    status = next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind)), 400)
    # An order started and not yet recorded is there in a moment: a 404 said "no such order".
    headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, NotYetRecorded) else None
    return JSONResponse({"detail": str(error)}, status_code=status, headers=headers)


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


async def unexpected(request: Request, call_next: Any) -> Any:
    """What no handler above knows: the stack went away under the API (503, as at start-up),
    or a bug (500). One sentence either way, never Starlette's plain-text 500; the
    traceback goes to the log."""
    try:
        return await call_next(request)
    except Exception as error:
        settings = request.app.state.service.settings
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

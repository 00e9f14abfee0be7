"""The API's answers when something goes wrong under it: the stack gone (503), a taken id
(409), a body that is not JSON, a bug (500), each one sentence in JSON, without servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from app.api import create_app
from app.config import Settings
from app.errors import Taken
from app.service import OrderService

ORDER = {
    "order_id": "o-1",
    "items": [{"sku": "SKU-1", "quantity": 1}],
    "address": {"name": "Ann", "street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
}


class _Troubled:
    """A service whose every call meets the trouble it was given."""

    def __init__(self, trouble: BaseException) -> None:
        self.settings = Settings.from_env({})
        self.trouble = trouble

    async def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise self.trouble

    status = audit = state_counts = create_order = approve = _fail


async def asgi_request(
    app: Any, method: str, path: str, body: bytes = b"", content_type: bytes | None = b"application/json",
    query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request straight through the ASGI interface (httpx, for TestClient, is not installed):
    the answer's status, headers and body. ``headers``: more headers, as (lower-case name, value)."""
    sent: list[dict] = []
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if requested:  # a streamed or file answer listens for the client going away while it sends
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = ([(b"content-type", content_type)] if body and content_type else []) + list(headers or [])
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    answer_headers = {name.decode(): value.decode() for name, value in start.get("headers", [])}
    return start["status"], answer_headers, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def _call(
    app: Any, method: str, path: str, body: bytes = b"", content_type: bytes | None = b"application/json", query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None, answer_headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """asgi_request, its JSON answer decoded; ``answer_headers``: filled in with the answer's."""
    status, received, answer = await asgi_request(app, method, path, body, content_type, query, headers)
    if answer_headers is not None:
        answer_headers.update(received)
    return status, json.loads(answer)


def _app(trouble: BaseException) -> Any:
    service = _Troubled(trouble)
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service  # what the lifespan does, which a bare ASGI call does not run
    return app


@pytest.mark.parametrize("path", ["/orders/o-1", "/orders/counts", "/orders/o-1/audit"])
async def test_a_database_gone_under_the_api_is_503_in_one_sentence(path):
    """It was Starlette's plain-text 500, with a traceback per request in the API's output."""
    status, body = await _call(_app(ConnectionRefusedError(111, "Connection refused")), "GET", path)
    assert status == 503
    assert body["detail"].startswith("PostgreSQL at ")
    # "Not reachable", as `order list` says it of the same stopped stack ("not answering" was the API's).
    assert body["detail"].endswith(" is not reachable; start the stack with ./start.sh up.")


async def test_temporal_gone_under_the_api_is_503_in_one_sentence():
    status, body = await _call(_app(RPCError("tcp connect error", RPCStatusCode.UNAVAILABLE, b"")), "GET", "/orders/o-1")
    assert (status, body) == (
        503, {"detail": "Temporal at 127.0.0.1:7233 is not reachable; start the stack with ./start.sh up."}
    )


async def test_a_temporal_of_ours_that_is_stopped_is_resumed_not_started(monkeypatch):
    """With the dev server stopped (SIGSTOP) the API said to start what is down with ./start.sh
    up, which cannot resume it; `status` and the CLI say kill -CONT."""
    from app.config import Settings

    stopped = "its process here is stopped (SIGSTOP); kill -CONT 4242 resumes it"
    monkeypatch.setattr(Settings, "temporal_remedy", property(lambda self: stopped))
    status, body = await _call(_app(RPCError("Timeout expired", RPCStatusCode.CANCELLED, b"")), "GET", "/orders/o-1")
    assert (status, body) == (503, {"detail": f"Temporal at 127.0.0.1:7233 is not answering; {stopped}."})


async def test_a_bug_is_a_500_in_one_sentence_pointing_to_the_log(caplog):
    status, body = await _call(_app(RuntimeError("a bug")), "GET", "/orders/counts")
    assert (status, body) == (
        500, {"detail": "Something unexpected went wrong; the details are in the API's log (./start.sh logs api)."}
    )
    assert "event=api_unexpected_error" in caplog.text and "a bug" in caplog.text  # the traceback is logged


async def test_an_id_already_taken_is_a_conflict_not_a_malformed_request():
    status, body = await _call(
        _app(Taken("Order o-1 already exists; choose another order id.")), "POST", "/orders", json.dumps(ORDER).encode()
    )
    assert (status, body) == (409, {"detail": "Order o-1 already exists; choose another order id."})


@pytest.mark.parametrize(("body", "detail"), [
    (b"{bad json", "The request body is not valid JSON."),
    (b'{"order_id": "\xff"}', "The request body is not valid JSON."),  # not UTF-8: it was a 400 of FastAPI's words
    (b"", "The request needs a JSON body."),
])
async def test_a_body_that_is_not_json_or_missing_says_so(body, detail):
    """They read "1: JSON decode error." and "The request: Field required."."""
    status, answer = await _call(_app(RuntimeError("not reached")), "POST", "/orders", body)
    assert (status, answer) == (422, {"detail": detail})


@pytest.mark.parametrize(("extra", "where"), [
    ({"review_window_s": 60}, "review_window_s"),
    ({"address": {**ORDER["address"], "extra": "x"}}, "address.extra"),
])
async def test_a_field_the_api_does_not_know_is_refused_not_dropped(extra, where):
    """A typo (review_window_s) was accepted with 201, and the order got the default window."""
    status, answer = await _call(_app(RuntimeError("not reached")), "POST", "/orders", json.dumps({**ORDER, **extra}).encode())
    assert (status, answer) == (422, {"detail": f"The request has a field this API does not know: {where}."})


@pytest.mark.parametrize(("body", "content_type", "path"), [
    (b"hello", b"text/plain", "/orders"),
    (json.dumps(ORDER).encode(), b"text/plain; charset=utf-8", "/orders"),  # JSON, but not sent as JSON
    (b"by=dana", b"application/x-www-form-urlencoded", "/orders/o-1/approve"),
    # A whole order, but no Content-Type: FastAPI does not read it as JSON. It was a 422
    # "The request body must be a JSON object.", of a body that is one.
    (json.dumps(ORDER).encode(), None, "/orders"),
    (b"[1]", None, "/orders"),
])
async def test_a_body_not_sent_as_json_is_unsupported_in_one_sentence(body, content_type, path):
    """It was a 422 "The request: Input should be a valid dictionary or object to extract fields from."."""
    status, answer = await _call(_app(RuntimeError("not reached")), "POST", path, body, content_type)
    assert (status, answer) == (
        415, {"detail": "The request body must be a JSON object, sent as Content-Type: application/json."}
    )


@pytest.mark.parametrize(("body", "content_type", "detail"), [
    (b"[1, 2]", b"application/json", "The request body must be a JSON object."),
    (b'"an order"', b"application/json", "The request body must be a JSON object."),
    (json.dumps({**ORDER, "address": "1 Main St"}).encode(), b"application/json", "address must be a JSON object."),
])
async def test_json_that_is_not_an_object_where_one_is_wanted_says_so(body, content_type, detail):
    status, answer = await _call(_app(RuntimeError("not reached")), "POST", "/orders", body, content_type)
    assert (status, answer) == (422, {"detail": detail})


@pytest.mark.parametrize("declared", [True, False])  # with a Content-Length, or sent in chunks without one
async def test_a_body_past_the_limit_is_refused_before_it_is_all_read(declared):
    """A 50 MB body was read whole into the API's memory and parsed (an operator's test with curl):
    nothing the API takes comes near 1 MiB, and a runaway client could take the machine's memory."""
    order = {**ORDER, "address": {**ORDER["address"], "name": "A" * (2 * 1024 * 1024)}}
    body = json.dumps(order).encode()
    chunks = [body[at : at + 65536] for at in range(0, len(body), 65536)]
    read: list[bytes] = []

    async def receive() -> dict:
        read.append(chunks[len(read)])
        return {"type": "http.request", "body": read[-1], "more_body": len(read) < len(chunks)}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if declared:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/orders", "raw_path": b"/orders", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
    }
    await _app(RuntimeError("not reached"))(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    answer = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert (status, answer) == (413, {"detail": "The request body is larger than 1 MiB, far more than any request needs."})
    assert len(read) <= 1024 * 1024 // 65536 + 1  # it stopped reading


@pytest.mark.parametrize(("method", "path", "status", "detail"), [
    ("GET", "/nothing", 404, "There is no GET /nothing in this API; /docs lists what there is."),
    ("DELETE", "/orders/o-1", 405, "DELETE is not allowed on /orders/o-1; /docs lists what there is."),
])
async def test_a_path_or_method_the_api_does_not_have_is_refused_in_a_sentence(method, path, status, detail):
    """They were Starlette's words, "Not Found" and "Method Not Allowed", not a sentence saying
    what was asked for, as every other refusal is."""
    assert await _call(_app(RuntimeError("not reached")), method, path) == (status, {"detail": detail})


async def test_a_created_order_answers_with_its_amount_as_exact_money():
    """POST /orders gave only amount_cents, while every other answer (and `order create --json`)
    gives amount as "59.97" (an operator comparing the CLI's and the API's answers)."""
    from app.service import CreatedOrder

    class _Creates(_Troubled):
        async def create_order(self, **order: Any) -> CreatedOrder:
            return CreatedOrder(order_id="o-1", workflow_id="order-o-1", payment_id="pay-o-1", amount_cents=5997)

        async def order_worker_running(self) -> bool:
            return True

    service = _Creates(RuntimeError("not reached"))
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    status, answer = await _call(app, "POST", "/orders", json.dumps(ORDER).encode())
    assert status == 201
    assert (answer["amount"], answer["amount_cents"], answer["state"]) == ("59.97", 5997, "RECEIVED")


async def test_the_catalog_answers_with_its_prices_as_exact_money():
    """GET /catalog gave only price_cents, while `order catalog --json` gives price as "8.99"
    beside it, as every amount is given (an operator comparing the CLI's and the API's answers)."""
    from db.queries import Product

    class _Lists(_Troubled):
        async def catalog(self) -> list[Product]:
            return [Product("CABLE-USB", "USB-C cable, 1 m", 899), Product("DOOHICKEY", "Doohickey", 12000)]

    service = _Lists(RuntimeError("not reached"))
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    status, answer = await _call(app, "GET", "/catalog")
    assert status == 200
    assert answer == [
        {"sku": "CABLE-USB", "name": "USB-C cable, 1 m", "price_cents": 899, "price": "8.99"},
        {"sku": "DOOHICKEY", "name": "Doohickey", "price_cents": 12000, "price": "120.00"},
    ]


@pytest.mark.parametrize("payment_id", ["", "   "])
async def test_a_blank_payment_id_is_refused_as_the_cli_refuses_it(payment_id):
    """POST /orders with "payment_id": "" started an order under the default pay-<id>, while
    `order create --payment-id ''` refuses it as malformed (and the API refuses "order_id": "")."""

    class _Creates(_Troubled):
        async def create_order(self, **order: Any) -> Any:
            raise AssertionError(f"started an order with payment id {order['payment_id']!r}")

    service = _Creates(RuntimeError("not reached"))
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    status, answer = await _call(app, "POST", "/orders", json.dumps({**ORDER, "payment_id": payment_id}).encode())
    assert (status, answer) == (
        422,
        {"detail": f"Payment id {payment_id!r} is malformed: use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit."},
    )


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        (b"limit=abc", "The limit must be a whole number between 1 and 1000, not 'abc'."),
        (b"limit=1.5", "The limit must be a whole number between 1 and 1000, not '1.5'."),
        (b"limit=", "The limit must be a whole number between 1 and 1000, not ''."),
        (b"offset=ten", "The offset must be a whole number between 0 and 1000000000, not 'ten'."),
    ],
)
async def test_a_page_bound_that_is_not_a_number_is_refused_in_a_sentence(query, detail):
    """GET /orders?limit=abc answered Pydantic's "limit: Input should be a valid integer, unable
    to parse string as an integer.", while limit=0 is "The limit must be between 1 and 1000."
    and the CLI names the flag and its range."""
    status, answer = await _call(_app(RuntimeError("not reached")), "GET", "/orders", query=query)
    assert (status, answer) == (422, {"detail": detail})


@pytest.mark.parametrize(
    ("quantity", "shown"), [(1.5, "1.5"), ("2", "'2'"), (True, "True"), (1e30, "1e+30")],
)
async def test_a_quantity_that_is_not_a_whole_number_is_refused_naming_its_sku(quantity, shown):
    """"quantity": 1.5 answered Pydantic's "items.0.quantity: Input should be a valid integer.",
    while -1 is "The quantity of 'WIDGET-1' must be a positive whole number, not -1." and the CLI
    says "must be a whole number such as 2"."""
    body = {**ORDER, "items": [{"sku": "gadget-2", "quantity": 1}, {"sku": "widget-1", "quantity": quantity}]}
    status, answer = await _call(_app(RuntimeError("not reached")), "POST", "/orders", json.dumps(body).encode())
    assert (status, answer) == (
        422, {"detail": f"The quantity of 'WIDGET-1' must be a positive whole number, not {shown}."}
    )


async def test_a_call_to_temporal_that_timed_out_is_503_not_a_bug():
    """The SDK reports a call's own rpc_timeout as CANCELLED "Timeout expired" (Temporal
    stopped with SIGSTOP): it was the 500 for a bug."""
    status, body = await _call(_app(RPCError("Timeout expired", RPCStatusCode.CANCELLED, b"")), "GET", "/orders/o-1")
    assert (status, body) == (
        503, {"detail": "Temporal at 127.0.0.1:7233 is not answering; start the stack with ./start.sh up."}
    )


def test_the_openapi_docs_describe_the_error_answers_the_routes_give():
    """/docs said every 422 was FastAPI's list of validation errors ({"detail": [...]}) and
    named no 404, 409, 415 or 503, while every error is {"detail": "one sentence"} (a review)."""
    document = create_app(_Troubled(RuntimeError("not reached"))).openapi()  # type: ignore[arg-type]
    error = {"$ref": "#/components/schemas/ErrorOut"}
    assert document["components"]["schemas"]["ErrorOut"]["properties"]["detail"]["type"] == "string"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    create = document["paths"]["/orders"]["post"]["responses"]
    assert {code: create[code]["content"]["application/json"]["schema"] for code in ("409", "415", "422", "503", "500")} == dict.fromkeys(
        ("409", "415", "422", "503", "500"), error
    )
    assert {"404", "422", "503"} <= set(document["paths"]["/orders/{order_id}"]["get"]["responses"])
    assert {"404", "409", "422"} <= set(document["paths"]["/orders/{order_id}/cancel"]["post"]["responses"])
    assert "413" in create and "413" in document["paths"]["/orders/{order_id}/address"]["put"]["responses"]


class _Hung(_Troubled):
    """A PostgreSQL stopped with SIGSTOP: connections stay open, no read is ever answered."""

    def __init__(self) -> None:
        super().__init__(RuntimeError("not reached"))

    async def _never(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.Event().wait()

    status = audit = state_counts = order_page = catalog = _never


async def test_a_status_not_answered_in_time_names_both_parts_it_asks(monkeypatch):
    """GET /orders/{id} asks PostgreSQL and Temporal (the status Query); a slow Temporal could
    use the wait up alone, and the 503 blamed PostgreSQL (a review)."""
    monkeypatch.setattr("app.api_reads.READ_WAIT_S", 0.1)
    service = _Hung()
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    status, body = await asyncio.wait_for(_call(app, "GET", "/orders/o-1"), 5)
    assert (status, body) == (
        503, {"detail": "PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders or Temporal at 127.0.0.1:7233"
                        " did not answer within 0.1 s; see which with ./start.sh status."}
    )


@pytest.mark.parametrize("path", ["/orders/o-1/audit", "/orders?limit=5", "/orders/counts", "/catalog"])
async def test_a_read_a_hung_postgresql_does_not_answer_is_503_after_a_moment(monkeypatch, path):
    """With PostgreSQL stopped (SIGSTOP) every GET waited a minute, then answered 500 "Something
    unexpected went wrong" (asyncpg's command timeout, logged as a bug), while the TUI says after
    5 s that PostgreSQL is not answering (a review)."""
    monkeypatch.setattr("app.api_reads.READ_WAIT_S", 0.1)
    service = _Hung()
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    path, _, query = path.partition("?")
    status, body = await asyncio.wait_for(_call(app, "GET", path, query=query.encode()), 5)
    assert (status, body) == (
        503, {"detail": "PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders did not answer within 0.1 s;"
                        " start the stack with ./start.sh up."}
    )


@pytest.mark.parametrize(
    ("path", "query", "detail"),
    [
        ("/orders", b"sate=PAID", "/orders has no query parameter 'sate'; it takes limit, offset, state."),
        ("/orders/counts", b"state=PAID", "/orders/counts has no query parameter 'state'; it takes none."),
        ("/catalog", b"x=1&limit=2", "/catalog has no query parameter 'limit'; it takes none."),
    ],
)
async def test_a_query_parameter_the_path_does_not_take_is_refused(path, query, detail):
    """`GET /orders?sate=PAID` (a typo) answered 200 with every order, unfiltered, while an
    unknown body field is refused (a review)."""
    status, body = await _call(_app(RuntimeError("not reached")), "GET", path, query=query)
    assert (status, body) == (422, {"detail": detail})


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        (b"state=CANCELLED&state=PAID", "/orders takes query parameter 'state' once, not 2 times."),
        (b"limit=1&limit=500", "/orders takes query parameter 'limit' once, not 2 times."),
    ],
)
async def test_a_query_parameter_given_twice_is_refused_not_cut_to_the_last(query, detail):
    """`GET /orders?state=CANCELLED&state=PAID` answered 200 with the PAID orders alone: FastAPI
    keeps the last value of a parameter given more than once, and a client that meant either
    state got a page that looked complete."""
    status, body = await _call(_app(RuntimeError("not reached")), "GET", "/orders", query=query)
    assert (status, body) == (422, {"detail": detail})


async def test_the_query_parameters_a_path_takes_still_pass():
    status, body = await _call(_app(RuntimeError("reached")), "GET", "/orders", query=b"state=PAID&limit=5&offset=0")
    assert status == 500 and "unexpected" in body["detail"]  # past the check, into the (troubled) service


@pytest.mark.parametrize(("method", "path", "query", "body"), [
    ("GET", "/orders", b"state=" + b"A" * 5000, b""),
    ("POST", "/orders", b"", json.dumps({**ORDER, "A" * 5000: 1}).encode()),
    ("POST", "/orders", b"", json.dumps({**ORDER, "address": {**ORDER["address"], "A" * 5000: 1}}).encode()),
])
async def test_a_refusal_quotes_a_huge_value_cut_short(method, path, query, body):
    """An unknown state or field of 5,000 characters came back whole in the one sentence."""
    service = _Troubled(RuntimeError("not reached"))
    service.order_page = OrderService.order_page.__get__(service)  # its checks refuse before any read
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    status, answer = await _call(app, method, path, body, query=query)
    assert status == 422 and "A" * 40 + "…" in answer["detail"] and len(answer["detail"]) < 300, answer


# ------------------------------------------------------------- Temporal refusing the API's credentials


class _Refusing:
    """A Temporal that answers every call of the API's with a refusal of its credentials."""

    def __init__(self, status: RPCStatusCode) -> None:
        self.status = status
        self.workflow_service = self

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise RPCError("Request unauthorized.", self.status, b"")

    async def _refused(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse()

    def get_workflow_handle(self, workflow_id: str) -> "_Refusing":
        return self

    describe = query = start_update = get_system_info = start_workflow = _refused


def _refused_app(monkeypatch: Any, status: RPCStatusCode) -> Any:
    from app.service import commands, create, reads
    from tests.test_service_commands import _NoOrderRow, _creatable

    _creatable(monkeypatch)

    async def no_row(*args: Any) -> None:
        return None

    for module in (reads, commands, create):
        monkeypatch.setattr(module.queries, "get_order", no_row)
    monkeypatch.setattr(reads.queries, "attempts_by_activity", no_row)

    class _Pool(_NoOrderRow):
        def acquire(self, **kwargs: Any) -> Any:  # as asyncpg's: awaitable, or a context of its own
            pool = self

            class _Acquired:
                def __await__(self):
                    async def connection() -> _Pool:
                        return pool

                    return connection().__await__()

                async def __aenter__(self) -> _Pool:
                    return pool

                async def __aexit__(self, *exc: Any) -> None:
                    pass

                def transaction(self, **kwargs: Any) -> "_Acquired":
                    return self

            return _Acquired()

        def transaction(self, **kwargs: Any) -> Any:
            return self.acquire()

    service = OrderService(Settings.from_env({}), client=_Refusing(status), pool=_Pool())  # type: ignore[arg-type]
    app = create_app(service)
    app.state.service = service
    return app


@pytest.mark.parametrize("status", [RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/orders/o-1/audit", b""),
    ("GET", "/orders/o-1", b""),
    ("POST", "/orders/o-1/approve", b"{}"),
    ("POST", "/orders", json.dumps(ORDER).encode()),
])
async def test_temporal_refusing_the_apis_credentials_is_502_not_a_bad_request_nor_a_bug(monkeypatch, status, method, path, body):
    """The fix is the API's key or certificate, which a client cannot mend: a status or audit
    answered 400 (a generic OperatorError), as if the request were malformed, and a command or
    a create 500 "something unexpected" with a traceback in the log, as if it were a bug."""
    answer = await _call(_refused_app(monkeypatch, status), method, path, body)
    how = status.name.lower().replace("_", " ")
    assert answer[0] == 502, answer
    assert answer[1]["detail"].startswith("Temporal at 127.0.0.1:7233 refused ")
    assert answer[1]["detail"].endswith(
        f"({how}: Request unauthorized.); check the permissions of Temporal's API key or certificate."
    ), answer


def test_every_operator_error_the_service_raises_has_a_status_of_its_own():
    """The API's fallback (400) says only "your request was bad": each error the service can
    raise maps to the status a client acts on."""
    from app import errors
    from app.api_errors import STATUS_BY_ERROR

    def kinds(cls: type) -> list[type]:
        return [cls, *(k for sub in cls.__subclasses__() for k in kinds(sub))]

    raised = [k for k in kinds(errors.OperatorError) if k.__module__.startswith(("app.errors", "app.service"))]
    unmapped = [k.__name__ for k in raised if not any(issubclass(k, mapped) for mapped in STATUS_BY_ERROR)]
    assert unmapped == ["OperatorError"]  # the base alone, which the service no longer raises
    assert errors.TemporalRefused in STATUS_BY_ERROR and STATUS_BY_ERROR[errors.TemporalRefused] == 502


class _NoRowYet:
    """PostgreSQL before ReceiveOrder has written the order's row (or for an id it does not know)."""

    async def fetchrow(self, sql: str, *args: Any) -> None:
        return None

    async def fetch(self, sql: str, *args: Any) -> list:
        return []

    async def fetchval(self, sql: str, *args: Any) -> None:  # the order's state
        return None

    @contextlib.asynccontextmanager
    async def acquire(self) -> Any:
        yield self

    @contextlib.asynccontextmanager
    async def transaction(self, **options: Any) -> Any:
        yield

    async def close(self) -> None:
        pass


class _StartedOrUnknown:
    """Temporal with the order's workflow started (its first task not run yet, so its query is not
    answered), or (``started=False``) without any such workflow."""

    def __init__(self, started: bool = True) -> None:
        self.started = started

    def get_workflow_handle(self, workflow_id: str) -> "_StartedOrUnknown":
        return self

    async def query(self, *args: Any, **kwargs: Any) -> None:
        if not self.started:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        raise RuntimeError("not answered yet")

    async def describe(self, **kwargs: Any) -> Any:
        from types import SimpleNamespace

        from temporalio.client import WorkflowExecutionStatus

        if not self.started:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        return SimpleNamespace(status=WorkflowExecutionStatus.RUNNING)


def started_not_recorded(monkeypatch, started: bool = True) -> OrderService:
    """A service whose order o-1 has been started, with an order worker serving, and not yet
    recorded (or, ``started=False``, does not exist)."""

    async def serving(self) -> bool:
        return True

    monkeypatch.setattr(OrderService, "order_worker_running", serving)
    return OrderService(settings=Settings.from_env({}), client=_StartedOrUnknown(started), pool=_NoRowYet())  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/orders/o-1", "/orders/o-1/audit"])
async def test_an_order_started_and_not_yet_recorded_is_503_with_retry_after_not_404(monkeypatch, path):
    """It was a 404, which a client reads as "no such order", for an order that is there in a moment."""
    service = started_not_recorded(monkeypatch)
    app = create_app(service)
    app.state.service = service  # what the lifespan does, which a bare ASGI call does not run
    headers: dict[str, str] = {}
    status, body = await _call(app, "GET", path, answer_headers=headers)
    assert (status, body) == (503, {"detail": "Order o-1 has been started but not yet recorded; try again in a moment."})
    assert headers["retry-after"] == "1"


@pytest.mark.parametrize("path", ["/orders/o-1", "/orders/o-1/audit"])
async def test_an_order_that_does_not_exist_is_still_404_without_retry_after(monkeypatch, path):
    service = started_not_recorded(monkeypatch, started=False)
    app = create_app(service)
    app.state.service = service
    headers: dict[str, str] = {}
    status, body = await _call(app, "GET", path, answer_headers=headers)
    assert (status, body) == (404, {"detail": "There is no order o-1."})
    assert "retry-after" not in headers


def test_the_openapi_docs_describe_the_retry_after_of_an_order_not_yet_recorded():
    document = create_app(_Troubled(RuntimeError("not reached"))).openapi()  # type: ignore[arg-type]
    for path in ("/orders/{order_id}", "/orders/{order_id}/audit"):
        answer = document["paths"][path]["get"]["responses"]["503"]
        assert "not yet recorded" in answer["description"] and "Retry-After" in answer["headers"], path
    assert "headers" not in document["paths"]["/orders/counts"]["get"]["responses"]["503"]

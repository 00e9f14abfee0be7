"""A client whose answer was lost sends the request again: a create of the same order, with
the same content, is answered as already created (200), not refused as a taken id (409)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from app.api import create_app
from app.config import Settings
from app.errors import Taken
from app.service import CreatedOrder, OrderService
from tests.test_api_errors import ORDER, _call
from tests.test_service_commands import _creatable, _NoOrderRow, _StartedAlready
from workflows.model import Address, OrderItem

ANN = Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")


def _service(client: Any) -> OrderService:
    return OrderService(settings=Settings.from_env({}), client=client, pool=_NoOrderRow())  # type: ignore[arg-type]


@pytest.mark.parametrize("reserved_here", [True, False])
async def test_a_create_of_an_order_just_started_with_the_same_content_is_already_created(monkeypatch, reserved_here):
    """Two identical creates at once (or a retry before the order's row is written): the one
    whose start Temporal refused was told "Order o-7 already exists; choose another order id",
    wrong advice to a client whose first request had succeeded. Its payment id stays the order's."""
    releases = _creatable(monkeypatch)
    if not reserved_here:  # the other create reserved it
        from app.service import create

        async def reserve(pool, payment_id, order_id):
            return order_id, False

        monkeypatch.setattr(create.queries, "reserve_payment_id", reserve)
    # Given as the operator typed it: the create normalises it as the first did.
    given = Address(name=" Ann ", street="1 Main St", city="Springfield", postal_code="12345", country="us")
    created = await _service(_StartedAlready("")).create_order(
        order_id="o-7", items=[OrderItem("SKU-1", 2)], address=given, payment_id="pay-o-7"
    )
    assert (created.order_id, created.workflow_id, created.already_created) == ("o-7", "order-o-7", True)
    assert (created.payment_id, created.amount_cents, created.state) == ("pay-o-7", 2000, "RECEIVED")
    assert releases == []


@pytest.mark.parametrize(("items", "address", "payment_id", "differs"), [
    ([OrderItem("SKU-1", 3)], ANN, None, "different items"),
    ([OrderItem("SKU-1", 2)], Address(**{**ANN.__dict__, "street": "2 Elm St"}), None, "a different address"),
    ([OrderItem("SKU-1", 2)], ANN, "pay-mine", "a different payment id"),
    ([OrderItem("SKU-1", 1)], Address(**{**ANN.__dict__, "city": "Shelbyville"}), None,
     "different items and a different address"),
])
async def test_a_create_of_an_order_just_started_with_other_content_says_what_differs(
    monkeypatch, items, address, payment_id, differs
):
    _creatable(monkeypatch)
    with pytest.raises(Taken) as taken:
        await _service(_StartedAlready("")).create_order(order_id="o-7", items=items, address=address, payment_id=payment_id)
    assert str(taken.value) == f"Order o-7 already exists with {differs}; choose another order id."


def _recorded(monkeypatch, row: dict) -> None:
    """The database has the order's row (written by its ReceiveOrder)."""
    from app.service import create

    async def get_order(pool, order_id):
        return row

    monkeypatch.setattr(create.queries, "get_order", get_order)


class _Forgotten(_StartedAlready):
    """Temporal has forgotten the order's workflow (past the namespace's retention)."""

    async def fetch_history_events(self, **kwargs):
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        yield  # an async generator, as the SDK's


ROW = {
    "id": "o-7", "state": "SHIPPED", "items_json": [{"sku": "SKU-1", "quantity": 2}], "amount_cents": 1998,
    "address_json": {**ANN.__dict__}, "payment_id": "pay-o-7",
}


@pytest.mark.parametrize("client", [_StartedAlready(""), _Forgotten("")], ids=["temporal-has-it", "row-only"])
async def test_a_create_of_a_recorded_order_with_the_same_content_is_already_created(monkeypatch, client):
    """The retry came after the order's row was written: refused as a taken id, too."""
    releases = _creatable(monkeypatch)
    _recorded(monkeypatch, ROW)
    created = await _service(client).create_order(order_id="o-7", items=[OrderItem("SKU-1", 2)], address=ANN)
    assert (created.workflow_id, created.already_created, created.state, created.amount_cents) == (
        "order-o-7", True, "SHIPPED", 1998
    )
    assert releases == []


async def test_a_create_of_a_recorded_order_is_compared_with_what_it_was_created_with_not_its_new_address(monkeypatch):
    """The operator changed the address since: the create is the same as the first all the same."""
    _creatable(monkeypatch)
    _recorded(monkeypatch, {**ROW, "address_json": {**ANN.__dict__, "street": "9 New Rd"}})
    created = await _service(_StartedAlready("")).create_order(order_id="o-7", items=[OrderItem("SKU-1", 2)], address=ANN)
    assert created.already_created is True


async def test_a_create_of_a_recorded_order_with_other_content_says_what_differs(monkeypatch):
    _creatable(monkeypatch)
    _recorded(monkeypatch, ROW)
    with pytest.raises(Taken, match=r"^Order o-7 already exists with different items; choose another order id\.$"):
        await _service(_Forgotten("")).create_order(order_id="o-7", items=[OrderItem("SKU-1", 1)], address=ANN)


def _app_creating(created: CreatedOrder) -> Any:
    class _Creates:
        settings = Settings.from_env({})

        async def create_order(self, **order: Any) -> CreatedOrder:
            return created

        async def order_worker_running(self) -> bool:
            return True

    service = _Creates()
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    return app


async def test_the_api_answers_a_create_already_made_with_200_and_the_same_body():
    first = CreatedOrder(order_id="o-1", workflow_id="order-o-1", payment_id="", amount_cents=5997)
    again = CreatedOrder(**{**first.__dict__, "already_created": True, "state": "PAID"})
    status_first, body_first = await _call(_app_creating(first), "POST", "/orders", json.dumps(ORDER).encode())
    status_again, body_again = await _call(_app_creating(again), "POST", "/orders", json.dumps(ORDER).encode())
    assert (status_first, body_first["already_created"], body_first["state"]) == (201, False, "RECEIVED")
    assert (status_again, body_again["already_created"], body_again["state"]) == (200, True, "PAID")
    assert set(body_first) == set(body_again)
    responses = _app_creating(first).openapi()["paths"]["/orders"]["post"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CreatedOut"}


class _ServiceCreating:
    def __init__(self, created: CreatedOrder) -> None:
        self.created = created

    async def __aenter__(self) -> "_ServiceCreating":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        pass

    async def create_order(self, **order: Any) -> CreatedOrder:
        return self.created

    async def order_worker_running(self) -> bool:
        return True


@pytest.mark.parametrize("as_json", [False, True])
def test_order_create_of_an_order_already_created_says_so_and_exits_0(monkeypatch, capsys, as_json):
    import asyncio

    from app import order_cli_handlers
    from app.cli import build_parser

    again = CreatedOrder(
        order_id="o-1", workflow_id="order-o-1", payment_id="pay-o-1", amount_cents=5997, state="PAID", already_created=True
    )

    async def connect(**kwargs: Any) -> _ServiceCreating:
        return _ServiceCreating(again)

    monkeypatch.setattr(order_cli_handlers.OrderService, "connect", connect)
    args = build_parser().parse_args([
        "order", "create", "--id", "o-1", "--item", "SKU-1:1", "--name", "Ann", "--street", "1 Main St",
        "--city", "Springfield", "--postal-code", "12345", "--country", "US", *(["--json"] if as_json else []),
    ])
    assert asyncio.run(order_cli_handlers._create(args)) == 0
    out = capsys.readouterr().out
    if as_json:
        document = json.loads(out)
        assert (document["already_created"], document["state"], document["amount"]) == (True, "PAID", "59.97")
    else:
        assert " ".join(out.split()) == (
            "Order o-1 was already created with these items, address and payment id (workflow order-o-1);"
            " nothing new was started, and it is PAID now."
        )


def test_order_create_of_an_order_already_created_keeps_its_note(monkeypatch, capsys):
    """Run again, `order create` of an order to a country the carrier does not serve dropped the
    warning it gave the first time, while --json (and the API) still carry it as the note."""
    import asyncio

    from app import order_cli_handlers
    from app.cli import build_parser

    note = "ACME Freight does not deliver to AQ: unless the address changes before dispatch, the order will fail."
    again = CreatedOrder(
        order_id="o-1", workflow_id="order-o-1", payment_id="pay-o-1", amount_cents=5997, state="AWAITING_APPROVAL",
        already_created=True, note=note,
    )

    async def connect(**kwargs: Any) -> _ServiceCreating:
        return _ServiceCreating(again)

    monkeypatch.setattr(order_cli_handlers.OrderService, "connect", connect)
    args = build_parser().parse_args([
        "order", "create", "--id", "o-1", "--item", "SKU-1:1", "--name", "Ann", "--street", "1 Main St",
        "--city", "Springfield", "--postal-code", "12345", "--country", "AQ",
    ])
    assert asyncio.run(order_cli_handlers._create(args)) == 0
    assert " ".join(capsys.readouterr().out.split()) == (
        "Order o-1 was already created with these items, address and payment id (workflow order-o-1);"
        f" nothing new was started, and it is AWAITING_APPROVAL now. {note}"
    )


class _RecordingCreates:
    """A service that records the order ids it is asked to create."""

    settings = Settings.from_env({})

    def __init__(self) -> None:
        self.order_ids: list[str] = []

    async def create_order(self, *, order_id: str, **order: Any) -> CreatedOrder:
        self.order_ids.append(order_id)
        return CreatedOrder(order_id=order_id, workflow_id=f"order-{order_id}", payment_id=f"pay-{order_id}", amount_cents=1)

    async def order_worker_running(self) -> bool:
        return True


async def _created_ids(bodies_and_keys: list[tuple[dict, bytes | None]]) -> tuple[list[int], list[str]]:
    service = _RecordingCreates()
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    codes = []
    for body, key in bodies_and_keys:
        headers = [(b"idempotency-key", key)] if key is not None else []
        status, _ = await _call(app, "POST", "/orders", json.dumps(body).encode(), headers=headers)
        codes.append(status)
    return codes, service.order_ids


WITHOUT_ID = {key: value for key, value in ORDER.items() if key != "order_id"}


async def test_a_create_without_an_order_id_takes_its_id_from_the_idempotency_key():
    """Without an order id a retried POST /orders had nothing to be recognised by: it created a
    second order under a new random id."""
    codes, ids = await _created_ids([(WITHOUT_ID, b"key-1"), (WITHOUT_ID, b"key-1"), (WITHOUT_ID, b"key-2")])
    assert codes == [201, 201, 201]  # the fake creates each time; the real service answers the repeat with 200
    assert ids[0] == ids[1] != ids[2]
    assert all(re.fullmatch(r"ord-[0-9a-f]{16}", order_id) for order_id in ids), ids


async def test_an_order_id_given_is_used_whatever_the_idempotency_key():
    codes, ids = await _created_ids([(ORDER, b"key-1"), (WITHOUT_ID, None), (WITHOUT_ID, None)])
    assert codes == [201, 201, 201] and ids[0] == "o-1" and ids[1] != ids[2]


@pytest.mark.parametrize(("key", "detail"), [
    (b"", "The Idempotency-Key header is empty; give 1 to 255 printable ASCII characters, or leave it out."),
    (b"k" * 256, "The Idempotency-Key header has 256 characters; give 1 to 255 printable ASCII characters."),
    (b"bad\x01key", "The Idempotency-Key header must be printable ASCII: letters, digits, punctuation and spaces."),
    ("caf\u00e9".encode("latin-1"), "The Idempotency-Key header must be printable ASCII: letters, digits, punctuation and spaces."),
])
async def test_a_malformed_idempotency_key_is_refused_in_one_sentence_and_creates_nothing(key, detail):
    service = _RecordingCreates()
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    status, answer = await _call(app, "POST", "/orders", json.dumps(WITHOUT_ID).encode(), headers=[(b"idempotency-key", key)])
    assert (status, answer) == (422, {"detail": detail})
    assert service.order_ids == []


def test_the_openapi_docs_describe_the_idempotency_key_header():
    document = create_app(_RecordingCreates()).openapi()  # type: ignore[arg-type]
    [header] = [p for p in document["paths"]["/orders"]["post"].get("parameters", []) if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is False
    assert "order id" in header["description"]


# ---------------------------------------------------------------------- commands


class _UpdateHandle:
    """An Update's handle: accepted, its outcome ``answer``."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    async def result(self, **kwargs: Any) -> str:
        return self.answer


class _Remembers:
    """Temporal's side of the commands: records each Update's id, and answers a poll of an id it
    was sent with that Update's outcome (as Temporal keeps it)."""

    from tests.test_service_commands import _Answering

    workflow_service = _Answering()

    def __init__(self) -> None:
        self.update_ids: list[str | None] = []

    def get_workflow_handle(self, workflow_id: str) -> "_Remembers":
        return self

    async def describe(self, **kwargs: Any) -> Any:
        from tests.test_service_commands import _RUNNING

        return _RUNNING

    async def start_update(self, name: str, args: list, wait_for_stage: Any, id: str | None = None) -> _UpdateHandle:
        self.update_ids.append(id)
        return _UpdateHandle(f"{name} done.")

    def get_update_handle(self, id: str) -> Any:
        if id not in self.update_ids:
            class _Unknown:
                async def result(self, **kwargs: Any) -> str:
                    raise RPCError("update not found", RPCStatusCode.NOT_FOUND, b"")

            return _Unknown()
        return _UpdateHandle("update_address done (earlier).")


COMMANDS = [
    ("POST", "/orders/o-1/approve", {}, "approve"),
    ("POST", "/orders/o-1/reject", {"reason": "fraud"}, "reject"),
    ("POST", "/orders/o-1/cancel", {}, "cancel"),
    ("PUT", "/orders/o-1/address", {"address": ORDER["address"]}, "update_address"),
]


def _command_app(client: _Remembers) -> Any:
    service = OrderService(Settings.from_env({}), client=client, pool=_NoOrderRow())  # type: ignore[arg-type]
    app = create_app(service)
    app.state.service = service
    return app


@pytest.mark.parametrize(("method", "path", "body", "name"), COMMANDS)
async def test_a_command_with_an_idempotency_key_is_sent_under_an_update_id_made_of_it(method, path, body, name):
    """A retried approve that had succeeded was told 409 "already approved": each send had the
    SDK's random Update id, which Temporal cannot tell from a new command."""
    client = _Remembers()
    app = _command_app(client)
    for key in (b"k-1", b"k-1", None):
        headers = [(b"idempotency-key", key)] if key is not None else []
        status, answer = await _call(app, method, path, json.dumps(body).encode(), headers=headers)
        assert status == 200 and answer["accepted"] is True, answer
    # Without the header, as before: the SDK picks a random id.
    assert client.update_ids == [f"{name}:o-1:k-1", f"{name}:o-1:k-1", None]


@pytest.mark.parametrize(("method", "path", "body", "name"), COMMANDS)
async def test_a_command_with_a_malformed_idempotency_key_is_refused_and_not_sent(method, path, body, name):
    client = _Remembers()
    status, answer = await _call(
        _command_app(client), method, path, json.dumps(body).encode(), headers=[(b"idempotency-key", b"x" * 256)]
    )
    assert (status, answer) == (
        422, {"detail": "The Idempotency-Key header has 256 characters; give 1 to 255 printable ASCII characters."}
    )
    assert client.update_ids == []


async def test_an_address_change_retried_after_dispatch_gets_its_first_answer_not_a_refusal(monkeypatch):
    """The database says the carrier has the package: a new address change is refused at once,
    but the retry of one the order took before is answered as it was then."""
    from app.errors import Refused
    from app.service import commands

    async def order_state(pool, order_id):
        return "DISPATCHED"

    monkeypatch.setattr(commands.queries, "order_state", order_state)
    client = _Remembers()
    client.update_ids.append("update_address:o-1:k-1")  # sent before the dispatch
    service = OrderService(Settings.from_env({}), client=client, pool=_NoOrderRow())  # type: ignore[arg-type]
    assert await service.update_address("o-1", ANN, request_id="k-1") == "update_address done (earlier)."
    with pytest.raises(Refused, match="the carrier already has the package"):
        await service.update_address("o-1", ANN, request_id="k-2")
    with pytest.raises(Refused, match="the carrier already has the package"):
        await service.update_address("o-1", ANN)


def test_the_openapi_docs_describe_the_idempotency_key_header_of_every_command():
    document = _command_app(_Remembers()).openapi()
    for method, path, _, _ in COMMANDS:
        operation = document["paths"][path.replace("o-1", "{order_id}")][method.lower()]
        assert [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"] == ["Idempotency-Key"]


def _cli_remembers(monkeypatch) -> _Remembers:
    """The CLI's commands connected to a Temporal that remembers their Update ids (_Remembers)."""
    from app import order_cli_handlers

    client = _Remembers()

    class _Pool(_NoOrderRow):
        async def close(self) -> None:
            pass

    async def connect(**kwargs: Any) -> OrderService:
        return OrderService(Settings.from_env({}), client=client, pool=_Pool())  # type: ignore[arg-type]

    monkeypatch.setattr(order_cli_handlers.OrderService, "connect", connect)
    return client


@pytest.mark.parametrize(("argv", "name"), [
    (["approve", "o-1"], "approve"),
    (["reject", "o-1", "--reason", "fraud"], "reject"),
    (["cancel", "o-1"], "cancel"),
    (["address", "o-1", "--name", "Ann", "--street", "1 Main St", "--city", "Springfield", "--postal-code", "12345",
      "--country", "US"], "update_address"),
])
def test_the_cli_sends_a_command_under_its_request_id(monkeypatch, capsys, argv, name):
    """A script that runs `order approve` again after losing its answer can give the same --request-id."""
    import asyncio

    from app.cli import build_parser

    client = _cli_remembers(monkeypatch)
    for extra in (["--request-id", "run-7"], []):
        args = build_parser().parse_args(["order", *argv, *extra])
        assert asyncio.run(args.handler(args)) == 0
    assert client.update_ids == [f"{name}:o-1:run-7", None]


def test_the_cli_refuses_a_malformed_request_id_before_it_connects():
    import asyncio

    from app import order_cli_handlers
    from app.cli import build_parser
    from app.errors import InvalidInput

    args = build_parser().parse_args(["order", "approve", "o-1", "--request-id", "x" * 300])
    with pytest.raises(InvalidInput, match=r"^--request-id has 300 characters; give 1 to 255 printable ASCII characters\.$"):
        asyncio.run(order_cli_handlers._approve(args))


@pytest.mark.parametrize("key", [" k", "k ", "  k  "])
def test_the_cli_refuses_a_request_id_with_spaces_at_its_ends(key):
    """HTTP strips the spaces around a header's value, so the API can never receive " k": the
    CLI taking it would send the command under another Update id than the same key through
    the API, and a retry through the other would be applied a second time."""
    import asyncio

    from app import order_cli_handlers
    from app.cli import build_parser
    from app.errors import InvalidInput

    args = build_parser().parse_args(["order", "approve", "o-1", "--request-id", key])
    with pytest.raises(InvalidInput, match=r"^--request-id begins or ends with a space; give it without\.$"):
        asyncio.run(order_cli_handlers._approve(args))


async def test_a_create_under_an_idempotency_key_sent_before_with_another_order_says_so(monkeypatch):
    """The order id came from the key, not from the client: "choose another order id" was advice
    it could not follow (it never chose one), and it did not say the key was the trouble. As
    the IETF's Idempotency-Key draft has it, a key reused with another body is a 422."""
    from app.service import keyed_order_id

    _creatable(monkeypatch)
    order_id = keyed_order_id("key-1")
    service = _service(_StartedAlready(f"pay-{order_id}"))  # started with 2 of SKU-1, by the key's first POST
    app = create_app(service)
    app.state.service = service
    body = {**WITHOUT_ID, "items": [{"sku": "SKU-1", "quantity": 3}]}
    status, answer = await _call(app, "POST", "/orders", json.dumps(body).encode(), headers=[(b"idempotency-key", b"key-1")])
    assert (status, answer) == (422, {"detail": (
        f"This Idempotency-Key was sent before with another order ({order_id}, with different items); send a new"
        " order under a new key."
    )})
    # Another address too: "with different items and a different address" (it said "different address").
    moved = {**body, "address": {**body["address"], "city": "Shelbyville"}}
    status, answer = await _call(app, "POST", "/orders", json.dumps(moved).encode(), headers=[(b"idempotency-key", b"key-1")])
    assert (status, answer["detail"]) == (422, (
        f"This Idempotency-Key was sent before with another order ({order_id}, with different items and a different"
        " address); send a new order under a new key."
    ))
    # An order id the client chose keeps its own sentence.
    status, answer = await _call(
        app, "POST", "/orders", json.dumps({**body, "order_id": "o-7"}).encode(), headers=[(b"idempotency-key", b"key-1")]
    )
    assert (status, answer["detail"]) == (
        409, "Order o-7 already exists with different items and a different payment id; choose another order id."
    )


@pytest.mark.parametrize(("window", "differs"), [(None, None), (86400.0, None), (60.0, "a different review window")])
async def test_a_create_of_an_order_just_started_with_another_review_window_is_not_already_created(monkeypatch, window, differs):
    """The review window is part of what a create asks for: sent again with 60 s, an order
    started with the default 24 h was answered 200 "already created", the client told its
    order would expire in a minute when it waits a day (or the reverse)."""
    _creatable(monkeypatch)
    create = _service(_StartedAlready("pay-o-7")).create_order(  # started with the default window
        order_id="o-7", items=[OrderItem("SKU-1", 2)], address=ANN, review_window_seconds=window
    )
    if differs is None:
        assert (await create).already_created is True
    else:
        with pytest.raises(Taken) as taken:
            await create
        assert str(taken.value) == f"Order o-7 already exists with {differs}; choose another order id."


# ------------------------------------------------------------- a key sent again with another request


class _Keys:
    """Table request_keys in memory, as db.request_keys.claim has it: the first request's
    fingerprint stays the key's."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], bytes] = {}

    async def claim(self, pool: Any, command: str, order_id: str, key: str, request: bytes) -> bytes:
        return self.rows.setdefault((order_id, command, key), request)

    async def release(self, pool: Any, command: str, order_id: str, key: str, request: bytes) -> None:
        if self.rows.get((order_id, command, key)) == request:
            del self.rows[(order_id, command, key)]


def _keys(monkeypatch) -> _Keys:
    from app.service import commands

    keys = _Keys()
    monkeypatch.setattr(commands.request_keys, "claim", keys.claim)
    monkeypatch.setattr(commands.request_keys, "release", keys.release)
    return keys


OTHER_ADDRESS = {**ORDER["address"], "street": "2 Elm St"}

# A command's first body, and another request under the same key.
RESENT = [
    ("POST", "/orders/o-1/approve", {"by": "ann"}, {"by": "bob"}, "approve", "approval"),
    ("POST", "/orders/o-1/reject", {"reason": "fraud"}, {"reason": "out of stock"}, "reject", "rejection"),
    ("POST", "/orders/o-1/reject", {"reason": "fraud", "by": "ann"}, {"reason": "fraud", "by": "bob"}, "reject", "rejection"),
    ("POST", "/orders/o-1/cancel", {}, {"reason": "changed my mind"}, "cancel", "cancel"),
    ("PUT", "/orders/o-1/address", {"address": ORDER["address"]}, {"address": OTHER_ADDRESS}, "update_address",
     "address change"),
]


@pytest.mark.parametrize(("method", "path", "first", "other", "name", "noun"), RESENT)
async def test_a_key_sent_again_with_another_request_is_refused_with_422_and_nothing_is_sent(
    monkeypatch, method, path, first, other, name, noun
):
    """Approve by ann, then by bob under the same key: bob was told "approved." (the first
    Update's outcome) and the audit said ann; an address change sent again with another address
    got the first one's answer with the carrier note of the new one. A key reused with another
    body is the client's mistake, a 422 (as Stripe and the IETF's Idempotency-Key draft have it)."""
    keys = _keys(monkeypatch)
    client = _Remembers()
    app = _command_app(client)
    key = [(b"idempotency-key", b"k-1")]
    assert (await _call(app, method, path, json.dumps(first).encode(), headers=key))[0] == 200
    status, answer = await _call(app, method, path, json.dumps(other).encode(), headers=key)
    assert (status, answer) == (422, {"detail": (
        f"This idempotency key was sent before with another {noun} of order o-1; send a new {noun} under a new key."
    )})
    assert client.update_ids == [f"{name}:o-1:k-1"]
    # The first request again is still its retry; the key is kept for (command, order).
    assert (await _call(app, method, path, json.dumps(first).encode(), headers=key))[0] == 200
    assert client.update_ids == [f"{name}:o-1:k-1"] * 2
    assert list(keys.rows) == [("o-1", name, "k-1")]


@pytest.mark.parametrize(("method", "path", "first", "again"), [
    ("POST", "/orders/o-1/approve", {}, {"by": "operator"}),
    ("POST", "/orders/o-1/reject", {"reason": "fraud"}, {"reason": "  fraud ", "by": "operator"}),
    ("POST", "/orders/o-1/cancel", {}, {"reason": "", "by": "operator"}),
    ("PUT", "/orders/o-1/address", {"address": ORDER["address"]},
     {"address": {**ORDER["address"], "country": " us", "city": ORDER["address"]["city"] + " "}}),
])
async def test_a_key_sent_again_with_the_same_request_as_the_order_takes_it_is_a_retry(monkeypatch, method, path, first, again):
    """What is compared is the request as the order is sent it (trimmed, the country upper-cased,
    the defaults filled in), not the time it was sent nor how the client spelled it."""
    _keys(monkeypatch)
    client = _Remembers()
    app = _command_app(client)
    key = [(b"idempotency-key", b"k-1")]
    for body in (first, again):
        status, answer = await _call(app, method, path, json.dumps(body).encode(), headers=key)
        assert status == 200, answer
    assert len(client.update_ids) == 2 and len(set(client.update_ids)) == 1


async def test_one_key_for_two_commands_or_two_orders_is_two_requests(monkeypatch):
    """The key names a request to one order's command, as the Update id it becomes does."""
    keys = _keys(monkeypatch)
    client = _Remembers()
    service = OrderService(Settings.from_env({}), client=client, pool=_NoOrderRow())  # type: ignore[arg-type]
    await service.approve("o-1", by="ann", request_id="k-1")
    await service.cancel("o-1", "too slow", by="bob", request_id="k-1")
    await service.approve("o-2", by="bob", request_id="k-1")
    assert client.update_ids == ["approve:o-1:k-1", "cancel:o-1:k-1", "approve:o-2:k-1"]
    assert len(keys.rows) == 3


async def test_two_identical_keyed_commands_at_once_both_get_the_one_outcome(monkeypatch):
    import asyncio

    _keys(monkeypatch)
    client = _Remembers()
    service = OrderService(Settings.from_env({}), client=client, pool=_NoOrderRow())  # type: ignore[arg-type]
    answers = await asyncio.gather(*(service.reject("o-1", "fraud", by="ann", request_id="k-1") for _ in range(2)))
    assert answers == ["reject done."] * 2 and client.update_ids == ["reject:o-1:k-1"] * 2


async def test_an_address_change_sent_again_after_dispatch_with_another_address_is_refused_as_a_reused_key(monkeypatch):
    """After the dispatch the retry of an address change is answered from Temporal's record of
    it: one under the same key with another address got that answer as if it were its own."""
    from app.errors import InvalidInput
    from app.service import commands

    async def order_state(pool, order_id):
        return "DISPATCHED"

    monkeypatch.setattr(commands.queries, "order_state", order_state)
    _keys(monkeypatch)
    client = _Remembers()
    service = OrderService(Settings.from_env({}), client=client, pool=_NoOrderRow())  # type: ignore[arg-type]
    client.update_ids.append("update_address:o-1:k-1")  # sent before the dispatch, with ANN's address
    await commands.request_keys.claim(None, "update_address", "o-1", "k-1", commands._fingerprint(
        "update_address", [commands.rules.normalise_address(ANN), "operator"]
    ))
    assert await service.update_address("o-1", ANN, request_id="k-1") == "update_address done (earlier)."
    other = Address(**{**ANN.__dict__, "street": "2 Elm St"})
    with pytest.raises(InvalidInput, match=r"^This idempotency key was sent before with another address change of order o-1;"):
        await service.update_address("o-1", other, request_id="k-1")


class _NoSuchOrder:
    """Temporal without the order's workflow, as for an id no order was ever created under."""

    def get_workflow_handle(self, workflow_id: str) -> "_NoSuchOrder":
        return self

    async def describe(self, **kwargs: Any) -> Any:
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")

    async def start_update(self, name: str, args: list, wait_for_stage: Any, id: str | None = None) -> Any:
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")


async def test_a_keyed_command_to_an_order_there_is_none_of_keeps_no_key(monkeypatch):
    """A command under a key to an order id nobody created (a typo, a client's guess) is answered
    "There is no order": its key's row was kept for good all the same, one more for each such
    call, for an order that does not exist (nothing deletes request_keys)."""
    from app.errors import NotFound
    from app.service import commands

    async def no_row(*args: Any) -> None:
        return None

    monkeypatch.setattr(commands.queries, "get_order", no_row)
    keys = _keys(monkeypatch)
    service = OrderService(Settings.from_env({}), client=_NoSuchOrder(), pool=_NoOrderRow())  # type: ignore[arg-type]
    for key in ("k-1", "k-2"):
        with pytest.raises(NotFound, match=r"^There is no order o-404\.$"):
            await service.approve("o-404", by="ann", request_id=key)
    assert keys.rows == {}


@pytest.mark.parametrize("lost", ["at-connect", "refused", "silent"])
async def test_a_keyed_command_is_sent_unchecked_while_postgresql_is_out_of_reach(monkeypatch, caplog, lost):
    """Temporal carries the commands while PostgreSQL is down (the order records them once it is
    back): the key's check gives way, and the retry is deduplicated by Temporal as before."""
    import asyncio

    from app.service import commands

    async def refused(*args: Any) -> bytes:
        raise ConnectionRefusedError(111, "Connection refused")

    async def silent(*args: Any) -> bytes:
        await asyncio.Event().wait()
        raise AssertionError

    monkeypatch.setattr(commands, "CONNECT_TIMEOUT_S", 0.05)
    async def unasked(*args: Any) -> bytes:  # found out of reach a moment ago: not asked again
        raise AssertionError("asked PostgreSQL again")

    monkeypatch.setattr(commands.request_keys, "claim", {"at-connect": unasked, "refused": refused, "silent": silent}[lost])
    client = _Remembers()
    service = OrderService(
        Settings.from_env({}), client=client, pool=_NoOrderRow(),  # type: ignore[arg-type]
        database_unreachable="PostgreSQL is not reachable." if lost == "at-connect" else "",
    )
    assert await service.approve("o-1", by="ann", request_id="k-1") == "approve done."
    assert client.update_ids == ["approve:o-1:k-1"]
    if lost != "at-connect":
        assert "event=request_key_unchecked" in caplog.text


async def test_a_create_of_an_order_that_exists_reads_its_row_once():
    """It asked whether the order existed, then read its row: two queries where one does."""

    class _Recorded:
        """A PostgreSQL that has the order's row; records what it is asked."""

        def __init__(self) -> None:
            self.asked: list[str] = []

        async def acquire(self, *, timeout: float | None = None) -> "_Recorded":
            return self

        async def release(self, connection: Any) -> None:
            pass

        async def fetch(self, sql: str, *args: Any) -> list[dict]:
            return [{"sku": "SKU-1", "name": "Thing", "price_cents": 999}]  # the catalog

        async def fetchval(self, sql: str, *args: Any) -> Any:
            self.asked.append(sql)
            return 1

        async def fetchrow(self, sql: str, *args: Any) -> dict:
            self.asked.append(sql)
            return ROW

    pool = _Recorded()
    service = OrderService(settings=Settings.from_env({}), client=_Forgotten(""), pool=pool)  # type: ignore[arg-type]
    created = await service.create_order(order_id="o-7", items=[OrderItem("SKU-1", 2)], address=ANN)
    assert (created.already_created, created.state, created.amount_cents) == (True, "SHIPPED", 1998)
    assert len(pool.asked) == 1, pool.asked


def test_the_cli_refuses_a_request_id_sent_again_with_other_arguments_and_exits_1(monkeypatch, capsys, tmp_path):
    import logging

    from app.cli import main

    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    _keys(monkeypatch)
    client = _cli_remembers(monkeypatch)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() points the root logger at its log
    try:
        assert main(["order", "reject", "o-1", "--reason", "fraud", "--request-id", "run-7"]) == 0
        capsys.readouterr()
        assert main(["order", "reject", "o-1", "--reason", "out of stock", "--request-id", "run-7"]) == 1
    finally:
        root.handlers[:], root.level = handlers, level
    assert capsys.readouterr().err.strip() == (
        "This idempotency key was sent before with another rejection of order o-1; send a new rejection under a"
        " new key."
    )
    assert client.update_ids == ["reject:o-1:run-7"]

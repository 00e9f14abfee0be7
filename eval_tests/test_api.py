"""The REST API on the private stack: the same service, the same answers, HTTP statuses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

import asyncpg
import pytest
from temporalio.client import Client

from app.config import ROOT
from eval_tests.conftest import PrivateStack

ADDRESS = {"name": "Ann Lee", "street": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


@pytest.fixture(scope="module")
def api(stack: PrivateStack):
    port = stack.settings.api_port
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "api"], cwd=ROOT, env=stack.env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            call(base, "GET", "/catalog")
            break
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(10)


def call(base: str, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def until_status(api: str, order_id: str, done: Callable[[dict], bool], timeout: float = 60) -> None:
    """Wait until the order's status, as GET /orders/{id} gives it, is ``done``."""
    deadline = time.monotonic() + timeout
    while not done(status := call(api, "GET", f"/orders/{order_id}")[1]):
        assert time.monotonic() < deadline, f"order {order_id} stayed {status.get('state')}"
        await asyncio.sleep(0.1)


async def order_awaiting_review(api: str, prefix: str) -> str:
    """The id of a new order of one WIDGET-1, once it awaits review."""
    order_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    body = {"order_id": order_id, "items": [{"sku": "WIDGET-1", "quantity": 1}], "address": ADDRESS}
    code, created = call(api, "POST", "/orders", body)
    assert code == 201, created
    await until_status(api, order_id, lambda status: status["state"] == "AWAITING_APPROVAL")
    return order_id


async def test_create_review_and_follow_an_order_over_http(api):
    order_id = f"api-{uuid.uuid4().hex[:8]}"
    code, created = call(api, "POST", "/orders", {"order_id": order_id, "items": [{"sku": "WIDGET-1", "quantity": 2}], "address": ADDRESS})
    assert code == 201 and created["workflow_id"] == f"order-{order_id}" and created["amount_cents"] == 3998
    # Sent again (a client whose answer was lost): the first answer again, said to be a repeat.
    code, again = call(api, "POST", "/orders", {"order_id": order_id, "items": [{"sku": "WIDGET-1", "quantity": 2}], "address": ADDRESS})
    assert code == 200 and again["already_created"] is True and created["already_created"] is False, again
    assert {key: again[key] for key in created if key not in ("already_created", "state")} == {
        key: created[key] for key in created if key not in ("already_created", "state")
    }
    code, other = call(api, "POST", "/orders", {"order_id": order_id, "items": [{"sku": "WIDGET-1", "quantity": 3}], "address": ADDRESS})
    # Another order under the same id: a conflict, not a malformed request.
    assert (code, other["detail"]) == (409, f"Order {order_id} already exists with different items; choose another order id.")

    await until_status(api, order_id, lambda status: status["state"] == "AWAITING_APPROVAL")
    code, answer = call(api, "POST", f"/orders/{order_id}/approve", {"by": "api-test"})
    assert code == 200 and answer["accepted"] is True
    code, refused = call(api, "POST", f"/orders/{order_id}/approve", {})
    assert code == 409 and refused["detail"]
    await until_status(api, order_id, lambda status: status["state"] in {"SHIPPED", "FAILED"})
    code, status = call(api, "GET", f"/orders/{order_id}")
    assert code == 200 and status["state"] == "SHIPPED" and status["payment"]["status"] == "CHARGED"
    code, audit = call(api, "GET", f"/orders/{order_id}/audit")
    assert code == 200 and any(e.get("type") == "order_shipped" for e in audit["timeline"])


async def test_identical_creates_sent_at_once_both_succeed_as_one_order(api, stack):
    """A client that retries before its first answer comes: both creates are answered as
    successes, and there is one workflow, one row and one payment-id reservation."""
    ids = [f"twice-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    bodies = [{"order_id": i, "items": [{"sku": "WIDGET-1", "quantity": 1}], "address": ADDRESS} for i in ids]
    answers = await asyncio.gather(*(asyncio.to_thread(call, api, "POST", "/orders", b) for b in bodies for _ in range(2)))
    for order_id, pair in zip(ids, (answers[n:n + 2] for n in range(0, len(answers), 2))):
        assert sorted(code for code, _ in pair) == [200, 201], pair
        assert [answer["order_id"] for _, answer in pair] == [order_id, order_id]
    db = await asyncpg.connect(stack.settings.database_url)
    try:
        deadline = time.monotonic() + 60
        while await db.fetchval("SELECT count(*) FROM orders WHERE id = ANY($1::text[])", ids) < len(ids):
            assert time.monotonic() < deadline, "the orders' rows were not written"
            await asyncio.sleep(0.2)
        reservations = await db.fetch(
            "SELECT order_id, payment_id FROM payment_id_reservations WHERE order_id = ANY($1::text[])", ids
        )
        assert sorted((r["order_id"], r["payment_id"]) for r in reservations) == sorted((i, f"pay-{i}") for i in ids)
    finally:
        await db.close()
    client = await Client.connect(stack.settings.temporal_address)
    for order_id in ids:
        runs = [w async for w in client.list_workflows(f"WorkflowId = 'order-{order_id}'")]
        assert len(runs) == 1, runs


def test_a_create_retried_under_its_idempotency_key_is_the_same_order(api):
    """Without an order id, a retried POST /orders created a second order under a new random id."""
    body = {"items": [{"sku": "WIDGET-1", "quantity": 1}], "address": ADDRESS}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    code, created = call(api, "POST", "/orders", body, headers=key)
    assert code == 201 and created["already_created"] is False, created
    code, again = call(api, "POST", "/orders", body, headers=key)
    assert code == 200 and again["already_created"] is True and again["order_id"] == created["order_id"], again
    # The key again with another order: the key is the trouble, not an order id the client never chose.
    code, reused = call(api, "POST", "/orders", {**body, "items": [{"sku": "WIDGET-1", "quantity": 2}]}, headers=key)
    assert (code, reused["detail"]) == (422, (
        f"This Idempotency-Key was sent before with another order ({created['order_id']}, with different items);"
        " send a new order under a new key."
    ))
    code, other = call(api, "POST", "/orders", body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert code == 201 and other["order_id"] != created["order_id"], other
    code, refused = call(api, "POST", "/orders", body, headers={"Idempotency-Key": "k" * 300})
    assert (code, refused["detail"]) == (
        422, "The Idempotency-Key header has 300 characters; give 1 to 255 printable ASCII characters."
    )


async def test_a_command_retried_under_its_idempotency_key_gets_its_first_answer_once(api, stack):
    """A retried approve that had succeeded answered 409 "already approved": each send was an
    Update of the SDK's random id. Under one key it is the same Update, which Temporal answers
    with its outcome, also once the order has ended, adding nothing to the history or the audit."""
    order_id = await order_awaiting_review(api, "again")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = call(api, "POST", f"/orders/{order_id}/approve", {"by": "api-test"}, headers=key)
    again = call(api, "POST", f"/orders/{order_id}/approve", {"by": "api-test"}, headers=key)
    assert first == again == (200, {"order_id": order_id, "accepted": True, "message": f"Order {order_id} approved."})
    code, refused = call(api, "POST", f"/orders/{order_id}/approve", {})  # without the key: a new command, as before
    assert code == 409 and "already" in refused["detail"], refused
    await until_status(api, order_id, lambda status: status["state"] in {"SHIPPED", "FAILED"})
    history = [e async for e in (await Client.connect(stack.settings.temporal_address)).get_workflow_handle(
        f"order-{order_id}").fetch_history_events()]
    assert call(api, "POST", f"/orders/{order_id}/approve", {"by": "api-test"}, headers=key) == first  # ended: the same
    after = [e async for e in (await Client.connect(stack.settings.temporal_address)).get_workflow_handle(
        f"order-{order_id}").fetch_history_events()]
    assert len(after) == len(history)
    accepted = [e for e in after if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert [e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id for e in accepted] == [
        f"approve:{order_id}:{key['Idempotency-Key']}"
    ]
    code, audit = call(api, "GET", f"/orders/{order_id}/audit")
    assert code == 200 and [e.get("type") for e in audit["timeline"]].count("approved") == 1


async def test_a_key_sent_again_with_another_request_is_refused_and_its_twin_sent_at_once_is_answered_alike(api, stack):
    """Approve by ann, and by bob under ann's key: bob was told "approved." and the audit said
    ann. Two identical requests at once are both answered with the one outcome."""
    order_id = await order_awaiting_review(api, "key")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/orders/{order_id}/approve"
    twins = await asyncio.gather(*(asyncio.to_thread(call, api, "POST", path, {"by": "ann"}, key) for _ in range(2)))
    assert twins == [(200, {"order_id": order_id, "accepted": True, "message": f"Order {order_id} approved."})] * 2
    code, reused = call(api, "POST", path, {"by": "bob"}, headers=key)
    assert (code, reused["detail"]) == (422, (
        f"This idempotency key was sent before with another approval of order {order_id}; send a new approval under"
        " a new key."
    ))
    db = await asyncpg.connect(stack.settings.database_url)
    try:
        rows = await db.fetch("SELECT command, request_key FROM request_keys WHERE order_id = $1", order_id)
    finally:
        await db.close()
    assert [(r["command"], r["request_key"]) for r in rows] == [("approve", key["Idempotency-Key"])]
    handle = (await Client.connect(stack.settings.temporal_address)).get_workflow_handle(f"order-{order_id}")
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        async for e in handle.fetch_history_events()
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert accepted == [f"approve:{order_id}:{key['Idempotency-Key']}"]
    # The audit's approval row is written after the Update's answer: read it once the order ended.
    await until_status(api, order_id, lambda status: status["terminal"])
    code, audit = call(api, "GET", f"/orders/{order_id}/audit")
    approvals = [e for e in audit["timeline"] if e.get("type") == "approved"]
    assert code == 200 and len(approvals) == 1 and "bob" not in json.dumps(approvals), approvals


async def test_a_postal_code_differing_only_in_case_or_spaces_is_no_address_change(api, stack):
    """"sw1a 1aa" to an order that ships to "SW1A 1AA" was an address change, audited old and new
    and sent to the order, through the API and the CLI alike. Every tool now takes a postal code
    in capitals with single spaces: the order is created with "SW1A 1AA", and "sw1a  1aa" again,
    over HTTP or on the command line, is refused as no change, with nothing audited."""
    order_id = f"postal-{uuid.uuid4().hex[:8]}"
    address = {**ADDRESS, "city": "London", "postal_code": "sw1a 1aa", "country": "gb"}
    body = {"order_id": order_id, "items": [{"sku": "WIDGET-1", "quantity": 1}], "address": address}
    code, created = call(api, "POST", "/orders", body)
    assert code == 201, created
    await until_status(api, order_id, lambda status: status["state"] == "AWAITING_APPROVAL")
    assert call(api, "GET", f"/orders/{order_id}")[1]["address"]["postal_code"] == "SW1A 1AA"
    same = {"address": {**address, "postal_code": " Sw1A  1aa "}}
    code, refused = call(api, "PUT", f"/orders/{order_id}/address", same)
    assert (code, refused) == (409, {"detail": f"Order {order_id} already ships to that address."})
    cli = stack.run("order", "address", order_id, "--address", json.dumps(same["address"]))
    assert (cli.returncode, cli.stdout, cli.stderr) == (1, "", f"Order {order_id} already ships to that address.\n")
    code, audit = call(api, "GET", f"/orders/{order_id}/audit")
    assert code == 200 and [e for e in audit["timeline"] if e.get("type") == "address_changed"] == []


def test_bad_input_and_unknown_orders_get_clear_statuses(api):
    code, body = call(api, "POST", "/orders", {"items": [{"sku": "NOPE-1", "quantity": 1}], "address": ADDRESS})
    assert code == 422 and "NOPE-1" in body["detail"]
    code, body = call(api, "GET", f"/orders/ghost-{uuid.uuid4().hex[:6]}")
    assert code == 404 and "no order" in body["detail"].lower()


def test_a_request_that_does_not_fit_the_schema_gets_one_sentence_and_what_the_cli_would_say(api):
    """Pydantic's list of error objects came back instead of a sentence; a JSON true was taken
    for a quantity of 1 and an empty order id for a new one, where the CLI refuses both."""
    item = {"sku": "WIDGET-1", "quantity": 1}
    for body, where in (
        ({"items": [{"sku": "WIDGET-1", "quantity": True}], "address": ADDRESS}, "The quantity of 'WIDGET-1' "),
        ({"items": [{"sku": "WIDGET-1", "quantity": "2"}], "address": ADDRESS}, "The quantity of 'WIDGET-1' "),
        ({"items": [item]}, "address: "),
        ({"items": [item], "address": ADDRESS, "review_window_seconds": "soon"}, "review_window_seconds: "),
    ):
        code, answer = call(api, "POST", "/orders", body)
        assert code == 422 and isinstance(answer["detail"], str), answer
        assert answer["detail"].startswith(where) and answer["detail"].count(".") >= 1, answer
    code, answer = call(api, "GET", "/orders?limit=abc")
    assert (code, answer) == (422, {"detail": "The limit must be a whole number between 1 and 1000, not 'abc'."})
    code, answer = call(api, "POST", "/orders", {"order_id": "", "items": [item], "address": ADDRESS})
    assert code == 422 and "malformed" in answer["detail"], answer


def test_the_api_with_the_stack_down_says_so_in_one_sentence():
    """uvicorn logged the failed start-up with its traceback before the sentence."""
    down = PrivateStack.create()  # never brought up
    try:
        result = down.run("api", timeout=60)
        assert result.returncode == 3, result.stderr
        assert "Traceback" not in result.stderr and "is not reachable" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    finally:
        down.destroy()

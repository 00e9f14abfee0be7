"""The REST API on the private stack: the same service, the same answers, HTTP statuses."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

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


def call(base: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_create_review_and_follow_an_order_over_http(api):
    order_id = f"api-{uuid.uuid4().hex[:8]}"
    code, created = call(api, "POST", "/orders", {"order_id": order_id, "items": [{"sku": "WIDGET-1", "quantity": 2}], "address": ADDRESS})
    assert code == 201 and created["workflow_id"] == f"order-{order_id}" and created["amount_cents"] == 3998
    code, again = call(api, "POST", "/orders", {"order_id": order_id, "items": [{"sku": "WIDGET-1", "quantity": 2}], "address": ADDRESS})
    assert code == 409 and "already exists" in again["detail"]  # a conflict, not a malformed request

    deadline = time.monotonic() + 60
    while call(api, "GET", f"/orders/{order_id}")[1]["state"] != "AWAITING_APPROVAL":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    code, answer = call(api, "POST", f"/orders/{order_id}/approve", {"by": "api-test"})
    assert code == 200 and answer["accepted"] is True
    code, refused = call(api, "POST", f"/orders/{order_id}/approve", {})
    assert code == 409 and refused["detail"]
    while call(api, "GET", f"/orders/{order_id}")[1]["state"] not in {"SHIPPED", "FAILED"}:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    code, status = call(api, "GET", f"/orders/{order_id}")
    assert code == 200 and status["state"] == "SHIPPED" and status["payment"]["status"] == "CHARGED"
    code, audit = call(api, "GET", f"/orders/{order_id}/audit")
    assert code == 200 and any(e.get("type") == "order_shipped" for e in audit["timeline"])


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
        ({"items": [{"sku": "WIDGET-1", "quantity": True}], "address": ADDRESS}, "items.0.quantity"),
        ({"items": [{"sku": "WIDGET-1", "quantity": "2"}], "address": ADDRESS}, "items.0.quantity"),
        ({"items": [item]}, "address"),
        ({"items": [item], "address": ADDRESS, "review_window_seconds": "soon"}, "review_window_seconds"),
    ):
        code, answer = call(api, "POST", "/orders", body)
        assert code == 422 and isinstance(answer["detail"], str), answer
        assert answer["detail"].startswith(f"{where}: ") and answer["detail"].count(".") >= 1, answer
    code, answer = call(api, "GET", "/orders?limit=abc")
    assert code == 422 and answer["detail"].startswith("limit: "), answer
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

"""The API's answer to an operator's command, the real OrderService under it with Temporal and
PostgreSQL stood in for: the same warning as the CLI's when PostgreSQL is out of reach."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.api import create_app
from app.config import Settings
from app.service import OrderService
from tests.test_api_errors import _call
from tests.test_service_commands import _Client, _LostPool, _NoOrderRow

ADDRESS = {"name": "Ann", "street": "2 Elm St", "city": "Springfield", "postal_code": "12345", "country": "US"}
COMMANDS = [
    ("POST", "/orders/o-1/approve", {}),
    ("POST", "/orders/o-1/reject", {"reason": "fraud"}),
    ("POST", "/orders/o-1/cancel", {}),
    ("PUT", "/orders/o-1/address", {"address": ADDRESS}),
]


def _app(pool: Any, tmp_path) -> Any:
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    service = OrderService(settings, client=_Client(), pool=pool)  # type: ignore[arg-type]
    app = create_app(service)
    app.state.service = service  # what the lifespan does, which a bare ASGI call does not run
    return app


@pytest.mark.parametrize(("method", "path", "body"), COMMANDS[:2])
async def test_a_command_temporal_took_while_postgresql_is_down_warns_as_the_cli_does(tmp_path, method, path, body):
    """An approve sent while PostgreSQL was down answered 200 "Order o-1 approved." alone, while
    the CLI and the TUI say that the order records it once PostgreSQL answers again (a review)."""
    status, answer = await _call(_app(_LostPool(), tmp_path), method, path, json.dumps(body).encode())
    assert status == 200
    assert answer["accepted"] is True and answer["message"] == "ok"
    assert answer["warning"] == (
        "PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders is not reachable, so the order records this and"
        " goes on once it answers again; start the stack with ./start.sh up."
    )


@pytest.mark.parametrize(("method", "path", "body"), COMMANDS[2:])
async def test_a_cancel_or_address_change_done_while_the_api_cannot_reach_postgresql_has_no_warning(
    tmp_path, method, path, body
):
    """The order answers these only once the database has the outcome (the cancel's ending, the
    new address): a warning that it records them once PostgreSQL answers again was untrue."""
    status, answer = await _call(_app(_LostPool(), tmp_path), method, path, json.dumps(body).encode())
    assert (status, answer) == (200, {"order_id": "o-1", "accepted": True, "message": "ok"})


@pytest.mark.parametrize(("method", "path", "body"), COMMANDS)
async def test_a_command_with_postgresql_answering_has_no_warning(tmp_path, method, path, body):
    status, answer = await _call(_app(_NoOrderRow(), tmp_path), method, path, json.dumps(body).encode())
    assert (status, answer) == (200, {"order_id": "o-1", "accepted": True, "message": "ok"})


def test_the_openapi_docs_describe_a_commands_answer_with_its_warning(tmp_path):
    document = _app(_NoOrderRow(), tmp_path).openapi()
    for method, path, _ in COMMANDS:
        schema = document["paths"][path.replace("o-1", "{order_id}")][method.lower()]["responses"]["200"]["content"]
        assert schema["application/json"]["schema"] == {"$ref": "#/components/schemas/CommandOut"}
    answer = document["components"]["schemas"]["CommandOut"]
    assert set(answer["properties"]) == {"order_id", "accepted", "message", "warning"}
    assert set(answer["required"]) == {"order_id", "accepted", "message"}
    assert "PostgreSQL" in answer["properties"]["warning"]["description"]


class _Starts(_Client):
    """Temporal takes the start."""

    async def start_workflow(self, *args, **kwargs):
        from types import SimpleNamespace

        return SimpleNamespace(id=kwargs["id"])


@pytest.mark.parametrize("worker_running", [False, True, None])
async def test_an_order_created_with_no_order_worker_serving_warns_as_the_cli_does(monkeypatch, tmp_path, worker_running):
    """POST /orders with the order worker stopped answered 201 alone, while `order create` says
    that no order worker is serving, so the order waits until one does (a review)."""
    from tests.test_service_commands import _creatable

    _creatable(monkeypatch)
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    service = OrderService(settings, client=_Starts(), pool=_NoOrderRow())  # type: ignore[arg-type]

    async def worker_serving(task_queue):
        return worker_running

    monkeypatch.setattr(service, "_worker_serving", worker_serving)
    app = create_app(service)
    app.state.service = service
    order = {"order_id": "o-1", "items": [{"sku": "SKU-1", "quantity": 2}], "address": ADDRESS}
    status, answer = await _call(app, "POST", "/orders", json.dumps(order).encode())
    assert status == 201 and (answer["order_id"], answer["amount"], answer["state"]) == ("o-1", "20.00", "RECEIVED")
    if worker_running is False:
        assert answer["warning"] == (
            "No order worker is serving (none runs, or it is stopped: see ./start.sh status), so it waits until one does."
        )
    else:  # serving, or Temporal could not say: nothing to warn of
        assert "warning" not in answer
    created = app.openapi()["paths"]["/orders"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/CreatedOut"}

"""An order created without an id gets one from one generator, whichever shell created it:
the CLI, the TUI and the API gave ord-6f59dff7, ord-6f59dff7 and ord-ef7198."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from app.errors import InvalidInput
from app.service import NEW_ORDER_ID_FORM, new_order_id
from tests.test_api_errors import ORDER, _call

NEW_ID = re.compile(r"ord-[0-9a-f]{8}")


class _Stop(Exception):
    pass


def test_the_generator_makes_ids_of_the_form_the_help_texts_name():
    ids = {new_order_id() for _ in range(20)}
    assert len(ids) == 20 and all(NEW_ID.fullmatch(i) for i in ids)
    assert len(NEW_ORDER_ID_FORM) == len(next(iter(ids))) and NEW_ORDER_ID_FORM.startswith("ord-")


async def test_the_api_gives_an_order_without_an_id_a_new_one_of_the_shared_form():
    from app.api import create_app
    from app.config import Settings

    class _Recording:
        settings = Settings.from_env({})
        order_ids: list[str] = []

        async def create_order(self, *, order_id: str, **order: Any) -> Any:
            self.order_ids.append(order_id)
            raise InvalidInput("Recorded.")

    service = _Recording()
    app = create_app(service)  # type: ignore[arg-type]
    app.state.service = service
    body = {key: value for key, value in ORDER.items() if key != "order_id"}
    status, _ = await _call(app, "POST", "/orders", json.dumps(body).encode())
    assert status == 422 and NEW_ID.fullmatch(service.order_ids[0])


def test_the_cli_gives_an_order_without_an_id_a_new_one_of_the_shared_form(monkeypatch: pytest.MonkeyPatch):
    import asyncio

    from app import order_cli_handlers
    from app.cli import build_parser

    seen: list[str] = []

    def create_order(*, order_id: str, **order: Any) -> None:
        seen.append(order_id)
        raise _Stop()

    monkeypatch.setattr(order_cli_handlers.checks, "create_order", create_order)
    args = build_parser().parse_args([
        "order", "create", "--item", "SKU-1:1", "--name", "Ann", "--street", "1 Main St", "--city", "Springfield",
        "--postal-code", "12345", "--country", "US",
    ])
    with pytest.raises(_Stop):
        asyncio.run(order_cli_handlers._create(args))
    assert NEW_ID.fullmatch(seen[0])


async def test_the_tui_suggests_a_new_id_of_the_shared_form(monkeypatch: pytest.MonkeyPatch):
    import io

    import questionary
    from rich.console import Console

    from app.tui import forms

    suggested: list[str] = []

    def text(message: str, default: str = "", **options: Any) -> Any:
        suggested.append(default)
        raise _Stop()

    class _Service:
        async def catalog(self) -> list:
            return []

        async def order_worker_running(self) -> bool:  # Temporal answers (asked before the form)
            return True

    monkeypatch.setattr(questionary, "text", text)
    with pytest.raises(_Stop):
        await forms.create_order(_Service(), Console(file=io.StringIO()), {})
    assert NEW_ID.fullmatch(suggested[0])

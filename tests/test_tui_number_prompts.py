"""The TUI's questions with an offered answer (a quantity, how many orders to simulate, an order id)
that the first key typed replaces: typed after it, "5" asked for 105 orders and "2" for 12."""

from __future__ import annotations

import asyncio
import io
from types import SimpleNamespace
from typing import Any

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from app.tui import forms, simulate
from app.tui.prompts import Back

# A paste, as a terminal in bracketed-paste mode sends it, then Enter: it appended to the default.
PASTED = "\x1b[200~%s\x1b[201~\r"
WIDGET = SimpleNamespace(sku="WIDGET-1", name="Widget", price_cents=1999)


class _Service:
    async def catalog(self) -> list[Any]:
        return [WIDGET]

    async def refuse_taken_id(self, order_id: str) -> None:
        return None


async def _given(service: Any, reading: Any, *_args: Any) -> Any:
    return await reading


async def _serving(*_args: Any) -> bool:
    return True


def _typed_into(keys: str, nth: int, given: list[Any], answered: list[str]):
    """An ``ask`` that answers its questions from ``given`` but the ``nth`` (from 1), which it
    asks for real, typing ``keys``; then it backs out of the screen."""
    calls = [0]

    async def ask(question: Any, *, escape: bool = True) -> Any:
        calls[0] += 1
        if calls[0] < nth:
            return given[calls[0] - 1]
        with create_pipe_input() as typing, create_app_session(input=typing, output=DummyOutput()):
            typing.send_text(keys)
            # The question was built outside this session: it reads the pipe once told to.
            question.application.input = typing
            question.application.output = DummyOutput()
            # A bound, not a pause: an answer the question refuses (1025 orders) leaves it waiting.
            answered.append(await asyncio.wait_for(question.unsafe_ask_async(), 5))
        raise Back()

    return ask


@pytest.mark.parametrize(
    ("keys", "answer"), [("5\r", "5"), ("\r", "10"), ("25\r", "25"), ("\x7f5\r", "15"), (PASTED % "5", "5")],
)
async def test_how_many_orders_to_simulate_is_what_is_typed_not_typed_after_the_default(monkeypatch, keys, answer):
    answered: list[str] = []
    monkeypatch.setattr(simulate, "needed_from_database", _given)
    monkeypatch.setattr(simulate, "needed_from_temporal", _serving)
    monkeypatch.setattr(simulate, "ask", _typed_into(keys, 1, [], answered))
    with pytest.raises(Back):
        await simulate.simulate_orders(_Service(), Console(file=io.StringIO()))
    assert answered == [answer]


@pytest.mark.parametrize(("keys", "answer"), [("2\r", "2"), ("\r", "1"), ("\x1b[D3\r", "31")])
async def test_a_quantity_is_what_is_typed_not_typed_after_the_default(monkeypatch, keys, answer):
    answered: list[str] = []
    monkeypatch.setattr(forms, "needed_from_database", _given)
    monkeypatch.setattr(forms, "needed_from_temporal", _serving)
    monkeypatch.setattr(forms, "ask", _typed_into(keys, 3, ["o-1", ["WIDGET-1"]], answered))
    with pytest.raises(Back):
        await forms.create_order(_Service(), Console(file=io.StringIO()), {})
    assert answered == [answer]


@pytest.mark.parametrize(
    ("keys", "answer"),
    [
        ("my-1\r", "my-1"), ("\r", "ord-0000abcd"), ("\x7f\x7f\x7f\x7fwxyz\r", "ord-0000wxyz"),
        (PASTED % "my-1", "my-1"), ("\x7f" + PASTED % "e", "ord-0000abce"),
    ],
)
async def test_an_order_id_typed_over_the_suggested_one_replaces_it(monkeypatch, keys, answer):
    """Typed after the suggestion it made "ord-0000abcdmy-1", a valid id, created as such."""
    answered: list[str] = []
    monkeypatch.setattr(forms, "needed_from_database", _given)
    monkeypatch.setattr(forms, "needed_from_temporal", _serving)
    monkeypatch.setattr(forms, "new_order_id", lambda: "ord-0000abcd")
    monkeypatch.setattr(forms, "ask", _typed_into(keys, 1, [], answered))
    with pytest.raises(Back):
        await forms.create_order(_Service(), Console(file=io.StringIO()), {})
    assert answered == [answer]

"""The tests' waits say what did not come: conftest.eventually failed with "condition not
reached in time" and test_stack_liveness.wait_for (now conftest.wait_until) with "condition not
met in time", which named neither the order nor the state awaited."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import awaiting_review, eventually, wait_until
from workflows.model import OrderState


async def test_eventually_says_what_it_waited_for():
    async def never() -> bool:
        return False

    with pytest.raises(AssertionError) as missed:
        await eventually(never, "order ord-1 SHIPPED in the database", timeout=0.05)
    assert str(missed.value) == "order ord-1 SHIPPED in the database: not within 0.05 s"


async def test_eventually_returns_once_the_condition_holds():
    checks = []

    async def third_time() -> bool:
        checks.append(None)
        return len(checks) == 3

    await eventually(third_time, "the third check", timeout=5)
    assert len(checks) == 3


def test_wait_until_says_what_it_waited_for():
    with pytest.raises(AssertionError) as missed:
        wait_until(lambda: False, "process 42 stopped by SIGSTOP", timeout=0.05)
    assert str(missed.value) == "process 42 stopped by SIGSTOP: not within 0.05 s"


class _Handle:
    """A workflow handle whose status Query answers the states given, then the last one."""

    def __init__(self, *states: OrderState) -> None:
        self.id = "order-ord-1"
        self.states = list(states)

    async def query(self, _query) -> SimpleNamespace:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return SimpleNamespace(state=state)


async def test_awaiting_review_says_which_order_it_waited_for():
    with pytest.raises(AssertionError) as missed:
        await awaiting_review(_Handle(OrderState.VALIDATED), timeout=0.05)
    assert str(missed.value) == "order-ord-1 AWAITING_APPROVAL by its status query: not within 0.05 s"


async def test_awaiting_review_returns_once_the_order_awaits_review():
    handle = _Handle(OrderState.RECEIVED, OrderState.VALIDATED, OrderState.AWAITING_APPROVAL)
    await awaiting_review(handle, timeout=5)
    assert handle.states == [OrderState.AWAITING_APPROVAL]

"""The tests' waits say what did not come: conftest.eventually failed with "condition not
reached in time" and test_stack_liveness.wait_for (now conftest.wait_until) with "condition not
met in time", which named neither the order nor the state awaited."""

from __future__ import annotations

import pytest

from tests.conftest import eventually, wait_until


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

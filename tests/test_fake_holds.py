"""A hold in the stand-in activities (tests/fakes.py) that is never released fails the test:
it used to let the held step go on once HOLD_LIMIT passed, so a test whose release never came
could still pass."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from tests import fakes as stand_ins
from tests.fakes import FakeActivities


async def test_a_hold_never_released_fails_saying_which_step_and_for_how_long(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(stand_ins, "HOLD_LIMIT", 0.1)
    fakes = FakeActivities()

    async def never() -> bool:
        return False

    fakes.holds["PreparePackage"] = never
    with pytest.raises(ApplicationError) as ran_out:
        await fakes._held("PreparePackage")
    sentence = "the hold on PreparePackage was never released: it ran out after 0.1 s"
    assert ran_out.value.message == sentence and ran_out.value.non_retryable
    assert fakes.holds_run_out == [sentence]  # what conftest's _no_hold_ran_out fails the test with
    fakes.holds_run_out.clear()  # this one was meant to run out


async def test_a_released_hold_lets_the_step_go_on(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(stand_ins, "HOLD_LIMIT", 5)
    fakes = FakeActivities()
    checks = []

    async def third_time() -> bool:
        checks.append(None)
        return len(checks) == 3

    fakes.holds["PreparePackage"] = third_time
    await fakes._held("PreparePackage")
    assert len(checks) == 3 and fakes.holds_run_out == []

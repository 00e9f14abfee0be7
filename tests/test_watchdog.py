"""The watchdog's decisions, with process starts replaced: which dead worker it starts, when
again, and that it leaves the stack alone while `up` or `down` holds the lock."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.stack import watchdog
from app.stack.stack import Stack
from app.stack.watchdog import FIRST_DELAY_S, MAX_DELAY_S, STEADY_S, Backoff, restart_dead_workers


@pytest.fixture
def stack(tmp_path) -> Stack:
    return Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)}))


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> dict[str, int | None]:
    """Which worker runs (its pid), as running_pid would say; start() makes it run."""
    running: dict[str, int | None] = {"order-worker": 101, "shipping-worker": 102}

    def running_pid(spec) -> int | None:
        return running.get(spec.name)

    def start(spec) -> int:
        running[spec.name] = 900 + len(running)
        return running[spec.name]

    monkeypatch.setattr(watchdog, "running_pid", running_pid)
    monkeypatch.setattr(watchdog, "start", start)
    return running


def test_a_dead_worker_is_started_again_and_a_live_one_is_left_alone(stack, processes):
    processes["shipping-worker"] = None
    backoffs = {name: Backoff() for name in ("order-worker", "shipping-worker")}
    assert restart_dead_workers(stack, backoffs, now=100.0) == ["shipping-worker"]
    assert processes["order-worker"] == 101 and processes["shipping-worker"] is not None
    assert restart_dead_workers(stack, backoffs, now=100.5) == []  # running again: nothing to do


def test_a_worker_that_keeps_dying_is_started_less_and_less_often(stack, processes):
    backoffs = {name: Backoff() for name in ("order-worker", "shipping-worker")}
    starts = []
    for second in range(0, 40):
        processes["order-worker"] = None  # dies at once, every time
        starts += [second] * len(restart_dead_workers(stack, backoffs, now=float(second)))
    assert starts == [0, 1, 3, 7, 15, 31]  # delays 1, 2, 4, 8, 16 s


def test_the_back_off_is_capped_and_forgiven_after_a_steady_run():
    backoff = Backoff()
    now = 0.0
    for _ in range(12):  # each start dies at once, and is seen dead half a second later
        backoff.started(now)
        assert backoff.due(now + 0.5) is False
        now = backoff.not_before
        assert backoff.due(now) is True
    assert backoff.delay_s == MAX_DELAY_S
    backoff.started(now)
    backoff.due(now + STEADY_S)  # this one had run for a minute before it died
    backoff.started(now + STEADY_S + 1)
    assert backoff.delay_s == FIRST_DELAY_S


def test_nothing_is_started_while_up_or_down_holds_the_stack(stack, processes):
    processes["order-worker"] = None
    backoffs = {name: Backoff() for name in ("order-worker", "shipping-worker")}
    with stack.lock():
        assert restart_dead_workers(stack, backoffs, now=0.0) == []
    assert processes["order-worker"] is None
    assert restart_dead_workers(stack, backoffs, now=0.0) == ["order-worker"]


def test_up_starts_no_watchdog_when_told_not_to(tmp_path):
    assert Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)}).restart_workers is True
    for off in ("0", "false", "no", "off"):
        assert Settings.from_env({"ORDER_TRACKER_RESTART_WORKERS": off}).restart_workers is False

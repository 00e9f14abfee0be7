"""The watchdog's decisions, with process starts replaced: which dead worker it starts, when
again, and that it leaves the stack alone while `up` or `down` holds the lock."""

from __future__ import annotations

import asyncio

import pytest

from app.config import Settings
from app.errors import InvalidInput
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

    from app.stack import parts

    monkeypatch.setattr(watchdog, "running_pid", running_pid)
    monkeypatch.setattr(parts, "start", start)  # what Stack.start_worker calls
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


def test_the_setting_that_turns_the_watchdog_off_is_read_from_the_environment(tmp_path):
    assert Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)}).restart_workers is True
    for off in ("0", "false", "no", "off"):
        assert Settings.from_env({"ORDER_TRACKER_RESTART_WORKERS": off}).restart_workers is False


def test_a_setting_for_the_watchdog_that_is_neither_on_nor_off_is_refused_in_a_sentence():
    """ORDER_TRACKER_RESTART_WORKERS=of (a typo for off) left the watchdog on, in silence."""
    for on in ("1", "true", "yes", "on", " ON ", ""):
        assert Settings.from_env({"ORDER_TRACKER_RESTART_WORKERS": on}).restart_workers is True
    with pytest.raises(InvalidInput) as refused:
        Settings.from_env({"ORDER_TRACKER_RESTART_WORKERS": "of"})
    assert str(refused.value) == "ORDER_TRACKER_RESTART_WORKERS must be 1 (on) or 0 (off), not 'of'."


def test_a_watchdog_whose_pid_file_is_gone_or_names_another_is_no_longer_the_stacks(stack):
    """With .data deleted without `down`, it went on starting a second pair of workers that
    `down` could not stop (it could not find the watchdog)."""
    import os

    path = stack.watchdog_pid_path()
    assert watchdog.still_the_watchdog(stack) is None  # not written yet: up writes it after the start
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()} 123.0\n")
    assert watchdog.still_the_watchdog(stack) is True
    path.write_text("4242 123.0\n")
    assert watchdog.still_the_watchdog(stack) is False


def test_a_worker_seen_alive_again_does_not_count_the_time_it_was_dead_against_its_next_death(stack, processes):
    """`up` restarted it while the watchdog was locked out; hours later it died once and waited
    for a doubled delay, as if it had just been restarted."""
    backoffs = {name: Backoff() for name in ("order-worker", "shipping-worker")}
    processes["order-worker"] = None
    with stack.lock():
        restart_dead_workers(stack, backoffs, now=0.0)  # seen dead, locked out
    processes["order-worker"] = 555  # `up` started it
    restart_dead_workers(stack, backoffs, now=1.0)
    assert backoffs["order-worker"].dead_since is None


def test_up_with_restarts_turned_off_stops_a_watchdog_an_earlier_up_started(tmp_path, monkeypatch):
    from app.stack import starting

    off = Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_RESTART_WORKERS": "0"}))
    stopped, said = [], []
    monkeypatch.setattr(starting, "running_pid", lambda spec: 4242)
    monkeypatch.setattr(starting, "stop", lambda spec: stopped.append(spec.name))
    monkeypatch.setattr(starting, "start", lambda spec: pytest.fail("started"))
    started: list[str] = []
    off._up_watchdog(off.specs(), started, said.append)
    assert stopped == ["watchdog"] and started == []
    assert said == ["stopping the watchdog (ORDER_TRACKER_RESTART_WORKERS is off)"]


def test_a_worker_left_dead_for_its_back_off_is_said_once(stack, processes, caplog):
    """During a 32-60 s back-off the log said nothing until the restart."""
    backoffs = {name: Backoff() for name in ("order-worker", "shipping-worker")}
    processes["order-worker"] = None
    restart_dead_workers(stack, backoffs, now=0.0)  # started at once
    processes["order-worker"] = None  # and dead again
    with caplog.at_level("WARNING", logger="app.stack.watchdog"):
        for now in (0.2, 0.4, 0.6):
            assert restart_dead_workers(stack, backoffs, now=now) == []
    said = [r.getMessage() for r in caplog.records if "event=worker_dead" in r.getMessage()]
    assert said == ["event=worker_dead worker=order-worker restart_in_s=1 restarts=1"]


def test_status_tells_a_stopped_worker_from_a_dead_one(monkeypatch, capsys):
    """For a worker stopped with SIGSTOP it said "Start what is down with ./start.sh up", which
    refuses it."""
    import argparse

    from app import stack_cli
    from app.stack.status import PartStatus, StackStatus

    def a_stack(detail: str):
        parts = [PartStatus("order-worker", False, detail, True, 42)]
        if detail.startswith("Temporal"):  # Temporal stopped: the worker cannot be checked
            parts.insert(0, PartStatus("temporal", False, "stopped (SIGSTOP); kill -CONT 41 resumes it", True, 41))
        return StackStatus(parts=parts, temporal_address="127.0.0.1:7233", temporal_ui_url=None, database_url="x", watchdog_pid=7)

    for detail, advice in (
        ("stopped (SIGSTOP): not serving order-tq; kill -CONT 42 resumes it", "Resume what is stopped with the kill -CONT above"),
        ("not running", "Start what is down with ./start.sh up."),
        # It said "Start what is down with ./start.sh up" (a README review), which cannot resume Temporal.
        ("Temporal is not answering", "Resume what is stopped with the kill -CONT above (./start.sh up cannot);"
                                      " then start what is still down with ./start.sh up."),
    ):
        class _Stack:
            async def status(self, detail=detail):
                return a_stack(detail)

        monkeypatch.setattr(stack_cli, "Stack", _Stack)
        assert asyncio.run(stack_cli._status(argparse.Namespace(json=False))) == 3
        out = " ".join(capsys.readouterr().out.split())
        assert advice in out and ("./start.sh up." in out) == (not detail.startswith("stopped"))


def test_status_does_not_advise_up_for_a_server_on_another_port(monkeypatch, capsys):
    """Its row named the port Temporal runs on, and the last line said "Start what is down with
    ./start.sh up", which refuses it (h8's README review)."""
    import argparse

    from app import stack_cli
    from app.stack.status import PartStatus, StackStatus

    detail = (
        "already runs here (pid 41) on port 7233, not on 47399 (ORDER_TRACKER_TEMPORAL_PORT);"
        " stop it with ./start.sh down, or set ORDER_TRACKER_TEMPORAL_PORT=7233"
    )

    class _Stack:
        async def status(self):
            parts = [PartStatus("temporal", False, detail, True, 41), PartStatus("order-worker", False, "not running", True, None)]
            return StackStatus(parts=parts, temporal_address="127.0.0.1:47399", temporal_ui_url=None, database_url="x", watchdog_pid=None)

    monkeypatch.setattr(stack_cli, "Stack", _Stack)
    assert asyncio.run(stack_cli._status(argparse.Namespace(json=False))) == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "Start what is down" not in out
    assert "A server runs on another port than these settings give: set the port its row names, or stop the stack" in out


def test_status_advises_the_settings_or_down_for_a_worker_serving_another_temporal(monkeypatch, capsys):
    """Not "A server runs on another port" nor "Start what is down with ./start.sh up", which
    refuses it: the worker's row names the Temporal it serves and the variable to set."""
    import argparse

    from app import stack_cli
    from app.stack.status import PartStatus, StackStatus

    detail = (
        "already runs here (pid 42) for Temporal at 127.0.0.1:7233 in namespace default, not at 127.0.0.1:47322"
        " in namespace default; stop it with ./start.sh down (then ./start.sh up), or unset TEMPORAL_ADDRESS"
    )

    class _Stack:
        async def status(self):
            parts = [PartStatus("temporal", True, "answering", False, None), PartStatus("order-worker", False, detail, True, 42)]
            return StackStatus(parts=parts, temporal_address="127.0.0.1:47322", temporal_ui_url=None, database_url="x", watchdog_pid=None)

    monkeypatch.setattr(stack_cli, "Stack", _Stack)
    assert asyncio.run(stack_cli._status(argparse.Namespace(json=False))) == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "Start what is down" not in out and "another port" not in out
    assert "A worker serves another Temporal than these settings give: set what its row names, or stop the stack" in out

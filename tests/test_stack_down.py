"""`down` says each part as it begins to stop it, as `up` says each part it starts: stopping
takes seconds (PostgreSQL's fast shutdown, Temporal's), and it used to be silent until the end.
The processes are stand-ins: no server runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.cli import main
from app.config import Settings
from app.stack import Stack
from app.stack import stack as stack_module


@pytest.fixture
def running(tmp_path: Path, monkeypatch) -> list[str]:
    """Every part but the shipping worker runs; ``stop`` records what it was asked to stop."""
    (tmp_path / "run").mkdir(parents=True)
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    for name in ("TEMPORAL_ADDRESS", "DATABASE_URL", "ORDER_TRACKER_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    events: list[str] = []

    def stop(spec) -> str:
        events.append(f"stop {spec.name}")
        return "stopped"

    monkeypatch.setattr(stack_module, "running_pid", lambda spec: None if spec.name == "shipping-worker" else 4242)
    monkeypatch.setattr(stack_module, "stop", stop)
    return events


def test_down_says_each_part_before_it_stops_it(running: list[str]):
    stack = Stack(Settings.from_env())
    stopped = stack.down(say=lambda what: running.append(f"say {what}"))
    # The watchdog with the workers (under down's lock it starts none again), then the servers.
    assert running[:2] == ["say stopping the watchdog", "say stopping the order worker"]
    assert sorted(running[2:4]) == ["stop order-worker", "stop watchdog"]
    assert running[4:6] == ["say stopping Temporal", "say stopping PostgreSQL"]
    assert sorted(running[6:]) == ["stop postgres", "stop temporal"]
    assert stopped == {"watchdog": "stopped", "order-worker": "stopped", "temporal": "stopped", "postgres": "stopped"}


def test_the_parts_of_a_stage_stop_together_and_the_stages_in_order(tmp_path: Path, monkeypatch):
    """The watchdog and the workers together, then Temporal and PostgreSQL: one by one `down`
    took ~11 s.
    Each stand-in stop waits for the other part of its stage, so one at a time never ends."""
    import threading

    (tmp_path / "run").mkdir(parents=True)
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    for name in ("TEMPORAL_ADDRESS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    stages = {"watchdog": 1, "order-worker": 1, "shipping-worker": 1, "temporal": 2, "postgres": 2}
    together = {1: threading.Barrier(3, timeout=5), 2: threading.Barrier(2, timeout=5)}
    events: list[str] = []

    def stop(spec) -> str:
        events.append(f"stop {spec.name}")
        if spec.name in stages:
            together[stages[spec.name]].wait()  # BrokenBarrierError if the other never comes
        return "stopped"

    monkeypatch.setattr(stack_module, "running_pid", lambda spec: 4242)
    monkeypatch.setattr(stack_module, "stop", stop)
    stopped = Stack(Settings.from_env()).down(say=lambda what: events.append(f"say {what}"))
    assert list(stopped) == ["watchdog", "order-worker", "shipping-worker", "temporal", "postgres"]
    assert events[:3] == ["say stopping the watchdog", "say stopping the order worker", "say stopping the shipping worker"]
    assert sorted(events[3:6]) == ["stop order-worker", "stop shipping-worker", "stop watchdog"]
    assert events[6:8] == ["say stopping Temporal", "say stopping PostgreSQL"]
    assert sorted(events[8:]) == ["stop postgres", "stop temporal"]


def test_the_down_command_prints_its_progress_as_up_does(running: list[str], capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() points the root logger at its log
    try:
        assert main(["down"]) == 0
    finally:
        root.handlers[:], root.level = handlers, level
    out, err = capsys.readouterr()
    assert err == "… stopping the watchdog\n… stopping the order worker\n… stopping Temporal\n… stopping PostgreSQL\n"
    assert out == "Stopped watchdog, order-worker, temporal, postgres.\n"


def test_down_removes_the_pid_file_a_dead_part_left(running: list[str]):
    """Readers (status, the TUI's health line, the watchdog) no longer remove a pid file they
    read as stale, as one may have been replaced meanwhile by a start: `down` does, under the
    lock that every start holds."""
    stack = Stack(Settings.from_env())
    left = stack.specs()["shipping-worker"].pid_path  # the part not running
    left.write_text("4242 123.0\n")
    stack.down()
    assert not left.exists()


def test_down_with_settings_that_bring_their_own_servers_still_stops_the_local_ones(running: list[str], monkeypatch):
    """A shell with TEMPORAL_ADDRESS (or DATABASE_URL) set, while an `up` without them runs: the
    local dev server and PostgreSQL are still ours, by their pid files. `down` there stopped the
    workers and left the local Temporal running, though `up`'s refusal for workers serving another
    Temporal says to stop them with `down`."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:47999")
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@127.0.0.1:45999/orders")
    settings = Settings.from_env()
    assert settings.external_temporal_address and settings.external_database_url
    stopped = Stack(settings).down()
    assert stopped == {"watchdog": "stopped", "order-worker": "stopped", "temporal": "stopped", "postgres": "stopped"}
    assert sorted(running[2:]) == ["stop postgres", "stop temporal"]

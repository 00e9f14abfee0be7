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
    assert running == [
        "say stopping the watchdog",  # first: it would start a stopped worker again
        "stop watchdog",
        "say stopping the order worker",
        "stop order-worker",
        "say stopping Temporal",
        "stop temporal",
        "say stopping PostgreSQL",
        "stop postgres",
    ]
    assert stopped == {"watchdog": "stopped", "order-worker": "stopped", "temporal": "stopped", "postgres": "stopped"}


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

"""The stack from the outside: up, status, down, persistence, crash detection, port clashes."""

from __future__ import annotations

import json
import os
import signal
import socket

import psutil

from eval_tests.conftest import PrivateStack

PARTS = {"postgres", "temporal", "order-worker", "shipping-worker"}


def _pids(status: dict) -> dict[str, int]:
    return {p["name"]: p["pid"] for p in status["parts"]}


def test_up_is_healthy_and_up_again_is_a_no_op(stack: PrivateStack):
    status = stack.status()
    assert status["healthy"] is True
    assert {p["name"] for p in status["parts"]} == PARTS
    assert status["temporal_address"] == f"127.0.0.1:{stack.settings.temporal_port}"
    assert status["temporal_ui_url"] == f"http://127.0.0.1:{stack.settings.temporal_ui_port}"
    assert status["database_url"].startswith("postgresql://")
    before = _pids(status)
    again = stack.ok("up")
    assert "already up" in again.stdout
    assert _pids(stack.status()) == before


def test_status_exits_zero_only_when_healthy_and_a_killed_worker_shows(tmp_path):
    private = PrivateStack.create()
    try:
        private.ok("up", timeout=180)
        assert private.run("status").returncode == 0
        worker_pid = _pids(private.status())["shipping-worker"]
        os.kill(worker_pid, signal.SIGKILL)
        psutil.Process(worker_pid).wait(10) if psutil.pid_exists(worker_pid) else None
        result = private.run("status", "--json")
        assert result.returncode == 3
        parts = {p["name"]: p for p in json.loads(result.stdout)["parts"]}
        assert parts["shipping-worker"]["healthy"] is False
        assert parts["order-worker"]["healthy"] is True
        # `up` brings back just what is missing.
        private.ok("up", timeout=120)
        healed = private.status()
        assert healed["healthy"] is True
        assert _pids(healed)["order-worker"] == parts["order-worker"]["pid"]
    finally:
        private.destroy()


def test_data_survives_down_and_up_and_down_leaves_no_process():
    private = PrivateStack.create()
    try:
        private.ok("up", timeout=180)
        created = private.json(
            "order", "create", "--item", "WIDGET-1:1", "--name", "Ann", "--street", "1 Main St",
            "--city", "Springfield", "--postal-code", "12345", "--country", "US",
        )
        order_id = created["order_id"]
        pids = _pids(private.status())
        result = private.ok("down")
        assert "Stopped" in result.stdout
        assert not [pid for pid in pids.values() if psutil.pid_exists(pid)], "down left processes behind"
        assert not list((private.data_dir / "run").glob("*.pid"))
        assert private.run("status").returncode == 3

        private.ok("up", timeout=180)
        # The workflow (in Temporal's SQLite) and the row (in PostgreSQL) are both back.
        status = private.json("order", "status", order_id)
        assert status["order_id"] == order_id
        assert status["state"] == "AWAITING_APPROVAL"
        listed = private.json("order", "list")
        assert order_id in [o["order_id"] for o in listed["orders"]]
    finally:
        private.destroy()
    assert not private.data_dir.exists()


def test_up_with_a_port_taken_names_the_port_and_starts_nothing():
    private = PrivateStack.create()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", private.settings.postgres_port))
    blocker.listen()
    try:
        result = private.run("up", timeout=120)
        assert result.returncode == 3
        message = result.stderr.strip()
        assert f"Port {private.settings.postgres_port} for PostgreSQL is already in use" in message
        assert "Traceback" not in result.stderr
        assert len(message.splitlines()) == 1
        assert not list((private.data_dir / "run").glob("*.pid"))
    finally:
        blocker.close()
        private.destroy()


def test_servers_given_by_the_user_are_used_not_started(stack: PrivateStack):
    """TEMPORAL_ADDRESS and DATABASE_URL point at servers someone else runs (here: the
    session's stack): `up` starts only the workers, `down` stops only them."""
    mine = PrivateStack.create()
    settings = stack.settings
    mine.env["TEMPORAL_ADDRESS"] = settings.temporal_address
    mine.env["DATABASE_URL"] = settings.database_url.replace("postgres@", "postgres:not-shown@")
    try:
        result = mine.ok("up", timeout=120)
        assert "Started order-worker, shipping-worker" in result.stdout
        status = mine.status()
        assert status["healthy"] is True
        parts = {p["name"]: p for p in status["parts"]}
        assert parts["temporal"]["local"] is False and parts["postgres"]["local"] is False
        assert parts["temporal"]["pid"] is None and parts["postgres"]["pid"] is None
        assert "not-shown" not in json.dumps(status) and "***" in status["database_url"]
        assert not (mine.data_dir / "postgres").exists() and not (mine.data_dir / "temporal").exists()
        assert mine.ok("down").stdout.strip() == "Stopped order-worker, shipping-worker."
        assert stack.status()["healthy"] is True
    finally:
        mine.destroy()

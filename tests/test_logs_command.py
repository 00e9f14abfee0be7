"""`./start.sh logs [NAME]` through the command-line entry point, on a private data dir: which
log it shows and what it says when there is none yet."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from app.cli import main
from app.config import ROOT

Run = Callable[..., "tuple[int, str]"]


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys) -> Iterator[Run]:
    """``main(argv)`` on a private data dir; ``tail`` is not run, its command line is kept."""
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ORDER_TRACKER_DEBUG", raising=False)
    tails: list[list[str]] = []
    monkeypatch.setattr("app.stack_cli._tail", lambda command: tails.append(command) or 0)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() points the root logger at its log

    def run(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        return code, capsys.readouterr().err

    run.tails = tails  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = handlers, level


def test_no_api_log_yet_says_to_start_the_api_not_the_stack(cli: Run):
    """`up` never starts the API, yet the hint was "start the stack with ./start.sh up"."""
    assert cli("logs", "api") == (1, "No log yet for api; start the API with ./start.sh api.\n")
    assert cli("logs", "order-worker") == (1, "No log yet for order-worker; start the stack with ./start.sh up.\n")


def test_the_api_writes_the_log_that_logs_api_shows(cli: Run, tmp_path: Path, monkeypatch):
    """It wrote into cli.log with every command, so `logs api` never found a log."""
    served: list[int] = []

    async def stack_reachable() -> None:  # no stack here: the API's own check of it stands aside
        return None

    monkeypatch.setattr("uvicorn.Server.run", lambda server, sockets: served.append(sockets[0].getsockname()[1]))
    monkeypatch.setattr("app.api_cli._stack_reachable", stack_reachable)
    assert cli("api", "--port", "18123")[0] == 0 and served == [18123]
    api_log = tmp_path / "logs" / "api.log"
    assert "event=api_started host=127.0.0.1 port=18123" in api_log.read_text()
    assert cli("logs", "api") == (0, "")
    assert cli.tails == [["tail", "-n", "40", str(api_log)]]  # type: ignore[attr-defined]


@pytest.mark.parametrize("lines", ["-5", "0", "+0", "1000001", "99999999999999999999", "x", "", "5_0", "\uff15", "1e3", " 7 "])
def test_a_number_of_lines_tail_would_misread_or_refuse_is_a_usage_error(cli: Run, capsys, lines):
    """tail took "-5" as 5 and answered a long number with "tail: invalid number of lines"."""
    with pytest.raises(SystemExit) as exited:
        cli("logs", "-n", lines, "cli")
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == f"error: argument -n/--lines: give a whole number of lines from 1 to 1,000,000, not {lines!r}."
    assert cli.tails == []  # type: ignore[attr-defined]


def test_a_long_number_of_lines_is_shortened_in_the_refusal(cli: Run, capsys):
    with pytest.raises(SystemExit):
        cli("logs", "-n", "9" * 5000)
    assert f"not '{'9' * 40}…'." in capsys.readouterr().err


@pytest.mark.parametrize("lines, passed", [("1", "1"), ("+5", "5"), ("007", "7"), ("1000000", "1000000")])
def test_a_number_of_lines_within_bounds_goes_to_tail(cli: Run, tmp_path: Path, lines, passed):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "temporal.log").write_text("ready\n")
    assert cli("logs", "-n", lines, "temporal") == (0, "")
    assert cli.tails == [["tail", "-n", passed, str(tmp_path / "logs" / "temporal.log")]]  # type: ignore[attr-defined]


def test_logs_into_a_reader_that_went_away_exits_0(tmp_path: Path, monkeypatch):
    """`./start.sh logs | head -1`: tail died of SIGPIPE and the command exited 243 (-13),
    where every other command exits 0 when its reader goes away."""
    import os
    import subprocess
    import sys

    from app.config import ROOT

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "watchdog.log").write_text("a line of the log\n" * 200_000)  # more than the pipe holds
    env = {k: v for k, v in os.environ.items() if k != "ORDER_TRACKER_DEBUG"} | {"ORDER_TRACKER_DATA_DIR": str(tmp_path)}
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -1` that has already left
    try:
        result = subprocess.run(
            [sys.executable, "-m", "app", "logs", "watchdog", "-n", "200000"],
            cwd=ROOT, env=env, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_sigterm_to_logs_follow_stops_its_tail_too(tmp_path: Path):
    """`kill <pid of ./start.sh logs -f>` (not Ctrl-C, which reaches the whole process group)
    left its `tail -F` running, orphaned, for ever."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "postgres.log").write_text("ready\n")
    env = {**os.environ, "ORDER_TRACKER_DATA_DIR": str(tmp_path)}
    env.pop("ORDER_TRACKER_DEBUG", None)
    command = [sys.executable, "-m", "app", "logs", "postgres", "-f"]
    # A session of its own, as a command started by a supervisor: no group signal reaches tail.
    logs_command = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert select.select([logs_command.stdout], [], [], 30)[0], "tail printed nothing"
        assert logs_command.stdout.readline() == b"ready\n"  # tail runs
        tails = _children(logs_command.pid)
        assert len(tails) == 1
        logs_command.send_signal(signal.SIGTERM)
        code = logs_command.wait(timeout=10)
        assert _wait_gone(tails[0], timeout=10), "tail -F outlived the logs command"
        assert code == 128 + signal.SIGTERM
    finally:
        logs_command.kill()
        logs_command.wait()


# Runs _tail with a Popen that, once tail has started, sends this process a SIGTERM at once: the
# moment a loaded machine can give a `kill` that comes right after tail printed.
_SIGTERM_AS_TAIL_STARTS = """
import os, signal, subprocess, sys
from app import stack_cli
real = subprocess.Popen
def popen(*args, **kwargs):
    process = real(*args, stdout=subprocess.DEVNULL, **kwargs)
    print(process.pid, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    return process
stack_cli.subprocess.Popen = popen
print(stack_cli._tail(["tail", "-F", sys.argv[1]]), flush=True)
"""


def test_a_sigterm_as_tail_starts_stops_tail_too(tmp_path: Path):
    """The SIGTERM handler was installed after tail started: a SIGTERM in between (a CI run on a
    loaded machine, `kill` right after tail printed) ended the command and left tail running."""
    log_file = tmp_path / "x.log"
    log_file.write_text("")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", _SIGTERM_AS_TAIL_STARTS, str(log_file)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, timeout=30,
    )
    tail_pid, *returned = run.stdout.split()
    try:
        assert _wait_gone(int(tail_pid), timeout=10), "tail -F outlived the logs command"
        assert returned == [str(-signal.SIGTERM).encode()]  # what the logs command turns into exit 143
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(tail_pid), signal.SIGKILL)


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


def _wait_gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` ends within ``timeout`` s (a pidfd is readable once it has)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    with os.fdopen(pidfd) as handle:
        return bool(select.select([handle], [], [], timeout)[0])

"""`up`, `down`, `status` and `logs`: the local stack from the command line."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import time
from typing import Callable

from rich.console import Console
from rich.markup import escape

from app import render_stack
from app.cli_numbers import whole_number
from app.errors import InvalidInput, OperatorError, StackUnreachable
from app.stack import PurgeIncomplete, PurgeRefused, Stack, StackError
from app.stack.health import is_stopped, on_another_port, refuses_credentials
from app.stack.processes import STOP_TIMEOUT_S
from app.stack.parts import LABELS, PART_NAMES, SERVERS, WATCHDOG


# More than any screen or pager wants; tail's own limit is far larger and its refusal cryptic.
MAX_LOG_LINES = 1_000_000


class StackFailed(OperatorError):
    exit_code = 3


def register(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser(
        "up",
        help="start Temporal, PostgreSQL and both workers; returns when healthy",
        description="Start what is not running (Temporal, PostgreSQL, both workers) and return when every part is"
        " healthy; then the watchdog, which starts a worker again when it dies (ORDER_TRACKER_RESTART_WORKERS=0:"
        " none). Running it again starts only what is down.",
    )
    up.add_argument("--docker", action="store_true", help="use docker compose instead of local processes")
    up.set_defaults(handler=_up)

    down = commands.add_parser("down", help="stop what `up` started (data is kept)")
    down.add_argument(
        "--purge",
        action="store_true",
        help="also delete .data/ (orders, history, logs), unless it holds anything else; with --docker,"
        " the compose stack's volumes",
    )
    down.add_argument("--docker", action="store_true", help="stop the docker compose stack")
    down.set_defaults(handler=_down)

    status = commands.add_parser("status", help="health of each part; exit 0 only if all are healthy")
    status.add_argument("--json", action="store_true", help="one JSON document on stdout")
    status.set_defaults(handler=_status)

    logs = commands.add_parser("logs", help="show the end of a part's log")
    logs.add_argument(
        "name", nargs="?", choices=[*PART_NAMES, WATCHDOG, "cli", "api"],
        help=f"which log (default: those of {', '.join(PART_NAMES)})",
    )
    logs.add_argument("-n", "--lines", type=_line_count, default=40, help=f"how many lines, 1 to {MAX_LOG_LINES:,} (default 40)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep following the log")
    logs.set_defaults(handler=_logs)


def _line_count(text: str) -> int:
    """-n, checked here: tail takes "-5" as 5 and answers a long number with its own error."""
    return whole_number("lines", 1, MAX_LOG_LINES)(text)


# What Ctrl-C while the stack starts leaves said (`up`, and the TUI starting it): the parts
# started so far run on.
UP_INTERRUPTED = "Stopped: the stack may be partly up; see ./start.sh status (./start.sh down stops what runs)."


async def ensure_up(console: Console | None = None) -> object:
    """Start the stack if it is not up (for `up`, the TUI and the benchmark; the API only checks it)."""
    console = console or Console(stderr=True)
    stack = Stack()
    try:
        return await stack.up(say=_progress(console))
    except StackError as error:
        raise StackFailed(str(error)) from None


def _progress(console: Console) -> Callable[[str], None]:
    """How `up` and `down` say each step as it begins: "… starting Temporal", "… stopping Temporal"."""
    return lambda what: console.print(f"[dim]… {escape(what)}[/]")


async def _up(args: argparse.Namespace) -> int:
    if args.docker:
        return _docker(["up", "-d", "--build", "--wait"])
    console = Console(stderr=True)
    began = time.monotonic()
    args.on_interrupt = UP_INTERRUPTED
    status = await ensure_up(console)
    took = time.monotonic() - began
    out = Console()
    if status.started:
        out.print(f"Started {', '.join(status.started)} in {took:.1f} s; everything is healthy.", soft_wrap=True)
    else:
        out.print("Everything is already up and healthy.")
    out.print(render_stack.stack_links(status), soft_wrap=True)
    out.print("Open the TUI with [bold]./start.sh[/]; stop the stack with [bold]./start.sh down[/].", soft_wrap=True)
    return 0


def _down(args: argparse.Namespace) -> int:
    if args.docker:
        return _docker(["down", *(["--volumes"] if args.purge else [])])
    stack = Stack()
    existed = stack.settings.data_dir.exists()
    console = Console(stderr=True)
    left = None
    try:
        stopped = stack.down(purge=args.purge, say=_progress(console))
    except PurgeIncomplete as incomplete:  # stopped all the same: said first, then what is left
        stopped, left = incomplete.stopped, str(incomplete)
    except PurgeRefused as error:
        raise InvalidInput(str(error)) from None
    except StackError as error:
        raise StackFailed(str(error)) from None
    if stopped:
        print(f"Stopped {', '.join(stopped)}.")
    else:
        print("Nothing was running.")
    for name in (name for name, how in stopped.items() if how == "killed"):
        # Committed work is safe (PostgreSQL's and SQLite's logs; the workflows' history), and
        # what it was doing is taken up again: but the operator should know it did not stop cleanly.
        print(
            f"The {LABELS[name]} did not stop within {STOP_TIMEOUT_S:.0f} s and was killed; nothing committed is lost,"
            f" and ./start.sh up starts it again (why it hung may be in ./start.sh logs {name})."
        )
    if left is not None:
        raise OperatorError(left)
    if args.purge and existed:
        print(f"Deleted {stack.settings.data_dir}.")
    return 0


async def _status(args: argparse.Namespace) -> int:
    status = await Stack().status()
    args.verdict = 0 if status.healthy else 3  # what it exits with, even if nobody reads the table (`| head -1`)
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        console = Console()
        console.print(render_stack.stack_table(status, width=console.width))
        if (resume := render_stack.stack_resume(status)) is not None:
            console.print(resume, soft_wrap=True)
        if console.width < render_stack.WIDE_STACK_TABLE:
            console.print(render_stack.stack_logs(status), soft_wrap=True)
        console.print(render_stack.stack_links(status), soft_wrap=True)
        if status.watchdog_pid is not None:
            console.print(f"A worker that dies is started again by the watchdog (pid {status.watchdog_pid}).", soft_wrap=True)
        else:
            console.print("No watchdog runs: a worker that dies stays down until ./start.sh up.", soft_wrap=True)
        down = [part for part in status.parts if not part.healthy]
        stopped = [part for part in down if is_stopped(part)]
        if stopped and len(stopped) == len(down):
            # A stopped process is alive: up refuses it, and the watchdog leaves it alone.
            console.print("Resume what is stopped with the kill -CONT above; ./start.sh up cannot.", soft_wrap=True)
        elif stopped:
            # A stopped Temporal leaves the workers unchecked (down here): resuming it comes first.
            console.print(
                "Resume what is stopped with the kill -CONT above (./start.sh up cannot);"
                " then start what is still down with ./start.sh up.",
                soft_wrap=True,
            )
        elif elsewhere := [part for part in down if on_another_port(part)]:
            # up refuses it too: the settings, or a down first, are the way.
            what = (
                "A server runs on another port than these settings give: set the port its row names,"
                if any(part.name in SERVERS for part in elsewhere)
                else "A worker serves another Temporal than these settings give: set what its row names,"
            )
            console.print(f"{what} or stop the stack with ./start.sh down.", soft_wrap=True)
        elif any(refuses_credentials(part) for part in down):
            # Temporal answered: neither up nor a wait mends credentials, and the workers need them too.
            console.print(
                "Temporal refused the credentials: fix them as its row says, then start what is down with"
                " [bold]./start.sh up[/].",
                soft_wrap=True,
            )
        elif down:
            console.print("Start what is down with [bold]./start.sh up[/].")
    return args.verdict


def _logs(args: argparse.Namespace) -> int:
    stack = Stack()
    names = [args.name] if args.name else PART_NAMES
    paths = [stack.log_path(name) for name in names if stack.log_path(name).exists()]
    if not paths:
        start = "start the API with ./start.sh api" if args.name == "api" else "start the stack with ./start.sh up"
        raise OperatorError(f"No log yet for {args.name or 'any part'}; {start}.")
    command = ["tail", "-n", str(args.lines), *(["-F"] if args.follow else []), *map(str, paths)]
    try:
        code = _tail(command)
    except KeyboardInterrupt:
        return 0
    if code == -signal.SIGTERM:  # this command was stopped (kill), and its tail with it
        return 128 + signal.SIGTERM
    # tail killed by SIGPIPE (`logs | head`): a reader that went away is no failure, as for every
    # other command; it exited 243 (-13) here.
    return 0 if code == -signal.SIGPIPE else code


def _tail(command: list[str]) -> int:
    """Run tail and wait for it. Ctrl-C reaches both processes, but a SIGTERM sent to this one
    alone (`kill`, a supervisor) left `tail -F` running for ever, orphaned: it is passed on."""
    process: subprocess.Popen | None = None
    stopped = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopped
        stopped = True
        if process is not None:
            process.terminate()

    # Before tail starts: a SIGTERM that came between its start and the handler (tail had
    # printed already, on a loaded machine) killed this command at once and left tail running.
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        process = subprocess.Popen(command)
        if stopped:  # it came while tail was starting
            process.terminate()
        return process.wait()
    except BaseException:
        if process is not None:
            process.terminate()
            process.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _docker(compose_args: list[str]) -> int:
    _check_docker()
    result = subprocess.run(["docker", "compose", *compose_args])
    if result.returncode != 0:
        raise StackFailed(
            f"docker compose {compose_args[0]} failed (its output is above); ./start.sh up runs the stack without Docker."
        )
    return 0


# `docker compose` and `docker info` answer in well under a second; the engine's socket can hang.
DOCKER_CHECK_TIMEOUT_S = 20.0


def _check_docker() -> None:
    """What `--docker` needs, each missing piece in its own sentence: the CLI, its compose
    plugin (without it docker reads `compose up -d` as its own flags: "unknown shorthand flag:
    'd' in -d"), and an engine that answers."""
    local = "or use the local stack with ./start.sh up"
    try:
        plugin = _docker_answer(["docker", "compose", "version"])
        if plugin.returncode != 0:
            raise StackUnreachable(
                f"The Docker Compose plugin is not installed (`docker compose version` fails); install it, {local}."
            )
        engine = _docker_answer(["docker", "info", "--format", "{{.ServerVersion}}"])
    except FileNotFoundError:
        raise StackUnreachable("Docker is not installed; use ./start.sh up for the local stack.") from None
    except subprocess.TimeoutExpired as timeout:
        raise StackUnreachable(
            f"Docker did not answer `{' '.join(timeout.cmd)}` within {timeout.timeout:.0f} s; check the Docker engine, {local}."
        ) from None
    if engine.returncode != 0:
        if "permission denied" in engine.stderr.lower():
            raise StackUnreachable(
                f"The Docker engine refuses this user (permission denied on its socket); run as a user in the docker"
                f" group, {local}."
            )
        raise StackUnreachable(f"The Docker engine is not running (`docker info` cannot reach it); start it, {local}.")


def _docker_answer(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=DOCKER_CHECK_TIMEOUT_S)

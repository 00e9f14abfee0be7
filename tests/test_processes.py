"""Starting and stopping the stack's parts (app/stack/processes.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from app.stack import processes
from app.stack.processes import ProcessSpec


def _spec(tmp_path: Path) -> ProcessSpec:
    return ProcessSpec(
        name="sleeper",
        command=[sys.executable, "-c", "import time; time.sleep(60)"],
        log_path=tmp_path / "sleeper.log",
        pid_path=tmp_path / "sleeper.pid",
    )


def test_a_part_started_by_another_process_that_never_reaps_it_stops_at_once(tmp_path):
    """A part the TUI started is the TUI's child: it exits at once on `down`, then stays a zombie
    (the TUI does not collect it), and `down` from another shell waited 15 s for it, killed it
    and said so: "did not stop within 15 s and was killed", about every part. (start() now has
    the TUI collect its parts; this parent does not, as the TUI did not then.)"""
    spec = _spec(tmp_path)
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from types import SimpleNamespace
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from app.stack import processes
        from tests.test_processes import _spec
        from pathlib import Path
        # Without start()'s reaper thread: this parent never waits for its child.
        processes.threading = SimpleNamespace(Thread=lambda **kwargs: SimpleNamespace(start=lambda: None))
        print(processes.start(_spec(Path({str(tmp_path)!r}))), flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert processes.running_pid(spec) == pid
        # "At once" is "not after the timeout": a stop that waits it out kills the part and says
        # "killed". The timeout is generous, so that a slow machine cannot make it run out.
        assert processes.stop(spec, timeout=30) == "stopped"
        assert processes.running_pid(spec) is None
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # still its parent's, uncollected
    finally:
        parent.kill()
        parent.wait()


def test_a_part_of_this_process_is_stopped_and_collected(tmp_path):
    spec = _spec(tmp_path)
    pid = processes.start(spec)
    assert processes.stop(spec, timeout=5) == "stopped"
    assert processes.running_pid(spec) is None
    assert not Path(f"/proc/{pid}").exists()  # collected, not a zombie left behind


def test_a_pid_file_is_replaced_whole_never_written_in_place(tmp_path):
    """The pid file was opened and written in place: `status`, the TUI's health line or the
    watchdog, reading it between the open and the write, found it empty (and a watchdog took
    itself for a stray and exited). Every open and rename that start() makes is watched."""
    watched = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from pathlib import Path
        from app.stack import processes
        from tests.test_processes import _spec
        spec = _spec(Path({str(tmp_path)!r}))
        pid_path, seen = str(spec.pid_path), {{"written_in_place": 0, "renamed_onto": 0}}
        def hook(event, args):
            if event == "open" and args[0] is not None and os.fspath(args[0]) == pid_path:
                mode, flags = args[1] or "", args[2] or 0
                if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR):
                    seen["written_in_place"] += 1
            elif event == "os.rename" and os.fspath(args[1]) == pid_path:
                seen["renamed_onto"] += 1
        sys.addaudithook(hook)
        processes.start(spec)
        processes.stop(spec, timeout=5)
        print(json.dumps(seen))
    """)], capture_output=True, text=True, timeout=60)
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout) == {"written_in_place": 0, "renamed_onto": 1}


def test_a_reader_never_removes_a_pid_file_that_a_start_may_have_just_replaced(tmp_path, monkeypatch):
    """running_pid removed the files it judged stale: a reader that read a dead part's file, and
    judged it after a start had replaced it, removed the new part's file (a part `down` could
    then not find), and a file read between a writer's open and its write was removed too.
    Removal is `down`'s, under the lock that every start holds."""
    import psutil

    spec = _spec(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    spec.pid_path.write_text(f"{dead.pid} {time.time()}\n")
    real_process, started = psutil.Process, []

    def a_start_meanwhile(pid):  # the reader has read the file, and looks up the pid it names
        if not started:
            monkeypatch.setattr(psutil, "Process", real_process)
            started.append(processes.start(spec))
        return real_process(pid)

    monkeypatch.setattr(psutil, "Process", a_start_meanwhile)
    try:
        assert processes.running_pid(spec) is None  # it read the dead part's file
        assert processes.running_pid(spec) == started[0]  # and left the new part's
    finally:
        processes.stop(spec, timeout=5)
    spec.pid_path.write_text("")  # as an open(..., "w") leaves it until the write
    assert processes.running_pid(spec) is None and spec.pid_path.exists()
    processes.forget_if_stale(spec)
    assert not spec.pid_path.exists()


def test_a_pid_file_appears_only_once_the_process_shows_its_own_command_line(tmp_path, monkeypatch):
    """Popen returns once the exec has begun; until the kernel lays out the new program's
    arguments, /proc/PID/cmdline reads empty. `up`, `status` and the commands, reading a
    server's ports from it as soon as its pid file was there, found none (twice in CI, under
    load): here the command line reads empty three times, as it does during that window."""
    import psutil

    spec = _spec(tmp_path)
    seen: list[bool] = []  # whether the pid file was there, at each read of an empty command line
    real_cmdline = psutil.Process.cmdline

    def mid_exec(self):
        if len(seen) < 3:
            seen.append(spec.pid_path.exists())
            return []
        return real_cmdline(self)

    monkeypatch.setattr(psutil.Process, "cmdline", mid_exec)
    pid = processes.start(spec)
    try:
        assert seen == [False, False, False]
        assert psutil.Process(pid).cmdline() == spec.command
    finally:
        processes.stop(spec, timeout=5)


def test_a_process_started_never_finds_the_pid_file_of_the_one_before(tmp_path):
    """A stale file is removed before the new process starts: the watchdog that read its dead
    predecessor's pid there took itself for a stray and exited at once."""
    spec = _spec(tmp_path)
    spec.pid_path.write_text("4242 123.0\n")
    looker = ProcessSpec(
        name=spec.name,
        command=[sys.executable, "-c", textwrap.dedent("""
            import os, sys
            named = open(sys.argv[1]).read().split()[0] if os.path.exists(sys.argv[1]) else None
            print("another" if named not in (None, str(os.getpid())) else "none or mine")
        """), str(spec.pid_path)],
        log_path=spec.log_path,
        pid_path=spec.pid_path,
    )
    pid = processes.start(looker)
    assert processes._wait_gone(pid, 10)
    assert spec.log_path.read_text() == "none or mine\n"


def test_a_part_that_exits_during_start_up_is_said_with_its_last_error(tmp_path):
    """It said only "exited during start-up; see …/temporal.log", and in the tests the log was
    gone by the time anyone read the failure."""
    from app.stack.starting import _last_words

    log = tmp_path / "temporal.log"
    log.write_text(
        '{"level":"info","msg":"starting"}\n'
        '{"level":"error","msg":"listen tcp 127.0.0.1:7233: bind: address already in use"}\n'
        '{"level":"info","msg":"stopping"}\n\n'
    )
    assert _last_words(log) == '{"level":"error","msg":"listen tcp 127.0.0.1:7233: bind: address already in use"}'
    log.write_text("only this\n")
    assert _last_words(log) == "only this"
    assert _last_words(tmp_path / "missing.log") == ""
    log.write_text("error " + "x" * 300 + "\n")
    assert len(_last_words(log)) == 200 and _last_words(log).endswith("…")


async def test_a_server_that_exits_during_start_up_is_started_once_more_then_refused(tmp_path, monkeypatch):
    """Once in CI the dev server exited during start-up (it picks some of its ports at random,
    and one can be taken before it binds it), and `up` failed at once."""
    from app.config import Settings
    from app.stack import starting
    from app.stack.stack import Stack
    from app.stack.starting import ExitedDuringStartUp

    starts: list[str] = []
    exits = ["listen tcp 127.0.0.1:40001: bind: address already in use"]
    monkeypatch.setattr(starting, "running_pid", lambda spec: None)
    monkeypatch.setattr(starting, "start", lambda spec: starts.append(spec.name))

    async def wait_healthy(self, name, specs, check, timeout=0):
        if exits:
            raise ExitedDuringStartUp(f"The Temporal server exited during start-up ({exits[0]}); see x.", exits.pop(0))

    monkeypatch.setattr(Stack, "_wait_healthy", wait_healthy)
    said: list[str] = []
    stack = Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)}))
    await stack._up_temporal(stack.specs(), [], said.append)
    assert starts == ["temporal", "temporal"]
    assert said[-1] == (
        "the Temporal server exited during start-up (listen tcp 127.0.0.1:40001: bind: address already in use);"
        " starting it once more"
    )
    # A second exit is the refusal; and a server this call did not start is not started again.
    exits[:] = ["first", "second"]
    with pytest.raises(ExitedDuringStartUp, match=r"\(second\)"):
        await stack._up_temporal(stack.specs(), [], said.append)
    monkeypatch.setattr(starting, "running_pid", lambda spec: 4242)
    starts.clear()
    exits[:] = ["gone"]
    with pytest.raises(ExitedDuringStartUp):
        await stack._up_temporal(stack.specs(), [], said.append)
    assert starts == []


async def test_up_with_a_database_url_the_server_refuses_says_so_at_once(tmp_path, monkeypatch):
    """`up` with a DATABASE_URL whose role, password or database the server refuses waited its
    whole 60 s for a server that had answered, then said it "did not become healthy in 60 s
    (no answer (role "u" does not exist))"; the order commands said at once that it refused."""
    import asyncio

    import asyncpg

    from app.config import Settings
    from app.stack.stack import Stack, StackError

    async def refused(*args, **kwargs):
        raise asyncpg.InvalidAuthorizationSpecificationError('role "u" does not exist')

    monkeypatch.setattr(asyncpg, "connect", refused)
    stack = Stack(Settings.from_env({
        "ORDER_TRACKER_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u:secret@127.0.0.1:5999/orders",
    }))
    with pytest.raises(StackError) as refusal:
        await asyncio.wait_for(stack._up_postgres(stack.specs(), [], lambda _: None), 10)
    assert str(refusal.value) == (
        'PostgreSQL at postgresql://u:***@127.0.0.1:5999/orders refused the connection: role "u" does not exist;'
        " check DATABASE_URL."
    )


async def test_status_says_a_refusing_postgresql_refuses_rather_than_that_it_does_not_answer(monkeypatch):
    """`status` showed a DATABASE_URL whose role the server does not have as "no answer at …
    (role "u" does not exist)": the server had answered, and the fix is the URL, not the server."""
    import asyncpg

    from app.config import Settings
    from app.stack import health

    async def refused(*args, **kwargs):
        raise asyncpg.InvalidPasswordError('password authentication failed for user "u"')

    monkeypatch.setattr(asyncpg, "connect", refused)
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u:secret@127.0.0.1:5999/orders"})
    check = await health.check_postgres(settings)
    assert not check.healthy
    assert check.detail == (
        'refuses the connection at postgresql://u:***@127.0.0.1:5999/orders'
        ' (password authentication failed for user "u"); check DATABASE_URL'
    )


async def test_up_with_a_temporal_address_that_does_not_answer_says_so_without_a_silent_minute(tmp_path, monkeypatch):
    """`up` with a TEMPORAL_ADDRESS nothing answers at printed nothing for 60 s, then "The
    Temporal server did not become healthy in 60 s (no answer at 127.0.0.1:1 (Failed client
    connect: Server connection error: tonic::transport::Error(Transport, ConnectError(
    ConnectError("tcp connec)); check the server you configured." A server the user brings
    is not ours to start: `up` says it is asking it, and gives it a short while."""
    import asyncio

    from app.config import Settings
    from app.stack import health
    from app.stack import starting
    from app.stack.stack import Stack, StackError

    async def no_answer(settings, timeout=3.0):
        return health.Check(False, "no answer at 127.0.0.1:1 (Failed client connect: tonic::transport::Error(Tr"), None

    monkeypatch.setattr(health, "check_temporal", no_answer)
    monkeypatch.setattr(starting, "EXTERNAL_TIMEOUT_S", 0.3)
    stack = Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path), "TEMPORAL_ADDRESS": "127.0.0.1:1"}))
    said: list[str] = []
    with pytest.raises(StackError) as refusal:
        await asyncio.wait_for(stack._up_temporal(stack.specs(), [], said.append), 5)
    assert said == ["asking Temporal at 127.0.0.1:1 (TEMPORAL_ADDRESS)"]
    assert str(refusal.value) == (
        "Temporal at 127.0.0.1:1 did not answer within 0.3 s;"
        " check TEMPORAL_ADDRESS and that the server there is running."
    )


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("UndefinedObjectError", 'unrecognized configuration parameter "bogus"'),
        ("InvalidParameterValueError", 'invalid value for parameter "statement_timeout": "abc"'),
    ],
)
async def test_status_says_postgresql_refuses_a_parameter_in_the_url_rather_than_that_it_does_not_answer(
    monkeypatch, error, message
):
    """DATABASE_URL=...?bogus=1: asyncpg sends what it does not know to the server as a setting,
    and the server refuses it; `status` said "no answer at", and the commands "not reachable"."""
    import asyncpg

    from app.config import Settings
    from app.stack import health

    async def refused(*args, **kwargs):
        raise getattr(asyncpg, error)(message)

    monkeypatch.setattr(asyncpg, "connect", refused)
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u@127.0.0.1:5999/orders?bogus=1"})
    check = await health.check_postgres(settings)
    assert not check.healthy and check.refused
    assert check.detail == f"refuses the connection at postgresql://u@127.0.0.1:5999/orders?bogus=1 ({message}); check DATABASE_URL"


def test_a_part_started_by_a_long_running_process_is_collected_once_another_stops_it(tmp_path):
    """The TUI starts the stack when it is down, and `down` from another shell then left each
    part a zombie of the TUI until it quit: `pgrep -af "temporal server|postgres|workers"`
    still listed "[postgres] <defunct>" after a `down` that said every part had stopped."""
    spec = _spec(tmp_path)
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from app.stack import processes
        from tests.test_processes import _spec
        from pathlib import Path
        print(processes.start(_spec(Path({str(tmp_path)!r}))), flush=True)
        time.sleep(60)  # like the TUI: goes on with its own work
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert processes.stop(spec, timeout=5) == "stopped"
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists()  # collected by its parent, not left a zombie
    finally:
        parent.kill()
        parent.wait()


async def test_status_says_why_temporal_does_not_answer_in_words_not_the_sdks_debug_text():
    """`status` showed "no answer at 127.0.0.1:47999 (Failed client connect: Server connection
    error: tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connec)": the
    SDK's debug text, cut mid-word, where the reason is "Connection refused"."""
    import socket

    from app.config import Settings
    from app.stack import health

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check, client = await health.check_temporal(Settings.from_env({"TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}))
    assert client is None and not check.healthy
    assert check.detail == f"no answer at 127.0.0.1:{port} (Connection refused)"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            RuntimeError(
                'Failed client connect: Server connection error: tonic::transport::Error(Transport, ConnectError('
                'ConnectError("dns error", Custom { kind: Uncategorized, error: "failed to lookup address'
                ' information: Name or service not known" })))'
            ),
            "failed to lookup address information: Name or service not known",
        ),
        (
            RuntimeError(
                'Failed client connect: `get_system_info` call error after connection: Status { code: Unimplemented,'
                ' message: "grpc-status header missing, mapped from HTTP status code 404", metadata: MetadataMap {} }'
            ),
            "grpc-status header missing, mapped from HTTP status code 404",
        ),
        (TimeoutError(), "timed out after 3 s"),
        (RuntimeError("something plain"), "something plain"),
    ],
)
def test_the_reason_temporal_does_not_answer_is_the_sdks_own_message(error, reason):
    from app.stack import health

    assert health.temporal_reason(error, timeout=3.0) == reason


def test_a_stopped_part_is_resumed_to_stop_rather_than_killed_after_the_timeout(tmp_path):
    """`down` with Temporal stopped (SIGSTOP, as `status` can show it) sent SIGTERM to a process
    that cannot act on it until resumed: it waited the whole 15 s, killed it and said so."""
    import os
    import signal

    spec = _spec(tmp_path)
    pid = processes.start(spec)
    os.kill(pid, signal.SIGSTOP)
    # One left stopped is killed once the timeout is out, and stop() says "killed"; the timeout
    # is generous, so that a slow machine cannot make it run out.
    assert processes.stop(spec, timeout=30) == "stopped"


def test_down_resumes_a_stopped_server_before_it_stops_the_workers(tmp_path, monkeypatch):
    """With Temporal stopped, each worker's clean shutdown waited on it for 15 s and was killed,
    then Temporal was: `down` took 34 s and said three parts were killed."""
    import dataclasses
    import os
    import signal

    import psutil

    from app.config import Settings
    from app.stack import stack as stack_module
    from app.stack.stack import WORKERS, Stack

    stack = Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)}))
    specs = stack.specs()
    specs["temporal"] = dataclasses.replace(specs["temporal"], command=_spec(tmp_path).command)
    pid = processes.start(specs["temporal"])
    os.kill(pid, signal.SIGSTOP)
    seen: dict[str, str] = {}

    def stop(spec) -> str:
        if spec.name == "temporal":
            return processes.stop(spec, timeout=5)
        seen[spec.name] = psutil.Process(pid).status()  # Temporal's, as the worker stops
        return "stopped"

    monkeypatch.setattr(Stack, "specs", lambda self: specs)
    monkeypatch.setattr(
        stack_module, "running_pid", lambda spec: pid if spec.name == "temporal" else 4242 if spec.name in WORKERS else None
    )
    monkeypatch.setattr(stack_module, "stop", stop)
    assert stack.down() == {"order-worker": "stopped", "shipping-worker": "stopped", "temporal": "stopped"}
    assert psutil.STATUS_STOPPED not in seen.values() and len(seen) == 2


async def _up_refused_by_a_temporal_started_on(tmp_path, env: dict[str, str], flags: list[str]) -> tuple[int, str]:
    """`up` under ``env`` with a stand-in for our Temporal server running, whose command line has
    ``flags`` (only its ports are read): the stand-in's pid, and the StackError's sentence."""
    import dataclasses

    from app.config import Settings
    from app.stack.stack import Stack, StackError

    stack = Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path), **env}))
    server = stack.specs()["temporal"]
    pid = processes.start(dataclasses.replace(server, command=[*_spec(tmp_path).command, *flags]))
    try:
        with pytest.raises(StackError) as refusal:
            await stack.up()
    finally:
        processes.stop(server, timeout=5)
    return pid, str(refusal.value)


async def test_up_with_other_ports_than_the_running_servers_says_so_at_once(tmp_path, monkeypatch):
    """With the stack up, `up` in a shell with another ORDER_TRACKER_TEMPORAL_PORT (a new
    terminal, a port changed) waited 60 s for a server that runs on its old port, then said
    "The Temporal server did not become healthy in 60 s (no answer at 127.0.0.1:47399
    (Connection refused)); see …/temporal.log", whose log says nothing of it."""
    from types import SimpleNamespace

    from app.stack.stack import Stack

    async def unhealthy(self):
        return SimpleNamespace(healthy=False)

    def ports_checked(self, specs):
        raise AssertionError("went on to start what is down")

    monkeypatch.setattr(Stack, "status", unhealthy)
    monkeypatch.setattr(Stack, "_check_ports", ports_checked)
    # A stand-in with the command line of a server started on 47334.
    pid, refusal = await _up_refused_by_a_temporal_started_on(
        tmp_path, {"ORDER_TRACKER_TEMPORAL_PORT": "47399", "ORDER_TRACKER_TEMPORAL_UI_PORT": "48334"},
        ["--ip", "127.0.0.1", "--port", "47334", "--ui-port", "48334"],
    )
    assert refusal == (
        f"The Temporal server already runs here (pid {pid}) on port 47334, not on 47399 (ORDER_TRACKER_TEMPORAL_PORT);"
        " stop it with ./start.sh down, or set ORDER_TRACKER_TEMPORAL_PORT=47334."
    )


async def test_up_on_a_healthy_stack_whose_web_ui_runs_on_another_port_says_so(tmp_path, monkeypatch):
    """Temporal answers on its port, so the stack was "already up and healthy", with a link to
    the Web UI on the port the settings give, where nothing answers."""
    from types import SimpleNamespace

    from app.stack.stack import Stack

    async def healthy(self):
        return SimpleNamespace(healthy=True)

    monkeypatch.setattr(Stack, "status", healthy)
    monkeypatch.setattr(Stack, "_up_watchdog", lambda self, specs, started, say: None)
    pid, refusal = await _up_refused_by_a_temporal_started_on(
        tmp_path, {"ORDER_TRACKER_TEMPORAL_PORT": "47334", "ORDER_TRACKER_TEMPORAL_UI_PORT": "48399"},
        ["--port", "47334", "--ui-port", "48334"],
    )
    assert refusal == (
        f"The Temporal server already runs here (pid {pid}) on port 48334, not on 48399 (ORDER_TRACKER_TEMPORAL_UI_PORT);"
        " stop it with ./start.sh down, or set ORDER_TRACKER_TEMPORAL_UI_PORT=48334."
    )


async def test_status_with_other_ports_than_the_running_server_says_where_it_runs(tmp_path):
    """`status` in a shell with another ORDER_TRACKER_TEMPORAL_PORT showed only "no answer at
    127.0.0.1:47399 (Connection refused)" beside the running server's pid (h4, h6)."""
    import dataclasses

    from app.config import Settings
    from app.stack.stack import Stack

    stack = Stack(Settings.from_env({
        "ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_TEMPORAL_PORT": "47399",
        "ORDER_TRACKER_TEMPORAL_UI_PORT": "48334",
    }))
    server = stack.specs()["temporal"]
    pid = processes.start(dataclasses.replace(server, command=[*_spec(tmp_path).command, "--port", "47334"]))
    try:
        status = await stack.status()
    finally:
        processes.stop(server, timeout=5)
    [temporal] = [part for part in status.parts if part.name == "temporal"]
    assert not temporal.healthy and temporal.pid == pid
    assert temporal.detail == (
        f"already runs here (pid {pid}) on port 47334, not on 47399 (ORDER_TRACKER_TEMPORAL_PORT);"
        " stop it with ./start.sh down, or set ORDER_TRACKER_TEMPORAL_PORT=47334"
    )


class _RefusingTemporal:
    """A Temporal that answers and refuses the credentials: at Client.connect, whose first call
    (its system info) the SDK raises as a RuntimeError with tonic's Status, or afterwards, as
    an RPCError."""

    def __init__(self, at_connect: bool, code: str) -> None:
        from temporalio.service import RPCError, RPCStatusCode

        self.at_connect, self.code = at_connect, code
        self.error = RPCError("Request unauthorized.", getattr(RPCStatusCode, code), b"")
        self.workflow_service = self

    async def connect(self, **kwargs) -> "_RefusingTemporal":
        if self.at_connect:
            name = {"PERMISSION_DENIED": "PermissionDenied", "UNAUTHENTICATED": "Unauthenticated"}[self.code]
            raise RuntimeError(
                "Failed client connect: `get_system_info` call error after connection: Status { code:"
                f' {name}, message: "Request unauthorized.", metadata: MetadataMap {{ headers: {{}} }}, source: None }}'
            )
        return self

    async def get_system_info(self, request, **kwargs):
        raise self.error


REFUSED_DETAIL = (
    "answered at 127.0.0.1:7999 and refused the credentials ({how}: Request unauthorized.); check"
    " TEMPORAL_API_KEY or the certificate, or the profile in Temporal's configuration"
)


@pytest.mark.parametrize("at_connect", [True, False])
@pytest.mark.parametrize(("code", "how"), [("PERMISSION_DENIED", "permission denied"), ("UNAUTHENTICATED", "unauthenticated")])
async def test_status_says_temporal_refused_the_credentials_rather_than_that_it_does_not_answer(
    monkeypatch, at_connect, code, how
):
    """`status` showed a Temporal refusing the API key as "no answer at 127.0.0.1:7999 (Request
    unauthorized.)", as if it were down: it had answered, and the fix is the credentials."""
    from temporalio.client import Client

    from app.config import Settings
    from app.stack import health

    monkeypatch.setattr(Client, "connect", _RefusingTemporal(at_connect, code).connect)
    check, client = await health.check_temporal(Settings.from_env({"TEMPORAL_ADDRESS": "127.0.0.1:7999"}))
    assert client is None and not check.healthy
    assert check.detail == REFUSED_DETAIL.format(how=how)


# Client.connect's refusals as temporalio 1.35 raises them (tonic's Status in Rust's debug
# text), from a server answering GetSystemInfo with grpc-status 7 and the message shown.
_CONNECT_REFUSAL = (
    "Failed client connect: `get_system_info` call error after connection: Status {{ code: PermissionDenied,{message}"
    ' metadata: MetadataMap {{ headers: {{"content-type": "application/grpc"}} }}, source: None }}'
)


@pytest.mark.parametrize(
    ("message", "how"),
    [
        (r' message: "Claims \"admin\" missing",', 'permission denied: Claims "admin" missing'),
        (r' message: "C:\\ refused",', r"permission denied: C:\ refused"),
    ],
)
def test_a_refusal_at_connect_is_read_whole_when_its_message_has_quotes(message, how):
    """Rust's debug text escapes a quote in the message: the refusal was cut at it, and said
    "(permission denied: Claims \\)"."""
    from app.errors import credentials_refused

    assert credentials_refused(RuntimeError(_CONNECT_REFUSAL.format(message=message))) == how


def test_a_refusal_without_a_message_is_still_a_refusal_of_the_credentials():
    """tonic's debug text leaves out an empty message ("Status { code: PermissionDenied,
    metadata: … }"), as a proxy in front of Temporal may send: it was taken for no answer, and
    `status` said "no answer at …" for a server that had answered."""
    from temporalio.service import RPCError, RPCStatusCode

    from app.errors import credentials_refused

    assert credentials_refused(RuntimeError(_CONNECT_REFUSAL.format(message=""))) == "permission denied"
    assert credentials_refused(RPCError("", RPCStatusCode.UNAUTHENTICATED, b"")) == "unauthenticated"


def test_the_status_command_says_to_fix_the_credentials_not_to_start_temporal(tmp_path, monkeypatch, capsys):
    """Its last line said "Start what is down with ./start.sh up.", which cannot mend credentials,
    and each worker's row that Temporal was not answering."""
    from temporalio.client import Client

    from app.cli import main
    from app.stack import health

    async def postgres_answers(settings):
        return health.Check(True, "accepting queries")

    def running(spec) -> int | None:  # the order worker runs (this process stands in for it)
        return os.getpid() if spec.name == "order-worker" else None

    monkeypatch.setattr(Client, "connect", _RefusingTemporal(True, "PERMISSION_DENIED").connect)
    monkeypatch.setattr(health, "check_postgres", postgres_answers)
    monkeypatch.setattr("app.stack.stack.running_pid", running)
    monkeypatch.setattr("app.stack.parts.running_pid", running)  # a worker's Temporal, a server's port
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:7999")
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["status"]) == 3
    out = capsys.readouterr().out
    assert REFUSED_DETAIL.format(how="permission denied") in out and "no answer" not in out
    assert "not answering" not in out
    assert "not known: Temporal refused the credentials" in out  # the order worker's row
    assert "not running" in out  # the shipping worker's
    assert out.rstrip().endswith(
        "Temporal refused the credentials: fix them as its row says, then start what is down with ./start.sh up."
    )


def test_the_status_of_a_worker_without_temporal_running_is_not_known_not_temporal_not_answering(tmp_path, monkeypatch, capsys):
    """With the local Temporal not running, `status` said "not running" on Temporal's row and
    "Temporal is not answering" on each worker's: nothing was there to answer."""
    from app.cli import main
    from app.stack import health

    async def postgres_answers(settings):
        return health.Check(True, "accepting queries")

    def running(spec) -> int | None:  # the order worker runs (this process stands in for it); Temporal does not
        return os.getpid() if spec.name == "order-worker" else None

    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setattr(health, "check_postgres", postgres_answers)
    monkeypatch.setattr("app.stack.stack.running_pid", running)
    monkeypatch.setattr("app.stack.parts.running_pid", running)  # a worker's Temporal, a server's port
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ORDER_TRACKER_TEMPORAL_PORT", str(port))
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["status"]) == 3
    rows = {line.split("│")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.count("│") > 2}
    assert "not running" in rows["temporal"]
    assert "not known: no answer from Temporal" in rows["order-worker"] and "not answering" not in rows["order-worker"]


async def test_up_with_a_temporal_that_refuses_the_credentials_says_so_at_once(tmp_path, monkeypatch):
    """`up` asked it for 10 s, then said "Temporal at … did not answer within 10 s; check
    TEMPORAL_ADDRESS and that the server there is running": it had answered, and no wait helps."""
    import asyncio

    from temporalio.client import Client

    from app.config import Settings
    from app.stack.stack import Stack, StackError

    monkeypatch.setattr(Client, "connect", _RefusingTemporal(True, "PERMISSION_DENIED").connect)
    stack = Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path), "TEMPORAL_ADDRESS": "127.0.0.1:7999"}))
    with pytest.raises(StackError) as refusal:
        await asyncio.wait_for(stack._up_temporal(stack.specs(), [], lambda _: None), 5)  # not its 10 s
    assert str(refusal.value) == f"Temporal {REFUSED_DETAIL.format(how='permission denied')}."


async def test_status_with_another_server_answering_where_the_settings_say_is_not_healthy(tmp_path, monkeypatch):
    """With our server on 47334 and another Temporal (another stack's, a `temporal server
    start-dev` of one's own) answering on the settings' 47399, `status` said "healthy, answering
    at 127.0.0.1:47399" beside our server's pid, and both workers DOWN ("no worker polling
    order-tq": that server has none); `up` refused the same settings (an operator walkthrough,
    h10)."""
    import dataclasses

    from app.config import Settings
    from app.stack import health
    from app.stack.stack import Stack

    async def someone_elses_server(settings, timeout=3.0):
        return health.Check(True, f"answering at {settings.temporal_address}"), object()

    async def no_pollers(client, task_queue, identity_prefix="", timeout=3.0):
        return health.Check(False, f"no worker polling {task_queue}")

    monkeypatch.setattr(health, "check_temporal", someone_elses_server)
    monkeypatch.setattr(health, "check_pollers", no_pollers)
    stack = Stack(Settings.from_env({
        "ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_TEMPORAL_PORT": "47399",
        "ORDER_TRACKER_TEMPORAL_UI_PORT": "48334",
    }))
    server, worker = stack.specs()["temporal"], stack.specs()["order-worker"]
    pid = processes.start(dataclasses.replace(server, command=[*_spec(tmp_path).command, "--port", "47334"]))
    worker_pid = processes.start(dataclasses.replace(worker, command=_spec(tmp_path).command))
    try:
        status = await stack.status()
    finally:
        processes.stop(server, timeout=5)
        processes.stop(worker, timeout=5)
    parts = {part.name: part for part in status.parts}
    assert not status.healthy
    assert not parts["temporal"].healthy and parts["temporal"].pid == pid
    assert parts["temporal"].detail == (
        f"already runs here (pid {pid}) on port 47334, not on 47399 (ORDER_TRACKER_TEMPORAL_PORT);"
        " stop it with ./start.sh down, or set ORDER_TRACKER_TEMPORAL_PORT=47334"
    )
    # Not "no worker polling order-tq": the server asked is not the one the workers poll.
    assert parts["order-worker"].pid == worker_pid
    assert parts["order-worker"].detail == "not known: the Temporal server that answers is not this stack's (its row)"


async def test_commands_in_a_shell_with_another_port_than_the_running_server_are_refused_before_connecting(tmp_path):
    """With this stack's Temporal on 47334 and another stack's answering on the shell's 47399,
    `order create` started its order on that other Temporal, and `order approve` of one of ours
    said its workflow no longer existed, "settle it by hand" (an operator walkthrough, h10).
    The orders' list, which needs no Temporal, is not refused for Temporal's port."""
    import dataclasses

    from app.config import Settings
    from app.errors import StackUnreachable
    from app.service import OrderService
    from app.stack.stack import Stack

    settings = Settings.from_env({
        "ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_TEMPORAL_PORT": "47399",
        "ORDER_TRACKER_POSTGRES_PORT": "45399",
    })
    server = Stack(settings).specs()["temporal"]
    pid = processes.start(dataclasses.replace(server, command=[*_spec(tmp_path).command, "--port", "47334"]))
    try:
        with pytest.raises(StackUnreachable) as refused:
            await OrderService.connect(settings, temporal="optional", database="optional")
        with pytest.raises(StackUnreachable) as without_temporal:  # nothing answers on 45399
            await OrderService.connect(settings, temporal=False)
    finally:
        processes.stop(server, timeout=5)
    assert str(refused.value) == (
        f"The Temporal server already runs here (pid {pid}) on port 47334, not on 47399 (ORDER_TRACKER_TEMPORAL_PORT);"
        " stop it with ./start.sh down, or set ORDER_TRACKER_TEMPORAL_PORT=47334."
    )
    assert "PostgreSQL at" in str(without_temporal.value) and "Temporal server" not in str(without_temporal.value)


async def test_up_and_status_name_workers_that_serve_another_temporal(tmp_path, monkeypatch):
    """With the stack's workers running, `up` with TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE of
    another dev server waited 60 s, then said "The order worker did not become healthy in 60 s
    (no worker polling order-tq)", and `status` showed that too: the worker was healthy, serving
    the Temporal it was started for (an operator walkthrough, h21). The stand-in worker is
    started as `up` starts one, so what it records is what the stack gives it. The commands are
    not refused for it: they may go to the Temporal an order was started on
    (eval_tests' test_a_command_through_another_temporal_names_it_and_the_order_row)."""
    from types import SimpleNamespace

    from app.config import Settings
    from app.stack.stack import Stack, StackError

    for variable in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "no-such.toml"))
    local = {"ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_TEMPORAL_PORT": "47334"}
    worker_spec = Stack.worker_spec
    monkeypatch.setattr(
        Stack, "worker_spec", lambda self, name: dataclasses.replace(worker_spec(self, name), command=_spec(tmp_path).command)
    )
    started = Stack(Settings.from_env(local))
    pid = started.start_worker("order-worker")
    try:
        assert started._worker_elsewhere("order-worker") is None  # the settings it was started with
        monkeypatch.setenv("TEMPORAL_NAMESPACE", "other")
        elsewhere = Stack(Settings.from_env({**local, "TEMPORAL_ADDRESS": "127.0.0.1:47398"}))

        async def unhealthy(self):
            return SimpleNamespace(healthy=False)

        with monkeypatch.context() as patched:
            patched.setattr(Stack, "status", unhealthy)
            patched.setattr(Stack, "_check_ports", lambda self, specs: pytest.fail("went on to start what is down"))
            with pytest.raises(StackError) as refusal:
                await elsewhere.up()
        status = await elsewhere.status()
        assert elsewhere.servers_elsewhere() is None
    finally:
        processes.stop(started.worker_spec("order-worker"), timeout=5)
    said = (
        f"already runs here (pid {pid}) for Temporal at 127.0.0.1:47334 in namespace default,"
        " not at 127.0.0.1:47398 in namespace other; stop it with ./start.sh down (then ./start.sh up),"
        " or unset TEMPORAL_ADDRESS and unset TEMPORAL_NAMESPACE"
    )
    assert str(refusal.value) == f"The order worker {said}."
    worker = status.part("order-worker")
    assert not worker.healthy and worker.pid == pid and worker.detail == said


async def test_a_worker_started_before_it_recorded_its_temporal_is_not_called_elsewhere(tmp_path, monkeypatch):
    """A worker an older `up` started was given no Temporal (app/stack/serving.py): not known, so not refused."""
    from app.config import Settings
    from app.stack.stack import Stack

    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    stack = Stack(Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path), "TEMPORAL_ADDRESS": "127.0.0.1:47398"}))
    spec = stack.worker_spec("order-worker")
    processes.start(dataclasses.replace(spec, command=_spec(tmp_path).command))
    try:
        assert stack._worker_elsewhere("order-worker") is None
    finally:
        processes.stop(spec, timeout=5)


@pytest.mark.parametrize(
    "worker_env, fix",
    [
        # Started for another stack's Temporal given by TEMPORAL_ADDRESS: that address again.
        ({"TEMPORAL_ADDRESS": "127.0.0.1:47398"}, "set TEMPORAL_ADDRESS=127.0.0.1:47398"),
        # Started for this stack's dev server on another port.
        ({"ORDER_TRACKER_TEMPORAL_PORT": "47397"}, "set ORDER_TRACKER_TEMPORAL_PORT=47397"),
        # Started with a namespace this shell does not give.
        ({"TEMPORAL_NAMESPACE": "other"}, "set TEMPORAL_NAMESPACE=other"),
    ],
)
def test_a_worker_serving_another_temporal_is_told_by_the_variable_that_brings_it_back(
    tmp_path, monkeypatch, worker_env, fix
):
    """The refusal's way back without a `down`: the variable this shell lacks, set as it was."""
    from app.config import Settings
    from app.stack import serving

    for variable in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "no-such.toml"))
    base = {"ORDER_TRACKER_DATA_DIR": str(tmp_path), "ORDER_TRACKER_TEMPORAL_PORT": "47334"}
    with monkeypatch.context() as started_with:
        for variable, value in worker_env.items():
            started_with.setenv(variable, value)
        given = serving.temporal_served(Settings.from_env({**base, **worker_env}))
        spec = dataclasses.replace(_spec(tmp_path), env={serving.VARIABLE: given})
        pid = processes.start(spec)
    try:
        said = serving.elsewhere(pid, Settings.from_env(base))
    finally:
        processes.stop(spec, timeout=5)
    assert said is not None and said.endswith(f"; stop it with ./start.sh down (then ./start.sh up), or {fix}")


STOP = "stop it with ./start.sh down (then ./start.sh up)"


@pytest.mark.parametrize(
    "started_for, given, said",
    [
        # Names of one loopback server: `up` and `status` refused them as another Temporal (h24).
        ("127.0.0.1:7233 default", "localhost:7233", None),
        ("localhost:7233 default", "127.0.0.1:7233", None),
        ("LOCALHOST:7233 default", "[::1]:7233", None),
        ("127.0.0.2:7233 default", "[::1]:7233", None),
        ("Temporal.Example.com:7233 default", "temporal.example.COM:7233", None),
        # Another port, or another host, is still another Temporal.
        ("localhost:7233 default", "127.0.0.1:7234",
         f"for Temporal at localhost:7233 in namespace default, not at 127.0.0.1:7234 in namespace default; {STOP},"
         " or set TEMPORAL_ADDRESS=localhost:7233"),
        ("temporal.example.com:7233 default", "localhost:7233",
         "for Temporal at temporal.example.com:7233 in namespace default, not at localhost:7233 in namespace default"
         f" (hosts are compared by name, localhost, 127.0.0.0/8 and ::1 counting as one); {STOP},"
         " or set TEMPORAL_ADDRESS=temporal.example.com:7233"),
        # The same server in another namespace: the refusal names only what differs.
        ("localhost:7233 other", "127.0.0.1:7233",
         f"for namespace other of Temporal at 127.0.0.1:7233, not namespace default; {STOP}, or set TEMPORAL_NAMESPACE=other"),
    ],
)
def test_a_worker_is_refused_for_another_temporal_not_for_another_name_of_the_same_one(
    tmp_path, monkeypatch, started_for, given, said
):
    from app.config import Settings
    from app.stack import serving

    for variable in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "no-such.toml"))
    address, _, namespace = started_for.partition(" ")
    env = {serving.VARIABLE: started_for, "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": namespace}
    spec = dataclasses.replace(_spec(tmp_path), env=env)
    pid = processes.start(spec)
    try:
        refusal = serving.elsewhere(pid, Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path), "TEMPORAL_ADDRESS": given}))
    finally:
        processes.stop(spec, timeout=5)
    assert refusal == (None if said is None else f"(pid {pid}) {said}")

"""Is each part healthy? Temporal answers, PostgreSQL runs queries on the app's schema, and
each task queue has a worker polling it right now."""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psutil

from app.config import Settings
from app.errors import credentials_refused, postgres_refused
from app.stack import liveness

# A poller that has not come back for this long is gone (a poll lasts at most ~70 s, but a
# live worker re-polls at once, so a recent access is the norm).
POLLER_FRESHNESS = timedelta(seconds=90)


@dataclass
class Check:
    healthy: bool
    detail: str
    # The server answered and said no (a role, password or database it does not have; Temporal,
    # to the credentials): waiting for it cannot help, and `up` says so at once.
    refused: bool = False


async def check_temporal(settings: Settings, timeout: float = 3.0):
    """(Check, client or None)."""
    from temporalio.client import Client

    try:
        client = await asyncio.wait_for(Client.connect(**settings.temporal_connect_config()), timeout)
        await asyncio.wait_for(client.workflow_service.get_system_info(_system_info_request()), timeout)
    except Exception as error:  # any failure to answer is "unhealthy", with its reason
        if (how := credentials_refused(error)) is not None:
            # An answer, not "no answer at … (Request unauthorized.)": the fix is the credentials.
            return Check(
                False,
                f"answered at {settings.temporal_address} and {REFUSED_CREDENTIALS} ({how}); check TEMPORAL_API_KEY"
                " or the certificate, or the profile in Temporal's configuration",
                refused=True,
            ), None
        return Check(False, f"no answer at {settings.temporal_address} ({temporal_reason(error, timeout)})"), None
    return Check(True, f"answering at {settings.temporal_address}"), client


REFUSED_CREDENTIALS = "refused the credentials"  # what a Temporal that answered and said no did


def refuses_credentials(check: Any) -> bool:
    """Whether a check (or a part of the status) says Temporal refused the credentials: neither
    starting it nor waiting for it can help."""
    return f" and {REFUSED_CREDENTIALS} (" in check.detail


async def check_postgres(settings: Settings, timeout: float = 3.0) -> Check:
    import asyncpg

    try:
        conn = await asyncpg.connect(settings.database_url, timeout=timeout)
        try:
            count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        finally:
            await conn.close()
    except Exception as error:
        if postgres_refused(error):
            fix = "; check DATABASE_URL" if settings.external_database_url else ""
            return Check(
                False, f"refuses the connection at {settings.database_url_redacted} ({_short(error)}){fix}", refused=True
            )
        return Check(False, f"no answer at {settings.database_url_redacted} ({_short(error)})")
    return Check(True, f"accepting queries, {count} migrations applied")


async def check_pollers(client, task_queue: str, identity_prefix: str = "", timeout: float = 3.0) -> Check:
    """A live workflow poller on the task queue (what proves a worker is serving it)."""
    from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    if client is None:
        # Temporal gave no answer, stopped, swamped or not running at all (it said "is not
        # answering" next to Temporal's "not running"): the worker may well be serving.
        return Check(False, "not known: no answer from Temporal")
    try:
        response = await asyncio.wait_for(
            client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            ),
            timeout,
        )
    except Exception as error:
        return Check(False, f"cannot describe {task_queue} ({_short(error)})")
    now = datetime.now(timezone.utc)
    live = [
        p
        for p in response.pollers
        if p.identity.startswith(identity_prefix)
        and now - p.last_access_time.ToDatetime(timezone.utc) < POLLER_FRESHNESS
        and not gone_from_this_machine(p.identity)
    ]
    if not live:
        return Check(False, f"no worker polling {task_queue}")
    return Check(True, f"{len(live)} poller{'' if len(live) == 1 else 's'} on {task_queue}")


GONE = "gone"  # _state of a process that no longer exists


def _state(pid: int) -> str | None:
    """The process's state letter as psutil names it, GONE, or None when it may not be read."""
    try:
        return psutil.Process(pid).status()  # the state letter of /proc/<pid>/stat
    except psutil.NoSuchProcess:
        return GONE
    except psutil.AccessDenied:
        return None


def gone_from_this_machine(identity: str) -> bool:
    """Whether a poller's worker (identity "pid@host", the SDK's default) ran on this machine
    and no longer serves: its process is gone or stopped. Temporal remembers a poller for up to
    POLLER_FRESHNESS after its worker died; without this, a killed order worker still counted
    as running for that long (`order create` said nothing of it)."""
    pid_text, _, host = identity.partition("@")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's, or another form of identity: Temporal's word stands
    return _state(int(pid_text)) in (
        GONE, psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD
    )


STOPPED = "stopped"  # how the detail of a stopped part begins


def _stopped(pid: int) -> tuple[str, str] | None:
    """(how, what resumes it) for a stopped process (SIGSTOP, a debugger), else None."""
    state = _state(pid)
    if state == psutil.STATUS_STOPPED:
        return f"{STOPPED} (SIGSTOP)", f"; kill -CONT {pid} resumes it"
    if state == psutil.STATUS_TRACING_STOP:
        return f"{STOPPED} by a debugger", ""
    return None


# How a check begins that found our server running on another port than the settings give.
ON_ANOTHER_PORT = "already runs here"


def on_another_port(check: Any) -> bool:
    """Whether a check (or a part of the status) says its server runs on another port: `up`
    refuses that, so starting what is down is no advice for it."""
    return check.detail.startswith(ON_ANOTHER_PORT)


def is_stopped(check: Any) -> bool:
    """Whether a check (or a part of the status) says its process is stopped: starting cannot help."""
    return check.detail.startswith(STOPPED)


def process_stopped(pid: int | None) -> str | None:
    """How a process of ours is stopped, or None: a stopped process answers nothing, and
    waiting for it cannot help. Its child processes count too: PostgreSQL's each lead their own
    process group, so `kill -CONT <postmaster>` left every backend stopped, and a new connection
    (a new backend) then found the server healthy while the workers' connections hung."""
    if pid is None:
        return None
    stopped = _stopped(pid)
    children, held = _stopped_children(pid)
    if not held:
        return f"{stopped[0]}{stopped[1]}" if stopped else None
    count = f"{held} of its {children} child process{'es' if children > 1 else ''}"
    resume = f"; kill -CONT {pid} $(pgrep -P {pid}) resumes them"
    if stopped is not None:
        return f"{stopped[0]}, and {count}{resume if stopped[1] else ''}"
    return f"{STOPPED} (SIGSTOP): {count}{resume}"


def _stopped_children(pid: int) -> tuple[int, int]:
    """(how many child processes ``pid`` has, how many of them are stopped by SIGSTOP)."""
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        return 0, 0
    return len(children), sum(1 for child in children if _state(child.pid) == psutil.STATUS_STOPPED)


def stopped_process(pid_path: Path) -> str | None:
    """How the process a pid file names is stopped, or None (no file, not ours any more, or
    running): a pid file holds the pid and its start time (app.stack.processes)."""
    try:
        pid_text, created_text = pid_path.read_text().split()
        if abs(psutil.Process(int(pid_text)).create_time() - float(created_text)) >= 0.01:
            return None  # the pid was recycled
    except (OSError, ValueError, psutil.Error):
        return None
    return process_stopped(int(pid_text))


def check_worker_process(pid: int, liveness_file: Path, task_queue: str) -> Check | None:
    """A failed Check if the worker process is alive but not serving (stopped, or its event
    loop has not turned for STALE_AFTER_S); None if nothing says so, and the pollers decide.
    The pollers alone would call such a worker healthy for up to POLLER_FRESHNESS."""
    if stopped := _stopped(pid):
        how, resume = stopped
        return Check(False, f"{how}: not serving {task_queue}{resume}")
    if _state(pid) in (GONE, None):
        return None
    silent = liveness.seconds_since_beat(liveness_file, pid)
    if silent is not None and silent > liveness.STALE_AFTER_S:
        return Check(False, f"not responding for {silent:.0f} s: not serving {task_queue}")
    return None


def _system_info_request():
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    return GetSystemInfoRequest()


# The message inside the SDK's debug text of a failed connect: `Os { code: 111, …, message:
# "Connection refused" }`, `Custom { …, error: "failed to lookup address information: …" }`.
_QUOTED_REASON = re.compile(r'\b(?:message|error): "([^"]+)"')


def temporal_reason(error: BaseException, timeout: float) -> str:
    """Why Temporal did not answer, in its own words: the SDK's error is Rust's debug text
    ("tonic::transport::Error(Transport, ConnectError(…"), which `status` showed cut mid-word."""
    if isinstance(error, TimeoutError):
        return f"timed out after {timeout:g} s"
    found = _QUOTED_REASON.findall(str(error))
    return found[-1][:120] if found else _short(error)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:120]


async def check_postgres_server(settings: Settings, timeout: float = 2.0) -> Check:
    """The server accepts connections (before the app's database exists)."""
    import asyncpg

    url = settings.database_url if settings.external_database_url else (
        f"postgresql://postgres@127.0.0.1:{settings.postgres_port}/postgres"
    )
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
        await conn.close()
    except Exception as error:
        if postgres_refused(error):
            where = settings.database_url_redacted if settings.external_database_url else url
            return Check(False, f"PostgreSQL at {where} refused the connection: {_short(error)}", refused=True)
        return Check(False, f"no answer ({_short(error)})")
    return Check(True, "accepting connections")

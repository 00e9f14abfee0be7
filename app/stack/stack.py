"""Up, down and status of the whole local stack.

``up`` starts only what is not running (so it is idempotent and also restarts a crashed
worker) and returns when every part is healthy; a part that cannot start is named in one
sentence with its log. Parts the user brings (TEMPORAL_ADDRESS, DATABASE_URL) are checked,
never started. Beside the workers ``up`` starts the watchdog (app/stack/watchdog.py), which
starts a worker again when it dies; ``down`` stops it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import psutil

from app.config import ROOT, Settings
from app.stack import health, liveness, postgres, serving, temporal
from app.stack.processes import ProcessSpec, forget_if_stale, port_in_use, resume, running_pid, start, stop, tail
from app.stack.purge import PurgeIncomplete, check_purge, delete_data_dir
from app.stack.status import PartStatus, StackStatus, part_status
from workflows.model import ORDER_TASK_QUEUE, SHIPPING_TASK_QUEUE

log = logging.getLogger("app.stack")

WORKERS = {"order-worker": ("workers.order_worker", ORDER_TASK_QUEUE), "shipping-worker": ("workers.shipping_worker", SHIPPING_TASK_QUEUE)}
PART_NAMES = ["postgres", "temporal", *WORKERS]
LABELS = {
    "postgres": "PostgreSQL server",
    "temporal": "Temporal server",
    "order-worker": "order worker",
    "shipping-worker": "shipping worker",
    "watchdog": "watchdog",
}
# How `up` and `down` name a server in their progress lines ("… starting Temporal"); a worker is "the order worker".
NAMED = {"postgres": "PostgreSQL", "temporal": "Temporal"}
START_TIMEOUT_S = 60.0
# A server the user brings (TEMPORAL_ADDRESS, DATABASE_URL) is not ours to start: it answers or
# it does not, and waiting START_TIMEOUT_S for it was a silent minute.
EXTERNAL_TIMEOUT_S = 10.0
SERVERS = ("postgres", "temporal")
WATCHDOG = "watchdog"
# The flags that give a server its ports, and the setting each comes from.
PORT_FLAGS = {
    "temporal": [("--port", "ORDER_TRACKER_TEMPORAL_PORT"), ("--ui-port", "ORDER_TRACKER_TEMPORAL_UI_PORT")],
    "postgres": [("-p", "ORDER_TRACKER_POSTGRES_PORT")],
}


class StackError(Exception):
    """A part could not start; the message is one sentence for the operator."""


class ExitedDuringStartUp(StackError):
    """A part's process exited before it answered; ``said`` is its log's last error."""

    def __init__(self, message: str, said: str = "") -> None:
        super().__init__(message)
        self.said = said


class Stack:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()

    # ------------------------------------------------------------------ what runs where

    def specs(self) -> dict[str, ProcessSpec]:
        """The processes this stack starts locally (not the parts the user brings)."""
        s = self.settings
        specs: dict[str, ProcessSpec] = {}
        if not s.external_database_url:
            specs["postgres"] = postgres.spec(s)
        if not s.external_temporal_address:
            specs["temporal"] = temporal.spec(s)
        for name in WORKERS:
            specs[name] = self.worker_spec(name)
        specs[WATCHDOG] = ProcessSpec(
            name=WATCHDOG,
            command=[sys.executable, "-m", "app.stack.watchdog"],
            log_path=self.log_path(WATCHDOG),
            pid_path=self.watchdog_pid_path(),
            cwd=ROOT,
            env={"PYTHONUNBUFFERED": "1"},
        )
        return specs

    def specs_to_stop(self) -> dict[str, ProcessSpec]:
        """specs(), and the local servers that settings bringing their own leave out: one an `up`
        under other settings started is still ours, by its pid file (`down` in a shell with
        TEMPORAL_ADDRESS set left the local dev server running, though the refusal for workers
        serving another Temporal says to stop them with `down`)."""
        specs = self.specs()
        for name, part in (("postgres", postgres), ("temporal", temporal)):
            if name not in specs:
                with contextlib.suppress(RuntimeError, ImportError):  # not installed: none of ours can run
                    specs[name] = part.spec(self.settings)
        return specs

    def worker_spec(self, name: str) -> ProcessSpec:
        module, _queue = WORKERS[name]
        return ProcessSpec(
            name=name,
            command=[sys.executable, "-m", module],
            log_path=self.log_path(name),
            pid_path=self.settings.run_dir / f"{name}.pid",
            cwd=ROOT,
            env={"PYTHONUNBUFFERED": "1", liveness.PATH_VARIABLE: str(self.liveness_path(name))},
        )

    def start_worker(self, name: str) -> int:
        """Start a worker (the caller holds the lock and has found none running); its pid."""
        # A killed worker's last beat must not be read as the silence of a new one with its pid.
        self.liveness_path(name).unlink(missing_ok=True)
        spec = self.worker_spec(name)
        if (serves := serving.temporal_served(self.settings)) is not None:
            spec = dataclasses.replace(spec, env={**spec.env, serving.VARIABLE: serves})
        return start(spec)

    def _worker_elsewhere(self, name: str) -> str | None:
        """How worker ``name`` of ours serves another Temporal than the settings give (serving.elsewhere), or None."""
        pid = running_pid(self.worker_spec(name))
        return None if pid is None else serving.elsewhere(pid, self.settings)

    def watchdog_pid_path(self) -> Path:
        return self.settings.run_dir / f"{WATCHDOG}.pid"

    def liveness_path(self, name: str) -> Path:
        return liveness.path_for(self.settings.run_dir, name)

    def log_path(self, name: str) -> Path:
        return self.settings.logs_dir / f"{name}.log"

    def _where(self, name: str) -> str:
        return _display_path(self.log_path(name))

    # ------------------------------------------------------------------ status

    async def status(self) -> StackStatus:
        specs = self.specs()
        pids = {name: running_pid(spec) for name, spec in specs.items()}
        # A stopped server answers nothing: say so at once, without waiting for its timeout.
        stopped = {name: health.process_stopped(pids.get(name)) for name in SERVERS}
        if stopped["temporal"]:
            temporal_check, client = health.Check(False, stopped["temporal"]), None
        else:
            temporal_check, client = await health.check_temporal(self.settings)
        if stopped["postgres"]:
            postgres_check = health.Check(False, stopped["postgres"])
        else:
            postgres_check = await health.check_postgres(self.settings)
        if not postgres_check.healthy and pids.get("postgres") and postgres.shutting_down(self.settings):
            postgres_check = health.Check(
                False, "shutting down, waiting for clients that never leave; `./start.sh up` restarts it"
            )
        temporal_check = _on_another_port(specs, "temporal", temporal_check)
        parts = [
            self._part("postgres", _on_another_port(specs, "postgres", postgres_check), specs, pids),
            self._part("temporal", temporal_check, specs, pids),
        ]
        # What answers on the settings' port is not the server our workers poll (a Web UI port
        # alone that differs leaves the workers' check as it is).
        elsewhere = _port_mismatch(specs, "temporal", only="--port") is not None
        for name, (_module, queue) in WORKERS.items():
            check = await self._check_worker(client, name, queue, pids.get(name), temporal_check.refused, elsewhere)
            parts.append(self._part(name, check, specs, pids))
        return StackStatus(
            parts=parts,
            temporal_address=self.settings.temporal_address,
            temporal_ui_url=self.settings.temporal_ui_url,
            database_url=self.settings.database_url_redacted,
            watchdog_pid=pids.get(WATCHDOG),
        )

    async def _check_worker(
        self, client, name: str, queue: str, pid: int | None, temporal_refused: bool = False, temporal_elsewhere: bool = False
    ) -> health.Check:
        if pid is None:
            return health.Check(False, "not running")
        frozen = health.check_worker_process(pid, self.liveness_path(name), queue)
        if frozen is not None:
            return frozen
        if (elsewhere := self._worker_elsewhere(name)) is not None:
            return health.Check(False, f"{health.ON_ANOTHER_PORT} {elsewhere}")
        if temporal_refused:  # not "no answer from Temporal": it answered, and would not describe the queue
            return health.Check(False, f"not known: Temporal {health.REFUSED_CREDENTIALS}")
        if temporal_elsewhere:
            return health.Check(False, "not known: the Temporal server that answers is not this stack's (its row)")
        return await health.check_pollers(client, queue, identity_prefix=f"{pid}@")

    def _part(self, name: str, check: health.Check, specs: dict, pids: dict) -> PartStatus:
        return part_status(name, check, name in specs, pids.get(name), self._where(name))

    # ------------------------------------------------------------------ up

    async def up(self, say: Callable[[str], None] = lambda _: None) -> StackStatus:
        with self.lock():
            current = await self.status()
            specs = self.specs()
            started: list[str] = []
            self._check_running_ports(specs)  # also when healthy: a Web UI elsewhere than its links say
            if current.healthy:
                self._up_watchdog(specs, started, say)
                current.started = started
                return current
            self._check_ports(specs)

            database = asyncio.create_task(self._up_postgres(specs, started, say))
            server = asyncio.create_task(self._up_temporal(specs, started, say))
            try:
                await asyncio.gather(database, server)
            except StackError as error:
                # The other server may have started meanwhile: say so, rather than leave it unsaid.
                running = [LABELS[name] for name in started if running_pid(specs[name]) is not None]
                if running:
                    raise StackError(
                        f"{error} Started and still running: the {' and the '.join(running)} (./start.sh down stops it)."
                    ) from None
                raise
            finally:
                for task in (database, server):
                    task.cancel()
            await self._up_workers(specs, started, say)
            final = await self.status()
            if not final.healthy:
                bad = next(p for p in final.parts if not p.healthy)
                raise StackError(f"The {LABELS[bad.name]} is not healthy ({bad.detail}); see {self._where(bad.name)}.")
            self._up_watchdog(specs, started, say)
            final.started = started
            return final

    def _up_watchdog(self, specs: dict, started: list[str], say: Callable[[str], None]) -> None:
        """Once the workers are healthy: the watchdog that starts one again if it dies (or, turned
        off, none: one an earlier `up` started is stopped)."""
        running = running_pid(specs[WATCHDOG]) is not None
        if not self.settings.restart_workers and running:
            say("stopping the watchdog (ORDER_TRACKER_RESTART_WORKERS is off)")
            stop(specs[WATCHDOG])
        if not self.settings.restart_workers or running:
            return
        say("starting the watchdog (it restarts a worker that dies)")
        start(specs[WATCHDOG])
        started.append(WATCHDOG)

    def _check_ports(self, specs: dict[str, ProcessSpec]) -> None:
        s = self.settings
        wanted = []
        if "postgres" in specs and running_pid(specs["postgres"]) is None:
            wanted.append((s.postgres_port, "PostgreSQL", "ORDER_TRACKER_POSTGRES_PORT"))
        if "temporal" in specs and running_pid(specs["temporal"]) is None:
            wanted.append((s.temporal_port, "Temporal", "ORDER_TRACKER_TEMPORAL_PORT"))
            wanted.append((s.temporal_ui_port, "the Temporal Web UI", "ORDER_TRACKER_TEMPORAL_UI_PORT"))
        for port, what, variable in wanted:
            if port_in_use(port):
                raise StackError(
                    f"Port {port} for {what} is already in use by another program; stop it or set {variable} to a free port."
                )

    def _check_running_ports(self, specs: dict[str, ProcessSpec]) -> None:
        """A server of ours that runs on other ports than the settings give (`up` in a shell with
        another ORDER_TRACKER_TEMPORAL_PORT) is refused at once: waiting for it on the new port
        took 60 s, then blamed the server."""
        for name in PORT_FLAGS:
            if (mismatch := _port_mismatch(specs, name)) is not None:
                raise StackError(f"The {LABELS[name]} {health.ON_ANOTHER_PORT} {mismatch}.")
        # Likewise a worker of ours serving another Temporal address or namespace: `up` waited
        # 60 s for it to poll the settings' Temporal, then called it unhealthy. (The commands may
        # go to another Temporal: the one an order was started on, which servers_elsewhere allows.)
        for name in WORKERS:
            if (elsewhere := self._worker_elsewhere(name)) is not None:
                raise StackError(f"The {LABELS[name]} {health.ON_ANOTHER_PORT} {elsewhere}.")

    def servers_elsewhere(self, names: tuple[str, ...] = SERVERS) -> str | None:
        """A sentence naming a server of this stack (of ``names``) that runs on another port than
        the settings give for the connections the commands make, else None. Another server
        answering on that port (another stack's) took the commands: a create started its order
        there, and an approval of one of ours said its workflow was gone, to be settled by hand."""
        specs = self.specs()
        for name, flag in (("temporal", "--port"), ("postgres", "-p")):
            if name in names and (mismatch := _port_mismatch(specs, name, only=flag)) is not None:
                return f"The {LABELS[name]} {health.ON_ANOTHER_PORT} {mismatch}."
        return None

    async def _up_postgres(self, specs: dict, started: list[str], say: Callable[[str], None]) -> None:
        if "postgres" in specs and running_pid(specs["postgres"]) is not None and postgres.shutting_down(self.settings):
            await self._finish_postgres_shutdown(specs["postgres"], say)
        if "postgres" not in specs:
            say(f"asking PostgreSQL at {self.settings.database_url_redacted} (DATABASE_URL)")
        elif running_pid(specs["postgres"]) is None:
            say("starting PostgreSQL")
            try:
                await asyncio.to_thread(postgres.ensure_initialised, self.settings)
            except (RuntimeError, OSError) as error:  # initdb failed: a full disk, a data folder not its own
                log.warning("event=postgres_init_failed error=%r", error)
                raise StackError(f"PostgreSQL could not be initialised ({error}); see {self._where('postgres')}.") from None
            start(specs["postgres"])
            started.append("postgres")
        await self._started_healthy("postgres", specs, started, say, lambda: health.check_postgres_server(self.settings))
        try:
            await postgres.ensure_database(self.settings)
        except Exception as error:
            log.exception("event=database_setup_failed url=%s", self.settings.database_url_redacted)
            raise StackError(
                f"Could not create or migrate the database at {self.settings.database_url_redacted} ({error})."
            ) from None

    async def _finish_postgres_shutdown(self, spec: ProcessSpec, say: Callable[[str], None]) -> None:
        """Someone stopped PostgreSQL with a plain SIGTERM: a "smart" shutdown, which refuses
        new connections and waits for every client to leave, and the workers' pools never do.
        Finish it as `down` would (a fast shutdown), so that it can be started again."""
        pid = running_pid(spec)
        say("PostgreSQL was shutting down, waiting for clients that never leave (the workers); stopping it fast to start it again")
        log.warning("event=postgres_shutdown_escalated pid=%s from=smart to=fast signal=SIGINT", pid)
        began = time.monotonic()
        await asyncio.to_thread(stop, spec)
        log.info("event=postgres_stopped pid=%s took_s=%.1f", pid, time.monotonic() - began)

    async def _up_temporal(self, specs: dict, started: list[str], say: Callable[[str], None]) -> None:
        if "temporal" not in specs:
            say(f"asking Temporal at {self.settings.temporal_address} (TEMPORAL_ADDRESS)")
        elif running_pid(specs["temporal"]) is None:
            say("starting Temporal")
            temporal.db_file(self.settings).parent.mkdir(parents=True, exist_ok=True)
            start(specs["temporal"])
            started.append("temporal")

        async def answering() -> health.Check:
            check, client = await health.check_temporal(self.settings)
            return check

        await self._started_healthy("temporal", specs, started, say, answering)

    async def _up_workers(self, specs: dict, started: list[str], say: Callable[[str], None]) -> None:
        for name in WORKERS:
            if running_pid(specs[name]) is None:
                say(f"starting the {LABELS[name]}")
                self.start_worker(name)
                started.append(name)
        _check, client = await health.check_temporal(self.settings)
        for name, (_module, queue) in WORKERS.items():

            async def polling(name: str = name, queue: str = queue) -> health.Check:
                pid = running_pid(specs[name])
                # A frozen worker keeps its pid and, for a while, its poller: waiting cannot help.
                frozen = health.check_worker_process(pid, self.liveness_path(name), queue)
                if frozen is not None:
                    raise StackError(f"The {LABELS[name]} is not healthy ({frozen.detail}); see {self._where(name)}.")
                return await health.check_pollers(client, queue, identity_prefix=f"{pid}@")

            await self._wait_healthy(name, specs, polling)

    async def _started_healthy(
        self, name: str, specs: dict, started: list[str], say: Callable[[str], None], check: Callable
    ) -> None:
        """Wait for a server to answer. One this call started that exits before it does is started
        once more: the dev server picks some of its ports at random, and one can be taken before
        it binds it. A second exit is the refusal, with what the log said."""
        try:
            await self._wait_healthy(name, specs, check)
        except ExitedDuringStartUp as error:
            if name not in started:
                raise
            log.warning("event=exited_during_start_up part=%s retry=1 said=%r", name, error.said)
            say(f"the {LABELS[name]} exited during start-up ({error.said or 'its log says nothing'}); starting it once more")
            start(specs[name])
            await self._wait_healthy(name, specs, check)

    async def _wait_healthy(self, name: str, specs: dict, check: Callable, timeout: float | None = None) -> None:
        if timeout is None:
            timeout = START_TIMEOUT_S if name in specs else EXTERNAL_TIMEOUT_S
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if name in specs and (pid := running_pid(specs[name])) is None:
                said = _last_words(self.log_path(name))
                raise ExitedDuringStartUp(
                    f"The {LABELS[name]} exited during start-up{f' ({said})' if said else ''}; see {self._where(name)}.",
                    said,
                )
            # A stopped server: waiting cannot help (workers have their own check, with their queue).
            if name in SERVERS and name in specs and (stopped := health.process_stopped(pid)) is not None:
                raise StackError(f"The {LABELS[name]} is {stopped}.")
            last = await check()
            if last.healthy:
                return
            if last.refused:  # the server answered, and said no: no wait can help
                if name == "temporal":  # to the credentials: its detail says which to check
                    raise StackError(f"Temporal {last.detail}.")
                fix = f"see {self._where(name)}" if name in specs else "check DATABASE_URL"
                raise StackError(f"{last.detail}; {fix}.")
            if time.monotonic() > deadline:
                if name in specs:
                    raise StackError(
                        f"The {LABELS[name]} did not become healthy in {timeout:.0f} s ({last.detail}); see {self._where(name)}."
                    )
                log.warning("event=external_server_unanswered part=%s detail=%r", name, last.detail)
                raise StackError(f"{self._external(name)} did not answer within {timeout:g} s; {self._remedy(name)}.")
            await asyncio.sleep(0.1)

    def _external(self, name: str) -> str:
        """A server the user brings, as the commands name it: "Temporal at host:port"."""
        if name == "temporal":
            return f"Temporal at {self.settings.temporal_address}"
        return f"PostgreSQL at {self.settings.database_url_redacted}"

    def _remedy(self, name: str) -> str:
        return self.settings.temporal_remedy if name == "temporal" else self.settings.database_remedy

    # ------------------------------------------------------------------ down

    def down(self, purge: bool = False, say: Callable[[str], None] = lambda _: None) -> dict[str, str]:
        """Stop what ``up`` started (workers first, so they finish cleanly). Returns each part
        that was running, "stopped", or "killed" if it did not stop when asked. ``say`` hears
        each step as it begins, as in ``up`` (a server takes seconds to stop).
        With ``purge``, delete the data directory too, unless it holds what the stack did not create;
        PurgeIncomplete if part of it could not be deleted."""
        if purge:
            check_purge(self.settings)  # before anything stops, or is created by the lock and the specs
        if not self.settings.data_dir.exists():
            return {}  # nothing of ours can run without it; and the lock would create it
        with self.lock():
            specs = self.specs_to_stop()
            stopped = {}
            # A server stopped with SIGSTOP is resumed first: the workers' clean shutdown waited
            # on a stopped Temporal until each was killed, then Temporal was (34 s in all).
            for name in SERVERS:
                if name in specs:
                    resume(specs[name])
            # The workers and the watchdog first (which cannot start a worker again meanwhile:
            # it does so only under this lock), so that they finish cleanly, then the servers.
            # The parts of a stage stop together: each takes seconds (a worker's shutdown, init
            # collecting it), and one by one `down` took ~11 s (an operator walkthrough).
            for stage in ([WATCHDOG, *WORKERS], ["temporal", "postgres"]):
                running = [name for name in stage if name in specs and running_pid(specs[name]) is not None]
                for name in running:
                    say(f"stopping {NAMED.get(name, f'the {LABELS[name]}')}")
                with ThreadPoolExecutor(max_workers=max(1, len(running))) as threads:
                    results = list(threads.map(lambda name: stop(specs[name]), running))
                stopped.update({name: how for name, how in zip(running, results) if how is not None})
            for spec in specs.values():  # a part that died left its file (readers leave it be)
                forget_if_stale(spec)
        if purge:
            say(f"deleting {self.settings.data_dir}")
            if (left := delete_data_dir(self.settings)) is not None:
                raise PurgeIncomplete(left, stopped)
        return stopped

    @contextlib.contextmanager
    def lock(self, wait: bool = True) -> Iterator[bool]:
        """The stack's lock: one up, down or watchdog restart at a time (the TUI and a terminal
        may both try); with ``wait=False`` it yields False at once if another holds it."""
        try:
            self.settings.run_dir.mkdir(parents=True, exist_ok=True)
            handle = open(self.settings.run_dir / "stack.lock", "w")
        except OSError as error:
            raise StackError(
                f"The data directory {self.settings.data_dir} cannot be written ({error.strerror or error});"
                " check ORDER_TRACKER_DATA_DIR."
            ) from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _on_another_port(specs: dict[str, ProcessSpec], name: str, check: health.Check) -> health.Check:
    """A server of ours that runs on another port than the settings give (`status` in a shell
    with another ORDER_TRACKER_TEMPORAL_PORT) is said to, not just "no answer at … (Connection
    refused)" beside its pid. Also when something answers where the settings say: that is
    another server (another stack's), which `up` refuses too, not ours."""
    if check.refused or (mismatch := _port_mismatch(specs, name)) is None:
        return check
    return health.Check(False, f"{health.ON_ANOTHER_PORT} {mismatch}")


def _port_mismatch(specs: dict[str, ProcessSpec], name: str, only: str | None = None) -> str | None:
    """How server ``name`` of ours runs on another port than the settings give (of its flags,
    ``only`` that one), and what to do, to go after health.ON_ANOTHER_PORT ("already runs
    here"), or None."""
    if name not in specs or (pid := running_pid(specs[name])) is None:
        return None
    try:
        running = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    for flag, variable in PORT_FLAGS[name]:
        if only is not None and flag != only:
            continue
        wanted, has = _flag_value(specs[name].command, flag), _flag_value(running, flag)
        if has is not None and has != wanted:
            return (
                f"(pid {pid}) on port {has}, not on {wanted} ({variable});"
                f" stop it with ./start.sh down, or set {variable}={has}"
            )
    return None


def _flag_value(command: list[str], flag: str) -> str | None:
    """The value after ``flag`` in a command line, or None."""
    try:
        return command[command.index(flag) + 1]
    except (ValueError, IndexError):
        return None


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _last_words(log: Path, width: int = 200) -> str:
    """What a part that exited said last (its log's last error, else its last line), so that
    the refusal says why without opening the log: "bind: address already in use", say."""
    lines = [line.strip() for line in tail(log, 40) if line.strip()]
    errors = [line for line in lines if any(word in line.lower() for word in ("error", "fatal", "panic"))]
    last = (errors or lines or [""])[-1]
    return last if len(last) <= width else last[: width - 1] + "…"

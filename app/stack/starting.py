"""How `up` starts the parts that are not running, and waits until each answers: a part that
exits or refuses is named in one sentence, with what its log said last."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Callable

from app.stack import health, postgres, temporal
from app.stack.parts import LABELS, PORT_FLAGS, SERVERS, WATCHDOG, WORKERS, Parts, StackError, port_mismatch
from app.stack.processes import ProcessSpec, port_in_use, running_pid, start, stop, tail

log = logging.getLogger("app.stack")

START_TIMEOUT_S = 60.0
# A server the user brings (TEMPORAL_ADDRESS, DATABASE_URL) is not ours to start: it answers or
# it does not, and waiting START_TIMEOUT_S for it was a silent minute.
EXTERNAL_TIMEOUT_S = 10.0


class ExitedDuringStartUp(StackError):
    """A part's process exited before it answered; ``said`` is its log's last error."""

    def __init__(self, message: str, said: str = "") -> None:
        super().__init__(message)
        self.said = said


class Starting(Parts):
    """Stack.up's steps, one part each."""

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
            if (mismatch := port_mismatch(specs, name)) is not None:
                raise StackError(f"The {LABELS[name]} {health.ON_ANOTHER_PORT} {mismatch}.")
        # Likewise a worker of ours serving another Temporal address or namespace: `up` waited
        # 60 s for it to poll the settings' Temporal, then called it unhealthy. (The commands may
        # go to another Temporal: the one an order was started on, which servers_elsewhere allows.)
        for name in WORKERS:
            if (elsewhere := self._worker_elsewhere(name)) is not None:
                raise StackError(f"The {LABELS[name]} {health.ON_ANOTHER_PORT} {elsewhere}.")

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


def _last_words(log: Path, width: int = 200) -> str:
    """What a part that exited said last (its log's last error, else its last line), so that
    the refusal says why without opening the log: "bind: address already in use", say."""
    lines = [line.strip() for line in tail(log, 40) if line.strip()]
    errors = [line for line in lines if any(word in line.lower() for word in ("error", "fatal", "panic"))]
    last = (errors or lines or [""])[-1]
    return last if len(last) <= width else last[: width - 1] + "…"

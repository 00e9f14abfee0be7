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
import fcntl
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

from app.stack import health, postgres
from app.stack.parts import LABELS, NAMED, SERVERS, WATCHDOG, WORKERS, StackError, port_mismatch
from app.stack.processes import ProcessSpec, forget_if_stale, resume, running_pid, stop
from app.stack.purge import PurgeIncomplete, check_purge, delete_data_dir
from app.stack.starting import Starting
from app.stack.status import PartStatus, StackStatus, part_status


class Stack(Starting):
    """The whole local stack: its parts (app/stack/parts.py), up (its steps: app/stack/starting.py),
    down and status."""

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
        elsewhere = port_mismatch(specs, "temporal", only="--port") is not None
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

    def servers_elsewhere(self, names: tuple[str, ...] = SERVERS) -> str | None:
        """A sentence naming a server of this stack (of ``names``) that runs on another port than
        the settings give for the connections the commands make, else None. Another server
        answering on that port (another stack's) took the commands: a create started its order
        there, and an approval of one of ours said its workflow was gone, to be settled by hand."""
        specs = self.specs()
        for name, flag in (("temporal", "--port"), ("postgres", "-p")):
            if name in names and (mismatch := port_mismatch(specs, name, only=flag)) is not None:
                return f"The {LABELS[name]} {health.ON_ANOTHER_PORT} {mismatch}."
        return None

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
    if check.refused or (mismatch := port_mismatch(specs, name)) is None:
        return check
    return health.Check(False, f"{health.ON_ANOTHER_PORT} {mismatch}")

"""The parts of the local stack and where each runs: their names, the processes that run them
(pid, log and liveness files), and the ports a running server of ours was started on."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

import psutil

from app.config import ROOT, Settings
from app.stack import liveness, postgres, serving, temporal
from app.stack.processes import ProcessSpec, running_pid, start
from workflows.model import ORDER_TASK_QUEUE, SHIPPING_TASK_QUEUE

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
SERVERS = ("postgres", "temporal")
WATCHDOG = "watchdog"
# The flags that give a server its ports, and the setting each comes from.
PORT_FLAGS = {
    "temporal": [("--port", "ORDER_TRACKER_TEMPORAL_PORT"), ("--ui-port", "ORDER_TRACKER_TEMPORAL_UI_PORT")],
    "postgres": [("-p", "ORDER_TRACKER_POSTGRES_PORT")],
}


class StackError(Exception):
    """A part could not start; the message is one sentence for the operator."""


class Parts:
    """The stack's parts under one set of settings: what runs where."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()

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


def port_mismatch(specs: dict[str, ProcessSpec], name: str, only: str | None = None) -> str | None:
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

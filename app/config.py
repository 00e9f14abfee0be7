"""Where everything is: paths, ports and connection settings, read once from the environment.

The local stack and every process it starts (workers, API) read the same settings, so a
test can run a private stack by pointing ORDER_TRACKER_DATA_DIR and the port variables
somewhere else. The servers' addresses are checked (and their passwords hidden) by
app.server_addresses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from app.checks import cut
from app.cli_numbers import plain_decimal, plain_whole
from app.errors import InvalidInput
from app.server_addresses import _bad_url_parameter, _is_host_and_port, _is_postgres_url, on_this_machine, redact_url

ROOT = Path(__file__).resolve().parent.parent

DATABASE_NAME = "orders"


@dataclass(frozen=True)
class WorkerTuning:
    """The workers' knobs, measured for this machine (README, docs/performance.md), each from its
    variable. Read with the settings, so that a bad one is refused before anything starts."""

    workflow_task_polls: int = 40
    normal_poll_ratio: float = 0.5  # the normal queue's share of the polls, the sticky one has the rest
    max_workflow_tasks: int = 200
    max_local_activities: int = 1000
    max_activities: int = 500  # steps that went on as regular activities
    db_pool_size: int = 20
    # Workflows in the SDK's sandbox (workers/runner.py says why it is off by default).
    workflow_sandbox: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "WorkerTuning":
        return cls(
            # The SDK refuses fewer than 2 while it caches workflows (one for each queue).
            workflow_task_polls=_count(env, "ORDER_TRACKER_WORKFLOW_TASK_POLLS", cls.workflow_task_polls, least=2),
            normal_poll_ratio=_share(env, "ORDER_TRACKER_NORMAL_POLL_RATIO", cls.normal_poll_ratio),
            max_workflow_tasks=_count(env, "ORDER_TRACKER_MAX_WORKFLOW_TASKS", cls.max_workflow_tasks, least=2),
            max_local_activities=_count(env, "ORDER_TRACKER_MAX_LOCAL_ACTIVITIES", cls.max_local_activities),
            max_activities=_count(env, "ORDER_TRACKER_MAX_ACTIVITIES", cls.max_activities),
            db_pool_size=_count(env, "ORDER_TRACKER_DB_POOL_SIZE", cls.db_pool_size),
            workflow_sandbox=_switch(env, "ORDER_TRACKER_WORKFLOW_SANDBOX", cls.workflow_sandbox),
        )


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    temporal_port: int
    temporal_ui_port: int
    postgres_port: int
    api_port: int
    # Set when the user brings their own servers; that part is then not started locally.
    external_temporal_address: str | None
    # Out of the repr: it may hold the password (database_url_redacted is the one to show).
    external_database_url: str | None = field(repr=False)
    # The port of the local dev server's Prometheus endpoint (/metrics on 127.0.0.1). The dev
    # server serves it either way; unset, on a random port it prints to its log at start.
    temporal_metrics_port: int | None = None
    # Whether `up` starts the watchdog that starts a dead worker again (app/stack/watchdog.py).
    restart_workers: bool = True
    worker_tuning: WorkerTuning = WorkerTuning()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        data_dir = Path(env.get("ORDER_TRACKER_DATA_DIR") or ROOT / ".data").resolve()
        settings = cls(
            data_dir=data_dir,
            temporal_port=_port(env, "ORDER_TRACKER_TEMPORAL_PORT", 7233),
            temporal_ui_port=_port(env, "ORDER_TRACKER_TEMPORAL_UI_PORT", 8233),
            postgres_port=_port(env, "ORDER_TRACKER_POSTGRES_PORT", 5433),
            api_port=_port(env, "ORDER_TRACKER_API_PORT", 8000),
            external_temporal_address=(env.get("TEMPORAL_ADDRESS") or "").strip() or None,
            external_database_url=(env.get("DATABASE_URL") or "").strip() or None,
            temporal_metrics_port=_port(env, "ORDER_TRACKER_TEMPORAL_METRICS_PORT", None),
            restart_workers=_switch(env, "ORDER_TRACKER_RESTART_WORKERS", True),
            worker_tuning=WorkerTuning.from_env(env),
        )
        settings._check_addresses()
        settings._check_ports_apart()
        return settings

    def _check_addresses(self) -> None:
        """A server brought along at an address that cannot be one is refused as such, not
        reported later as a server that does not answer."""
        if self.external_temporal_address and not _is_host_and_port(self.external_temporal_address):
            raise InvalidInput(
                f"TEMPORAL_ADDRESS must be host:port, like 127.0.0.1:7233, not {self.external_temporal_address!r}."
            )
        if self.external_database_url and not _is_postgres_url(self.external_database_url):
            raise InvalidInput(
                "DATABASE_URL must be a PostgreSQL URL, like postgresql://user:password@127.0.0.1:5432/orders,"
                f" not {redact_url(self.external_database_url)!r}."
            )
        if self.external_database_url and (refused := _bad_url_parameter(self.external_database_url)):
            raise InvalidInput(refused)

    def _check_ports_apart(self) -> None:
        """Two parts given one port: refused before anything starts (a review saw Temporal start
        on it, then PostgreSQL fail twice with a raw FATAL, and Temporal left running)."""
        ports = {"ORDER_TRACKER_API_PORT": self.api_port}
        if not self.external_temporal_address:
            ports |= {"ORDER_TRACKER_TEMPORAL_PORT": self.temporal_port, "ORDER_TRACKER_TEMPORAL_UI_PORT": self.temporal_ui_port}
            if self.temporal_metrics_port is not None:
                ports["ORDER_TRACKER_TEMPORAL_METRICS_PORT"] = self.temporal_metrics_port
        if not self.external_database_url:
            ports["ORDER_TRACKER_POSTGRES_PORT"] = self.postgres_port
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                raise InvalidInput(f"{seen[port]} and {name} are both {port}; give each part of the stack its own port.")
            seen[port] = name

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def run_dir(self) -> Path:
        """Pid files of the processes the local stack started."""
        return self.data_dir / "run"

    @property
    def temporal_address(self) -> str:
        return self.external_temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def temporal_ui_url(self) -> str | None:
        if self.external_temporal_address:
            return os.environ.get("TEMPORAL_UI_URL") or None
        return f"http://127.0.0.1:{self.temporal_ui_port}"

    @property
    def database_url(self) -> str:
        return (
            self.external_database_url
            or f"postgresql://postgres@127.0.0.1:{self.postgres_port}/{DATABASE_NAME}"
        )

    @property
    def database_url_redacted(self) -> str:
        return redact_url(self.database_url)

    @property
    def temporal_remedy(self) -> str:
        """What to do when Temporal does not answer: `up` starts only the one it runs itself,
        and cannot resume it when it is stopped (SIGSTOP)."""
        if self.external_temporal_address:
            return "check TEMPORAL_ADDRESS and that the server there is running"
        return self._local_remedy("temporal")

    @property
    def database_remedy(self) -> str:
        """What to do when PostgreSQL does not answer: as for Temporal."""
        if self.external_database_url:
            return "check DATABASE_URL and that the server there is running"
        return self._local_remedy("postgres")

    def _local_remedy(self, name: str) -> str:
        from app.stack.health import stopped_process  # the stack's modules import this one

        if stopped := stopped_process(self.run_dir / f"{name}.pid"):
            return f"its process here is {stopped}"
        return "start the stack with ./start.sh up"

    def temporal_connect_config(self) -> dict[str, Any]:
        """Keyword arguments for ``Client.connect``.

        Namespace, TLS and API key come from Temporal's own environment configuration
        (TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE, the TOML
        config file); only the address of the local dev server is ours to fill in.
        """
        from temporalio.envconfig import ClientConfig

        from temporalio.service import GrpcCompression

        config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
        config["target_host"] = self.temporal_address
        config.setdefault("namespace", "default")
        if on_this_machine(self.temporal_address):
            # temporalio gzips every request and response by default. Over loopback that buys
            # nothing and costs CPU at both ends, on the two cores everything shares: ~2 % of
            # the dev server's own CPU at C=100 (its profile, docs/performance.md).
            config.setdefault("grpc_compression", GrpcCompression.NONE)
        return config

    def workflow_ui_url(self, workflow_id: str) -> str | None:
        base = self.temporal_ui_url
        if not base:
            return None
        namespace = self.temporal_connect_config()["namespace"]
        return f"{base}/namespaces/{namespace}/workflows/{workflow_id}"

# The numbers of variables are read as those of the command line (app.cli_numbers): plain decimal,
# a sign allowed, nothing around it. ORDER_TRACKER_API_PORT=+80 was refused while `api --port +80`
# took 80, and " 8000 " taken while `--port " 8000 "` was refused.


def _port(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    """The port in variable ``name`` (unset or empty: ``default``); a bad one is refused in a sentence."""
    text = env.get(name) or ""
    if not text:
        return default
    port = plain_whole(text)
    if port is not None and 1 <= port <= 65535:
        return port
    raise InvalidInput(f"{name} must be a port number between 1 and 65535, not {cut(text)!r}.")


def debug_to_stderr(env: Mapping[str, str] | None = None) -> bool:
    """ORDER_TRACKER_DEBUG: commands and the API log at debug level to stderr instead of their
    log file. Read as every switch is: it was on for any value, 0 and off included."""
    return _switch(os.environ if env is None else env, "ORDER_TRACKER_DEBUG", False)


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """On or off in variable ``name`` (unset or empty: ``default``); a typo is refused, not taken for on."""
    text = (env.get(name) or "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{name} must be 1 (on) or 0 (off), not {env[name]!r}.")


MOST_COUNT = 10**9 - 1


def _count(env: Mapping[str, str], name: str, default: int, least: int = 1) -> int:
    """The whole number of ``least`` or more, under a billion, in variable ``name`` (unset or
    empty: ``default``)."""
    text = env.get(name) or ""
    if not text:
        return default
    count = plain_whole(text)
    # Bounded above as before: a pool or a slot count of a billion is a typo, not a setting. The
    # sentence names both bounds: it said "of 1 or more" of 1000000000.
    if count is not None and least <= count <= MOST_COUNT:
        return count
    raise InvalidInput(f"{name} must be a whole number from {least} to {MOST_COUNT:,}, not {cut(text)!r}.")


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    """The number above 0 and at most 1 in variable ``name`` (unset or empty: ``default``)."""
    text = env.get(name) or ""
    if not text:
        return default
    share = plain_decimal(text)  # float() also read "5e-1", " 0.5" and "0_5"
    if share is not None and 0 < share <= 1:
        return share
    raise InvalidInput(f"{name} must be a number above 0 and at most 1, such as 0.5, not {cut(text)!r}.")


def settings() -> Settings:
    return Settings.from_env()

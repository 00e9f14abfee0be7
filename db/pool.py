"""Connection pools: JSONB columns read and write as Python objects; what counts as the
database being out of reach, and the pool's own log lines while it is."""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg

# PostgreSQL down, restarting or out of reach: CannotConnectNowError is "starting up" or
# "shutting down", Admin/CrashShutdownError a write cut by a shutdown, ConnectionDoesNotExist
# (a PostgresConnectionError) a connection lost under the write.
_UNREACHABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)


def database_unreachable(error: BaseException) -> bool:
    """Whether a write failed because the database is out of reach, not because of the write.
    asyncpg's InterfaceError also covers misuse and, as DataError, a value the query cannot
    take: only a connection or pool that is closed (or closing) under the write counts."""
    if isinstance(error, _UNREACHABLE):
        return True
    return type(error) is asyncpg.InterfaceError and ("closed" in str(error) or "closing" in str(error))


class _ReconnectFailedLine(logging.Filter):
    """asyncpg logs each failed try to reconnect a pool's floor (1, 2, 4 … 60 s apart while the
    database is out of reach) as a warning with its traceback, in every process that has a pool:
    one key=value line instead. Any other failure keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and database_unreachable(error):
            record.msg = "event=db_pool_reconnect_failed reason=database_unreachable error=%r"
            record.args = (error,)
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_ReconnectFailedLine())


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("jsonb", "json"):
        await conn.set_type_codec(
            type_name,
            encoder=lambda value: json.dumps(value, separators=(",", ":"), sort_keys=True),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """On release asyncpg rolls back an open transaction, then by default sends a reset query
    (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL): one more round trip per use, i.e. per
    activity attempt. Pooled connections never change session state here (no SET, LISTEN,
    advisory locks or cursors outside a transaction), so there is nothing to reset."""


async def create_pool(
    database_url: str, *, min_size: int = 1, max_size: int = 10, connect_timeout: float = 60.0
) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        timeout=connect_timeout,  # per connection attempt (asyncpg's default: 60 s)
    )

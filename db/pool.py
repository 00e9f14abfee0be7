"""Connection pools: JSONB columns read and write as Python objects."""

from __future__ import annotations

import json

import asyncpg


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

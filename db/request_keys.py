"""Clients' idempotency keys and the request each was first sent with (table request_keys,
migration 008), so that a key sent again with another request is refused, not answered with
the first one's outcome."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import asyncpg


def fingerprint(request: Any) -> bytes:
    """SHA-256 of a normalised request (JSON values and dataclasses), the same for equal requests
    whatever their keys' order."""

    def plain(value: Any) -> Any:
        return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else str(value)

    text = json.dumps(request, default=plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).digest()


async def claim(
    conn: asyncpg.Connection | asyncpg.Pool, command: str, order_id: str, key: str, request: bytes
) -> bytes:
    """Record ``request`` (a fingerprint) as what ``key`` stands for, unless the key has a request
    already. Returns the fingerprint on record: ``request`` when it is the first, or the same
    request again; another one when the key was sent before with another request. Of two claims
    at once, the second waits for the first's row and returns it."""
    recorded = await conn.fetchval(
        "INSERT INTO request_keys (command, order_id, request_key, fingerprint) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (order_id, command, request_key) DO NOTHING RETURNING fingerprint",
        command,
        order_id,
        key,
        request,
    )
    if recorded is not None:
        return recorded
    # Held already: read in a statement of its own, which sees a row that just committed.
    return await conn.fetchval(
        "SELECT fingerprint FROM request_keys WHERE order_id = $1 AND command = $2 AND request_key = $3",
        order_id,
        command,
        key,
    )


async def release(
    conn: asyncpg.Connection | asyncpg.Pool, command: str, order_id: str, key: str, request: bytes
) -> None:
    """Forget what ``key`` stood for, if it is still ``request``: its order does not exist, and
    nothing would ever delete the row."""
    await conn.execute(
        "DELETE FROM request_keys WHERE order_id = $1 AND command = $2 AND request_key = $3 AND fingerprint = $4",
        order_id,
        command,
        key,
        request,
    )

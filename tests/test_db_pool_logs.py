"""The worker's log during a PostgreSQL outage: asyncpg's pool tries to reconnect its floor
(1, 2, 4 … 60 s apart) and logs each failure with a traceback; it is one key=value line."""

from __future__ import annotations

import io
import logging

import db.pool  # noqa: F401  (where the pools are made, and their log lines shaped)
from app.logging_setup import KeyValueFormatter


def pool_warning(error: BaseException) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger("asyncpg.pool")
    logger.addHandler(handler)
    try:
        try:
            raise error
        except Exception:
            # asyncpg's own call (pool.Pool._maintain_min_size)
            logger.warning("Failed to restore the pool connection floor; retrying", exc_info=True)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_a_failed_reconnect_while_the_database_is_down_is_one_line_without_a_traceback():
    line = pool_warning(ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5433)"))
    assert "Traceback" not in line and line.count("\n") == 1, line
    assert "event=db_pool_reconnect_failed reason=database_unreachable" in line
    assert "ConnectionRefusedError(111" in line


def test_a_failure_that_is_not_the_database_being_down_keeps_its_traceback():
    line = pool_warning(ValueError("a bug in a connection's init"))
    assert "Traceback" in line and "event=db_pool_reconnect_failed" not in line

"""`down --purge`: delete the data directory, but only one that is the stack's own
(ORDER_TRACKER_DATA_DIR may point anywhere)."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.stack import postgres, temporal


class PurgeRefused(Exception):
    """The data directory holds files the stack did not put there; the message names them."""


def own_entries(settings: Settings) -> set[Path]:
    """What the stack creates in the data directory: logs, pid files and both servers' data."""
    return {settings.logs_dir, settings.run_dir, postgres.data_dir(settings), temporal.db_file(settings).parent}


def check_purge(settings: Settings) -> None:
    """Raise PurgeRefused unless the data directory is missing or holds only the stack's own."""
    data_dir = settings.data_dir
    if not data_dir.exists():
        return
    if not data_dir.is_dir():
        raise PurgeRefused(f"Not purging {data_dir}: it is not a directory (see ORDER_TRACKER_DATA_DIR).")
    own = own_entries(settings)
    unexpected = sorted(entry.name for entry in data_dir.iterdir() if entry not in own)
    if unexpected:
        shown = ", ".join(map(repr, unexpected[:5]))
        if len(unexpected) > 5:
            shown += f" and {len(unexpected) - 5} more"
        them = "them" if len(unexpected) > 1 else "it"
        raise PurgeRefused(
            f"Not purging {data_dir}: it holds {shown}, which the stack did not create;"
            f" move {them} out or point ORDER_TRACKER_DATA_DIR at the stack's own directory."
        )

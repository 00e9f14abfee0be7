"""`down --purge`: delete the data directory, but only one that is the stack's own
(ORDER_TRACKER_DATA_DIR may point anywhere)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from app.config import Settings
from app.stack import postgres, temporal


class PurgeRefused(Exception):
    """The data directory holds files the stack did not put there; the message names them."""


class PurgeIncomplete(Exception):
    """Part of the data directory could not be deleted; the message names what is left and why.
    ``stopped`` is what `down` stopped before, as Stack.down returns it."""

    def __init__(self, message: str, stopped: dict[str, str]) -> None:
        super().__init__(message)
        self.stopped = stopped


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


def delete_data_dir(settings: Settings) -> str | None:
    """Delete the data directory: None once it is gone, else the sentence naming what is left
    (a file made immutable, a mount, a directory the user may not write)."""
    data_dir = settings.data_dir
    left: list[tuple[str, str]] = []

    def keep(_function: object, path: str, exc_info: tuple) -> None:
        error = exc_info[1]
        if isinstance(error, OSError) and error.errno == errno.ENOTEMPTY:
            return  # a directory still holding what could not be deleted: that is named instead
        reason = (getattr(error, "strerror", None) or str(error)).lower()
        left.append((str(Path(path).relative_to(data_dir)) if Path(path) != data_dir else str(data_dir), reason))

    shutil.rmtree(data_dir, onerror=keep)
    if not data_dir.exists():
        return None
    if not left:  # nothing refused, yet it is there (written to meanwhile)
        left.append((str(data_dir), "it was written to while being deleted"))
    (first, reason), more = left[0], len(left) - 1
    shown = f"{first} ({reason})" + (f" and {more} more" if more else "")
    return f"Could not delete all of {data_dir}: {shown} {'are' if more else 'is'} left; remove what is left by hand."

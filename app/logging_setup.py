"""Structured logs: one line per record, ``ts=... level=... logger=... msg`` where msg is itself
key=value pairs (``event=activity_retry activity=charge_payment attempt=3``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z"
        line = f"ts={ts} level={record.levelname.lower()} logger={record.name} {record.getMessage()}"
        if record.exc_info:
            line += " exc=" + repr(self.formatException(record.exc_info))
        return line


class FileOnFirstRecord(logging.FileHandler):
    """Appends to a log file that it creates, with its directory, at the first record: a command
    that logs nothing (a refused `down --purge` of a directory that is not the stack's) leaves no
    trace where it was pointed. A file that cannot be written drops the records, quietly."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, delay=True)
        self._unwritable = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._unwritable:
            return
        if self.stream is None:
            try:
                Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
                self.stream = self._open()
            except OSError:
                self._unwritable = True
                return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """A write that failed (a full disk): logging's own handler printed "--- Logging error ---"
        and a traceback on the operator's stderr. The record is dropped instead, with what the
        file's buffer still holds (its flush at exit would fail the same way); the next record
        opens the file again, so that the API's log goes on once there is room."""
        if not isinstance(sys.exc_info()[1], OSError):  # a record that cannot be formatted: a bug
            super().handleError(record)
            return
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def configure_logging(level: int = logging.INFO, stream=None, path: Path | None = None) -> None:
    """Log to ``stream`` (stderr by default) or, for operator commands, append to ``path``."""
    handler: logging.Handler
    if path is not None:
        handler = FileOnFirstRecord(path)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    logging.Formatter.converter = __import__("time").gmtime
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK warns at every failed attempt with a traceback; our attempt recorder already
    # logs one key=value line per attempt, so keep only its errors.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)

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


def configure_logging(level: int = logging.INFO, stream=None, path: Path | None = None) -> None:
    """Log to ``stream`` (stderr by default) or, for operator commands, append to ``path``."""
    handler: logging.Handler
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path)
        except OSError:
            handler = logging.NullHandler()
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

"""temporalio's line for a signal it drops, as one key=value warning.

A signal whose argument the SDK cannot decode to its handler's type (a hand-typed `temporal
workflow signal dispatch_failed --input 42`) is dropped before any handler runs, and the SDK
says so at ERROR with the whole traceback of the conversion (~3 KB) in our one-line format.
It says it again at every replay of that run (each query on the order once it has ended, a
worker restart), where the signal was dropped long before. This keeps one warning line with
what was wrong, once per run and signal in a worker process."""

from __future__ import annotations

import logging
import re
from collections import OrderedDict

# The logger temporalio's workflow instance writes to, and its message for a dropped signal.
SDK_LOGGER = "temporalio.worker._workflow_instance"
_DROPPED = re.compile(r"Failed deserializing signal input for (?P<signal>.*) on workflow (?P<type>\S+) with ID ")

# Lines said, per (run id, signal, reason), so that a replay of the run does not say it again.
SAID_KEPT = 10_000


class DroppedSignalLine(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._said: OrderedDict[tuple[str, str, str], None] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        match = _DROPPED.match(str(record.msg))
        if match is None or record.exc_info is None or record.exc_info[1] is None:
            return True
        error = record.exc_info[1]
        reason = str(error.__cause__ or error)
        details = getattr(record, "temporal_workflow", None) or {}
        workflow_id, run_id = details.get("workflow_id", ""), details.get("run_id", "")
        key = (run_id, match["signal"], reason)
        if key in self._said:
            return False
        self._said[key] = None
        if len(self._said) > SAID_KEPT:
            self._said.popitem(last=False)
        record.msg = "event=signal_dropped signal=%s workflow_type=%s workflow_id=%s run_id=%s reason=%r"
        record.args = (match["signal"], match["type"], workflow_id, run_id, f"its argument cannot be decoded: {reason}")
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info, record.exc_text = None, None
        return True


def install() -> None:
    """On the SDK's logger, once per process."""
    logger = logging.getLogger(SDK_LOGGER)
    if not any(isinstance(f, DroppedSignalLine) for f in logger.filters):
        logger.addFilter(DroppedSignalLine())

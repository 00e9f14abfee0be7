"""sdk-core's log lines, forwarded into Python logging by every process of ours (app/core_logs.py)."""

import logging
from types import SimpleNamespace

from app.logging_setup import KeyValueFormatter
from app.core_logs import CoreLogLines as _CoreLogLines


def _core_record(message: str, target: str = "temporalio_sdk_core::worker", fields=None) -> logging.LogRecord:
    core = SimpleNamespace(message=message, target=target, fields=fields or {})
    return logging.getLogger("temporalio.core").makeRecord(
        "temporalio.core", logging.WARNING, "(sdk-core)", 0, f"[sdk_core::{target}] {message}", (), None,
        extra={"temporal_log": core},
    )


def test_the_benign_untracked_local_activity_warning_is_dropped():
    record = _core_record(
        "Tried to complete untracked local activity",
        target="temporalio_sdk_core::worker::activities::local_activities",
    )
    assert _CoreLogLines().filter(record) is False


def test_other_core_warnings_become_one_key_value_line():
    record = _core_record("Workflow task failed", fields={"run_id": "r1"})
    assert _CoreLogLines().filter(record) is True
    line = KeyValueFormatter().format(record)
    assert "\n" not in line
    assert "level=warning logger=temporalio.core event=sdk_core_log target=temporalio_sdk_core::worker" in line
    assert "message='Workflow task failed'" in line
    assert "fields={'run_id': 'r1'}" in line


def test_python_records_on_the_same_logger_pass_unchanged():
    record = logging.getLogger("temporalio.core").makeRecord(
        "temporalio.core", logging.INFO, __file__, 1, "event=x value=%d", (3,), None
    )
    assert _CoreLogLines().filter(record) is True
    assert record.getMessage() == "event=x value=3"

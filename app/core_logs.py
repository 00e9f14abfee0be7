"""sdk-core's log lines (temporalio's Rust core: connection retries, workflow task failures)
through Python logging as key=value lines, for every process of ours that talks to Temporal.
Without it, core prints them to stderr as coloured free text: the API's terminal filled with
them while Temporal was down."""

from __future__ import annotations

import logging

from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter


class CoreLogLines(logging.Filter):
    """sdk-core's records as key=value lines, without its one benign warning: "Tried to
    complete untracked local activity" comes whenever a hung attempt's cancellation lands
    after core already timed it out and scheduled the retry (once per hung flaky call, ~6.6
    per order); the attempt recorder logs that timeout already."""

    def filter(self, record: logging.LogRecord) -> bool:
        core = getattr(record, "temporal_log", None)
        if core is None:
            return True
        if core.message.startswith("Tried to complete untracked local activity"):
            return False
        record.msg, record.args = "event=sdk_core_log target=%s message=%r fields=%r", (core.target, core.message, core.fields)
        return True


_runtime: Runtime | None = None


def forwarding_runtime() -> Runtime:
    """The process's one Runtime whose core warnings and errors go through Python logging."""
    global _runtime
    if _runtime is None:
        core_log = logging.getLogger("temporalio.core")
        core_log.addFilter(CoreLogLines())
        forwarding = LogForwardingConfig(
            logger=core_log, append_target_to_name=False, prepend_target_on_message=False, append_log_fields_to_message=False
        )
        logging_config = LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding)
        _runtime = Runtime(telemetry=TelemetryConfig(logging=logging_config))
    return _runtime

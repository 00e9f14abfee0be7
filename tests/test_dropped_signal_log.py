"""A signal the SDK drops (its argument cannot be decoded) is one warning line in the worker's
log, not an error with a traceback, and a replay of the run does not say it again."""

from __future__ import annotations

import logging
import uuid

from temporalio.worker import Replayer

from app.logging_setup import KeyValueFormatter
from tests.conftest import an_order, eventually, start_order, workers
from workers import dropped_signals
from workflows.model import OrderState
from workflows.order import OrderWorkflow


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_signal_whose_argument_cannot_be_decoded_is_one_warning_line_once_per_run(workflow_env, fakes):
    dropped_signals.install()
    dropped_signals.install()  # as a second worker in the process would: still one filter
    sdk_logger = logging.getLogger(dropped_signals.SDK_LOGGER)
    assert sum(isinstance(f, dropped_signals.DroppedSignalLine) for f in sdk_logger.filters) == 1
    kept = _Kept()
    sdk_logger.addHandler(kept)
    order_id = f"dropped-{uuid.uuid4().hex[:8]}"
    try:
        async with workers(workflow_env, fakes):
            handle = await start_order(workflow_env, fakes, an_order(fakes, order_id))
            await handle.signal("dispatch_failed", 42)  # the handler takes text

            async def said() -> bool:
                return any("dispatch_failed" in r.getMessage() for r in kept.records)

            await eventually(said, "the SDK's log line naming the dropped dispatch_failed signal")
            await handle.signal("approve", "carol")  # the order goes on, and ends: no task is left pending
            assert (await handle.result()).state == OrderState.SHIPPED
            history = await handle.fetch_history()
        await Replayer(workflows=[OrderWorkflow]).replay_workflow(history)
    finally:
        sdk_logger.removeHandler(kept)

    ours = [r for r in kept.records if f"order-{order_id}" in r.getMessage()]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    line = KeyValueFormatter().format(ours[0])
    assert "\n" not in line and "Traceback" not in line
    assert "level=warning logger=temporalio.worker._workflow_instance event=signal_dropped signal=dispatch_failed" in line
    assert f"workflow_type=OrderWorkflow workflow_id=order-{order_id} run_id={history.run_id}" in line
    assert "reason=\"its argument cannot be decoded: Expected value to be str, was <class 'int'>\"" in line


def test_other_records_of_the_sdk_logger_pass_unchanged():
    record = logging.getLogger(dropped_signals.SDK_LOGGER).makeRecord(
        dropped_signals.SDK_LOGGER, logging.WARNING, __file__, 1, "Something else %s", ("x",), None
    )
    assert dropped_signals.DroppedSignalLine().filter(record) is True
    assert record.getMessage() == "Something else x" and record.levelno == logging.WARNING

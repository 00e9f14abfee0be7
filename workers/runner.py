"""What both workers share: connect, build the activities around one connection pool, poll
a task queue until SIGTERM or SIGINT, then shut down gracefully."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Callable, Sequence

import asyncpg
import uvloop
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import PollerBehaviorSimpleMaximum, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.attempts import AttemptRecorder
from app.config import Settings, WorkerTuning
from app.core_logs import forwarding_runtime
from app.logging_setup import configure_logging
from app.stack import liveness
from db.pool import create_pool, database_unreachable
from workers import dropped_signals
from workers.failures import CompactStackFailureConverter
from workflows import policies

log = logging.getLogger("workers")


def _workflow_runner(sandboxed: bool) -> WorkflowRunner:
    """Workflows run unsandboxed here; the sandbox guards them in the tests instead.

    The sandbox refuses non-deterministic calls in workflow code, at a cost on every
    activation and every payload (it execs code in its own globals): ~20 % of the order
    worker's CPU at C=100 (docs/performance.md).
    Every workflow test and the Replayer run our workflows in the SDK's default sandbox, so
    a forbidden call fails the test suite. ORDER_TRACKER_WORKFLOW_SANDBOX=1 turns it on here.
    """
    if sandboxed:
        return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_all_modules())
    return UnsandboxedWorkflowRunner()


async def run_worker(
    *,
    name: str,
    task_queue: str,
    workflows: Sequence[type],
    activities: Callable[[asyncpg.Pool], list[Callable]],
) -> None:
    configure_logging()
    # `status` tells a frozen worker from a live one by these beats (app/stack/liveness.py).
    beat_path = os.environ.get(liveness.PATH_VARIABLE)
    beating = asyncio.create_task(liveness.beat(Path(beat_path))) if beat_path else None
    try:
        await _serve(name, task_queue, workflows, activities)
    finally:
        if beating is not None:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)


async def _serve(
    name: str,
    task_queue: str,
    workflows: Sequence[type],
    activities: Callable[[asyncpg.Pool], list[Callable]],
) -> None:
    _sdk_output_structured()
    settings = Settings.from_env()
    client = await _connect(name, settings)
    pool = await _pool_when_reachable(name, settings.database_url, settings.worker_tuning.db_pool_size)
    recorder = AttemptRecorder(pool)
    worker = _worker(client, task_queue, workflows, activities(pool), recorder, settings.worker_tuning)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    log.info("event=worker_started worker=%s task_queue=%s temporal=%s pid=%d", name, task_queue, settings.temporal_address, os.getpid())
    run = asyncio.create_task(worker.run())
    await asyncio.wait([run, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not run.done():
        log.info("event=worker_stopping worker=%s reason=signal", name)
        await worker.shutdown()
    try:
        await run
    except RuntimeError as error:
        # The SDK checks the namespace as the worker starts; a mistyped TEMPORAL_NAMESPACE raised
        # a traceback ending in the server's raw status, which `up` quoted as the reason.
        if not str(error).startswith("Worker validation failed"):
            raise
        await pool.close()
        _validation_failed(name, settings, client.namespace, str(error))
        raise SystemExit(1) from None
    await recorder.drain()  # rows of attempts cut off by the shutdown itself
    await pool.close()
    log.info("event=worker_stopped worker=%s", name)


def _sdk_output_structured() -> None:
    """The SDK's own log lines and warnings as the worker's: key=value, no tracebacks."""
    # Our workflow log lines carry their own key=value context; the SDK's appended dict of
    # workflow info would break the key=value format.
    from temporalio import activity, workflow

    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    # A local activity's timeout can cross its completion: the SDK then warns (unstructured,
    # on stderr) that the attempt it was told to cancel has already finished. Benign: the
    # attempt's row is written either way and the step retries; ~3 per 100 orders at C=100.
    warnings.filterwarnings("ignore", message="Cannot find activity to cancel")
    # A signal the SDK drops (its argument cannot be decoded): one warning line, not a traceback
    # at every replay.
    dropped_signals.install()


async def _connect(name: str, settings: Settings) -> Client:
    """The Temporal client; one line and exit 1 if Temporal cannot be reached."""
    try:
        return await Client.connect(
            **settings.temporal_connect_config(),
            data_converter=dataclasses.replace(DataConverter.default, failure_converter_class=CompactStackFailureConverter),
            runtime=forwarding_runtime(),
        )
    except RuntimeError as error:
        if not str(error).startswith("Failed client connect"):
            raise
        # One line, not a traceback: the watchdog (or `up`, once Temporal is back) starts it again.
        log.error(
            "event=worker_start_failed worker=%s reason=temporal_unreachable temporal=%s error=%r",
            name, settings.temporal_address, str(error),
        )
        raise SystemExit(1) from None


def _worker(
    client: Client,
    task_queue: str,
    workflows: Sequence[type],
    activities: list[Callable],
    recorder: AttemptRecorder,
    tuning: WorkerTuning,
) -> Worker:
    """The worker for one task queue, with the tuning of Settings.worker_tuning."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=activities,
        interceptors=[recorder],
        workflow_runner=_workflow_runner(tuning.workflow_sandbox),
        max_concurrent_activities=tuning.max_activities,
        max_concurrent_workflow_tasks=tuning.max_workflow_tasks,
        max_concurrent_local_activities=tuning.max_local_activities,
        # A workflow task that finds no waiting poll is written to the server's backlog and
        # read back later. At C=100 the SDK's default (5 polls, ratio 0.2: 1 on the normal
        # queue that new workflows start on, 4 on the sticky queue) left a new order ~0.84 s
        # before its first task. sdk-core gives the normal queue total x ratio polls and the
        # sticky queue the rest (at least 1 each). Measured at C=100 (docs/performance.md):
        # 40 at 1.0 (40 normal, 1 sticky) and 40 at 0.5 give the same p50, but with a single
        # sticky poll the approve Update takes ~1.4 s to answer instead of ~0.7 s,
        # and p99 is higher; so 20 and 20.
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(tuning.workflow_task_polls),
        nonsticky_to_sticky_poll_ratio=tuning.normal_poll_ratio,
        sticky_queue_schedule_to_start_timeout=policies.STICKY_TASK_WAIT,
        # Hung flaky calls are abandoned at their timeout; on shutdown give running steps a moment.
        graceful_shutdown_timeout=timedelta(seconds=3),
    )


def _validation_failed(name: str, settings: Settings, namespace: str, error: str) -> None:
    """One line for a worker Temporal refused at its start: the watchdog (or `up`, once the
    setting is fixed) starts it again."""
    if f"Namespace {namespace} was not found" in error:
        log.error(
            # The fix before the address: `up` quotes the first 200 characters of this line.
            "event=worker_start_failed worker=%s reason=namespace_not_found namespace=%r"
            " fix='check TEMPORAL_NAMESPACE or the profile in Temporal's configuration' temporal=%s",
            name, namespace, settings.temporal_address,
        )
    else:
        log.error("event=worker_start_failed worker=%s reason=validation_failed error=%r", name, error)


# While PostgreSQL is out of reach as the worker starts: how often it tries again, and how many
# tries go by between two lines saying so.
DATABASE_RETRY_S = 1.0
SAID_EVERY_TRIES = 30


async def _pool_when_reachable(name: str, database_url: str, size: int, retry_s: float = DATABASE_RETRY_S) -> asyncpg.Pool:
    """The worker's pool, once PostgreSQL answers. A worker started while it is out of reach
    (killed during an outage, and started again by the watchdog) crashed with a traceback, and
    the watchdog's back-off then held it down for up to a minute after the database was back;
    it waits instead, as a running worker does through an outage, saying so in one line."""
    tries = 0
    while True:
        try:
            return await create_pool(database_url, max_size=size)
        except Exception as error:
            if not database_unreachable(error):
                raise
            if tries % SAID_EVERY_TRIES == 0:
                log.warning("event=worker_waiting_for_database worker=%s tries=%d error=%r", name, tries + 1, error)
            tries += 1
        await asyncio.sleep(retry_s)


def main(coroutine) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coroutine)
    # The SDK's runtime may crash during interpreter finalisation; we are done, so leave now.
    logging.shutdown()
    os._exit(0)

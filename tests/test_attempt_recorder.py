"""The attempt recorder against a real dev server, with its database writes replaced by a
dict: an attempt whose time runs out while its row is being written is corrected to what
Temporal saw (a timeout, and the step ran again) once the write lands, not left ok or error."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from datetime import timedelta
from typing import Any, AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    UnsandboxedWorkflowRunner,
    Worker,
)

from activities import attempts, unwritten_attempts
from tests.conftest import eventually
from workflows.activity_io import DispatchInput, PackageInput
from workflows.model import Address, OrderItem
from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow


FIRST_ATTEMPT_FAILS = {"fails": False}


@activity.defn(name="QuickStep")
async def quick_step() -> str:
    if FIRST_ATTEMPT_FAILS["fails"] and activity.info().attempt == 1:
        raise RuntimeError("boom")
    return "done"


@workflow.defn(name="OneQuickStep", sandboxed=False)
class OneQuickStep:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_local_activity(
            quick_step,
            start_to_close_timeout=timedelta(milliseconds=500),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=3),
        )


@activity.defn(name="FailsThenHangsOnce")
async def fails_then_hangs_once() -> str:
    if activity.info().attempt == 1:
        raise RuntimeError("boom")
    if activity.info().attempt == 2:
        await asyncio.sleep(30)
    return "done"


@workflow.defn(name="FailsThenHangsOnce", sandboxed=False)
class FailsThenHangsOnce:
    @workflow.run
    async def run(self) -> str:
        # Attempt 1 fails at t=0; attempt 2 starts at 1 s and hangs until attempt 1's timer
        # fires at 2 s (a second early: room for a busy machine); attempt 3 starts 1.5 s after
        # attempt 2 ends, past attempt 2's own timer (3 s), whichever timer ended it.
        return await workflow.execute_local_activity(
            fails_then_hangs_once,
            start_to_close_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.5, maximum_attempts=3),
        )


REFUSED_STEP_FAILS = {"fails": True}


@activity.defn(name="RefusedStep")
async def refused_step() -> str:
    """As ReceiveOrder (fails for good) or RecordEvent (answers, writing nothing) of a run whose
    order's row is another run chain's (activities.business.log_refusal)."""
    attempts.filed_under_its_run()
    if REFUSED_STEP_FAILS["fails"]:
        raise ApplicationError("Order x belongs to another workflow run", type="AnotherRunsOrder", non_retryable=True)
    return "nothing written"


@workflow.defn(name="OneRefusedStep", sandboxed=False)
class OneRefusedStep:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_local_activity(refused_step, start_to_close_timeout=timedelta(seconds=2))
        except (ActivityError, ApplicationError):  # a local activity's failure may come bare
            pass
        return workflow.info().run_id


class _Rows:
    """activity_attempts as a dict; the first attempt's INSERT waits until ``release``."""

    def __init__(self) -> None:
        self.rows: dict[tuple, dict[str, Any]] = {}
        self.release = asyncio.Event()

    async def record_attempt(self, pool: Any, **row: Any) -> None:
        if row["attempt"] == 1:
            await self.release.wait()
        self.rows[(row["activity_id"], row["attempt"], row["started_at"])] = row

    async def correct_attempt(self, pool: Any, row: dict[str, Any], *, outcome: str, error: str) -> None:
        self.rows[(row["activity_id"], row["attempt"], row["started_at"])].update(outcome=outcome, error=error)

    def by_attempt(self) -> dict[int, tuple[str, str | None]]:
        return {r["attempt"]: (r["outcome"], r["error"]) for r in self.rows.values()}


@contextlib.asynccontextmanager
async def quick_step_worker(
    env: Any, *interceptors: Interceptor, workflow_class: type = OneQuickStep, step: Callable = quick_step
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """A worker for OneQuickStep (or another one-step workflow) with these interceptors; yields
    what runs the workflow once."""
    queue = f"recorder-{uuid.uuid4().hex[:8]}"

    async def run() -> str:
        return await env.client.execute_workflow(
            workflow_class.run, id=f"order-{queue}", task_queue=queue, execution_timeout=timedelta(seconds=30)
        )

    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[workflow_class],
        activities=[step],
        interceptors=list(interceptors),
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield run


@pytest.mark.parametrize("first", ["ok", "error"])
async def test_an_attempt_cut_off_while_its_row_is_written_is_corrected_to_timed_out(
    dev_env, monkeypatch: pytest.MonkeyPatch, first: str
):
    """It used to stay 'ok' (or an error Temporal never saw) next to the attempt that ran the
    step again."""
    monkeypatch.setitem(FIRST_ATTEMPT_FAILS, "fails", first == "error")
    rows = _Rows()
    monkeypatch.setattr(attempts.attempts_db, "record_attempt", rows.record_attempt)
    monkeypatch.setattr(attempts.attempts_db, "correct_attempt", rows.correct_attempt)
    recorder = attempts.AttemptRecorder(pool=None)
    async with quick_step_worker(dev_env, recorder) as run:
        assert await run() == "done"
        # The second attempt ran the step again while the first one's row was still waiting.
        assert rows.by_attempt() == {2: ("ok", None)}
        rows.release.set()
        await recorder.drain()  # as the worker does before it closes its pool
    cut_off = "start-to-close timeout (0.5s) exceeded while its result was being recorded"
    if first == "error":
        cut_off += " (it had failed: RuntimeError: boom)"
    assert rows.by_attempt() == {1: ("timeout", cut_off), 2: ("ok", None)}


class _LateResult(Interceptor):
    """Outside the recorder: the first attempt's result reaches the SDK only after its timeout,
    as under a busy machine, and the cancel that comes meanwhile is not acted on."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _LateResultInbound(next)


class _LateResultInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        if activity.info().attempt == 1:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()  # held until the timeout cancels the attempt
        return result


async def test_an_ok_whose_result_reached_temporal_after_the_timeout_is_corrected_once_the_step_runs_again(
    dev_env, monkeypatch: pytest.MonkeyPatch
):
    """Its row said ok next to the attempt that ran the step again: the cut-off correction only
    covered a timeout landing while the row was being written."""
    monkeypatch.setitem(FIRST_ATTEMPT_FAILS, "fails", False)
    rows = _Rows()
    rows.release.set()
    monkeypatch.setattr(attempts.attempts_db, "record_attempt", rows.record_attempt)
    monkeypatch.setattr(attempts.attempts_db, "correct_attempt", rows.correct_attempt)
    recorder = attempts.AttemptRecorder(pool=None)
    async with quick_step_worker(dev_env, _LateResult(), recorder) as run:
        assert await run() == "done"
        await recorder.drain()
    late = "start-to-close timeout (0.5s) exceeded before its result reached Temporal"
    assert rows.by_attempt() == {1: ("timeout", late), 2: ("ok", None)}


async def test_a_row_lost_to_a_database_outage_is_one_warning_line_without_a_traceback(
    dev_env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    """During an outage every attempt of every waiting step fails to write its row: each used to
    log a full traceback at error level."""
    monkeypatch.setitem(FIRST_ATTEMPT_FAILS, "fails", False)

    async def refused(pool: Any, **row: Any) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5433)")

    monkeypatch.setattr(attempts.attempts_db, "record_attempt", refused)
    recorder = attempts.AttemptRecorder(pool=None)
    with caplog.at_level("WARNING", logger="activities.attempts"):
        async with quick_step_worker(dev_env, recorder) as run:
            assert await run() == "done"
        await recorder.drain()  # as the worker does: its held row is then given up, and said so
    assert any("event=attempt_rows_lost count=1" in r.getMessage() for r in caplog.records)
    [failed] = [r for r in caplog.records if "event=attempt_record_failed" in r.getMessage()]
    assert failed.levelname == "WARNING" and failed.exc_info is None
    assert "reason=database_unreachable" in failed.getMessage() and "Connect call failed" in failed.getMessage()


async def test_rows_of_attempts_made_while_the_database_was_down_are_written_once_it_is_back(
    dev_env, monkeypatch: pytest.MonkeyPatch
):
    """An operator stopped PostgreSQL for 12 s: the audit jumped from attempt #1 to #58 of the
    step, and no view said what happened in between."""
    monkeypatch.setitem(FIRST_ATTEMPT_FAILS, "fails", True)
    rows = _Rows()
    rows.release.set()
    database = {"down": True}

    async def record_attempt(pool: Any, **row: Any) -> None:
        if database["down"]:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5433)")
        await rows.record_attempt(pool, **row)

    monkeypatch.setattr(attempts.attempts_db, "record_attempt", record_attempt)
    recorder = attempts.AttemptRecorder(pool=None)
    async with quick_step_worker(dev_env, recorder) as run:
        assert await run() == "done"  # attempt 1 fails, attempt 2 succeeds: two rows held back
        assert rows.rows == {}
        database["down"] = False
        assert await run() == "done"  # its first row written: the two held back follow
        await eventually(lambda: _settled(lambda: len(rows.rows) == 4), "4 attempt rows written, the 2 held back among them")
        await recorder.drain()
    in_time = sorted(rows.rows.values(), key=lambda r: r["started_at"])
    assert [(r["attempt"], r["outcome"]) for r in in_time] == [(1, "error"), (2, "ok")] * 2


async def _settled(check: Callable[[], bool]) -> bool:
    return check()


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5433)"), True),
        (asyncio.TimeoutError(), True),
        (asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        (asyncpg.InterfaceError("cannot call Connection.execute(): connection is closed"), True),
        (asyncpg.InterfaceError("pool is closing"), True),
        # A fault of the write itself, which keeps its traceback.
        (asyncpg.exceptions.DataError("invalid input for query argument $3: 'x' (an integer is required)"), False),
        (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"), False),
        (asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint"), False),
        (ValueError("bad row"), False),
    ],
)
def test_only_a_database_out_of_reach_counts_as_unreachable(error: BaseException, unreachable: bool):
    """asyncpg.InterfaceError, counted whole before, also covers DataError and misuse: code bugs
    that would have been logged as an outage, without their traceback."""
    assert attempts.database_unreachable(error) is unreachable


async def test_an_attempt_timed_out_by_an_earlier_attempts_timer_says_so(dev_env, monkeypatch: pytest.MonkeyPatch):
    """temporalio's local activities leave each attempt's start-to-close timer running when the
    step retries, and it times out the attempt that runs when it fires. The operator saw
    "timeout 0 ms … start-to-close timeout (0.12s)". If attempt 2 now runs its full 2 s,
    temporalio has fixed that: the early wording in attempts._cancelled can go."""
    rows = _Rows()
    rows.release.set()
    monkeypatch.setattr(attempts.attempts_db, "record_attempt", rows.record_attempt)
    monkeypatch.setattr(attempts.attempts_db, "correct_attempt", rows.correct_attempt)
    recorder = attempts.AttemptRecorder(pool=None)
    async with quick_step_worker(dev_env, recorder, workflow_class=FailsThenHangsOnce, step=fails_then_hangs_once) as run:
        assert await run() == "done"
        await recorder.drain()
    by_attempt = {r["attempt"]: r for r in rows.rows.values()}
    assert [by_attempt[n]["outcome"] for n in (1, 2, 3)] == ["error", "timeout", "ok"]
    hung = by_attempt[2]
    # Ended when attempt 1's time was up (2 s after its start, ~1 s into this one), before its
    # own 2 s: the words say so only of an attempt that ran less than its timeout (one ended by
    # its own timer reads "start-to-close timeout (2s) exceeded"). In an operator's words, and
    # with no duration of its own to disagree with the row's, which agrees with them.
    assert hung["error"] == "timed out early, on an earlier attempt's timer (2s start-to-close); the step runs again"
    assert hung["duration_ms"] < 2_000


def _row(attempt: int) -> dict[str, Any]:
    return {"activity": "QuickStep", "attempt": attempt, "outcome": "ok", "error": None}


async def test_a_full_buffer_pushes_out_the_oldest_held_row_not_the_one_being_written(monkeypatch: pytest.MonkeyPatch):
    """It pushed out the row the late write was writing, which was then written anyway, and the
    next row, never written, was taken off instead (a review of the change found it)."""
    monkeypatch.setattr(unwritten_attempts, "UNWRITTEN_KEPT", 2)
    monkeypatch.setattr(unwritten_attempts, "RETRY_EVERY_S", 0.01)
    gate, written = asyncio.Event(), []

    async def record_attempt(pool: Any, **row: Any) -> None:
        if row["attempt"] == 1:
            await gate.wait()
        written.append(row["attempt"])

    monkeypatch.setattr(unwritten_attempts.attempts_db, "record_attempt", record_attempt)
    unwritten = unwritten_attempts._Unwritten(pool=None)
    for attempt in (1, 2):
        unwritten.keep(_row(attempt))
    await eventually(lambda: _settled(lambda: unwritten._writing is not None), "the held row 1 being written")
    for attempt in (3, 4):  # 1 is being written: 2 is the oldest held
        unwritten.keep(_row(attempt))
    gate.set()
    await eventually(lambda: _settled(lambda: len(written) == 3), "3 held rows written")
    await unwritten.drain()
    assert written == [1, 3, 4] and unwritten.pushed_out == 1


@pytest.mark.parametrize("database_back", [True, False])
async def test_a_correction_of_a_row_being_written_late_waits_for_that_write(monkeypatch: pytest.MonkeyPatch, database_back):
    """The correction edited the row while its INSERT was under way with the old values, so the
    row stayed "ok" although Temporal had counted a timeout."""
    monkeypatch.setattr(unwritten_attempts, "RETRY_EVERY_S", 0.01)
    gate, written = asyncio.Event(), []

    async def record_attempt(pool: Any, **row: Any) -> None:
        await gate.wait()
        if not database_back:
            raise ConnectionRefusedError(111, "Connect call failed")
        written.append(dict(row))

    monkeypatch.setattr(unwritten_attempts.attempts_db, "record_attempt", record_attempt)
    unwritten = unwritten_attempts._Unwritten(pool=None)
    row = _row(1)
    unwritten.keep(row)
    await eventually(lambda: _settled(lambda: unwritten._writing is not None), "the held row 1 being written")
    asking = asyncio.ensure_future(unwritten.held(row))
    await asyncio.sleep(0)
    assert not asking.done()  # the write is under way: wait for it
    gate.set()
    # Written: the correction goes to the database. Still out of reach: the row is held, and
    # corrected in place before it is written.
    assert await asking is (not database_back)
    assert written == ([row] if database_back else [])
    unwritten._flusher.cancel()


def test_an_attempt_is_the_orders_only_if_its_workflow_is_of_the_type_its_id_says():
    """An OrderWorkflow started by hand as shipping-X-9 (or any workflow named so with another
    type) is not order X's: its attempts stay out of X's status and audit."""
    assert attempts.TYPE_OF_ID_PREFIX == {
        "order-": workflow._Definition.must_from_class(OrderWorkflow).name,
        "shipping-": workflow._Definition.must_from_class(ShippingWorkflow).name,
    }
    info = ActivityEnvironment.default_info()

    def order_of(workflow_id: str, workflow_type: str) -> str:
        return attempts._order_id(dataclasses.replace(info, workflow_id=workflow_id, workflow_type=workflow_type), [])

    assert order_of("order-x-1", "OrderWorkflow") == "x-1"
    assert order_of("shipping-x-1-2", "ShippingWorkflow") == "x-1"
    assert order_of("shipping-x-1-9", "OrderWorkflow") == "shipping-x-1-9"
    assert order_of("order-x-1", "ShippingWorkflow") == "order-x-1"
    assert order_of("rogue-x-1", "OrderWorkflow") == "rogue-x-1"


def test_a_shipping_workflow_with_no_parent_files_its_attempts_under_its_own_id():
    """A ShippingWorkflow started by hand as shipping-X-7, naming order-X as its parent in its
    input, has no parent: its steps act for itself (order_workflow_id is its own id) and are
    refused, and their attempts are not order X's, whatever its id says."""
    info = dataclasses.replace(
        ActivityEnvironment.default_info(), workflow_id="shipping-x-1-7", workflow_type="ShippingWorkflow"
    )
    items = [OrderItem("WIDGET-1", 2)]
    by_hand = PackageInput(order_id="x-1", items=items, order_workflow_id="shipping-x-1-7")
    assert attempts._order_id(info, [by_hand]) == "shipping-x-1-7"
    address = Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")
    dispatch = DispatchInput(order_id="x-1", package_id="p", address=address, order_workflow_id="shipping-x-1-7")
    assert attempts._order_id(info, [dispatch]) == "shipping-x-1-7"
    # The order's own child acts for its parent; a step scheduled before the field, unchecked.
    assert attempts._order_id(info, [dataclasses.replace(by_hand, order_workflow_id="order-x-1")]) == "x-1"
    assert attempts._order_id(info, [dataclasses.replace(by_hand, order_workflow_id="")]) == "x-1"
    assert attempts._order_id(info, []) == "x-1"


@pytest.mark.parametrize("fails", [True, False], ids=["fails", "answers"])
async def test_an_attempt_refused_as_another_runs_is_filed_under_its_run_not_the_order(
    dev_env, monkeypatch: pytest.MonkeyPatch, fails: bool
):
    """A run started by hand under order-<id> once the order's own had closed: ReceiveOrder
    refuses it (AnotherRunsOrder), and a cancel sent with it writes nothing; their attempts
    went into the order's status and audit."""
    monkeypatch.setitem(REFUSED_STEP_FAILS, "fails", fails)
    rows = _Rows()
    rows.release.set()
    monkeypatch.setattr(attempts.attempts_db, "record_attempt", rows.record_attempt)
    recorder = attempts.AttemptRecorder(pool=None)
    async with quick_step_worker(dev_env, recorder, workflow_class=OneRefusedStep, step=refused_step) as run:
        run_id = await run()
    [row] = rows.rows.values()
    assert row["workflow_id"].startswith("order-recorder-")
    assert (row["order_id"], row["outcome"]) == (f"{row['workflow_id']}/{run_id}", "error" if fails else "ok")

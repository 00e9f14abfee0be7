"""What the TUI's screens say when the stack lets a request down: the service's sentences,
which point the command line to ./start.sh status and ./start.sh order status ID, as the TUI
says them, pointing to its health line, the Live dashboard and the Audit log. The service is the
real one, with Temporal and PostgreSQL stand-ins (those of tests/test_service_commands.py)."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from app.config import Settings
from app.service import OrderService
from app.tui import actions
from app.tui import app as tui_app
from tests import test_service_commands as service_tests
from workflows.model import Address

ADDRESS = Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")


# The database without a row for the order (ReceiveOrder has not run, or no such order).
_NoRow = service_tests._NoRows


class _Screens(OrderService):
    """The service, its database's side faked: order o-7 is listed awaiting review; looked up,
    it is as listed if ``recorded``, else the service's own answer for an order without a row."""

    recorded = True
    worker_serving: bool | None = True

    async def list_orders(self, **_: Any) -> list[dict[str, Any]]:
        now = datetime.now(timezone.utc).isoformat()
        return [{"order_id": "o-7", "state": "AWAITING_APPROVAL", "created_at": now, "amount": "$10.00"}]

    async def newest_orders(self, states: list[str], limit: int) -> list[dict[str, Any]]:  # a picker's
        return await self.list_orders()

    async def status(self, order_id: str) -> dict[str, Any]:
        if self.recorded:
            return {"state": "AWAITING_APPROVAL", "address": {**ADDRESS.__dict__, "name": "Bob"}, "payment": {}}
        raise await self._not_recorded(order_id)  # as status() answers for an order without a row

    async def _worker_serving(self, task_queue: str) -> bool | None:
        return self.worker_serving


def _answered(monkeypatch: pytest.MonkeyPatch, answers: list[Any]) -> None:
    """The screen's questions answered in turn from ``answers``; the address form with ADDRESS."""
    given = iter(answers)

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(given)

    async def address_form(current: Any) -> Address:
        return ADDRESS

    monkeypatch.setattr(actions, "ask", ask)
    monkeypatch.setattr(actions, "address_form", address_form)


async def _shown(service: OrderService, label: str, screen: Any) -> str:
    """What the screen ``label`` of the menu says, as the operator reads it (wrapped or not)."""
    out = io.StringIO()
    tui = tui_app.Tui(Console(file=out, width=400))
    tui.service = service
    await asyncio.wait_for(tui.guarded(label, lambda: screen(service, tui.console)), 5)
    return " ".join(out.getvalue().split())


# Each screen that sends a command, and its answers from the order picked to the send.
COMMAND_SCREENS = {
    "approval": ("Approve / reject", actions.approve_or_reject, ["o-7", "approve"]),
    "rejection": ("Approve / reject", actions.approve_or_reject, ["o-7", "reject", "fraud", True]),
    "address change": ("Update address", actions.update_address, ["o-7", True]),
    "cancel": ("Cancel order", actions.cancel_order, ["o-7", "", True]),
}


@pytest.mark.parametrize("command", list(COMMAND_SCREENS))
@pytest.mark.parametrize(
    "client",
    [
        # Temporal answered the check before the send, then not the send: killed (UNAVAILABLE), or
        # gone under it (UNKNOWN "transport error").
        service_tests._TemporalSilent,
        service_tests._TemporalGoneMidCall,
    ],
)
async def test_a_command_temporal_does_not_answer_points_to_the_health_line(monkeypatch, command, client):
    """Temporal stopped between the screen's check and the send: the screen said "it may not have
    been received: check with ./start.sh order status o-7 once the stack is up (./start.sh
    status)", commands for another shell, where the TUI's other sentences point to its health line."""
    label, screen, answers = COMMAND_SCREENS[command]
    _answered(monkeypatch, answers)
    service = _Screens(settings=Settings.from_env({}), client=client(True), pool=_NoRow())  # type: ignore[arg-type]
    said = await _shown(service, label, screen)
    assert f"Temporal at 127.0.0.1:7233 did not answer while sending the {command} to order o-7" in said, said
    assert "it may not have been received" in said and "see the health line" in said, said
    assert "./start.sh" not in said and "Sorry" not in said, said


class _TaskFailingAfterTheCheck(service_tests._UpdateDropped):
    """The order's workflow task failed twice between the check before the send and the send."""

    async def start_update(self, name: str, args: list, wait_for_stage: Any) -> Any:
        from temporalio.service import RPCError, RPCStatusCode

        raise RPCError("Workflow Task in failed state", RPCStatusCode.FAILED_PRECONDITION, b"")


class _TaskFailing(service_tests._UpdateDropped):
    """The order's workflow task has failed twice in a row: the command is not sent."""

    async def describe(self, **kwargs: Any) -> Any:
        return SimpleNamespace(raw_description=SimpleNamespace(pending_workflow_task=SimpleNamespace(attempt=3)))


@pytest.mark.parametrize(
    ("client", "pool", "sentence"),
    [
        # Temporal dropped the Update (the workflow task kept failing) before the order took it.
        (service_tests._UpdateDropped, _NoRow, "send it again once the order goes on (see order o-7 on the Live dashboard)."),
        (_TaskFailingAfterTheCheck, _NoRow, "send it again once the order goes on (see order o-7 on the Live dashboard)."),
        (_TaskFailing, _NoRow, "send it again once the order goes on (see order o-7 on the Live dashboard)."),
        # The workflow task that carried it was refused (a signal came as the order moved on).
        (service_tests._TaskRefusedClient, _NoRow,
         "send it again if it is still wanted (see order o-7 on the Live dashboard)."),
        # Accepted while PostgreSQL had gone: the order carries it out once it is back.
        (service_tests._AcceptedClient, service_tests._LostPool,
         "then check order o-7 on the Live dashboard or in the Audit log."),
    ],
)
async def test_a_command_the_order_cannot_take_now_points_to_the_tuis_own_screens(monkeypatch, client, pool, sentence):
    """A cancel's other answers that named ./start.sh order status o-7 reached the screen as the
    command line says them."""
    monkeypatch.setattr("app.service.sending.NO_WORKER_CHECK_S", 0.05)
    _answered(monkeypatch, ["o-7", "", True])
    service = _Screens(settings=Settings.from_env({}), client=client(), pool=pool())  # type: ignore[arg-type]
    said = await _shown(service, "Cancel order", actions.cancel_order)
    assert said.endswith(sentence), said
    assert "./start.sh order status" not in said and "./start.sh status" not in said, said


class _RunningWithoutARow(service_tests._TemporalSilent):
    """The order's workflow has started and runs; its row is not written yet."""

    async def describe(self, **kwargs: Any) -> Any:
        from temporalio.client import WorkflowExecutionStatus

        return SimpleNamespace(status=WorkflowExecutionStatus.RUNNING)


@pytest.mark.parametrize(
    ("client", "worker_serving", "sentence"),
    [
        # Started, but the order worker that would record it is stopped.
        (_RunningWithoutARow, False, "Order o-8 has been started, but no order worker is serving to record it"
         " (none runs, or it is stopped: see the health line)."),
        # Temporal does not answer the describe that would say whether it was started.
        (lambda: service_tests._TemporalSilent(None), True,
         "Temporal at 127.0.0.1:7233 did not answer about order o-8; see the health line."),
    ],
)
@pytest.mark.parametrize(
    ("label", "screen", "answers"),
    [
        ("Approve / reject", actions.approve_or_reject, [actions.TYPE_ID, "o-8"]),
        ("Update address", actions.update_address, [actions.TYPE_ID, "o-8"]),
        ("Cancel order", actions.cancel_order, [actions.TYPE_ID, "o-8"]),
        ("Audit log", actions.audit_log, [actions.TYPE_ID, "o-8"]),
    ],
)
async def test_an_order_id_typed_that_has_no_row_yet_points_to_the_health_line(
    monkeypatch, client, worker_serving, sentence, label, screen, answers
):
    """"Type an order id…" with the id of an order started but not recorded, its order worker
    stopped: "(none runs, or it is stopped: see ./start.sh status)"; with Temporal silent,
    "check the stack with ./start.sh status"."""
    _answered(monkeypatch, answers)
    service = _Screens(settings=Settings.from_env({}), client=client(), pool=_NoRow())  # type: ignore[arg-type]
    service.recorded, service.worker_serving = False, worker_serving
    said = await _shown(service, label, screen)
    assert said.endswith(sentence), said


async def test_a_simulation_whose_creates_temporal_refuses_points_to_the_health_line(monkeypatch):
    """Temporal killed after the simulation's check: "2 could not start: Temporal at … is not
    reachable (down or restarting: see ./start.sh status), so order … was not started"."""
    from app.tui import simulate

    service_tests._creatable(monkeypatch)
    monkeypatch.setattr(simulate, "POLL_S", 0.01)
    answers = iter(["2", False])

    async def ask(question: Any, *, escape: bool = True) -> Any:
        return next(answers)

    monkeypatch.setattr(simulate, "ask", ask)

    class _Simulated(_Screens):
        async def order_states(self, order_ids: list[str]) -> dict[str, str]:
            return {}

    client = service_tests._DownBeforeTheStart()
    service = _Simulated(settings=Settings.from_env({}), client=client, pool=service_tests._NoOrderRow())  # type: ignore[arg-type]
    said = await _shown(service, "Simulate orders", simulate.simulate_orders)
    assert "2 could not start: Temporal at 127.0.0.1:7233 is not reachable (down or restarting: see the health line)" in said, said
    assert "./start.sh" not in said, said


async def test_a_create_of_an_id_another_create_just_started_points_to_the_tuis_own_screens(monkeypatch):
    """Started by another create between the form's check of the id and this start, with
    Temporal silent on what with: "see it with ./start.sh order status o-7"."""
    from app.tui import forms
    from tests.test_tui_menu_and_pager import _form_answers

    service_tests._creatable(monkeypatch)

    class _IdFreeAtTheCheck(_Screens):
        async def refuse_taken_id(self, order_id: str) -> None:
            return None

    _form_answers(monkeypatch, ["o-7", ["SKU-1"], "1", True])
    client = service_tests._StartedAlready(None)
    service = _IdFreeAtTheCheck(settings=Settings.from_env({}), client=client, pool=service_tests._NoOrderRow())  # type: ignore[arg-type]
    said = await _shown(service, "Create order", lambda service, console: forms.create_order(service, console, {}))
    assert said.endswith(
        "Order o-7 already exists, and Temporal did not say with what content; see it on the Live dashboard or in"
        " the Audit log."
    ), said


def test_a_simulation_whose_order_worker_stops_midway_points_to_the_health_line():
    """The line under the bars once the order worker stopped midway said "(none runs, or it is
    stopped: ./start.sh status says which)", where the same screen's line before the bars says
    "see the health line"."""
    from app.tui.simulate import StallWatch

    watch = StallWatch(service=None)
    watch.no_order_worker = True  # Temporal said so once the simulation stood still
    console = Console(file=io.StringIO(), width=400, record=True)
    console.print(watch)
    said = console.export_text().strip()
    assert said == (
        "No order worker is serving (none runs, or it is stopped: see the health line), so the orders wait until"
        " one does."
    ), said


@pytest.mark.parametrize("client", [service_tests._UpdateDropped, _TaskFailingAfterTheCheck, _TaskFailing])
async def test_a_workflow_task_failing_names_the_log_command_as_one_for_another_shell(monkeypatch, client):
    """"(an order worker stopped, or an error in its log: ./start.sh logs order-worker)": a command
    for another shell, said as if the TUI were one."""
    _answered(monkeypatch, ["o-7", "", True])
    service = _Screens(settings=Settings.from_env({}), client=client(), pool=_NoRow())  # type: ignore[arg-type]
    said = await _shown(service, "Cancel order", actions.cancel_order)
    assert (
        "its workflow tasks keep failing or timing out (an order worker stopped, or an error in its log, which"
        " ./start.sh logs order-worker shows from another shell);"
    ) in said, said


async def test_a_command_accepted_while_postgresql_is_gone_says_the_tui_offers_to_start_it(monkeypatch):
    """"answers again (start the stack with ./start.sh up)": the TUI asks "Start what is down?"
    back at the menu, and says "from another shell" when it names ./start.sh up itself."""
    _answered(monkeypatch, ["o-7", "", True])
    service = _Screens(
        settings=Settings.from_env({}), client=service_tests._AcceptedClient(), pool=service_tests._LostPool()  # type: ignore[arg-type]
    )
    said = await _shown(service, "Cancel order", actions.cancel_order)
    assert (
        "answers again (start the stack when the TUI offers to, or from another shell with ./start.sh up);"
    ) in said, said


@pytest.mark.parametrize("part", ["PostgreSQL at 127.0.0.1:5433", "Temporal at 127.0.0.1:7233"])
def test_a_part_out_of_reach_says_the_tui_offers_to_start_it(part):
    """Settings._local_remedy's "start the stack with ./start.sh up", as a screen shows it."""
    from app.errors import StackUnreachable
    from app.tui.sentences import in_the_tui

    said = in_the_tui(StackUnreachable(f"{part} is not reachable; start the stack with ./start.sh up."))
    assert said == (
        f"{part} is not reachable; start the stack when the TUI offers to, or from another shell with ./start.sh up."
    ), said


async def test_a_screen_whose_database_goes_away_says_the_tui_offers_to_start_it():
    """A connection refused under a screen (Tui.guarded) said "PostgreSQL at … is not answering;
    start the stack with ./start.sh up."."""

    async def screen(service: Any, console: Any) -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    service = _Screens(settings=Settings.from_env({}), client=None, pool=_NoRow())  # type: ignore[arg-type]
    said = await _shown(service, "Live dashboard", screen)
    assert said == (
        "PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders is not reachable; start the stack when the TUI"
        " offers to, or from another shell with ./start.sh up."
    ), said


@pytest.mark.parametrize("command", list(COMMAND_SCREENS))
async def test_a_command_from_the_tui_is_recorded_as_by_operator_as_from_the_command_line(monkeypatch, command):
    """The audit said "approved by tui" for a decision taken in the TUI and "approved by operator"
    for the same one from the command line or the API: "by" names who decided, not the tool."""
    label, screen, answers = COMMAND_SCREENS[command]
    _answered(monkeypatch, answers)
    client = service_tests._Client()
    service = _Screens(settings=Settings.from_env({}), client=client, pool=_NoRow())  # type: ignore[arg-type]
    await _shown(service, label, screen)
    (name, args), = client.sent
    assert args[-2] == "operator", (name, args)  # each command's args end with (by, when)

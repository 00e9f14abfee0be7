"""The order list through the service: its bounds, the API's as well, and its retries, the
same figure `order status` shows for the order."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections import Counter
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from app.api import create_app
from app.config import Settings
from app.service import OrderService
from app.unfinished import temporal_cli
from tests.test_api_errors import asgi_request
from workflows.model import SHIPPING_TASK_QUEUE, order_workflow_id, shipping_workflow_id

CREATED = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)

# (workflow_id, activity_id, activity, attempt): two RecordEvent invocations of one attempt each,
# and PreparePackage in two shipping children, the second one retried once.
ATTEMPTS = [
    (order_workflow_id("o-1"), "5", "RecordEvent", 1),
    (order_workflow_id("o-1"), "9", "RecordEvent", 1),
    (shipping_workflow_id("o-1", 1), "1", "PreparePackage", 1),
    (shipping_workflow_id("o-1", 2), "1", "PreparePackage", 1),
    (shipping_workflow_id("o-1", 2), "1", "PreparePackage", 2),
]


class AuditTables:
    """A stand-in pool answering db/queries.py's reads from ATTEMPTS the way their SQL does."""

    def __init__(self, state: str = "PACKED") -> None:
        self.state = state
        self.pages: list[tuple] = []
        self.reads: list[tuple[str, dict | None]] = []  # through a connection, and the transaction it was in
        self.row_reads = 0  # of the order's row, through a connection or the pool

    def order_row(self) -> dict[str, Any]:
        invocations = {(workflow_id, activity_id) for workflow_id, activity_id, _, _ in ATTEMPTS}
        return {
            "id": "o-1", "state": self.state, "items_json": [{"sku": "WIDGET-1", "quantity": 1}],
            "address_json": {}, "amount_cents": 1999, "payment_id": "pay-o-1", "payment_status": "CHARGED",
            "failure_reason": "", "tracking_number": "", "awaiting_approval_since": None, "review_ms": 10,
            "processing_ms": None, "created_at": CREATED, "updated_at": CREATED, "finished_at": None,
            "attempts": len(ATTEMPTS), "failures": 0, "last_error": None, "last_error_activity": None,
            "last_error_at": None,
            # count(*) - count(DISTINCT (workflow_id, activity_id)), as in _ATTEMPTS_LATERAL
            "retries": len(ATTEMPTS) - len(invocations),
        }

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any]:  # get_order
        self.row_reads += 1
        return self.order_row()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if "shipping-" in sql:  # shipping_runs: the highest run number of a shipping child's attempts
            return max(int(w.rsplit("-", 1)[1]) for w, _, _, _ in ATTEMPTS if w.startswith("shipping-"))
        self.row_reads += 1
        return self.state  # order_state

    @contextlib.asynccontextmanager
    async def acquire(self) -> Any:
        yield _Connection(self)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        if "GROUP BY activity" in sql:  # attempts_by_activity
            return [{"activity": a, "n": n} for a, n in Counter(name for _, _, name, _ in ATTEMPTS).items()]
        if "GROUP BY state" in sql:  # state_counts: this order, and four others that shipped
            return [{"state": "PACKED", "n": 1}, {"state": "SHIPPED", "n": 4}]
        if "ORDER BY ts, id" in sql or "ORDER BY started_at, attempt" in sql:  # events, attempts: the audit's timeline
            return []
        self.pages.append(args)  # list_orders: (state, limit, offset)
        return [self.order_row()]


class _Connection:
    """One connection of AuditTables: reads count as inside a transaction only while one is open."""

    def __init__(self, tables: AuditTables) -> None:
        self.tables = tables
        self.open: dict | None = None

    @contextlib.asynccontextmanager
    async def transaction(self, **options: Any) -> Any:
        self.open = options
        yield
        self.open = None

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        self.tables.reads.append(("fetchrow", self.open))
        return await self.tables.fetchrow(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.tables.reads.append(("fetch", self.open))
        return await self.tables.fetch(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.tables.reads.append(("fetchval", self.open))
        return await self.tables.fetchval(sql, *args)


class _NoWorker:
    """A running order workflow in shipping, never reset, whose query finds no worker."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_workflow_handle(self, workflow_id: str, run_id: str | None = None) -> "_NoWorker":
        self.asked.append(workflow_id)
        self.id = workflow_id
        return self

    async def query(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no worker")  # status then answers from the database alone

    async def describe(self, **kwargs: Any) -> Any:
        from temporalio.client import WorkflowExecutionStatus

        pending = [SimpleNamespace(workflow_id="shipping-o-1-1", run_id="r1")]
        never_reset = SimpleNamespace(HasField=lambda name: False)
        raw = SimpleNamespace(pending_children=pending, workflow_extended_info=never_reset)
        return SimpleNamespace(status=WorkflowExecutionStatus.RUNNING, raw_description=raw)


def a_service(tmp_path) -> OrderService:
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    return OrderService(settings=settings, client=_NoWorker(), pool=AuditTables())  # type: ignore[arg-type]


async def test_status_counts_retries_per_invocation_like_the_list(tmp_path):
    service = a_service(tmp_path)
    [listed] = await service.list_orders()
    status = await service.status("o-1")
    assert status["attempts"] == {"RecordEvent": 2, "PreparePackage": 3}
    # Counted per activity name it would be 1 + 2: the RecordEvents are two invocations, not a retry.
    assert listed["retries"] == status["retries"] == 1
    # The row and the attempts per step from one snapshot, so that their counts agree.
    snapshot = {"isolation": "repeatable_read", "readonly": True}
    assert service.pool.reads == [("fetchrow", snapshot), ("fetch", snapshot)]


async def test_status_of_an_order_in_shipping_asks_nothing_of_its_child_unless_it_was_reset(tmp_path):
    """Every status of an order in shipping described its child too; only a reset run can wait
    for a child that ended with another run."""
    service = a_service(tmp_path)
    status = await service.status("o-1")
    assert "warning" not in status
    assert service.client.asked == ["order-o-1", "order-o-1"]  # the query, the describe: no shipping-…


async def test_status_from_the_database_alone_says_so(tmp_path):
    """With the order worker stopped, `order status` showed the database's view as if it were
    the workflow's (only --json said "source": "database"); with Temporal down, the CLI refused
    to show it at all, though the API and the TUI did."""
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    status = await a_service(tmp_path).status("o-1")  # the query failed: no worker
    assert (status["source"], status["state"]) == ("database", "PACKED")
    assert status["note"] == (
        "The workflow did not answer (no order worker serving, or Temporal busy):"
        " this is the database's view, which may lag behind it."
    )
    unreachable = "Temporal at 127.0.0.1:7233 is not reachable; start the stack with ./start.sh up."
    service = OrderService(settings, client=None, pool=AuditTables(), temporal_unreachable=unreachable)  # type: ignore[arg-type]
    status = await service.status("o-1")
    assert (status["source"], status["note"]) == ("database", f"{unreachable} This is the database's view.")


@pytest.mark.parametrize("ended", ["SHIPPED", "CANCELLED", "REJECTED", "EXPIRED", "FAILED"])
async def test_status_of_an_ended_order_is_the_databases_without_asking_its_workflow(tmp_path, ended):
    """The status Query of an order that had ended made the order worker replay its closed
    workflow's whole history, and with that worker stopped `order status` waited ~3 s for an
    answer the row (final once the order ended) already gave."""
    client = _NoWorker()
    service = OrderService(Settings.from_env({}), client=client, pool=AuditTables(ended))  # type: ignore[arg-type]
    status = await service.status("o-1")
    assert client.asked == [], "Temporal was asked about an order that had ended"
    assert (status["state"], status["terminal"], status["step"], status["source"]) == (ended, True, "done", "database")
    # All the workflow's view added for an ended order: no address change pending, its shipping runs.
    assert (status["address_change_pending"], status["shipping_attempts"]) == (False, 2)
    assert "note" not in status and "warning" not in status
    snapshot = {"isolation": "repeatable_read", "readonly": True}
    assert service.pool.reads == [("fetchrow", snapshot), ("fetch", snapshot), ("fetchval", snapshot)]
    assert service.pool.row_reads == 1, "the order's row was read more than once for one status"


class _Answering(_NoWorker):
    """A running order workflow whose status query answers ``state``, the order having moved
    there from the row's state while it was asked."""

    def __init__(self, tables: AuditTables, state: str) -> None:
        super().__init__()
        self.tables, self.state = tables, state

    async def query(self, *args: Any, **kwargs: Any) -> Any:
        from workflows.model import Address, OrderItem, OrderState, OrderStatus, Payment

        self.tables.state = self.state
        address = Address(name="Ann", street="1 Main St", city="Springfield", postal_code="12345", country="US")
        return OrderStatus(
            order_id="o-1", state=OrderState(self.state), step="validating", terminal=False,
            items=[OrderItem("WIDGET-1", 1)], amount_cents=1999, address=address, payment=Payment("pay-o-1"),
        )


@pytest.mark.parametrize(("recorded", "answered", "row_reads"), [
    ("VALIDATED", "VALIDATED", 1),  # as recorded: one read
    ("RECEIVED", "VALIDATED", 2),  # moved on while asked: read again, so its counts are as new as that
])
async def test_status_of_a_running_order_reads_its_row_again_only_if_it_moved_on_while_asked(
    tmp_path, recorded, answered, row_reads
):
    """`order status` read the order's row twice for every answer: its state alone, to see
    whether the workflow need be asked, then the whole row after the workflow answered (h24)."""
    tables = AuditTables(recorded)
    service = OrderService(Settings.from_env({}), client=_Answering(tables, answered), pool=tables)  # type: ignore[arg-type]
    status = await service.status("o-1")
    assert (status["state"], status["source"]) == (answered, "workflow")
    assert tables.row_reads == row_reads
    snapshot = {"isolation": "repeatable_read", "readonly": True}
    assert tables.reads == [("fetchrow", snapshot), ("fetch", snapshot)] * row_reads


class _Temporal:
    """The query's failure, and what describe says (None: it must not be asked)."""

    def __init__(self, query_error: BaseException, described: Any = None) -> None:
        self.query_error, self.described = query_error, described
        self.describes = 0

    def get_workflow_handle(self, workflow_id: str) -> "_Temporal":
        self.id = workflow_id
        return self

    async def query(self, *args: Any, **kwargs: Any) -> None:
        raise self.query_error

    async def describe(self, **kwargs: Any) -> Any:
        # Counted, not asserted here: the status swallows any error of its stall check.
        self.describes += 1
        return SimpleNamespace(status=self.described)


@pytest.mark.parametrize(("temporal", "warning", "note"), [
    # Gone from Temporal, the row not final: it said only that the workflow "did not answer".
    (_Temporal(RPCError("not found", RPCStatusCode.NOT_FOUND, b"")),
     "Order o-1 is PACKED in PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders, but Temporal at"
     " 127.0.0.1:7233 (namespace default) has no run of its workflow order-o-1: if the order was started on"
     " another Temporal, set TEMPORAL_ADDRESS (or TEMPORAL_NAMESPACE) to that one;", None),
    # Completed just after the row was read (it completes only once the row is final): no alarm.
    (_Temporal(RuntimeError("no worker"), WorkflowExecutionStatus.COMPLETED), None, "The workflow did not answer"),
    (_Temporal(RuntimeError("no worker"), WorkflowExecutionStatus.TERMINATED),
     "Order o-1 will not finish: its workflow was terminated outside the order tracker while the order is PACKED,"
     " so nothing will move it on; payment pay-o-1 is still charged", None),
    # No answer: not asked again (that doubled the wait).
    (_Temporal(RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")), None, "The workflow did not answer"),
])
async def test_status_of_an_order_whose_workflow_is_closed_or_gone_says_it_will_not_finish(tmp_path, temporal, warning, note):
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    status = await OrderService(settings, client=temporal, pool=AuditTables()).status("o-1")  # type: ignore[arg-type]
    assert (status.get("warning") or "").startswith(warning or ""), status.get("warning")
    assert bool(status.get("warning")) == bool(warning)
    assert (status.get("note") or "").startswith(note or "") and bool(status.get("note")) == bool(note)
    if temporal.described is None:
        assert temporal.describes == 0, "Temporal was asked again after it did not answer"


class _WaitingForAClosedChild:
    """A running order workflow (reset to its last task after a terminate) whose shipping child,
    started by workflow task 13, was closed with the old run a minute ago."""

    def get_workflow_handle(self, workflow_id: str, run_id: str | None = None) -> "_WaitingForAClosedChild":
        self.id = workflow_id
        return self

    async def query(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no worker")

    async def describe(self, **kwargs: Any) -> Any:
        if self.id.startswith("shipping-"):
            return SimpleNamespace(
                status=WorkflowExecutionStatus.TERMINATED, close_time=datetime.now(timezone.utc) - timedelta(minutes=1)
            )
        pending = [SimpleNamespace(workflow_id="shipping-o-1-1", run_id="r1")]
        reset = SimpleNamespace(HasField=lambda name: name == "last_reset_time")  # a reset run
        raw = SimpleNamespace(pending_children=pending, workflow_extended_info=reset)
        return SimpleNamespace(status=WorkflowExecutionStatus.RUNNING, raw_description=raw)

    async def fetch_history_events(self, **kwargs: Any):
        from tests.test_service_commands import _child_started_by_task

        for event in _child_started_by_task(13):
            yield event


async def test_status_of_an_order_waiting_for_a_child_that_ended_with_an_earlier_run_says_how_to_go_on(tmp_path):
    """Reset to its last workflow task after a terminate, as the advice then said, the order
    waited for ever for a child of the old run, and status showed it shipping."""
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    status = await OrderService(settings, client=_WaitingForAClosedChild(), pool=AuditTables()).status("o-1")  # type: ignore[arg-type]
    assert (status["workflow_status"], status["step"]) == ("RUNNING", "none: waiting for shipping-o-1-1, which is TERMINATED")
    assert status["warning"] == (
        "Order o-1 will not finish: its workflow waits for shipping workflow shipping-o-1-1, which is TERMINATED"
        " (closed with an earlier run of the order's workflow, which a reset to its last workflow task cannot bring"
        " back) while the order is PACKED, so nothing will move it on; payment pay-o-1 is still charged: go on from"
        f" where it stopped with {temporal_cli()} workflow reset --address 127.0.0.1:7233 -w order-o-1 --event-id 13"
        " --reason 'resume order o-1', or settle it by hand."
    )
    # Also alone, for the command line to print on one line: in the panel it wraps, and a
    # command copied from there breaks.
    assert status["reset_command"] == (
        f"{temporal_cli()} workflow reset --address 127.0.0.1:7233 -w order-o-1 --event-id 13 --reason 'resume order o-1'"
    )


async def _get(app, path: str, query: str) -> tuple[int, Any]:
    status, _, body = await asgi_request(app, "GET", path, query=query.encode())
    return status, json.loads(body)


@pytest.mark.parametrize(
    "query, detail",
    [
        ("limit=0", "The limit must be between 1 and 1000."),
        ("limit=1001", "The limit must be between 1 and 1000."),
        ("limit=" + "1" * 20, "The limit must be between 1 and 1000."),
        ("offset=-1", "The offset must be between 0 and 1000000000."),
        ("offset=" + "1" * 20, "The offset must be between 0 and 1000000000."),
    ],
)
async def test_the_api_refuses_a_page_out_of_bounds_in_the_cli_s_words(tmp_path, query, detail):
    service = a_service(tmp_path)
    app = create_app(service)
    app.state.service = service  # what the lifespan does, which a bare ASGI call does not run
    assert await _get(app, "/orders", query) == (422, {"detail": detail})
    assert service.pool.pages == []  # nothing reached the database


@pytest.mark.parametrize("query", ["offset=1_0", "limit=%205", "limit=5%20", "limit=10.0", "offset=%EF%BC%91", "limit=abc"])
async def test_the_api_reads_a_page_in_plain_decimal_as_the_cli_does(tmp_path, query):
    """`offset=1_0` skipped 10 orders, `limit=10.0` served 10: pydantic reads what int() does and more."""
    service = a_service(tmp_path)
    app = create_app(service)
    app.state.service = service
    name, _, given = query.partition("=")
    bounds = {"limit": "1 and 1000", "offset": "0 and 1000000000"}[name]
    detail = f"The {name} must be a whole number between {bounds}, not {urllib.parse.unquote(given)!r}."
    assert await _get(app, "/orders", query) == (422, {"detail": detail})
    assert service.pool.pages == []


async def test_the_largest_page_is_served(tmp_path):
    service = a_service(tmp_path)
    app = create_app(service)
    app.state.service = service
    status, body = await _get(app, "/orders", "limit=1000&offset=1000000000&state=packed")
    assert (status, body["count"]) == (200, 1)
    assert service.pool.pages == [("PACKED", 1000, 1_000_000_000)]


@pytest.mark.parametrize("query, total", [("", 5), ("state=packed", 1), ("state=SHIPPED&offset=3", 4)])
async def test_the_api_list_says_how_many_orders_there_are_as_the_cli_does(tmp_path, query, total):
    """`order list --json` gives total and offset beside count; GET /orders gave count alone, so a
    client paging through the API could not tell how many pages there are."""
    service = a_service(tmp_path)
    app = create_app(service)
    app.state.service = service
    status, body = await _get(app, "/orders", query)
    assert status == 200
    assert (body["count"], body["total"], body["offset"]) == (1, total, 3 if "offset" in query else 0)


async def test_a_page_and_its_total_are_read_from_one_snapshot(tmp_path):
    """The page and the counts that give its total were two reads: an order that moved state
    between them (every few milliseconds under load) was on the page and not in the total, and a
    client that pages until the total stopped a page short or asked one past the end."""
    service = a_service(tmp_path)
    page, counts = await service.order_page(state="PACKED")
    assert (page["count"], page["total"], counts["SHIPPED"]) == (1, 1, 4)
    snapshot = {"isolation": "repeatable_read", "readonly": True}
    assert service.pool.reads == [("fetch", snapshot), ("fetch", snapshot)]


async def test_the_dashboard_reads_its_counts_and_page_from_one_snapshot(tmp_path, monkeypatch):
    """The counts and the page were two reads: an order that moved on between them was in the
    table under one state and counted in the summary bar under another, for a refresh. The page
    is read as long as the short layout's (rows + 2) and cut to what fits."""
    from app.tui.dashboard import fetch_view
    from tests.test_tui_render import render

    service = a_service(tmp_path)

    async def none_overdue() -> list[dict]:  # asks Temporal: outside the snapshot
        return []

    monkeypatch.setattr(service, "overdue_orders", none_overdue)
    view = await fetch_view(service, state_filter=None, rows=10)
    snapshot = {"isolation": "repeatable_read", "readonly": True}
    assert service.pool.reads == [("fetch", snapshot), ("fetch", snapshot)]
    assert service.pool.pages == [(None, 12, 0)]
    shown = render(view, width=120)
    assert "5 orders" in shown and "o-1" in shown, shown


async def test_the_audit_reads_its_row_and_timeline_from_one_snapshot(tmp_path):
    """The row, the events and the attempts were three reads: an attempt written between them was
    in the timeline and not in the row's counts beside it (eval_tests/test_activities_db.py shows it
    on PostgreSQL)."""
    service = a_service(tmp_path)
    audit = await service.audit("o-1")
    assert audit["order"]["attempts_total"] == len(ATTEMPTS)
    snapshot = {"isolation": "repeatable_read", "readonly": True}
    assert service.pool.reads == [("fetchrow", snapshot), ("fetch", snapshot), ("fetch", snapshot)]


async def test_a_pickers_orders_of_several_states_are_read_from_one_snapshot(tmp_path):
    """Read apart, an order that moved from one of the states to the next between two reads was
    listed twice, or not at all (eval_tests/test_activities_db.py shows it on PostgreSQL)."""
    service = a_service(tmp_path)
    await service.newest_orders(["PAID", "PACKED"], limit=30)
    assert service.pool.pages == [("PAID", 30, 0), ("PACKED", 30, 0)]
    snapshot = {"isolation": "repeatable_read", "readonly": True}
    assert service.pool.reads == [("fetch", snapshot), ("fetch", snapshot)]


def test_a_last_error_says_why_it_no_longer_stands():
    from datetime import datetime, timezone

    from app.views import order_summary

    row = AuditTables().order_row()
    now = datetime.now(timezone.utc)
    called_off = {**row, "state": "CANCELLED", "last_error_activity": "DispatchCarrier", "last_error_resolved": False,
                  "last_error": "ShipmentCalledOff: Order o-1 was cancelled before the carrier took the package.",
                  "last_error_at": now}
    assert order_summary(called_off, now)["last_error"]["why"] == "the cancel took effect"
    assert order_summary(called_off, now)["last_error"]["resolved"] is True
    shipped_later = {**called_off, "state": "SHIPPED", "last_error": "RuntimeError: Forced failure", "last_error_resolved": True}
    assert order_summary(shipped_later, now)["last_error"]["why"] == "a later attempt succeeded"
    refused = {**called_off, "state": "FAILED", "last_error": "CarrierRefused: ACME Freight does not deliver to AQ."}
    assert order_summary(refused, now)["last_error"]["resolved"] is False  # it stands


def test_an_ended_order_never_charged_lists_its_payment_as_failed_not_pending():
    """A rejection before approval writes no payment row: the list said PENDING for it."""
    from datetime import datetime, timezone

    from app.views import order_summary

    row, now = AuditTables().order_row(), datetime.now(timezone.utc)
    assert order_summary({**row, "state": "REJECTED", "payment_status": None}, now)["payment"]["status"] == "FAILED"
    assert order_summary({**row, "state": "AWAITING_APPROVAL", "payment_status": None}, now)["payment"]["status"] == "PENDING"


def test_a_last_error_has_the_fields_section_5_names():
    """SPEC section 5: last_error is (activity, message, when); it said "at" for "when"."""
    from datetime import datetime, timezone

    from app.views import order_summary

    now = datetime(2026, 11, 27, 1, 2, 3, tzinfo=timezone.utc)
    row = {**AuditTables().order_row(), "last_error_activity": "ChargePayment", "last_error_resolved": False,
           "last_error": "RuntimeError: Forced failure for testing", "last_error_at": now}
    summary = order_summary(row, now)
    assert {key: summary["last_error"][key] for key in ("activity", "message", "when")} == {
        "activity": "ChargePayment", "message": "RuntimeError: Forced failure for testing", "when": now.isoformat()
    }
    assert summary["amount"] == "19.99" and summary["amount_cents"] == 1999


@pytest.mark.parametrize("serving", [False, True, None])
async def test_status_of_an_order_in_shipping_says_when_no_shipping_worker_serves(tmp_path, monkeypatch, serving):
    """A review stopped the shipping worker: `order status` showed PAID, "packing and
    dispatching" and a growing clock, and nothing about why (only `./start.sh status` did)."""
    service = a_service(tmp_path)  # the row says PACKED
    asked: list[str] = []

    async def worker_serving(task_queue: str) -> bool | None:
        asked.append(task_queue)
        return serving

    monkeypatch.setattr(service, "_worker_serving", worker_serving)
    status = await service.status("o-1")
    assert asked == [SHIPPING_TASK_QUEUE]
    if serving is False:
        assert status["warning"] == (
            "No shipping worker is serving, so order o-1 waits to be packed and dispatched (none runs, or it is"
            " stopped: see ./start.sh status); it goes on once one does."
        )
    else:  # serving, or Temporal could not say
        assert "warning" not in status


class _OverdueRows:
    """The overdue query's rows, oldest first: o-1 and o-2 terminated by hand, o-3 gone from
    Temporal, o-4 and o-5 still running (a worker down)."""

    def __init__(self, first_run_id: str | None = None) -> None:
        self.limits: list[int] = []
        self.first_run_id = first_run_id  # each order's run chain (None: stored before it was recorded)

    async def fetch(self, sql: str, states: list[str], budget_s: float, limit: int) -> list[dict[str, Any]]:
        self.limits.append(limit)
        return [
            {"id": f"o-{n}", "state": "PAID", "created_at": CREATED + timedelta(minutes=n), "review_ms": None,
             "workflow_first_run_id": self.first_run_id}
            for n in range(1, 6)
        ][:limit]


class _SomeClosed:
    def __init__(self) -> None:
        self.described: list[str] = []

    def get_workflow_handle(self, workflow_id: str, run_id: str | None = None) -> Any:
        return SimpleNamespace(describe=lambda **kwargs: self._describe(workflow_id))

    async def _describe(self, workflow_id: str) -> Any:
        self.described.append(workflow_id)
        if workflow_id == "order-o-3":
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        closed = workflow_id in ("order-o-1", "order-o-2")
        return SimpleNamespace(status=WorkflowExecutionStatus.TERMINATED if closed else WorkflowExecutionStatus.RUNNING)


async def test_the_orders_past_the_budget_name_those_still_running_first(tmp_path):
    """Orders whose workflow was terminated stay in flight in the database for ever: the three
    oldest filled the dashboard's line, asking "is a worker down?" with every worker up, and hid
    the late orders a down worker held (an operator walkthrough)."""
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    client = _SomeClosed()
    service = OrderService(settings, client=client, pool=_OverdueRows())  # type: ignore[arg-type]
    overdue = await service.overdue_orders(limit=3)
    assert [(o["order_id"], o["workflow"]) for o in overdue] == [("o-4", None), ("o-5", None), ("o-1", "TERMINATED")]
    assert service.pool.limits == [3 + 7]
    # Asked once per order for a while: the dashboard refreshes every second.
    await service.overdue_orders(limit=3)
    assert sorted(client.described) == [f"order-o-{n}" for n in range(1, 6)]
    gone = await service.overdue_orders(limit=5)
    assert ("o-3", "gone") in [(o["order_id"], o["workflow"]) for o in gone]


class _StrayRunLatest:
    """o-1's own run (chain "own") was terminated, and a run started by hand under order-o-1
    since (its own chain, "stray", refused at ReceiveOrder) is the latest there, FAILED. Every
    other order's latest run is its own, running."""

    def __init__(self) -> None:
        self.described: list[tuple[str, str | None]] = []
        self.listed: list[str] = []

    def get_workflow_handle(self, workflow_id: str, run_id: str | None = None) -> Any:
        return SimpleNamespace(describe=lambda **kwargs: self._describe(workflow_id, run_id))

    async def _describe(self, workflow_id: str, run_id: str | None) -> Any:
        self.described.append((workflow_id, run_id))
        stray = workflow_id == "order-o-1" and run_id in (None, "stray")
        if stray:
            status = WorkflowExecutionStatus.FAILED
        else:
            status = WorkflowExecutionStatus.TERMINATED if workflow_id == "order-o-1" else WorkflowExecutionStatus.RUNNING
        chain = "stray" if stray else "own"
        info = SimpleNamespace(workflow_execution_info=SimpleNamespace(first_run_id=chain))
        return SimpleNamespace(status=status, run_id=run_id or chain, raw_description=info)

    def list_workflows(self, query: str, **kwargs: Any) -> Any:
        self.listed.append(query)

        async def runs():
            for run_id, minute in (("own", 1), ("stray", 2)):
                yield SimpleNamespace(run_id=run_id, start_time=CREATED + timedelta(minutes=minute))

        return runs()


async def test_an_overdue_order_is_named_by_its_own_runs_ending_not_a_refused_runs(tmp_path):
    """The dashboard read the latest run under order-X: an order whose own run was terminated,
    with a refused run started by hand the latest, was named "workflow FAILED" where `order
    status` said terminated. Only such an order costs more than its one describe."""
    settings = Settings.from_env({"ORDER_TRACKER_DATA_DIR": str(tmp_path)})
    client = _StrayRunLatest()
    service = OrderService(settings, client=client, pool=_OverdueRows(first_run_id="own"))  # type: ignore[arg-type]
    overdue = await service.overdue_orders(limit=5)
    named = [(o["order_id"], o["workflow"]) for o in overdue]
    assert named == [("o-2", None), ("o-3", None), ("o-4", None), ("o-5", None), ("o-1", "TERMINATED")]
    assert client.listed == ["WorkflowId = 'order-o-1'"]
    assert sorted(client.described, key=str) == [("order-o-1", "own"), ("order-o-1", None)] + [
        (f"order-o-{n}", None) for n in range(2, 6)
    ]

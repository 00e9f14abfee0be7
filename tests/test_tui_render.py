"""The TUI's pure parts, rendered with Console(record=True) at 80 columns: the dashboard, the
health line, the audit timeline, and the validators behind the forms."""

from __future__ import annotations

import contextlib
import io
import re
import random
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console, Group

from activities import rules
from app.render_audit import audit_timeline, print_audit
from app.stack.status import PartStatus, StackStatus
from app.tui.dashboard_layout import dashboard_table, dashboard_view, rows_for_height
from app.tui.forms import address_field_check, order_id_check, order_summary_table, quantity_check
from app.tui.health import down_parts, goodbye, health_line
from app.tui.order_labels import age
from app.tui.simulate import count_check
from app.tui.simulation import SIMULATED_ADDRESS, random_items, settled
from app.tui.state_counts import summary_bar
from db.queries import Product
from tests.test_tui_menu_and_pager import _until
from workflows.model import OrderItem


def render(renderable, width: int = 80, height: int = 24) -> str:
    console = Console(
        record=True, width=width, height=height, color_system="truecolor", force_terminal=True, file=io.StringIO()
    )
    console.print(renderable)
    return console.export_text()


def an_order(order_id: str, state: str, **fields) -> dict:
    order = {
        "order_id": order_id,
        "state": state,
        "step": "done" if state == "SHIPPED" else "awaiting review",
        "retries": 0,
        "last_error": None,
        "processing_seconds": 1.5,
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    order.update(fields)
    return order


ORDERS = [
    an_order("ord-1", "SHIPPED", retries=3, processing_seconds=4.2),
    an_order("ord-2", "AWAITING_APPROVAL"),
    an_order(
        "ord-3",
        "FAILED",
        retries=2,
        processing_seconds=16.0,
        last_error={"activity": "ChargePayment", "message": "RuntimeError: gateway down", "at": None},
    ),
]
COUNTS = {"SHIPPED": 7, "AWAITING_APPROVAL": 2, "FAILED": 1}


def test_dashboard_shows_counts_rows_steps_retries_errors_and_clock():
    text = render(dashboard_view(ORDERS, COUNTS, took_ms=12))
    assert "10 orders" in text and "SHIPPED 7" in text and "AWAITING_APPROVAL 2" in text
    for order in ORDERS:
        assert order["order_id"] in text
    assert "awaiting re" in text  # the step is cut to fit 80 columns
    assert "ChargePayment" in text
    assert "16.0s" in text and "4.2s" in text
    assert "15 s budget" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_dashboard_colours_each_row_by_its_state_and_the_clock_by_the_budget():
    table = dashboard_table(ORDERS)
    state_cells = table.columns[1]._cells
    order_cells = table.columns[0]._cells
    assert [cell.plain for cell in state_cells] == ["SHIPPED", "AWAITING_APPROVAL", "FAILED"]
    assert [cell.style for cell in state_cells] == ["bold green", "bold yellow", "bold red"]
    assert [cell.style for cell in order_cells] == ["bold green", "bold yellow", "bold red"]
    clocks = table.columns[4]._cells
    assert [cell.style for cell in clocks] == ["green", "green", "red"]  # 16 s is over the 15 s budget
    retries = table.columns[3]._cells
    assert retries[0].style == "yellow" and retries[1].style == "dim"


def test_summary_bar_follows_the_order_of_states_and_skips_empty_ones():
    bar = summary_bar({"SHIPPED": 1, "RECEIVED": 2})
    assert bar.plain == "3 orders  RECEIVED 2  SHIPPED 1"
    assert "CANCELLED" not in bar.plain
    assert summary_bar({}).plain == "0 orders"


def test_dashboard_fits_an_80_by_24_terminal():
    rows = rows_for_height(24)
    orders = [
        an_order(f"ord-{i:08x}", "PACKED", step="dispatching carrier", last_error={"activity": "Dispatch", "message": "x" * 200})
        for i in range(rows)
    ]
    counts = {"RECEIVED": 1, "VALIDATED": 2, "AWAITING_APPROVAL": 3, "APPROVED": 4, "PAID": 5, "PACKED": 600,
              "DISPATCHED": 7, "SHIPPED": 8000, "CANCELLED": 9, "REJECTED": 10, "EXPIRED": 11, "FAILED": 12}
    lines = render(dashboard_view(orders, counts, refreshed_at=datetime.now(), took_ms=40)).splitlines()
    assert len(lines) < 24
    assert all(len(line) <= 80 for line in lines)
    assert rows_for_height(5) >= 3


def test_the_dashboard_tells_long_ids_of_one_batch_apart():
    """Two 64-character ids both read "customer-2026-11-…": ids of one batch differ at the end."""
    ids = [f"customer-2026-11-27-warehouse-berlin-priority-express-order-{n:04d}" for n in (13, 14)]
    rows = [line for line in render(dashboard_table([an_order(i, "PAID") for i in ids])).splitlines() if "PAID" in line]
    shown = [row.split()[0] for row in rows]
    assert shown[0].startswith("customer") and shown[0].endswith("0013") and shown[1].endswith("0014")
    assert all(len(row) <= 80 for row in rows)


def test_the_dashboard_at_60_columns_keeps_ids_states_retries_and_clocks_whole():
    """At 60 columns every column was squeezed: "customer…rder-00…  AWAITING_APPROV…  awaiting …
    3  0.…", the ids of one batch alike again and the clock unreadable."""
    ids = [f"customer-2026-11-27-warehouse-berlin-priority-express-order-{n:04d}" for n in (13, 14)]
    orders = [an_order(i, "AWAITING_APPROVAL", retries=16, processing_seconds=12.5) for i in ids]
    rows = [line for line in render(dashboard_table(orders, width=60), width=60).splitlines() if "AWAITING" in line]
    assert [row.split()[:2] for row in rows] == [
        ["customer…rder-0013", "AWAITING_APPROVAL"], ["customer…rder-0014", "AWAITING_APPROVAL"],
    ]
    assert all("16" in row and "12.5s" in row and len(row) <= 60 for row in rows)


def test_dashboard_with_no_orders_says_so():
    assert "no orders" in render(dashboard_view([], {}, state_filter="FAILED"))


def test_the_dashboards_title_counts_in_words():
    """It said "Newest 1 FAILED orders"."""
    lines = [line.rstrip() for line in render(dashboard_view(ORDERS[2:], {"FAILED": 1}, state_filter="FAILED")).splitlines()]
    assert "Newest 1 FAILED order" in lines
    assert "Newest 3 orders" in render(dashboard_view(ORDERS, COUNTS))


def stack_status(down: str | None = None) -> StackStatus:
    parts = [
        PartStatus(name, healthy=name != down, detail="no worker polling shipping-tq" if name == down else "ok", local=True)
        for name in ("postgres", "temporal", "order-worker", "shipping-worker")
    ]
    return StackStatus(parts, "127.0.0.1:7233", "http://127.0.0.1:8233", "postgresql://postgres@127.0.0.1:5433/orders")


def test_health_line_when_everything_is_healthy():
    line = health_line(stack_status())
    for label in ("Temporal", "PostgreSQL", "order worker", "shipping worker"):
        assert f"✓ {label}" in line.plain
    assert "down" not in line.plain
    assert "Web UI http://127.0.0.1:8233" in line.plain
    assert all(len(part) <= 80 for part in render(line).splitlines())
    assert down_parts(stack_status()) == []


def test_health_line_names_the_part_that_is_down_in_red():
    status = stack_status(down="shipping-worker")
    line = health_line(status, width=200)
    assert "✓ order worker" in line.plain and "✗ shipping worker down" in line.plain
    assert "\n" not in line.plain  # it fits on one line when the terminal is wide
    down_spans = [line.plain[span.start : span.end] for span in line.spans if "red" in str(span.style)]
    assert "shipping worker down" in down_spans
    assert down_parts(status) == ["shipping worker is down: no worker polling shipping-tq."]


def test_health_line_says_a_stopped_part_is_stopped_not_down():
    """With PostgreSQL's postmaster stopped (SIGSTOP) the dashboard's health line said
    "PostgreSQL down" while its rows kept refreshing through the pool's connections (an
    operator walkthrough); the menu's line under it says what resumes it."""
    from app.tui.health import health_summary

    status = stack_status()
    status.part("postgres").healthy = False
    status.part("postgres").detail = "stopped (SIGSTOP); kill -CONT 4242 resumes it"
    assert "✗ PostgreSQL stopped" in health_line(status, width=200).plain
    assert health_summary(status).plain == "✗ PostgreSQL stopped"
    status.part("order-worker").healthy = False
    assert health_summary(status).plain == "✗ PostgreSQL stopped, order worker down"
    assert down_parts(status)[0] == "PostgreSQL is stopped (SIGSTOP); kill -CONT 4242 resumes it."


@pytest.mark.parametrize("width", range(30, 101))
@pytest.mark.parametrize("down", [None, "order-worker", "shipping-worker"])
def test_the_health_line_breaks_only_between_parts_at_any_width(width, down):
    """At 50 columns "✓ shipping worker" was broken after its mark ("… ✓ order worker  ✓" /
    "shipping worker"), and at 60 "✗ order worker down" after "order" (an operator resizing the
    terminal)."""
    status = stack_status(down=down)
    shown = render(health_line(status, width), width=width).splitlines()
    pieces = [
        piece for line in shown for piece in line.strip().split("  ")
    ]
    labels = {"Temporal", "PostgreSQL", "order worker", "shipping worker"}
    expected = {f"✗ {label} down" if label.replace(" ", "-") == down else f"✓ {label}" for label in labels}
    assert expected | {"Web UI http://127.0.0.1:8233"} == set(pieces)
    assert all(len(line) <= width for line in shown)


def test_the_goodbye_says_whether_the_stack_still_runs_here():
    """It said "The stack is still running" after the stack had been stopped from another shell."""
    names = ("postgres", "temporal", "order-worker", "shipping-worker")
    assert goodbye(dict.fromkeys(names, True)) == "The stack is still running; stop it with ./start.sh down."
    assert goodbye(dict.fromkeys(names, False)) == "The stack is not running here; ./start.sh up starts it."
    assert goodbye({"postgres": True, "temporal": True, "order-worker": False, "shipping-worker": False}) == (
        "Part of the stack is still running (PostgreSQL, Temporal); stop it with ./start.sh down."
    )
    assert goodbye({}) == ""  # servers of the operator's own, and no workers here: not ours to tell
    # With restarts off (no watchdog) the whole stack still runs: it named every part as "part of" it.
    assert goodbye({**dict.fromkeys(names, True), "watchdog": False}) == "The stack is still running; stop it with ./start.sh down."
    assert goodbye({**dict.fromkeys(names, False), "watchdog": True}) == "The stack is not running here; ./start.sh up starts it."


def test_audit_timeline_highlights_retries_timeouts_and_errors():
    audit = {
        "order": an_order("ord-9", "SHIPPED", processing_seconds=6.5),
        "timeline": [
            {"at": "2026-01-01T00:00:00.010+00:00", "kind": "event", "type": "order_received", "payload": {"state": "RECEIVED"}},
            {"at": "2026-01-01T00:00:01.000+00:00", "kind": "attempt", "activity": "ChargePayment", "attempt": 1,
             "outcome": "error", "error": "RuntimeError: Forced failure for testing", "duration_ms": 3},
            {"at": "2026-01-01T00:00:02.000+00:00", "kind": "attempt", "activity": "ChargePayment", "attempt": 2,
             "outcome": "timeout", "error": "activity StartToClose timeout", "duration_ms": 3000},
            {"at": "2026-01-01T00:00:05.000+00:00", "kind": "attempt", "activity": "ChargePayment", "attempt": 3,
             "outcome": "ok", "error": None, "duration_ms": 4},
            {"at": "2026-01-01T00:00:05.100+00:00", "kind": "event", "type": "payment_charged",
             "payload": {"state": "PAID", "payment_id": "pay-ord-9", "amount_cents": 3998}},
            {"at": "2026-01-01T00:00:06.500+00:00", "kind": "event", "type": "order_shipped", "payload": {"state": "SHIPPED"}},
        ],
        "web_ui_url": "http://127.0.0.1:8233/namespaces/default/workflows/order-ord-9/0199ab36-1c6e-7d4e-9a7b-2f1c0e8d5a61/history",
    }
    console = Console(record=True, width=80, color_system="truecolor", force_terminal=True, file=io.StringIO())
    print_audit(console, audit)
    text = console.export_text(clear=False)
    # The 110-character link on one line, for a click or a copy (it used to be cut in two).
    assert f"Workflow history: {audit['web_ui_url']}" in text.splitlines()
    assert "3 attempts, 2 failed (1 timed out)" in text
    assert "ChargePayment #1 error" in text and "ChargePayment #2 timeout" in text
    assert "Forced failure for" in text  # wrapped at 80 columns
    assert "order shipped" in text and "39.98" in text
    assert "order-ord-9" in text
    styled = console.export_text(styles=True)
    assert "\x1b[31merror" in styled and "\x1b[33mtimeout" in styled  # errors red, timeouts yellow


def _cancel_request_line(payload: dict) -> str:
    """The audit timeline's line for one cancel_requested event with this payload."""
    audit = {
        "order": an_order("ord-7", "CANCELLED"),
        "timeline": [{"at": "2026-01-01T00:00:05.100+00:00", "kind": "event", "type": "cancel_requested", "payload": payload}],
        "web_ui_url": None,
    }
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(audit_timeline(audit))
    return next(line for line in console.export_text().splitlines() if "cancel requested" in line)


def test_audit_timeline_says_who_asked_for_a_cancel():
    line = _cancel_request_line({"reason": "changed my mind", "state": "PAID", "by": "carol"})
    assert "cancel requested  changed my mind  by carol  (workflow at PAID)" in line


def test_a_cancel_request_shows_the_state_it_came_in_not_an_arrow_to_it_and_its_author_once():
    """The audit read "cancel requested  cancelled by operator  by operator  → PAID" below
    "carrier dispatched → DISPATCHED", as if the order had gone back to PAID."""
    line = _cancel_request_line({"reason": "cancelled by operator", "state": "PAID", "by": "operator"})
    assert "→" not in line and line.count("by operator") == 1 and "(workflow at PAID)" in line


def test_audit_timeline_shows_a_refused_refund_as_money_kept():
    audit = {
        "order": an_order("ord-8", "CANCELLED"),
        "timeline": [
            {"at": "2026-01-01T00:00:05.100+00:00", "kind": "event", "type": "refund_refused",
             "payload": {"payment_id": "pay-ord-8", "amount_cents": 3998, "reason": "changed my mind",
                         "refused": "the carrier has the package"}},
        ],
        "web_ui_url": None,
    }
    console = Console(record=True, width=120, color_system="truecolor", force_terminal=True, file=io.StringIO())
    console.print(audit_timeline(audit))
    text = console.export_text(clear=False)
    assert "refund refused  pay-ord-8 39.98 kept: the carrier has the package" in text
    assert "31mthe carrier has the package" in console.export_text(styles=True)  # in red


def test_an_ending_the_database_refused_says_why_the_order_shipped_after_all():
    audit = {
        "order": an_order("ord-9", "SHIPPED"),
        "timeline": [
            {"at": "2026-01-01T00:00:05.100+00:00", "kind": "event", "type": "ending_refused",
             "payload": {"wanted": "REJECTED", "reason": "changed my mind", "tracking_number": "TRK-1"}},
        ],
        "web_ui_url": None,
    }
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(audit_timeline(audit))
    text = console.export_text()
    assert "ending refused  REJECTED refused: the carrier has the package (tracking TRK-1); the order ships" in text


def test_address_fields_are_checked_as_you_type_by_the_order_rules():
    assert address_field_check("country", "us") is True
    assert "ISO 3166" in address_field_check("country", "XX")
    assert "missing" in address_field_check("city", "  ")
    assert address_field_check("region", "") is True  # optional
    assert "longer than" in address_field_check("name", "x" * (rules.MAX_FIELD_LENGTH + 1))


def test_order_id_and_quantity_checks():
    assert order_id_check("ord-1a2b3c") is True
    # One line that fits a prompt at 80 columns: the full refusal was cut off mid-rule.
    assert order_id_check("bad id!") == order_id_check("x" * 65) == "Use 1-64 letters, digits, - or _ (start with a letter or digit)."
    assert len(order_id_check("bad id!")) < 78
    assert quantity_check("2") is True
    for wrong in ("0", "-1", "two", "1.5", "", "²", "٣", "0" * 20):  # isdigit() takes "²"; int() does not
        assert "positive whole number" in quantity_check(wrong)
    assert quantity_check("0000000005") is True  # 5, written long
    # A whole number too long to be a count is too many, not "not a positive whole number".
    for too_many in ("99999999999999999999999", "9" * 5000):
        assert quantity_check(too_many) == f"At most {rules.MAX_QUANTITY}."
    assert count_check("12") is True
    for wrong in ("0", "²", "1" * 5000, "501"):
        assert "whole number from 1" in count_check(wrong)
    assert "At most" in quantity_check(str(rules.MAX_QUANTITY + 1))


def test_new_order_summary_shows_the_total():
    products = {"WIDGET-1": Product("WIDGET-1", "Widget", 1999), "GIZMO-3": Product("GIZMO-3", "Gizmo", 725)}
    table = order_summary_table("ord-1", [OrderItem("WIDGET-1", 2), OrderItem("GIZMO-3", 1)], products, SIMULATED_ADDRESS)
    text = render(table)
    assert "Total" in text and "47.23" in text and "39.98" in text
    assert "Springfield" in text


CATALOG = {p.sku: p for p in [
    Product("CABLE-USB", "USB-C cable, 1 m", 899), Product("DOOHICKEY", "Doohickey", 12000),
    Product("SPROCKET", "Sprocket (pack of 10)", 350), Product("WIDGET-1", "Widget", 1999),
]}


@pytest.mark.parametrize("width", range(24, 81))
def test_each_item_to_pick_fits_the_terminal_with_its_price_whole(width):
    """At 40 columns the checkbox cut "Sprocket (pack of 10) (SPROCKET)  3.50" to "…  3": the
    price read 3 (an operator walkthrough). The name gives way; the SKU and price stay whole."""
    from app.tui.forms import CHECKBOX_FRAME, item_choice_labels

    labels = item_choice_labels(CATALOG, width)
    assert len(labels) == len(CATALOG)
    for label, product in zip(labels, CATALOG.values()):
        assert len(label) + CHECKBOX_FRAME <= width, (label, width)
        assert label.endswith(f"  {product.price_cents // 100}.{product.price_cents % 100:02d}"), label
        if width >= 40:
            assert f"({product.sku})" in label and label[0] == product.name[0], label
    assert item_choice_labels(CATALOG, 80)[2] == "Sprocket (pack of 10) (SPROCKET)  3.50"  # whole where it fits


def test_simulated_orders_are_valid_orders():
    products = [Product("A", "a", 100), Product("B", "b", 200), Product("C", "c", 300), Product("D", "d", 400)]
    rng = random.Random(7)
    for _ in range(50):
        items = random_items(products, rng)
        assert rules.order_problems("sim-1", items, SIMULATED_ADDRESS, [p.sku for p in products]) == []
    assert settled("SHIPPED", auto_approve=True)
    assert not settled("AWAITING_APPROVAL", auto_approve=True)
    assert settled("AWAITING_APPROVAL", auto_approve=False)


def test_age_is_short():
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    assert age((now - timedelta(seconds=5)).isoformat(), now) == "5s ago"
    assert age((now - timedelta(minutes=3, seconds=2)).isoformat(), now) == "3m ago"
    assert age((now - timedelta(days=2)).isoformat(), now) == "2d ago"
    assert age(None, now) == ""


def test_text_from_orders_is_shown_as_typed_not_read_as_markup():
    from app.render import status_panel

    status = {"order_id": "ord-1", "state": "PAID", "step": "shipping", "items": [], "amount_cents": 100, "payment": {},
              "address": {"name": "Ann [c/o Bob]", "street": "[/] 1 Main St", "city": "Springfield",
                          "postal_code": "12345", "country": "US"}}
    text = render(status_panel(status), width=120, height=40)  # raised MarkupError on "[/]"
    assert "Ann [c/o Bob]" in text and "[/] 1 Main St" in text
    table = order_summary_table("ord-1", [], {}, type("A", (), {"__dict__": status["address"]})())
    assert "Ann [c/o Bob]" in render(table, width=120)


def test_a_page_of_the_order_list_says_which_orders_of_how_many_and_how_to_see_more():
    from app.render import page_line

    assert page_line(50, 0, 66) == (
        "Orders 1–50 of 66, newest first. Next page: --offset 50 (or narrow it, e.g. --state AWAITING_APPROVAL)."
    )
    assert page_line(16, 50, 66) == "Orders 51–66 of 66, newest first."
    assert page_line(0, 100, 66) == "No orders at offset 100: there are 66."
    assert page_line(0, 0, 0) == "No orders recorded yet (a new one is listed once its first step has run)."
    # A filtered list says what it is of, and that other orders exist.
    assert page_line(0, 0, 0, "EXPIRED", 47) == "No EXPIRED orders (47 orders in all)."
    assert page_line(0, 0, 0, "EXPIRED", 0) == "No orders recorded yet (a new one is listed once its first step has run)."
    assert page_line(3, 0, 3, "SHIPPED", 47) == "SHIPPED orders 1–3 of 3, newest first."
    # Filtered already: no suggestion to filter.
    assert page_line(3, 0, 9, "AWAITING_APPROVAL", 47) == "AWAITING_APPROVAL orders 1–3 of 9, newest first. Next page: --offset 3."


def test_a_resolved_last_error_is_ticked_and_dim_and_a_standing_one_red():
    from app.render import last_error_text

    standing = last_error_text({"activity": "ChargePayment", "message": "RuntimeError: boom"})
    resolved = last_error_text({"activity": "ChargePayment", "message": "RuntimeError: boom", "resolved": True})
    assert (standing.plain, standing.style) == ("ChargePayment: RuntimeError: boom", "red")
    assert (resolved.plain, resolved.style) == ("✓ ChargePayment: RuntimeError: boom", "dim")
    # In the narrow cells of the list and the dashboard: what happened, without the wrapping.
    timeout = {"activity": "ValidateOrder", "message": "start-to-close timeout (0.12s) exceeded", "resolved": True}
    assert last_error_text(timeout, short=True).plain == "✓ ValidateOrder: timed out"
    refused = {"activity": "DispatchCarrier", "message": "CarrierRefused: ACME Freight does not deliver to AQ."}
    assert last_error_text(refused, short=True).plain == "DispatchCarrier: ACME Freight does not deliver to AQ."
    assert last_error_text({"activity": "A", "message": "Invalid order: x"}, short=True).plain == "A: Invalid order: x"


def test_the_order_list_fits_80_columns_with_every_id_whole_and_the_last_error_in_view():
    from app.render import orders_table

    orders = [
        an_order("bench-3f2c9a-117", "SHIPPED", amount_cents=12999, retries=11,
                 last_error={"activity": "DispatchCarrier", "message": "Forced failure", "resolved": True}),
        an_order("x" * 64, "AWAITING_APPROVAL", amount_cents=99999999, retries=40,
                 last_error={"activity": "ValidateOrder", "message": "timed out"}),
    ]
    text = render(orders_table(orders, width=80))
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "Last error" in lines[0] and "Clock" in lines[0] and "Retries" in lines[0]
    assert "✓ DispatchCarr" in text and "ValidateOrder" in text and "999999.99" in text
    assert text.count("x") == 64 and "bench-3f2c9a-117" in text  # wrapped, never cut
    wide = render(orders_table(orders, width=120), width=120)
    assert "Step" in wide.splitlines()[0] and "awaiting review" in wide


def test_the_order_list_on_a_narrow_terminal_keeps_every_id_and_state_and_drops_the_least_telling_columns():
    """At 40 columns the list showed states, amounts and clocks with no order id: Rich squeezed
    out the one column it could wrap (an operator walkthrough in a split pane)."""
    from app.render import orders_table

    orders = [
        an_order("bench-3f2c9a-117", "SHIPPED", amount_cents=12999, retries=11,
                 last_error={"activity": "DispatchCarrier", "message": "Forced failure", "resolved": True}),
        an_order("x" * 64, "AWAITING_APPROVAL", amount_cents=99999999, retries=40),
    ]
    seen = {}
    for width in range(32, 81):
        text = render(orders_table(orders, width=width), width=width)
        assert all(len(line) <= width for line in text.splitlines()), width
        lines = text.splitlines()
        header = lines[0].split()
        assert header[:2] == ["Order", "State"], (width, header)
        ids = "".join(line[: lines[0].index("State")].strip() for line in lines[2:])
        assert ids == "bench-3f2c9a-117" + "x" * 64, width  # wrapped, never cut
        assert "AWAITING_APPROVAL" in text and "SHIPPED" in text, width
        assert all("…" not in word for word in header), (width, header)  # a column shown is a column readable
        seen[width] = header
    assert seen[80] == ["Order", "State", "Amount", "Retries", "Clock", "Last", "error"]
    assert seen[50] == ["Order", "State", "Amount"] and seen[32] == ["Order", "State"]


def test_order_status_names_retries_and_failed_attempts_and_shows_the_history_link_whole():
    from app.render import audit_link, status_panel

    url = "http://127.0.0.1:8233/namespaces/default/workflows/order-" + "a" * 64
    status = {"order_id": "ord-1", "state": "SHIPPED", "step": "done", "items": [], "amount_cents": 100,
              "payment": {}, "retries": 11, "failed_attempts": 14, "web_ui_url": url,
              "last_error": {"activity": "DispatchCarrier", "message": "Forced failure", "resolved": True}}
    text = render(status_panel(status), height=40)
    assert "11 (14 failed attempts)" in text
    assert "(a later attempt succeeded)" in text
    # Not inside the panel, where it broke between the box's borders: after it, whole.
    assert url[:40] not in text
    assert audit_link(status).plain == f"Workflow history: {url}"


def test_order_status_shows_the_last_error_whole_where_it_has_room_to_wrap():
    """The panel cut the message at 90 characters, mid-word ("...(0.12s start-to-close); t…"),
    though it wraps every other row: what an operator reads to learn why an order is stuck."""
    from app.render import status_panel

    message = (
        "ConnectionDoesNotExistError: connection was closed in the middle of operation"
        " (PostgreSQL at 127.0.0.1:5433 restarted)"
    )
    status = {"order_id": "ord-1", "state": "PAID", "step": "charging", "items": [], "amount_cents": 100,
              "payment": {}, "retries": 3, "last_error": {"activity": "ChargePayment", "message": message}}
    text = " ".join(render(status_panel(status), height=40).replace("│", " ").split())
    assert f"ChargePayment: {message}" in text and "…" not in text


def test_order_status_says_a_long_review_wait_in_minutes_and_hours_too():
    """"Review wait  495.7s", and "86399.9s" for an order near the end of its 24 h window: the
    operator did the division (the pick lists say "8m ago")."""
    from app.render import status_panel

    status = {"order_id": "ord-1", "state": "AWAITING_APPROVAL", "step": "awaiting review", "items": [],
              "amount_cents": 100, "payment": {}, "retries": 0}
    assert "Review wait  1.6s" in render(status_panel({**status, "review_seconds": 1.6}), height=40)
    assert "Review wait  495.7s (8 min 15 s)" in render(status_panel({**status, "review_seconds": 495.7}), height=40)
    assert "Review wait  86399.9s (23 h 59 min)" in render(status_panel({**status, "review_seconds": 86399.9}), height=40)


def test_counts_of_one_are_singular_in_the_status_the_audit_and_the_counts():
    """It said "Retries 1 (1 failed attempts)" and "1 attempts, ... 1 retries"."""
    from app.render import page_line, status_panel

    status = {"order_id": "ord-1", "state": "SHIPPED", "step": "done", "items": [], "amount_cents": 100,
              "payment": {}, "retries": 1, "failed_attempts": 1}
    assert "1 (1 failed attempt)" in render(status_panel(status), height=40)
    assert "0 (2 failed attempts)" in render(status_panel({**status, "retries": 0, "failed_attempts": 2}), height=40)
    attempt = {"at": "2026-01-01T00:00:01.000+00:00", "kind": "attempt", "activity": "ChargePayment", "attempt": 1,
               "outcome": "ok", "error": None, "duration_ms": 3}
    one = render(audit_timeline({"order": an_order("ord-1", "SHIPPED", retries=1), "timeline": [attempt]}))
    assert "1 attempt, 0 failed (0 timed out), 1 retry, processing" in one
    two = render(audit_timeline({"order": an_order("ord-1", "SHIPPED", retries=2), "timeline": [attempt, attempt]}))
    assert "2 attempts, 0 failed (0 timed out), 2 retries, processing" in two
    assert page_line(0, 0, 0, "FAILED", 1) == "No FAILED orders (1 order in all)."
    assert summary_bar({"SHIPPED": 1}).plain == "1 order  SHIPPED 1"


def test_an_order_that_ended_before_any_charge_shows_its_payment_as_not_charged():
    from app.render import status_panel

    base = {"order_id": "ord-1", "step": "done", "items": [], "amount_cents": 100}
    ended = render(status_panel({**base, "state": "CANCELLED", "terminal": True,
                                 "payment": {"payment_id": "pay-ord-1", "status": "FAILED"}}), height=40)
    assert "pay-ord-1 not charged" in ended and "FAILED" not in ended
    running = render(status_panel({**base, "state": "AWAITING_APPROVAL", "terminal": False,
                                   "payment": {"payment_id": "pay-ord-1", "status": "PENDING"}}), height=40)
    assert "pay-ord-1 PENDING" in running


def test_stack_status_at_80_columns_keeps_every_log_path_whole_on_a_line_of_its_own():
    from app.render_stack import stack_logs, stack_table

    status = stack_status(down="shipping-worker")
    for part in status.parts:
        part.log = f"/var/lib/order-tracker-with-a-long-data-dir/logs/{part.name}.log"
    narrow = render(stack_table(status, width=80))
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert "log" not in narrow.splitlines()[2] and "no worker polling shipping-tq" in narrow
    console = Console(record=True, width=80, file=io.StringIO())
    console.print(stack_logs(status), soft_wrap=True)  # as `status` prints it
    logs = console.export_text().splitlines()
    assert logs[-1] == "shipping-worker log: /var/lib/order-tracker-with-a-long-data-dir/logs/shipping-worker.log"
    wide = render(stack_table(status, width=160), width=160)
    assert "/logs/postgres.log" in wide


def test_stack_status_on_a_narrow_terminal_still_says_why_a_part_is_down():
    """At 40 columns the detail column was squeezed to nothing: "order-worker DOWN" with no word
    of why, nor of the kill -CONT that resumes it (an operator walkthrough in a split pane)."""
    from app.render_stack import stack_resume, stack_table

    status = stack_status(down="order-worker")
    status.parts[2].detail = "stopped (SIGSTOP): not serving order-tq; kill -CONT 12345 resumes it"
    status.parts[2].pid = 12345
    # The command goes under the table, whole (stack_resume); the cell says where it is.
    why = "stopped (SIGSTOP): not serving order-tq; the command below resumes it"
    assert stack_resume(status).plain == "kill -CONT 12345  # resumes order-worker"
    for width in range(40, 81):
        text = render(stack_table(status, width=width), width=width)
        lines = text.splitlines()
        assert all(len(line) <= width for line in lines), width
        header = next(line for line in lines if "detail" in line)
        start = header.index("detail")
        row = [line for line in lines if "order-worker" in line][0]
        below = lines[lines.index(row) : next(at for at, line in enumerate(lines) if "shipping-worker" in line)]
        said = " ".join(" ".join(line[start:].strip(" │") for line in below).split())
        assert said.startswith(why), (width, said)
        assert "DOWN" in row


def test_the_audit_tells_a_step_run_again_by_a_retried_workflow_task_from_a_second_shipping_attempt():
    from datetime import datetime, timedelta, timezone

    from app.render_audit import audit_timeline
    from app.views import timeline

    t0 = datetime(2026, 11, 26, 5, 0, tzinfo=timezone.utc)

    def attempt(seconds: float, workflow_id: str, activity_id: str, n: int, outcome: str = "ok") -> dict:
        return {"workflow_id": workflow_id, "activity": "PreparePackage", "activity_id": activity_id, "attempt": n,
                "outcome": outcome, "error": None, "started_at": t0 + timedelta(seconds=seconds), "duration_ms": 2}

    first, second = "shipping-o-1-1", "shipping-o-1-2"
    entries = timeline([], [attempt(0, first, "1", 1, "error"), attempt(1, first, "1", 2),
                            attempt(2, first, "1", 1), attempt(3, second, "1", 1)])
    assert [(e["rerun"], e["shipping_attempt"]) for e in entries] == [(False, 1), (False, 1), (True, 1), (False, 2)]
    text = render(audit_timeline({"order": {"order_id": "o-1", "state": "SHIPPED"}, "timeline": entries}), width=160)
    lines = [line for line in text.splitlines() if "PreparePackage" in line]
    assert "ran again" in lines[2] and "ran again" not in lines[0] + lines[1] + lines[3]
    assert "(shipping attempt 2)" in lines[3] and "shipping attempt" not in lines[2]


def test_the_audit_says_which_attempts_came_after_the_order_had_ended():
    """MarkShipped records SHIPPED, but Temporal times the attempt out (an earlier attempt's
    timer) and runs the step again until it hears it succeed: failed attempts after 'order
    shipped', up to ~2 s of them, read as if shipping still failed. They say the order had ended."""
    from app.views import timeline

    t0 = datetime(2026, 11, 27, 4, 4, 9, tzinfo=timezone.utc)

    def attempt(ms: int, n: int, outcome: str) -> dict:
        return {"workflow_id": "order-o-1", "activity": "MarkShipped", "activity_id": "9", "attempt": n,
                "outcome": outcome, "error": None if outcome == "ok" else "timed out", "duration_ms": 3,
                "started_at": t0 + timedelta(milliseconds=ms)}

    # A command refused meanwhile is audited by a step of its own, after the ending but no repeat.
    refused = {**attempt(100, 1, "ok"), "activity": "RecordEvent", "activity_id": "10"}
    shipped = {"type": "order_shipped", "payload_json": {"state": "SHIPPED"}, "ts": t0 + timedelta(milliseconds=3)}
    entries = timeline([shipped], [attempt(0, 1, "timeout"), attempt(40, 2, "timeout"), refused, attempt(200, 3, "ok")],
                       ended_at=t0 + timedelta(milliseconds=2))
    assert [e.get("after_ending") for e in entries] == [False, None, True, False, True]
    text = render(audit_timeline({"order": an_order("o-1", "SHIPPED"), "timeline": entries}), width=160)
    lines = [line for line in text.splitlines() if "MarkShipped" in line or "RecordEvent" in line]
    assert "after the ending" not in lines[0] + lines[2]
    assert all("after the ending: Temporal repeats" in line for line in (lines[1], lines[3])), lines


def test_the_dashboard_names_orders_past_the_budget_that_the_newest_first_rows_would_hide():
    from datetime import timedelta, timezone

    old = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat()
    overdue = [{"order_id": "cli-004", "state": "PAID", "created_at": old, "review_ms": None}]
    lines = render(dashboard_view(ORDERS, COUNTS, overdue=overdue, took_ms=3)).splitlines()
    late = [line for line in lines if "Past the 15 s budget" in line]
    assert len(late) == 1 and "cli-004 PAID 10m" in late[0] and len(late[0]) <= 80
    # Its processing clock, like the rows': 9.5 of its 10 minutes were the wait for a human.
    overdue[0]["review_ms"] = 570_000
    late = [line for line in render(dashboard_view(ORDERS, COUNTS, overdue=overdue)).splitlines() if "Past the" in line]
    assert "cli-004 PAID 30s" in late[0] and "10m" not in late[0]
    assert not any("Past the" in line for line in render(dashboard_view(ORDERS, COUNTS, overdue=[])).splitlines())
    # At 80 columns a long id cut the question off the end of the line: it comes first.
    overdue[0]["order_id"] = "sim-f030e0-0170" + "x" * 40
    late = [line for line in render(dashboard_view(ORDERS, COUNTS, overdue=overdue)).splitlines() if "Past the" in line]
    assert late[0].startswith("Past the 15 s budget (is a worker down?): sim-f030e0-0170") and len(late[0]) <= 80


def test_orders_past_the_budget_whose_workflow_was_closed_say_so_and_ask_about_no_worker():
    from datetime import timedelta, timezone

    old = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat()
    overdue = [
        {"order_id": "o-1", "state": "DISPATCHED", "created_at": old, "review_ms": None, "workflow": "TERMINATED"},
        {"order_id": "o-2", "state": "PAID", "created_at": old, "review_ms": None, "workflow": "gone"},
    ]
    [late] = [line for line in render(dashboard_view(ORDERS, COUNTS, overdue=overdue), width=160).splitlines() if "Past" in line]
    assert late.startswith("Past the 15 s budget (their workflows were closed outside the tracker): ")
    assert "o-1 DISPATCHED 10m workflow TERMINATED, o-2 PAID 10m no workflow" in late
    overdue.insert(0, {"order_id": "o-3", "state": "PAID", "created_at": old, "review_ms": None, "workflow": None})
    [late] = [line for line in render(dashboard_view(ORDERS, COUNTS, overdue=overdue), width=160).splitlines() if "Past" in line]
    assert late.startswith("Past the 15 s budget (is a worker down?): o-3 PAID 10m, o-1 DISPATCHED")


class _OnePage:
    """OrderService.order_page over the stand-in's list_orders and state_counts: the dashboard
    reads its page and its counts with it, from one snapshot."""

    async def order_page(self, *, state: str | None = None, limit: int = 50) -> tuple[dict, dict[str, int]]:
        return {"orders": await self.list_orders(state=state, limit=limit)}, await self.state_counts()


class _FlakyDatabase(_OnePage):
    """The service's queries as the dashboard sees them: PostgreSQL refuses connections for the
    first refreshes, then answers."""

    settings = type(
        "S", (), {"database_url_redacted": "postgresql://postgres@127.0.0.1:5433/orders", "database_remedy": "start the stack with ./start.sh up"}
    )()

    def __init__(self, refused: int) -> None:
        self.refused = refused

    async def state_counts(self) -> dict[str, int]:
        if self.refused:
            self.refused -= 1
            raise ConnectionRefusedError(111, "Connect call failed")
        return COUNTS

    async def overdue_orders(self) -> list:
        return []

    async def list_orders(self, state=None, limit=50) -> list:
        return ORDERS[:limit]


async def test_the_dashboard_on_a_terminal_that_cannot_redraw_says_so_instead_of_staying_blank(monkeypatch):
    """With TERM=dumb Rich's Live draws nothing (it cannot move the cursor back), and the Live
    dashboard was a blank screen until q, with no word of why."""
    import asyncio

    from app.errors import Refused
    from app.tui.dashboard import run_dashboard

    monkeypatch.setenv("TERM", "dumb")
    console = Console(file=io.StringIO(), width=80, height=24, force_terminal=True, color_system=None)

    async def healthy() -> StackStatus:
        return stack_status()

    with pytest.raises(Refused) as refused:
        await asyncio.wait_for(run_dashboard(_FlakyDatabase(refused=0), console, stack_status=healthy), 5)
    assert str(refused.value) == (
        "The live dashboard redraws in place, which this terminal (TERM=dumb) cannot do; open the TUI with TERM"
        " set to your terminal's type (xterm-256color, say), or list the orders with ./start.sh order list."
    )


async def test_the_dashboard_says_when_postgresql_stops_answering_and_recovers_by_itself():
    """It used to end with the generic apology; now it names the database and retries."""
    import asyncio

    from app.tui.dashboard import run_dashboard

    out = io.StringIO()
    console = Console(file=out, width=80, height=24, force_terminal=True, color_system=None)

    async def healthy() -> StackStatus:
        return stack_status()

    screen = asyncio.create_task(run_dashboard(_FlakyDatabase(refused=1), console, stack_status=healthy))
    # The first refresh fails, the next (a second later) answers.
    outage = "PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders is not reachable"
    await _until(lambda: outage in out.getvalue() and ORDERS[0]["order_id"] in out.getvalue(),
                 "the dashboard saying PostgreSQL is not reachable, then showing the orders", timeout=10, screen=screen)
    await _stopped(screen)
    text = out.getvalue()
    assert "is not reachable;" in text and "Retrying…" in text
    assert ORDERS[0]["order_id"] in text.split("Retrying…", 1)[1]  # shown again after the outage
    # Its remedy as the TUI says it (app.tui.sentences), not "start the stack with ./start.sh up".
    assert "start the stack when the TUI offers to" in " ".join(text.split()), text


async def test_ctrl_c_while_a_command_waits_says_it_was_sent_and_may_still_apply():
    """It used to say only 'Back to the menu', and the cancel applied later."""
    import asyncio

    from app.tui.actions import sent

    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    started = asyncio.Event()

    async def no_answer(on_sent) -> str:
        on_sent()  # the Update went to Temporal
        started.set()
        await asyncio.Event().wait()
        return "never"

    waiting = asyncio.create_task(sent(console, "o-1", "cancel", no_answer))
    await started.wait()
    waiting.cancel()
    try:
        await waiting
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the screen must still be cancelled")
    assert "Stopped waiting. The cancel was sent and may still take effect" in " ".join(out.getvalue().split())


@pytest.mark.parametrize("reason", ["kept for [night shift]", "[/]"])
async def test_a_commands_answer_is_shown_as_typed_not_read_as_markup(reason):
    """An answer can quote what an operator typed (a reason, a name in brackets): printed as
    Rich markup, "[night shift]" vanished and "[/]" raised out of the screen."""
    from app.tui.actions import sent

    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)

    async def reply(on_sent) -> str:
        return f"Order o-1 rejected: {reason}."

    await sent(console, "o-1", "reject", reply)
    assert f"Order o-1 rejected: {reason}." in out.getvalue()


class _DownOnce(_FlakyDatabase):
    """PostgreSQL answers, refuses one refresh (the third), then answers again."""

    def __init__(self) -> None:
        self.refused = 0
        self.calls = 0

    async def state_counts(self) -> dict[str, int]:
        self.calls += 1
        if self.calls == 3:
            raise ConnectionRefusedError(111, "Connect call failed")
        return COUNTS


async def _dashboard_frames(database: _DownOnce, health, refreshes: int) -> list[str]:
    """Run the dashboard on ``database`` until it has been read ``refreshes`` times; the frames
    it drew (each redraw clears its lines first)."""
    import asyncio

    from app.tui import dashboard

    out = io.StringIO()
    console = Console(file=out, width=80, height=24, force_terminal=True, color_system=None)
    screen = asyncio.create_task(dashboard.run_dashboard(database, console, stack_status=health))
    while database.calls < refreshes:
        assert not screen.done(), screen.exception()
        await asyncio.sleep(0.01)
    screen.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await screen
    return out.getvalue().split("\x1b[2K")


async def test_an_outage_on_the_dashboard_is_not_shown_under_a_health_line_of_before_it(monkeypatch):
    """"PostgreSQL … is not answering" stood above "✓ Temporal ✓ PostgreSQL …", the health line
    read before the outage, kept in the last view."""
    from app.tui import dashboard

    monkeypatch.setattr(dashboard, "REFRESH_S", 0.02)

    async def healthy() -> StackStatus:
        return stack_status()

    frames = await _dashboard_frames(_DownOnce(), healthy, refreshes=5)
    assert any("✓ PostgreSQL" in frame for frame in frames)  # the health line is shown, then
    outage = [frame for frame in frames if "Retrying…" in frame]
    assert outage and not any("✓" in frame for frame in outage)


async def test_the_first_view_after_an_outage_is_not_shown_under_a_health_line_read_during_it(monkeypatch):
    """Back from an outage, the rows just read stood under "✗ PostgreSQL down" for a moment."""
    import asyncio

    from app.tui import dashboard

    monkeypatch.setattr(dashboard, "REFRESH_S", 0.02)
    monkeypatch.setattr(dashboard, "HEALTH_EVERY_S", 0.005)
    database = _DownOnce()

    async def health() -> StackStatus:
        await asyncio.sleep(0.05)  # a few RPCs: slower than a refresh of the view
        return stack_status(down="postgres" if database.calls == 3 else None)

    frames = await _dashboard_frames(database, health, refreshes=8)
    outage = max(i for i, frame in enumerate(frames) if "Retrying…" in frame)
    after = [frame for frame in frames[outage + 1:] if "Newest" in frame or "✗" in frame or "✓" in frame]
    assert after and not any("✗" in frame for frame in after)


async def test_the_dashboards_health_line_fits_the_terminal_as_soon_as_it_is_resized(monkeypatch):
    """Narrowed from 80 to 50 columns, the dashboard kept the health line laid out for 80 until
    its next check (5 s), and the terminal broke it mid-part: "… ✓ order worker  ✓" /
    "shipping worker"; its row count was off by that extra line too."""
    from app.tui import dashboard

    monkeypatch.setattr(dashboard, "REFRESH_S", 0.01)
    monkeypatch.setattr(dashboard, "HEALTH_EVERY_S", 3600)  # read once, at the start
    screen, console, out = _dashboard_on(width=80)
    await _until(lambda: "✓ PostgreSQL" in out.getvalue(), screen=screen)
    console.width = 50  # the operator narrows the terminal
    out.seek(0), out.truncate()
    await _until(lambda: out.getvalue().count("Newest") >= 2, screen=screen)
    await _stopped(screen)
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # the frames, without cursor moves
    lines = [line.rstrip() for line in drawn.splitlines() if "✓" in line]
    assert lines and all(len(line) <= 50 and not line.endswith("✓") for line in lines)


async def test_the_dashboard_is_drawn_afresh_when_the_terminal_is_resized(monkeypatch):
    """The terminal rewraps what was drawn for the old width, and the redraw, which goes back up
    as many lines as it drew, left pieces of the old view above the new one ("rkShipped: Forced
    failure for testing" / "sim-a84f2a-0037  SHIPPED  done  4  1.5s  ✓ Ma")."""
    from app.tui import dashboard

    monkeypatch.setattr(dashboard, "REFRESH_S", 0.01)
    screen, console, out = _dashboard_on(width=100)
    await _until(lambda: out.getvalue().count("Newest") >= 2, screen=screen)
    assert "\x1b[2J" not in out.getvalue()  # not at every refresh: it would flicker
    console.width = 50
    await _until(lambda: "Newest" in out.getvalue().partition("\x1b[2J")[2], screen=screen)  # cleared, then drawn
    await _until(lambda: out.getvalue().count("Newest") >= 6, screen=screen)
    await _stopped(screen)
    assert out.getvalue().count("\x1b[2J") == 1  # once for the resize


def _dashboard_on(width: int):
    """The dashboard running on a healthy stack and a database that always answers, drawn into
    a string at ``width`` columns: (its task, its console, what it drew)."""
    import asyncio

    from app.tui import dashboard

    database = _DownOnce()
    database.calls = -1000  # never refused here
    out = io.StringIO()
    console = Console(file=out, width=width, height=24, force_terminal=True, color_system=None)

    async def healthy() -> StackStatus:
        return stack_status()

    return asyncio.create_task(dashboard.run_dashboard(database, console, stack_status=healthy)), console, out


async def _stopped(screen) -> None:
    import asyncio

    screen.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await screen


def test_a_decision_recorded_late_says_when_it_was_made():
    """After a PostgreSQL outage the audit timed an approval at its record, 46 s after the
    operator sent it (an operator walkthrough)."""

    def decision(recorded: str, decided: str | None) -> str:
        payload = {"by": "operator", "reason": "", "review_ms": 5000} | ({"decided_at": decided} if decided else {})
        entry = {"at": recorded, "kind": "event", "type": "approved", "payload": payload}
        return render(audit_timeline({"order": an_order("o-1", "SHIPPED"), "timeline": [entry]}), width=160)

    late = decision("2026-11-26T22:38:07.414+00:00", "2026-11-26T23:37:21.031+01:00")
    assert "approved  by operator  (decided 22:37:21.031, 46 s before it was recorded)" in late
    assert "decided" not in decision("2026-11-26T22:38:07.414+00:00", "2026-11-26T22:38:06.900+00:00")
    assert "decided" not in decision("2026-11-26T22:38:07.414+00:00", None)  # recorded before this change
    # A stamp in whole seconds (a script's) reads the same way.
    assert "(decided 22:37:21.000, 46 s before" in decision("2026-11-26T22:38:07.414+00:00", "2026-11-26T22:37:21Z")


def test_the_audit_time_column_reads_the_same_for_a_whole_second():
    """A time on a whole second has no fraction in ISO 8601 ("…T22:37:21+00:00"); the column
    sliced the string and showed "22:37:21+00:0". Times in another offset are shown in UTC."""
    entries = [
        {"at": "2026-01-01T22:37:21+00:00", "kind": "event", "type": "order_received", "payload": {}},
        {"at": "2026-01-01T23:37:22.5+01:00", "kind": "event", "type": "order_validated", "payload": {}},
    ]
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(audit_timeline({"order": an_order("ord-6", "VALIDATED"), "timeline": entries, "web_ui_url": None}))
    lines = console.export_text().splitlines()
    assert next(line for line in lines if "order received" in line).startswith("22:37:21.000 ")
    assert next(line for line in lines if "order validated" in line).startswith("22:37:22.500 ")


def test_the_audit_says_the_date_first_and_when_it_changes():
    """The Time column is a time of day: an order reviewed the next day read "23:59:58" then
    "00:00:03" (back in time?), and an order of last week had no date anywhere (an operator
    walkthrough)."""
    entries = [
        {"at": "2026-11-26T23:59:58.100+00:00", "kind": "event", "type": "awaiting_approval", "payload": {}},
        {"at": "2026-11-27T01:00:03.200+01:00", "kind": "event", "type": "order_expired", "payload": {}},
        {"at": "2026-11-27T00:00:04.300+00:00", "kind": "event", "type": "order_failed", "payload": {}},
    ]
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(audit_timeline({"order": an_order("ord-7", "EXPIRED"), "timeline": entries, "web_ui_url": None}))
    lines = [line.strip() for line in console.export_text().splitlines()]
    assert lines[lines.index("2026-11-26") + 1].startswith("23:59:58.100 ")
    assert lines[lines.index("2026-11-27") + 1].startswith("00:00:03.200 ")
    assert lines.count("2026-11-27") == 1 and lines.index("2026-11-26") < lines.index("2026-11-27")


@pytest.mark.parametrize("width", [32, 40, 50])
def test_the_dashboard_in_a_narrow_terminal_keeps_ids_apart_and_clocks_whole(width):
    """At 40 columns the ids of one simulation all read "sim-520b6b-0…" and the clock "1.…"
    (an operator walkthrough): every column was squeezed, the ids cut at their end."""
    ids = [f"sim-520b6b-{n:04d}" for n in (98, 99)] + ["customer-2026-11-27-warehouse-berlin-priority-express-order-0013"]
    orders = [an_order(i, "AWAITING_APPROVAL", retries=16, processing_seconds=12.5) for i in ids]
    rows = [line for line in render(dashboard_table(orders, width=width), width=width).splitlines() if "AWAIT" in line]
    assert len(rows) == 3 and all(len(row) <= width for row in rows), rows
    shown = [row.split()[0] for row in rows]
    assert shown[0].endswith("0098") and shown[1].endswith("0099") and shown[2].endswith("0013")
    assert all(row.split()[-2:] == ["16", "12.5s"] for row in rows), rows


@pytest.mark.parametrize("width", range(16, 30))
def test_the_dashboard_under_30_columns_keeps_each_row_on_one_line_with_its_clock_whole(width):
    """Under 30 columns the four columns no longer fitted: each row ran past the edge, the
    clock cut to "12." or "Cl" (a review). Narrower, the retries go, then the state (the id
    keeps its colour)."""
    ids = [f"sim-520b6b-{n:04d}" for n in (98, 99)] + ["customer-2026-11-27-warehouse-berlin-priority-express-order-0013"]
    orders = [an_order(i, "AWAITING_APPROVAL", retries=16, processing_seconds=12.5) for i in ids]
    out = io.StringIO()
    # Not cropped at the width, as a terminal would not crop a row, but wrap it.
    Console(file=out, width=200, color_system=None).print(dashboard_table(orders, width=width))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 + len(orders) and all(len(line.rstrip()) <= width for line in lines), lines
    rows = lines[2:]
    assert all(row.split()[-1] == "12.5s" for row in rows), rows
    shown = [row.split()[0] for row in rows]
    assert shown[0].endswith("0098") and shown[1].endswith("0099") and shown[2].endswith("0013"), rows


class _EveryState(_OnePage):
    """Orders in every state (the summary bar at its longest), a page as long as asked for."""

    async def state_counts(self) -> dict[str, int]:
        return {"RECEIVED": 1, "VALIDATED": 2, "AWAITING_APPROVAL": 3, "APPROVED": 4, "PAID": 5, "PACKED": 600,
                "DISPATCHED": 7, "SHIPPED": 8000, "CANCELLED": 9, "REJECTED": 10, "EXPIRED": 11, "FAILED": 12}

    async def overdue_orders(self) -> list[dict]:
        return []

    async def list_orders(self, *, state: str | None, limit: int) -> list[dict]:
        return [an_order(f"sim-520b6b-{n:04d}", state or "PACKED") for n in range(limit)]


@pytest.mark.parametrize(("width", "height"), [(80, 24), (60, 20), (50, 20), (40, 15), (40, 24)])
async def test_the_dashboard_fits_a_small_terminal_with_its_footer(width, height):
    """Under 80 columns the summary bar and the footer wrap onto more lines than were counted:
    the view was taller than the terminal, and, cropped, lost its last rows and "q: back"."""
    from app.tui.dashboard import fetch_view

    from rich.text import Text

    health = Text("✓ Temporal  ✓ PostgreSQL  ✓ order worker  ✓ shipping worker")
    health_lines = len(render(health, width=width).splitlines())
    view = await fetch_view(_EveryState(), state_filter=None, rows=rows_for_height(height) - health_lines, width=width)
    lines = render(view, width=width).splitlines()
    assert health_lines + len(lines) + 1 <= height, lines  # and the cursor's line
    assert "q: back" in " ".join(" ".join(lines).split())


@pytest.mark.parametrize("width", [30, 32, 33, 34, 36])
async def test_a_dashboard_filtered_by_state_fits_a_narrow_terminal_with_its_title(width):
    """Filtered, the table's title ("Newest 13 AWAITING_APPROVAL orders") wrapped onto a second
    line under ~36 columns, which the rows did not leave room for: the view was a line taller
    than the terminal, and, cropped, lost its last line."""
    from app.tui.dashboard import fetch_view

    height = 24
    view = await fetch_view(_EveryState(), state_filter="AWAITING_APPROVAL", rows=rows_for_height(height), width=width)
    lines = render(view, width=width, height=height).splitlines()
    assert len(lines) + 1 <= height, lines  # and the cursor's line
    assert "q: back" in " ".join(" ".join(lines).split())


class _EveryStateOneLate(_EveryState):
    async def overdue_orders(self) -> list[dict]:
        old = (datetime.now(timezone.utc) - timedelta(seconds=40)).isoformat()
        return [{"order_id": "sim-520b6b-0007", "state": "PAID", "created_at": old, "review_ms": None}]


async def _last_frame(
    width: int, height: int, shown: str = "✓", refreshes: int = 2, service: object | None = None
) -> list[str]:
    """The dashboard run in a ``width`` x ``height`` terminal on a healthy stack: the lines of
    the last view it drew (Live clears each line of the one before: the view follows the last
    clearing)."""
    import asyncio

    from app.tui import dashboard

    out = io.StringIO()
    console = Console(file=out, width=width, height=height, force_terminal=True, color_system=None)

    async def healthy() -> StackStatus:
        return stack_status()

    screen = asyncio.create_task(dashboard.run_dashboard(service or _EveryState(), console, stack_status=healthy))
    await _until(lambda: out.getvalue().count("\x1b[2K") >= refreshes and shown in out.getvalue(), screen=screen)
    drawn = out.getvalue()  # not what it prints as it ends: Live then shows the whole last view
    await _stopped(screen)
    frame = drawn.rsplit("\x1b[2K", 1)[1]
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frame).rstrip("\n").split("\n")


@pytest.mark.parametrize("late", [False, True])
@pytest.mark.parametrize(("width", "height"), [(30, 10), (40, 10), (40, 12), (30, 12), (60, 11), (80, 10)])
async def test_a_short_terminal_still_shows_a_few_orders_and_the_way_back(width, height, late):
    """At 30x10 the health line (four lines), the counts per state (six) and the footer (three)
    took every line: no order row was left, and "q: back" was cropped off the bottom (a
    review). A short terminal now has each of them on one line (the orders past the budget in
    the title's place)."""
    lines = await _last_frame(width, height, service=_EveryStateOneLate() if late else None)
    assert len(lines) + 1 <= height, lines  # and the cursor's line
    assert sum(bool(re.search(r"^sim.*  1\.5s$", line.rstrip())) for line in lines) >= 2, lines
    assert "q: back" in " ".join(lines), lines
    assert all(len(line) <= width for line in lines), lines
    assert any(line.startswith("Past the 15 s") for line in lines) is late, lines


class _FiveStates(_EveryState):
    async def state_counts(self) -> dict[str, int]:
        return {"AWAITING_APPROVAL": 12, "PAID": 2, "SHIPPED": 30, "CANCELLED": 3, "FAILED": 4}


@pytest.mark.parametrize("state_filter", [None, "SHIPPED"])
async def test_a_short_terminal_shows_the_count_of_every_state(state_filter):
    """At 30x10 the counts line read "51 orders  AWAITING_APPROVAL …": the states after the first
    were cut off. Short, the states' names are shortened, and the counts take the title's line
    too where they need it (not when a filter names the orders the rows are)."""
    from app.tui.dashboard_layout import dashboard_view

    service = _FiveStates()
    orders = await service.list_orders(state=state_filter, limit=3)
    view = dashboard_view(orders, await service.state_counts(), state_filter=state_filter, width=30, short=True)
    lines = render(view, width=30, height=10).splitlines()
    assert len(lines) == 8 and all(len(line) <= 30 for line in lines), lines
    said = " ".join(lines[:2])
    if state_filter:
        assert lines[1] == "Newest 3 SHIPPED orders", lines
        said = lines[0]
    assert "51 orders" in said and "REVIEW 12" in said and "PAID 2" in said, lines
    if not state_filter:
        assert all(count in said for count in ("SHIP 30", "CANC 3", "FAIL 4")), lines
    else:
        assert said.endswith("…"), lines


@pytest.mark.parametrize(("width", "height"), [(30, 6), (40, 4), (20, 3)])
async def test_a_terminal_too_short_for_any_order_says_so_in_one_line(width, height):
    lines = await _last_frame(width, height, shown="Too short")
    assert len(lines) == 1 and len(lines[0]) <= width, lines
    assert lines[0].startswith("Too short"), lines


@pytest.mark.parametrize("width", [36, 71])
async def test_a_slow_refresh_still_fits_the_dashboard_to_the_terminal(monkeypatch, width):
    """The footer's "in 999 ms" was measured for the room it takes: a refresh of a second or more
    (a loaded machine, a slow PostgreSQL) made it "in 1500 ms", a line longer at 71 or 36 columns,
    and the view came out a line taller than the terminal."""
    from types import SimpleNamespace

    from app.tui import dashboard

    clock = iter([100.0, 101.5])  # the refresh began, and ended 1.5 s later
    monkeypatch.setattr(dashboard, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    height = 24
    view = await dashboard.fetch_view(_EveryState(), state_filter=None, rows=rows_for_height(height), width=width)
    lines = render(view, width=width, height=height).splitlines()
    assert "in 1500 ms" in " ".join(" ".join(lines).split())
    assert len(lines) + 1 <= height, lines  # and the cursor's line


EMOJI_REASON = "customer asked 👍 via phone 📞 and email 📧 to drop the order because 🎁 arrived elsewhere"
EMOJI_ADDRESS = {"name": "Zoë 🎉🎉 Party Planner", "street": "99 Sunshine 🌞 Avenue, Building 🏢 4",
                 "city": "Springfield 🌆", "region": "", "postal_code": "12345", "country": "US"}


@pytest.mark.parametrize("width", range(40, 121))
def test_an_audit_line_with_emoji_is_wrapped_whole_not_cut_mid_word(width):
    """Rich measured a wrapped line's trailing space in characters, not cells: with emoji on the
    line the space stayed and the line, a cell too wide, was cut with "…" ("and email  …", the
    📧 lost), though every word fitted (a review, `order audit` at 80 columns)."""
    entries = [
        {"at": "2026-01-01T00:00:01+00:00", "kind": "event", "type": "rejected",
         "payload": {"by": "operator", "reason": EMOJI_REASON}},
        {"at": "2026-01-01T00:00:02+00:00", "kind": "event", "type": "address_changed",
         "payload": {"by": "operator", "old": EMOJI_ADDRESS, "new": {**EMOJI_ADDRESS, "city": "Shelbyville 🌇"}}},
    ]
    text = render(audit_timeline({"order": an_order("ord-9", "REJECTED"), "timeline": entries}), width=width, height=60)
    assert "…" not in text
    words = text.split()
    assert all(word in words for word in EMOJI_REASON.split())


@pytest.mark.parametrize("width", range(50, 121))
def test_a_status_panel_with_emoji_keeps_the_address_and_reason_whole(width):
    from app.render import status_panel

    status = {"order_id": "ord-9", "state": "REJECTED", "step": "done", "items": [], "amount_cents": 100,
              "payment": {}, "address": EMOJI_ADDRESS, "failure_reason": EMOJI_REASON}
    text = render(status_panel(status), width=width, height=60)
    assert "…" not in text
    words = text.replace("│", " ").split()
    assert all(word in words for word in EMOJI_REASON.split())


LONGEST_ID = "customer-2026-11-27-warehouse-berlin-priority-express-order-0013"  # 64 characters


@pytest.mark.parametrize("width", [30, 40, 60, 72, 80, 120])
def test_a_status_panel_keeps_a_64_character_id_whole_at_any_width(width):
    """At 40 columns the panel's title "Order customer-2026-11-27-warehouse-berl…" lost the id's
    end, the part that tells a batch's orders apart (a review): where the title is too narrow,
    the id goes into the body, on lines of its own."""
    from app.render import status_panel

    assert len(LONGEST_ID) == 64
    status = {"order_id": LONGEST_ID, "state": "PAID", "step": "packing", "items": [], "amount_cents": 100, "payment": {}}
    lines = render(status_panel(status), width=width, height=60).splitlines()
    assert all(len(line) <= width for line in lines), lines
    text = "".join(line.strip("│╭╮╰╯─ ") for line in lines)
    assert LONGEST_ID in text and "…" not in "".join(lines), lines
    short = render(status_panel({**status, "order_id": "o-1"}), width=width, height=60).splitlines()
    assert "Order o-1" in short[0]  # a short id stays in the title


def test_status_at_80_columns_prints_the_command_that_resumes_postgresql_whole_on_a_line(monkeypatch, capsys):
    """With every PostgreSQL process stopped, `kill -CONT <pid> $(pgrep -P <pid>)` wrapped inside
    the table's detail cell at 80 columns, awkward to copy: it goes on a line of its own, whole."""
    import argparse
    import asyncio

    from app import stack_cli

    status = stack_status()
    status.parts[0].healthy, status.parts[0].pid = False, 1234567
    status.parts[0].detail = (
        "stopped (SIGSTOP), and 6 of its 6 child processes; kill -CONT 1234567 $(pgrep -P 1234567) resumes them"
    )

    async def stack_said(self):
        return status

    monkeypatch.setattr(stack_cli.Stack, "status", stack_said)
    monkeypatch.setenv("COLUMNS", "80")
    args = argparse.Namespace(json=False)
    assert asyncio.run(stack_cli._status(args)) == 3
    lines = capsys.readouterr().out.splitlines()
    command = "kill -CONT 1234567 $(pgrep -P 1234567)"
    resume = [line for line in lines if "kill -CONT" in line and "│" not in line and "Resume what" not in line]
    assert resume and resume[0].startswith(command), lines
    table = [line for line in lines if "│" in line]
    assert all(len(line) <= 80 for line in table)
    assert table and "postgres" in "".join(table) and "stopped (SIGSTOP)" in "".join(table)
    assert not any("kill -CONT" in line for line in table), table


def _screen(output: str, width: int, height: int) -> list[str]:
    """What a ``width`` x ``height`` terminal shows once it has been sent ``output``: text, line
    feeds (the terminal adds the carriage return), and the cursor moves and erasures Rich and
    prompt_toolkit send; colours are left out."""
    lines, row, column = [""] * height, 0, 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\x1b\r\n]", output):
        if token == "\r":
            column = 0
        elif token == "\n":
            row, column = row + 1, 0
            if row == height:  # scrolled
                lines, row = lines[1:] + [""], height - 1
        elif token.startswith("\x1b["):
            count = int(token[2:-1]) if token[2:-1].isdigit() else None
            if token[-1] == "A":
                row = max(0, row - (count or 1))
            elif token[-1] == "K" and count == 2:
                lines[row] = ""
            elif token[-1] == "J" and count == 2:
                lines = [""] * height
            elif token[-1] == "J":
                lines[row:] = [lines[row][:column]] + [""] * (height - row - 1)
            elif token[-1] == "H":
                row, column = 0, 0
        else:
            line = lines[row].ljust(column)
            lines[row] = line[:column] + token + line[column + 1:]
            column += 1
    return [line.rstrip() for line in lines]


@pytest.mark.parametrize("how", ["q", "ctrl-c"])
@pytest.mark.parametrize(("width", "height"), [(40, 12), (80, 24)])
async def test_leaving_the_dashboard_leaves_nothing_of_it_above_the_menu(monkeypatch, how, width, height):
    """At 40x12, q left the dashboard's last view on the screen, and the menu drawn under it kept
    its footer in view ("Clock: processing time vs the 15 s" / "budget.  q: back  14:00:50")
    above the health line: the operator read the dashboard's remains, not a clean menu."""
    import asyncio

    from app.tui import dashboard

    quits = []

    @contextlib.contextmanager
    def keys_that_quit(quit):
        quits.append(quit)
        yield

    monkeypatch.setattr(dashboard, "keys_that_quit", keys_that_quit)
    monkeypatch.setattr(dashboard, "REFRESH_S", 0.01)
    out = io.StringIO()
    console = Console(file=out, width=width, height=height, force_terminal=True, color_system=None)
    console.print("? Show orders in which state? All states")

    async def healthy() -> StackStatus:
        return stack_status()

    screen = asyncio.create_task(dashboard.run_dashboard(_EveryStateOneLate(), console, stack_status=healthy))
    await _until(lambda: out.getvalue().count("q: back") >= 3 and "✓" in out.getvalue(), screen=screen)
    if how == "q":
        quits[0]()
        await asyncio.wait_for(screen, 5)
    else:
        await _stopped(screen)
    shown = [line for line in _screen(out.getvalue(), width, height) if line]
    assert shown == ["? Show orders in which state? All states"], shown


STATES_SPLIT_AT_40 = {"AWAITING_APPROVAL": 3, "SHIPPED": 48, "CANCELLED": 1, "REJECTED": 1}


def _kept_whole(lines: list[str], counts: dict[str, int]) -> bool:
    """Whether each state's name stands on the same line as its count."""
    return all(any(f"{state} {n}" in line for line in lines) for state, n in counts.items())


@pytest.mark.parametrize("width", [36, 40, 50])
def test_the_dashboards_counts_keep_each_state_beside_its_count_on_a_narrow_terminal(width):
    """At 40x12 the counts read "53 orders  AWAITING_APPROVAL 3  SHIPPED" / "48  CANCELLED 1 …":
    the terminal width broke the line between a state and its count."""
    view = dashboard_view(ORDERS, STATES_SPLIT_AT_40, width=width)
    lines = render(view, width=width).splitlines()
    assert _kept_whole(lines, STATES_SPLIT_AT_40), lines
    assert summary_bar(STATES_SPLIT_AT_40).plain == "53 orders  AWAITING_APPROVAL 3  SHIPPED 48  CANCELLED 1  REJECTED 1"


@pytest.mark.parametrize("width", [36, 40])
def test_a_simulations_counts_and_summary_keep_each_state_beside_its_count(width):
    """At 40 columns a running simulation read "10 orders  RECEIVED 3  AWAITING_APPROVAL" / "7
    approved 7", and its summary broke "Still running 20: … APPROVED" / "9  PAID 8" alike."""
    from app.tui.state_counts import SimulationLine
    from app.tui.simulation import Simulation
    from app.tui.simulation_summary import summary_lines

    sim = Simulation(service=None, n=20, auto_approve=True)
    sim.created_ids = [f"s-{n:02d}" for n in range(20)]
    states = ["RECEIVED"] * 1 + ["AWAITING_APPROVAL"] * 2 + ["APPROVED"] * 9 + ["PAID"] * 8
    sim.states = dict(zip(sim.created_ids, states))
    sim.approved_ids = set(sim.created_ids[3:])  # the 17 APPROVED or PAID
    counts = {"RECEIVED": 1, "AWAITING_APPROVAL": 2, "APPROVED": 9, "PAID": 8}
    live = render(SimulationLine(sim), width=width).splitlines()
    assert _kept_whole(live, counts) and any("approved 17" in line for line in live), live
    said = render(Group(*summary_lines(sim, 20, 1.3, stopped=True, width=width)), width=width).splitlines()
    assert _kept_whole(said, counts), said
    assert any(line.startswith("Still running 20: RECEIVED 1") for line in said), said


@pytest.mark.parametrize("width", range(36, 121))  # narrower, "  DispatchToCarrier #3" is wider than its column
def test_an_audit_attempt_wraps_between_its_fields_never_inside_a_number_and_its_unit(width):
    """At 40 columns an attempt's row broke inside its duration: "ValidateOrder #1 error 0" above
    "ms" (an operator walkthrough at 40x12). A row breaks between its fields (the step and its
    attempt, the outcome, the duration, the error), never within the first three."""
    attempts = [
        {"at": "2026-01-01T00:00:01+00:00", "kind": "attempt", "activity": activity, "attempt": attempt,
         "outcome": outcome, "error": error, "duration_ms": duration}
        for activity, attempt, outcome, error, duration in (
            ("ValidateOrder", 1, "error", "RuntimeError: Forced failure for testing", 0),
            ("ChargePayment", 12, "timeout", "activity StartToClose timeout", 30000),
            ("DispatchToCarrier", 3, "ok", None, 1234),
        )
    ]
    text = render(audit_timeline({"order": an_order("ord-9", "SHIPPED"), "timeline": attempts}), width=width, height=60)
    lines = text.splitlines()
    for entry in attempts:
        for field in (f"{entry['activity']} #{entry['attempt']}", entry["outcome"], f"{entry['duration_ms']} ms"):
            assert any(field in line for line in lines), (field, lines)
    assert " ".join(text.split()).count("RuntimeError: Forced failure for testing") == 1


@pytest.mark.parametrize("width", [40, 80])
def test_a_running_simulations_live_line_says_which_approvals_its_states_do_not_show_yet(width):
    """While a simulation ran, its live line read "AWAITING_APPROVAL 7  approved 7": the rows
    lag the approvals answered (the workflow records a decision after accepting it). The line
    says how many of those approved its states do not show yet, as the summary does."""
    from app.tui.state_counts import SimulationLine
    from app.tui.simulation import Simulation

    sim = Simulation(service=None, n=10, auto_approve=True)
    sim.created_ids = [f"s-{n:02d}" for n in range(10)]
    sim.states = dict(zip(sim.created_ids, ["AWAITING_APPROVAL"] * 7 + ["RECEIVED"] * 3))
    sim.approved_ids = set(sim.created_ids[:7])
    live = " ".join(render(SimulationLine(sim), width=width).split())
    assert "approved 7 (7 not recorded yet)" in live, live
    sim.states.update(dict.fromkeys(sim.created_ids[:5], "PAID"))  # five of them recorded since
    live = " ".join(render(SimulationLine(sim), width=width).split())
    assert "AWAITING_APPROVAL 2" in live and "approved 7 (2 not recorded yet)" in live, live
    sim.states.update(dict.fromkeys(sim.created_ids[:7], "PAID"))
    assert "not recorded" not in render(SimulationLine(sim), width=width)


@pytest.mark.parametrize("width", range(30, 81))
def test_the_audits_figures_break_between_figures_never_inside_one(width):
    """At 40 columns the audit's figures read "10 attempts, 6 failed (3 timed out), 6" above
    "retries, processing 0.6s": the line broke between a count and its noun (40x12)."""
    order = an_order("ord-9", "AWAITING_APPROVAL", processing_seconds=0.6, retries=6)
    attempts = [
        {"at": "2026-01-01T00:00:01+00:00", "kind": "attempt", "activity": "ReceiveOrder", "attempt": n,
         "outcome": "timeout" if n <= 3 else "error" if n <= 6 else "ok", "error": None, "duration_ms": 1}
        for n in range(1, 11)
    ]
    lines = render(audit_timeline({"order": order, "timeline": attempts}), width=width, height=80).splitlines()
    for figure in ("10 attempts,", "6 failed", "(3 timed out),", "6 retries,", "processing 0.6s"):
        assert any(figure in line for line in lines), (figure, lines)


@pytest.mark.parametrize("width", range(40, 121))
def test_an_audit_event_wraps_between_its_phrases_never_inside_one(width):
    """At 40 columns an event's row broke inside its phrases: "(decided 22:37:21.031, 46" above
    "s before it was recorded)", "payment refunded  →" above "CANCELLED", "tracking" above the
    tracking number (an operator walkthrough). A row breaks between its phrases."""
    late = {"decided_at": "2026-11-26T22:37:21.031+00:00"}
    entries = [
        {"at": "2026-11-26T22:38:07.414+00:00", "kind": "event", "type": "approved",
         "payload": {"by": "operator", "reason": "", **late}},
        {"at": "2026-11-26T22:38:07.514+00:00", "kind": "event", "type": "payment_refunded",
         "payload": {"state": "CANCELLED", "payment_id": "pay-ord-59b9b3dd", "amount_cents": 13999}},
        {"at": "2026-11-26T22:38:09.414+00:00", "kind": "event", "type": "cancel_requested",
         "payload": {"by": "operator", "reason": "changed mind", "state": "PAID", **late}},
        {"at": "2026-11-26T22:38:10.414+00:00", "kind": "event", "type": "carrier_dispatched",
         "payload": {"state": "DISPATCHED", "tracking_number": "TRK3F9A0C21B7"}},
    ]
    lines = render(audit_timeline({"order": an_order("ord-9", "SHIPPED"), "timeline": entries}), width=width,
                   height=60).splitlines()
    phrases = ("approved", "by operator", "(decided 22:37:21.031,", "46 s before", "payment refunded", "→ CANCELLED",
               "pay-ord-59b9b3dd 139.99", "cancel requested", "changed mind", "(workflow at PAID)",
               "carrier dispatched", "→ DISPATCHED", "tracking TRK3F9A0C21B7")
    for phrase in phrases:
        assert any(phrase in line for line in lines), (phrase, lines)

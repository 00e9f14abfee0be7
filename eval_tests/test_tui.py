"""The TUI driven through a pseudo-terminal the way an operator drives it: arrow keys, Enter
and Ctrl-C at 80x24, against the private stack."""

from __future__ import annotations

import re
import secrets
import shutil
import sys

import pexpect

from app.config import ROOT
from eval_tests.conftest import PrivateStack, wait_until

DOWN, UP, ENTER, CLEAR_LINE = "\x1b[B", "\x1b[A", "\r", "\x15"
# Rich and prompt_toolkit colour and move the cursor between the words we look for.
ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])"
# The menu waiting for a choice (its echo after a choice has no hint).
MENU = rf"What next\? {ANSI}*\(Use arrow keys\)"
GOODBYE = "The stack is still running; stop it with ./start.sh down."  # app/tui/health.py, goodbye()
MENU_INDEX = {
    "create": 0, "review": 1, "address": 2, "cancel": 3, "dashboard": 4, "audit": 5, "simulate": 6, "quit": 7,
}
# The address of the orders the tests create through the order commands.
ADDRESS = ("--name", "Ann Lee", "--street", "1 Main St", "--city", "Springfield", "--postal-code", "12345", "--country", "US")


# prompt_toolkit ends every drawing of a prompt by turning line wrapping back on; once drawn, it reads keys.
PROMPT_READY = re.escape("\x1b[?7h")


def wait_for_row(stack: PrivateStack, order_id: str, state: str, timeout: float = 60) -> None:
    wait_until(
        lambda: order_id in [o["order_id"] for o in stack.json("order", "list", "--state", state)["orders"]],
        f"order {order_id} reaching {state} in the database", timeout,
    )


def order_awaiting_review(stack: PrivateStack) -> str:
    """A new order, created through the order commands (the create form has its own test),
    waiting for review: its row is what the TUI's pickers list."""
    order_id = f"tui-{secrets.token_hex(4)}"
    stack.ok("order", "create", "--id", order_id, "--item", "WIDGET-1:1", *ADDRESS)
    wait_for_row(stack, order_id, "AWAITING_APPROVAL")
    return order_id


def events(stack: PrivateStack, order_id: str, kind: str) -> list[dict]:
    """The payloads of the order's audit events of one kind."""
    timeline = stack.json("order", "audit", order_id)["timeline"]
    return [entry["payload"] for entry in timeline if entry["kind"] == "event" and entry["type"] == kind]


def spawn(stack: PrivateStack) -> pexpect.spawn:
    # A pseudo-terminal does not answer cursor-position requests; without this prompt_toolkit
    # waits for the answer and may swallow the next key.
    # TERM as a terminal emulator sets it, whatever the environment the tests run in.
    env = {**stack.env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm-256color"}
    child = pexpect.spawn(
        sys.executable, ["-m", "app", "tui"], env=env, cwd=str(ROOT), dimensions=(24, 80),
        encoding="utf-8", timeout=60,
    )
    child.expect(MENU, timeout=180)  # the first start may bring up a part of the stack
    child.menu_at = 0  # the menu opens on the entry picked last; on Create order at first
    return child


def choose(child: pexpect.spawn, entry: str) -> None:
    """Down from the entry picked last (the menu wraps)."""
    child.send(DOWN * ((MENU_INDEX[entry] - child.menu_at) % len(MENU_INDEX)) + ENTER)
    child.menu_at = MENU_INDEX[entry]


def pick_by_id(child: pexpect.spawn, question: str, order_id: str) -> None:
    """The order must be offered; choose it through "Type an order id…" (the list wraps)."""
    child.expect(question)
    child.expect(re.escape(order_id))
    child.send(UP + UP + ENTER)
    child.expect("Order id")
    child.send(order_id + ENTER)


def quit_cleanly(child: pexpect.spawn) -> None:
    child.expect(MENU)
    child.sendcontrol("c")
    child.expect(re.escape(GOODBYE))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_create_approve_watch_ship_and_audit_an_order(stack: PrivateStack):
    order_id = f"tui-{secrets.token_hex(4)}"
    child = spawn(stack)
    try:
        choose(child, "create")
        child.expect("Order id")
        child.send(CLEAR_LINE + order_id + ENTER)
        child.expect("Items")
        child.send(" " + ENTER)  # the first product
        child.expect("Quantity of")
        child.send(CLEAR_LINE + "0" + ENTER)  # refused as you type: stays on the question
        child.expect("positive whole number")
        child.send(CLEAR_LINE + "2" + ENTER)
        for field, value in (("Recipient", "Ann"), ("Street", "1 Main St"), ("City", "Springfield"),
                             ("Postal code", "12345")):
            child.expect(field)
            child.send(value + ENTER)
        child.expect("Country")
        child.send("XX" + ENTER)
        child.expect("not an ISO 3166")
        child.send(CLEAR_LINE + "us" + ENTER)
        child.expect("Region")
        child.send(ENTER)
        child.expect("Total")
        child.expect("Create this order")
        child.send(ENTER)
        child.expect(f"Order {order_id} created")
        child.expect(rf"is now {ANSI}*AWAITING_APPROVAL")

        # The review list reads the database, which the workflow updates a moment after its
        # own state (the status query) moved on: wait for the row, as an operator would.
        wait_for_row(stack, order_id, "AWAITING_APPROVAL")
        child.expect(MENU)
        choose(child, "review")
        pick_by_id(child, "Which order to review", order_id)
        child.expect("Approve")
        child.send(ENTER)
        child.expect(rf"Order{ANSI}* {order_id}{ANSI}* approved")

        child.expect(MENU)
        choose(child, "dashboard")
        child.expect("which state")
        child.send(ENTER)  # all states
        child.expect(re.escape(order_id))
        child.expect(rf"{re.escape(order_id)}(?:\s|{ANSI})+SHIPPED", timeout=60)
        child.sendcontrol("c")
        child.expect("Back to the menu")

        child.expect(MENU)
        # On a 16-line terminal the audit (2 header lines and at least 8 events and 8 attempts)
        # is taller than the screen: it goes through less, from the top; G goes to its end, q back.
        child.setwinsize(16, 80)
        choose(child, "audit")
        pick_by_id(child, "Which order to inspect", order_id)
        child.expect(rf"Order {re.escape(order_id)}")
        if shutil.which("less") is None:  # a machine without less: printed, then a pause
            child.expect("order shipped")
            child.expect("Workflow history")
            child.expect("Press any key")
            child.send("x")
        else:
            # The whole prompt, its first letter too: one wider than the screen is shown from its end.
            child.expect(rf"\x1b\[7mAudit of {re.escape(order_id)}  lines 1-\d+/\d+  q: back, space: more")
            child.send("G")
            child.expect("order shipped")
            child.expect("Workflow history")
            child.send("q")

        # An id already taken is refused as soon as it is typed, not after the whole form.
        child.expect(MENU)
        choose(child, "create")
        child.expect("Order id")
        child.send(CLEAR_LINE + order_id + ENTER)
        child.expect(f"Order {order_id} already exists; choose another order id.")
        child.expect("Order id")
        child.expect(PROMPT_READY)
        child.send("\x1b")
        child.expect("Back to the menu")
        quit_cleanly(child)
    finally:
        child.close(force=True)


def test_ctrl_c_and_esc_back_out_of_every_screen_and_quit_exits_zero(stack: PrivateStack):
    child = spawn(stack)
    try:
        for entry, first_question in (
            ("create", "Order id"),
            ("review", "Which order to review"),
            ("address", "Which order to re-address"),
            ("cancel", "Which order to cancel"),
            ("dashboard", "which state"),
            ("audit", "Which order to inspect"),
            ("simulate", "How many orders"),
        ):
            choose(child, entry)
            if child.expect([first_question, "There is no order to", MENU]) == 0:
                child.expect(PROMPT_READY)  # a Ctrl-C sent before the prompt listens is lost
                child.sendcontrol("c")
            child.expect(MENU)

        # Ctrl-C inside the running dashboard and a running simulation.
        choose(child, "dashboard")
        child.expect("which state")
        child.send(ENTER)
        child.expect("Clock")
        child.sendcontrol("c")
        child.expect("Back to the menu")
        child.expect(MENU)
        choose(child, "simulate")
        child.expect("How many orders")
        child.send(CLEAR_LINE + "20" + ENTER)
        child.expect("Approve each")
        child.send(ENTER)
        child.expect("settled")
        child.sendcontrol("c")
        child.expect(r"Stopped waiting|Done in")

        # Esc backs out of a form and of a picker too, and q leaves the dashboard.
        for entry, first_question in (("create", "Order id"), ("audit", "Which order to inspect")):
            child.expect(MENU)
            choose(child, entry)
            child.expect(first_question)
            child.expect(PROMPT_READY)
            child.send("\x1b")
            child.expect("Back to the menu")
        child.expect(MENU)
        choose(child, "dashboard")
        child.expect("which state")
        child.send(ENTER)
        child.expect("q: back")
        child.send("q")

        child.expect(MENU)
        choose(child, "quit")
        child.expect(re.escape(GOODBYE))
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        child.close(force=True)


def test_without_a_terminal_the_tui_points_to_the_order_commands(stack: PrivateStack):
    result = stack.run("tui")
    assert result.returncode == 2
    assert "order commands" in result.stderr


def test_reject_with_a_reason_ends_the_order_rejected_with_the_reason_in_its_audit(stack: PrivateStack):
    order_id = order_awaiting_review(stack)
    reason = "address looks like a parcel drop"
    child = spawn(stack)
    try:
        choose(child, "review")
        pick_by_id(child, "Which order to review", order_id)
        child.expect("Approve or reject")
        child.send(DOWN + ENTER)  # Reject…
        child.expect("Reason for rejecting")
        child.send(ENTER)  # a reason is required: stays on the question
        child.expect("A rejection needs a reason")
        child.send(reason + ENTER)
        child.expect("cannot be undone")
        child.send("y")
        child.expect(rf"Order{ANSI}* {order_id}{ANSI}* rejected")

        wait_for_row(stack, order_id, "REJECTED")
        assert stack.json("order", "status", order_id)["state"] == "REJECTED"
        decisions = events(stack, order_id, "rejected")
        assert [(d["by"], d["reason"]) for d in decisions] == [("operator", reason)]
        assert events(stack, order_id, "approved") == []

        # The TUI's own timeline says it too: on a screen tall enough for it, printed, then a pause.
        child.expect(MENU)
        child.setwinsize(100, 80)
        choose(child, "audit")
        pick_by_id(child, "Which order to inspect", order_id)
        child.expect(rf"Order {re.escape(order_id)}")
        child.expect(rf"rejected{ANSI}*  by operator: {re.escape(reason)}")
        child.expect("Press any key")
        child.send("x")
        quit_cleanly(child)
    finally:
        child.close(force=True)


def test_cancel_with_a_reason_ends_the_order_cancelled(stack: PrivateStack):
    order_id = order_awaiting_review(stack)
    reason = "customer called it off"
    child = spawn(stack)
    try:
        choose(child, "cancel")
        pick_by_id(child, "Which order to cancel", order_id)
        child.expect(r"Reason \(optional\)")
        child.send(reason + ENTER)
        child.expect("It has not been charged")  # not charged yet: nothing to refund
        child.send("y")
        child.expect(rf"Order{ANSI}* {order_id}{ANSI}* cancelled")

        wait_for_row(stack, order_id, "CANCELLED")
        status = stack.json("order", "status", order_id)
        assert status["state"] == "CANCELLED"
        assert status["payment"]["status"] != "CHARGED"
        requests = events(stack, order_id, "cancel_requested")
        assert [(r["by"], r["reason"]) for r in requests] == [("operator", reason)]
        quit_cleanly(child)
    finally:
        child.close(force=True)


def test_address_change_before_dispatch_reaches_the_database_and_the_audit(stack: PrivateStack):
    order_id = order_awaiting_review(stack)
    child = spawn(stack)
    try:
        choose(child, "address")
        pick_by_id(child, "Which order to re-address", order_id)
        child.expect("Current address")
        # Each field offers the current value: replace it.
        for field, value in (("Recipient", "Bo Chen"), ("Street", "9 Harbour Rd"), ("City", "Hamburg"),
                             ("Postal code", "20095"), ("Country", "de"), ("Region", "")):
            child.expect(field)
            child.send(CLEAR_LINE + value + ENTER)
        child.expect("Ship order")
        child.send(ENTER)  # yes, the default
        child.expect(rf"Address of order{ANSI}* {order_id}{ANSI}* updated")

        new = {"name": "Bo Chen", "street": "9 Harbour Rd", "city": "Hamburg", "postal_code": "20095", "country": "DE"}
        changes = events(stack, order_id, "address_changed")
        assert len(changes) == 1, changes
        assert changes[0]["by"] == "operator"
        assert changes[0]["old"]["city"] == "Springfield" and changes[0]["old"]["name"] == "Ann Lee"
        assert {k: changes[0]["new"].get(k) for k in new} == new
        # The audit's order is the database row (the status merges in the workflow's view).
        stored = stack.json("order", "audit", order_id)["order"]["address"]
        assert {k: stored.get(k) for k in new} == new
        assert not stored.get("region")
        quit_cleanly(child)
    finally:
        child.close(force=True)


def test_bare_start_sh_brings_a_stopped_stack_up_and_opens_the_tui():
    """What an operator runs first: ./start.sh, no command, on a stack that is not running.
    The other tests start `python -m app tui` on a stack already up."""
    stopped = PrivateStack.create()
    try:
        env = {**stopped.env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm-256color"}
        child = pexpect.spawn(
            str(ROOT / "start.sh"), [], env=env, cwd=str(ROOT), dimensions=(24, 80), encoding="utf-8", timeout=60
        )
        child.expect(MENU, timeout=240)  # up first: Temporal, PostgreSQL, both workers
        assert stopped.run("status").returncode == 0, stopped.log_tails()
        child.sendcontrol("c")
        child.expect(re.escape(GOODBYE))
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        stopped.destroy()

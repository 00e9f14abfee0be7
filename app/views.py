"""Pure functions from database rows to the plain data operators see: one order's summary,
its status merged with the workflow's live view, and its audit timeline. No I/O here, so
they are tested on plain values."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Iterable, Mapping

from workflows.model import PROGRESS, OrderState, format_cents, order_workflow_id

# What an order is doing next, judged from the last state it recorded.
NEXT_STEP = {
    OrderState.RECEIVED.value: "validating",
    OrderState.VALIDATED.value: "awaiting review",
    OrderState.AWAITING_APPROVAL.value: "awaiting review",
    OrderState.APPROVED.value: "charging payment",
    OrderState.PAID.value: "preparing package",
    OrderState.PACKED.value: "dispatching carrier",
    OrderState.DISPATCHED.value: "marking shipped",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def processing_seconds(row: Mapping[str, Any], now: datetime) -> tuple[float, float]:
    """(processing, review) seconds: time since start minus time spent waiting for a human."""
    if row["processing_ms"] is not None:
        return row["processing_ms"] / 1000, (row["review_ms"] or 0) / 1000
    if row["review_ms"] is not None:
        review = row["review_ms"] / 1000
    elif row["awaiting_approval_since"] is not None:
        review = max(0.0, (now - row["awaiting_approval_since"]).total_seconds())
    else:
        review = 0.0
    elapsed = max(0.0, (now - row["created_at"]).total_seconds())
    return max(0.0, elapsed - review), review


def _settled(last_error: dict[str, Any] | None, state: str) -> dict[str, Any] | None:
    """Say why a last error no longer stands: a later attempt of the same step succeeded, or it
    is the shipment a cancel called off (the cancel taking effect, not a fault)."""
    if last_error is None:
        return None
    if last_error["resolved"]:
        return {**last_error, "why": "a later attempt succeeded"}
    if state == OrderState.CANCELLED.value and last_error["message"].startswith("ShipmentCalledOff"):
        return {**last_error, "resolved": True, "why": "the cancel took effect"}
    return last_error


def _payment(payment: dict[str, Any], terminal: bool) -> dict[str, Any]:
    """An order that ended before any charge has no charge pending: its payment is FAILED, the
    status under which the database voids such a payment id (db/payments.py: the refund at the
    ending, or a charge that comes after it). A rejection before approval writes no row, and
    said PENDING, as if money might still be taken; the panel says "not charged"."""
    if terminal and payment.get("status") == "PENDING":
        return {**payment, "status": "FAILED"}
    return payment


def order_summary(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    state = row["state"]
    terminal = OrderState(state).terminal
    processing, review = processing_seconds(row, now)
    last_error = None
    if row.get("last_error"):
        last_error = {
            "activity": row["last_error_activity"],
            "message": row["last_error"],
            "when": _iso(row["last_error_at"]),
            "resolved": bool(row["last_error_resolved"]),
        }
    return {
        "order_id": row["id"],
        "state": state,
        "step": "done" if terminal else NEXT_STEP.get(state, ""),
        "terminal": terminal,
        "items": row["items_json"],
        "amount_cents": row["amount_cents"],
        "amount": format_cents(row["amount_cents"]),
        "address": row["address_json"],
        "payment": _payment({"payment_id": row["payment_id"], "status": row["payment_status"] or "PENDING"}, terminal),
        "attempts_total": row["attempts"] or 0,
        "retries": row["retries"] or 0,
        "failed_attempts": row["failures"] or 0,
        "last_error": _settled(last_error, state),
        "awaiting_approval_since": _iso(row["awaiting_approval_since"]),
        "processing_seconds": round(processing, 3),
        "review_seconds": round(review, 3),
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "finished_at": _iso(row["finished_at"]),
        "failure_reason": row["failure_reason"],
        "tracking_number": row["tracking_number"],
    }


def _attempt_entries(attempts: Iterable[Mapping[str, Any]], ended_at: datetime | None) -> list[dict[str, Any]]:
    """Each attempt, with which shipping run it belongs to (``shipping_attempt``, from the
    child's workflow id) and whether it began a step over (``rerun``): attempt 1 of a step
    invocation that had attempts already. That is a workflow task that was retried (its
    completion refused because a signal came meanwhile, or its worker lost), so that its
    local activities ran anew; their side effects are idempotent, and the audit says so.

    And whether it repeats, after the order's ending was recorded, a step that began before
    (``after_ending``): the attempt that recorded the ending can still time out (an earlier
    attempt's timer, or its answer late), and Temporal then runs the step again until it hears
    it succeed, which changes nothing. A step begun after the ending (a refused command's
    audit record) is no repeat.

    And, for a step begun over after an attempt that failed (``cut_off_after``: that attempt's
    number), that the attempts due after it left no row: the task was lost while the step
    retried, its worker killed (a row is written as its attempt ends, or kept in the worker while
    the database is out of reach) or stopped past the task's timeout. A step begun over after an
    ok (the task's completion refused) owes no attempt, and one cancelled (a reset) has its row.
    Read from the rows alone: no write per attempt."""
    attempts = sorted(attempts, key=lambda a: a["started_at"])
    begun = {(a["workflow_id"], a["activity_id"]) for a in attempts if ended_at is not None and a["started_at"] <= ended_at}
    entries, last = [], {}
    for a in attempts:
        invocation = (a["workflow_id"], a["activity_id"])
        before = last.get(invocation)
        rerun = a["attempt"] == 1 and before is not None
        run = a["workflow_id"].rpartition("-")[2] if a["workflow_id"].startswith("shipping-") else ""
        entries.append(
            {
                "at": _iso(a["started_at"]),
                "kind": "attempt",
                "activity": a["activity"],
                "attempt": a["attempt"],
                "outcome": a["outcome"],
                "error": a["error"],
                "duration_ms": a["duration_ms"],
                "workflow_id": a["workflow_id"],
                "shipping_attempt": int(run) if run.isdigit() else None,
                "rerun": rerun,
                "cut_off_after": before["attempt"] if rerun and before["outcome"] in ("error", "timeout") else None,
                "after_ending": invocation in begun and a["started_at"] > ended_at,
                "_sort": (a["started_at"], 0),
            }
        )
        last[invocation] = a
    return entries


def timeline(
    events: Iterable[Mapping[str, Any]], attempts: Iterable[Mapping[str, Any]], ended_at: datetime | None = None
) -> list[dict[str, Any]]:
    """Events and attempts merged in time order (``ended_at``: when the order's ending was recorded)."""
    entries = [
        {
            "at": _iso(e["ts"]),
            "kind": "event",
            "type": e["type"],
            "payload": e["payload_json"],
            "_sort": (e["ts"], 1),
        }
        for e in events
    ] + _attempt_entries(attempts, ended_at)
    entries.sort(key=lambda entry: entry.pop("_sort"))
    return entries


def _row_is_ahead(recorded: str | None, live: OrderState) -> bool:
    """The order row can be ahead of the workflow's last completed workflow task: the child
    records PACKED and DISPATCHED, and the final step records the ending, before it."""
    if recorded is None or live.terminal:
        return False
    state = OrderState(recorded)
    return state.terminal or PROGRESS.index(state) > PROGRESS.index(live)


# How long the order row may say the review is over while the workflow still awaits it: the
# row is written by a local activity a few milliseconds before the workflow's task completes.
DECISION_LOST_AFTER_S = 30.0


def lost_decision(order_id: str, live_state: OrderState, recorded: str | None, recorded_at: datetime | None, now: datetime) -> str | None:
    """Why the operator must approve again, or None. The row says the order was approved (and
    on: APPROVED to DISPATCHED) while the workflow, long after, still awaits review: the
    workflow no longer has the approval. A workflow reset to before it, or an Update that a
    restart of Temporal lost before it was on record (orders of workflow code before
    OrderInput.updates_on_record). A row that ended (REJECTED, CANCELLED) needs nothing: the
    workflow adopts the recorded ending when its review window closes."""
    if live_state != OrderState.AWAITING_APPROVAL or recorded_at is None or not _row_is_ahead(recorded, live_state):
        return None
    if OrderState(recorded).terminal or (now - recorded_at).total_seconds() < DECISION_LOST_AFTER_S:
        return None
    return (
        f"Order {order_id}'s row says {recorded}, but its workflow still awaits review: the workflow no longer"
        f" has the approval (a reset, or a restart of Temporal that lost it). Send it again with"
        f" ./start.sh order approve {order_id} (a payment already charged is not charged again)."
    )


def merged_status(order_id: str, live: Any, summary: dict, per_activity: dict[str, int], now: datetime) -> dict:
    """One order's status: the database's summary with the workflow's live view (an
    OrderStatus from the status query, or None when the workflow did not answer) on top."""
    status: dict[str, Any] = dict(summary)
    if live is not None and live.terminal and live.amount_cents is None and summary:
        # The workflow id's latest run ended without ever storing an order (one started by hand
        # under order-<id> with an input no order can be made of, after the order had closed):
        # it does not speak for the order the row holds. A shipped order read FAILED, uncharged.
        live = None
    if live is not None:
        view = asdict(live)
        status.update(
            {
                "state": live.state.value,
                "step": live.step,
                "terminal": live.terminal,
                "items": view["items"],
                "address": view["address"],
                # Only the workflow knows (the TUI refuses the address it has only when none is).
                "address_change_pending": live.address_change_pending,
                "payment": {"payment_id": live.payment.payment_id, "status": live.payment.status.value},
                # An order that shipped has no failure: a workflow from before the hand-over
                # cleared it still carries an earlier shipping attempt's.
                "failure_reason": ""
                if live.state == OrderState.SHIPPED
                else live.failure_reason or summary.get("failure_reason", ""),
                "tracking_number": live.tracking_number or summary.get("tracking_number", ""),
                "shipping_attempts": live.shipping_attempts,
                "awaiting_approval_since": live.awaiting_approval_since or summary.get("awaiting_approval_since"),
                "created_at": summary.get("created_at") or live.created_at,
                "source": "workflow",
            }
        )
        if _row_is_ahead(summary.get("state"), live.state):
            ahead = ("state", "step", "terminal") + (("payment",) if summary["terminal"] else ())
            status.update({key: summary[key] for key in ahead})
        if live.amount_cents is not None and "amount_cents" not in summary:
            status["amount_cents"] = live.amount_cents
            status["amount"] = format_cents(live.amount_cents)
        if live.terminal and "processing_seconds" not in summary:
            status["processing_seconds"] = live.processing_seconds
            status["review_seconds"] = live.review_seconds
    else:
        status["source"] = "database"
    if "payment" in status:  # the workflow's view has it PENDING too
        status["payment"] = _payment(status["payment"], status["terminal"])
    status["order_id"] = order_id
    status["workflow_id"] = order_workflow_id(order_id)
    status["attempts"] = per_activity
    # The order row's count, from the same query as the list's (db/queries.py): attempts after
    # the first. Before the row exists only ReceiveOrder has run, so the attempts per activity
    # give the same count (unless its worker was lost meanwhile and the step ran again).
    status.setdefault("retries", sum(n - 1 for n in per_activity.values() if n))
    status.setdefault("updated_at", now.isoformat())
    return status

"""The operator's commands to an order (approve, reject, cancel, a new address): each checked
against the order's row and its request key, then sent as a Temporal Update (app.service.sending).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from activities import rules
from app import checks
from app.errors import InvalidInput, NotFound, Refused, command_noun
from app.service.sending import OnSent
from app.service.temporal_errors import CONNECT_TIMEOUT_S, QUERY_TIMEOUT, _already, _out_of_reach
from app.waiting import within
from db import queries, request_keys
from workflows.model import Address, OrderState

log = logging.getLogger("app.service")

# How long the check after a command waits for PostgreSQL (database_warning): a hung one must
# not hold an answer Temporal has already given.
DATABASE_CHECK_S = 2


class OrderCommands:
    """Part of OrderService (app.service), which mixes it in: its commands, and what is checked
    before one is sent (the order's row, the request key, an earlier answer under that key)."""

    # ``request_id``: the caller's idempotency key, which makes a retry the same command (_command).
    # ``on_sent``: called once the Update goes to Temporal, past the checks before it (_send): a
    # caller stopped by Ctrl-C then says plainly whether the command went (the TUI, the CLI, the
    # simulation's summary), not that it "may" have.
    async def approve(
        self, order_id: str, by: str = checks.DEFAULT_BY, request_id: str | None = None, on_sent: OnSent = None
    ) -> str:
        checks.approve(order_id, by=by)
        checks.request_id(request_id)
        return await self._command(order_id, "approve", [by, _now_iso()], request_id, on_sent=on_sent)

    async def reject(
        self, order_id: str, reason: str, by: str = checks.DEFAULT_BY, request_id: str | None = None,
        on_sent: OnSent = None,
    ) -> str:
        checks.reject(order_id, reason, by=by)
        checks.request_id(request_id)
        args = [reason.strip(), by, _now_iso()]
        return await self._command(order_id, "reject", args, request_id, f"Order {order_id} cannot be rejected", on_sent)

    async def cancel(
        self, order_id: str, reason: str = "", by: str = checks.DEFAULT_BY, request_id: str | None = None,
        on_sent: OnSent = None,
    ) -> str:
        checks.cancel(order_id, reason, by=by)
        checks.request_id(request_id)
        # With no reason, the reason names who cancelled (the audit then says it once: app.render_audit).
        args = [reason.strip() or f"cancelled by {by}", by, _now_iso()]
        return await self._command(order_id, "cancel", args, request_id, f"Order {order_id} cannot be cancelled", on_sent)

    async def update_address(
        self, order_id: str, address: Address, by: str = checks.DEFAULT_BY, request_id: str | None = None,
        on_sent: OnSent = None,
    ) -> str:
        checks.update_address(order_id, address, by=by)
        checks.request_id(request_id)
        answer = await self._command(
            order_id, "update_address", [rules.normalise_entered_address(address), by, _now_iso()], request_id,
            f"The address of order {order_id} cannot change", on_sent,
        )
        note = rules.carrier_note(address)
        return f"{answer} {note}" if note else answer

    async def database_warning(self) -> str:
        """After a command Temporal took: "" if PostgreSQL answers, else the sentence that the
        order records the command once it does. Asked after the command, not only at connect: a
        long-lived caller (the API) connected while it answered, and its approve said
        "approved." alone once it had gone (a review)."""
        if not self.database_unreachable:
            try:
                await within(self.pool.fetchval("SELECT 1"), DATABASE_CHECK_S)
                return ""
            except Exception as error:
                if not _out_of_reach(error, self.settings):
                    # The command was taken: its answer stands, whatever went wrong in this check.
                    log.exception("event=database_check_after_command_failed")
                    return ""
                log.warning("event=database_unreachable_after_command error=%r", error)
        return (
            f"PostgreSQL at {self.settings.database_url_redacted} is not reachable, so the order records this and"
            f" goes on once it answers again; {self.settings.database_remedy}."
        )

    # ------------------------------------------------------------------ mechanics

    async def _refuse_by_row(self, order_id: str, cannot: str | None) -> bool:
        """The database decides the hand-over (DispatchCarrier's transaction) and the ending (the
        first one recorded wins): once it says the carrier has the package, a command given
        ``cannot`` (what its refusal says: a cancel, a rejection, an address change) is refused
        at once, as the workflow would once it hears of it; once it says the order ended, any
        command is. Asked first because the workflow may lag behind it: with the order worker
        down, the command waited, then said it "may still take effect"; and a workflow reset
        after a rejection took an approval, said "approved." and stayed REJECTED (the ending
        on record wins).
        Returns whether the database was out of reach (then the command waits for it, which a
        long-lived caller such as the API, connected while it answered, would not know)."""
        if self.database_unreachable:
            # Found out of reach when this service connected, a moment ago: asked again, it
            # held `order cancel` another 5 s before anything was sent (12 s in all).
            return True
        try:
            state = await within(queries.order_state(self.pool, order_id), CONNECT_TIMEOUT_S)
        except Exception as error:
            if not _out_of_reach(error, self.settings):
                raise
            # The workflow is told and decides; its ending asks the database once it is back.
            log.warning("event=dispatch_check_skipped order_id=%s reason=database_unreachable error=%r", order_id, error)
            return True
        if state == OrderState.DISPATCHED.value and cannot is not None:
            raise Refused(f"{cannot}: the carrier already has the package.")
        if state is not None and OrderState(state).terminal:
            raise _already(order_id, state)
        return False

    async def _command(
        self, order_id: str, name: str, args: list, request_id: str | None, past_dispatch: str | None = None,
        on_sent: OnSent = None,
    ) -> str:
        """Send the command ``name``. ``request_id``: the caller's idempotency key; the command is
        then the Update of id <name>:<order id>:<request id>, which Temporal keeps for the workflow
        run, so a retry under the same key gets the first one's outcome and adds nothing to the
        history or the audit (without one the SDK picks a random id, and a retry is a new command).
        ``past_dispatch``: what a refusal says once the database has the carrier holding the
        package (_refuse_by_row); the retry of a command the order took before that is
        answered as it was then, not refused because the order moved on since."""
        update_id = None if request_id is None else f"{name}:{order_id}:{request_id}"
        database_lost = claimed = False
        if request_id is not None:
            database_lost = await self._claim_request_key(order_id, name, args, request_id)
            claimed = not database_lost
        if not database_lost:
            try:
                database_lost = await self._refuse_by_row(order_id, past_dispatch)
            except Refused:
                if update_id is None or (earlier := await self._earlier_answer(order_id, update_id)) is None:
                    raise
                return earlier
        try:
            return await self._update(order_id, name, args, database_lost, update_id, on_sent)
        except NotFound:
            if claimed and request_id is not None:
                await self._release_request_key(order_id, name, args, request_id)
            raise

    async def _claim_request_key(self, order_id: str, name: str, args: list, request_id: str) -> bool:
        """Bind the key to this request (``args`` but their last, the time it was sent), or
        refuse it if it was sent before with another: Temporal answers an Update id it has seen
        with its first outcome whatever the new one carries, so an approve by bob under ann's key
        was told "approved." and the audit said ann. Two identical requests at once both pass
        (db.request_keys.claim), and Temporal takes their Update once. Returns whether
        PostgreSQL was out of reach: the key then goes unchecked, as the command goes to
        Temporal, which carries it while the database is down."""
        if self.database_unreachable:
            return True
        request = _fingerprint(name, args[:-1])
        try:
            recorded = await within(
                request_keys.claim(self.pool, name, order_id, request_id, request), CONNECT_TIMEOUT_S
            )
        except Exception as error:
            if not _out_of_reach(error, self.settings):
                raise
            log.warning("event=request_key_unchecked command=%s order_id=%s error=%r", name, order_id, error)
            return True
        if recorded is not None and recorded != request:
            noun = command_noun(name)
            log.info("event=request_key_reused command=%s order_id=%s", name, order_id)
            raise InvalidInput(
                f"This idempotency key was sent before with another {noun} of order {order_id}; send a new {noun}"
                " under a new key."
            )
        return False

    async def _release_request_key(self, order_id: str, name: str, args: list, request_id: str) -> None:
        """A key claimed for an order there is none of is let go: kept, its row stayed for good
        (nothing deletes request_keys), one for each such call. Its answer, "There is no order",
        stands whatever comes of this."""
        try:
            await within(
                request_keys.release(self.pool, name, order_id, request_id, _fingerprint(name, args[:-1])),
                CONNECT_TIMEOUT_S,
            )
        except Exception as error:
            log.warning("event=request_key_kept command=%s order_id=%s error=%r", name, order_id, error)

    async def _earlier_answer(self, order_id: str, update_id: str) -> str | None:
        """The outcome of the Update of this id the order carried out, or None if it has none (not
        sent, refused, or Temporal does not say within QUERY_TIMEOUT)."""
        if self._client is None:
            return None
        try:
            update = self._handle(order_id).get_update_handle(update_id)
            answer = await within(update.result(rpc_timeout=QUERY_TIMEOUT), QUERY_TIMEOUT.total_seconds())
        except Exception as error:  # the refusal stands
            log.info("event=no_earlier_command order_id=%s update_id=%s error=%r", order_id, update_id, error)
            return None
        log.info("event=command_repeated order_id=%s update_id=%s", order_id, update_id)
        return str(answer)


def _fingerprint(name: str, request: list) -> bytes:
    """What a key stands for: the command and its input as the order is sent it (trimmed, the
    defaults filled in), without the time it was sent."""
    return request_keys.fingerprint({"command": name, "request": request})


def _now_iso() -> str:
    """When the operator decided: stamped on approve/reject so the review clock stops there, and
    on cancel and address changes so their audit rows, written later if the worker is stopped,
    say when they were sent."""
    return datetime.now(timezone.utc).isoformat()

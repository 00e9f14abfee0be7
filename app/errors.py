"""Errors an operator can cause or meet, each turned into one sentence and an exit code at the edge."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # app.config imports this module
    from app.config import Settings


class OperatorError(Exception):
    """An expected failure; ``str(error)`` is the one sentence shown to the operator."""

    exit_code = 1


class InvalidInput(OperatorError):
    """The input was refused before anything started."""


class Taken(InvalidInput):
    """An order id or payment id another order has: refused like any bad input (exit 1), a
    conflict over HTTP (409)."""


class Refused(OperatorError):
    """The order (its workflow) refused the command, with its reason."""


class NotFound(OperatorError):
    """No such order."""


class StackUnreachable(OperatorError):
    """A part of the stack does not answer; the message says which and how to start it."""

    exit_code = 3


class NotYetRecorded(StackUnreachable):
    """An order whose workflow has started, with an order worker serving it, and whose row that
    worker has not written yet: a moment's wait, not "no such order". Over HTTP a 503 with
    Retry-After (a 404 read as no such order to a client), and exit 3 on the command line, as
    any answer worth asking again for."""

    retry_after_s = 1


class TemporalRefused(OperatorError):
    """Temporal answered and refused the caller's credentials (permission denied,
    unauthenticated): the fix is Temporal's API key or certificate, neither the request nor an
    outage."""


# Client.connect's own first call (the server's system info) refused: the SDK raises it as a
# RuntimeError with tonic's Status in Rust's debug text, not as an RPCError ("Failed client
# connect: `get_system_info` call error after connection: Status { code: PermissionDenied,
# message: "Request unauthorized.", … }"), where a quote or a backslash in the message is escaped.
# An empty message is left out of that text ("Status { code: PermissionDenied, metadata: … }").
_CONNECT_REFUSED = re.compile(r'\bcode: (PermissionDenied|Unauthenticated),(?: message: "((?:[^"\\]|\\.)*)")?')
_ESCAPED = re.compile(r'\\(["\\])')  # a quote or a backslash in the message, as Rust's debug text has it
_REFUSING_CODES = {"PermissionDenied": "permission denied", "Unauthenticated": "unauthenticated"}


def credentials_refused(error: BaseException) -> str | None:
    """How Temporal refused the caller's credentials, "permission denied: Request unauthorized."
    say, or None if ``error`` is something else: an RPCError, or Client.connect's refusal."""
    from temporalio.service import RPCError, RPCStatusCode

    if isinstance(error, RPCError):
        if error.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED):
            return None
        return _refusal(error.status.name.lower().replace("_", " "), error.message)
    if isinstance(error, RuntimeError) and (found := _CONNECT_REFUSED.search(str(error))):
        return _refusal(_REFUSING_CODES[found.group(1)], _ESCAPED.sub(r"\1", found.group(2) or ""))
    return None


def _refusal(code: str, message: str) -> str:
    return f"{code}: {message}" if message else code


def temporal_refused(error: BaseException, address: str, doing: str = "the request") -> TemporalRefused | None:
    """The sentence for a call Temporal refused for want of permission, or None if ``error`` is
    something else. ``doing``: what was refused, to go after "refused"."""
    if (how := credentials_refused(error)) is None:
        return None
    return TemporalRefused(
        f"Temporal at {address} refused {doing} ({how}); check the permissions of Temporal's API key or certificate."
    )


COMMAND_NOUNS = {
    "approve": "approval",
    "reject": "rejection",
    "cancel": "cancel",
    "update_address": "address change",
    # The shipping child's Signals to its parent: by their names, not "the dispatch failed" or
    # "the package prepared", which in a "command refused" row read as if the carrier had just
    # refused the package, or it had just been packed.
    "dispatch_failed": "dispatch_failed signal",
    "package_prepared": "package_prepared signal",
}


def command_noun(command: str) -> str:
    """What an operator calls a command's Update in a sentence: "the approval", not "the approve"."""
    return COMMAND_NOUNS.get(command, command.replace("_", " "))


def temporal_silent(address: str, down: bool, where_down: str) -> str:
    """How Temporal gave no answer, for a sentence to go on: it refused or dropped the connection
    (``down``: killed, restarting), or left the call unanswered (stopped with SIGSTOP, swamped)."""
    if down:
        return f"Temporal at {address} is not reachable (down or restarting: {where_down})"
    return f"Temporal at {address} is not answering (stopped or swamped: {where_down})"


class Unanswered(StackUnreachable):
    """A command the order did not answer, or accepted and has not carried out, in the time the
    caller waits. Not "done": it may still take effect (or be refused as too late) once the
    worker is back. With ``temporal`` (its address), Temporal itself did not answer the check
    before the send, and the command was not sent at all. ``str()`` is the command line's
    sentence; ``in_tui()`` the TUI's, which points to its own screens rather than to commands
    for another terminal."""

    def __init__(
        self, order_id: str, command: str, accepted: bool, waited_s: float, *, worker_down: bool = False,
        temporal: str = "", temporal_down: bool = False,
    ) -> None:
        self.order_id, self.command, self.accepted, self.waited_s = order_id, command_noun(command), accepted, waited_s
        self.worker_down = worker_down  # Temporal says no order worker serves the queue: known, not a guess
        self.temporal = temporal  # Temporal's address, when it did not answer: the command was not sent
        self.temporal_down = temporal_down  # and it refused the connection (killed, restarting), not left it unanswered
        super().__init__(self._sentence("see ./start.sh status", f"check with ./start.sh order status {order_id}"))

    def in_tui(self) -> str:
        # "if it does": one refused then (a second decision, say) leaves no row; a validator records nothing.
        return self._sentence("see the health line above the menu", "the Live dashboard and the Audit log show it if it does")

    def _sentence(self, where_down: str, how_to_check: str) -> str:
        if self.accepted and self.worker_down:  # a cancel, waiting for the shipping child's dispatch
            return (
                f"Order {self.order_id} accepted the {self.command}, but no shipping worker is serving to carry it"
                f" out (none runs, or it is stopped: {where_down}); it takes effect, or is refused as too late,"
                f" once one does: {how_to_check}."
            )
        if self.accepted:  # the validator said yes; the handler waits (a cancel, for the shipping child)
            return (
                f"Order {self.order_id} accepted the {self.command} but has not carried it out after"
                f" {self.waited_s:g} s (a worker may be down or busy: {where_down}); it takes effect, or"
                f" is refused as too late, once that worker is back: {how_to_check}."
            )
        # The SDK gives up on an Update no worker takes; the server keeps it, so it may still apply.
        if self.worker_down:  # none runs, or it is stopped: the health check says which
            return (
                f"No order worker is serving order {self.order_id}, so it cannot answer (none runs, or it is"
                f" stopped: {where_down}); the {self.command} may still take effect, or be refused, once one does:"
                f" {how_to_check}."
            )
        if self.temporal:  # nothing to check: nothing was sent
            return (
                f"{temporal_silent(self.temporal, self.temporal_down, where_down)}, so the {self.command} to order"
                f" {self.order_id} was not sent; send it again once Temporal answers."
            )
        return (
            f"Order {self.order_id} did not answer within {self.waited_s:g} s (a worker may be down or busy:"
            f" {where_down}); the {self.command} may still take effect, or be refused, once it is back: {how_to_check}."
        )


def postgres_refused(error: BaseException) -> bool:
    """Whether PostgreSQL answered a connection and said no, for a reason no wait mends: a user,
    password or database it does not have, or a setting in DATABASE_URL it does not know or take
    (asyncpg sends ``?bogus=1`` and ``?statement_timeout=abc`` to the server as settings)."""
    import asyncpg

    return isinstance(
        error,
        (
            asyncpg.InvalidAuthorizationSpecificationError,
            asyncpg.InvalidCatalogNameError,
            asyncpg.UndefinedObjectError,
            asyncpg.InvalidParameterValueError,
        ),
    )


def lost_database(error: BaseException, settings: Settings) -> StackUnreachable | None:
    """A database connection that failed under a long-lived screen (the TUI keeps one pool):
    the sentence to show, naming the database and what to do about it, or None if ``error``
    is something else (a bug stays a bug)."""
    import socket

    import asyncpg

    lost = (
        ConnectionError,  # refused, reset, aborted
        socket.gaierror,
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.OperatorInterventionError,  # shutting down
        asyncpg.ConnectionDoesNotExistError,
    )
    connection_gone = isinstance(error, asyncpg.InterfaceError) and "connection" in str(error).lower()
    if isinstance(error, lost) or connection_gone:
        return StackUnreachable(
            # "Not reachable", as a command that cannot connect says it: the API said "not answering"
            # where `order list` said "not reachable" of the same stopped stack. "Not answering"
            # is for a call left unanswered (stopped with SIGSTOP, swamped), as temporal_silent says.
            f"PostgreSQL at {settings.database_url_redacted} is not reachable; {settings.database_remedy}."
        )
    return None

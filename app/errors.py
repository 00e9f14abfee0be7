"""Errors an operator can cause or meet, each turned into one sentence and an exit code at the edge."""

from __future__ import annotations


class OperatorError(Exception):
    """An expected failure; ``str(error)`` is the one sentence shown to the operator."""

    exit_code = 1


class InvalidInput(OperatorError):
    """The input was refused before anything started."""


class Refused(OperatorError):
    """The order (its workflow) refused the command, with its reason."""


class NotFound(OperatorError):
    """No such order."""


class StackUnreachable(OperatorError):
    """A part of the stack does not answer; the message says which and how to start it."""

    exit_code = 3


def lost_database(error: BaseException, where: str) -> StackUnreachable | None:
    """A database connection that failed under a long-lived screen (the TUI keeps one pool):
    the sentence to show, or None if ``error`` is something else (a bug stays a bug)."""
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
        return StackUnreachable(f"PostgreSQL at {where} is not answering; start what is down with ./start.sh up.")
    return None

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

"""The service's sentences as the TUI says them: the command line's point to commands for
another shell (./start.sh status, ./start.sh order status ID), the TUI's to what it shows: the
health line above the menu, the Live dashboard and the Audit log. What only a shell does (the
logs) is named as a command for another one, as the TUI's "Left down" line names ./start.sh up."""

from __future__ import annotations

import re

from app.errors import OperatorError, Unanswered

_ORDER_ID = r"([A-Za-z0-9][A-Za-z0-9_-]*)"  # workflows.model.ORDER_ID_PATTERN, without its bounds

# Each phrase of the command line that names one of those commands, the longest first, and the
# TUI's phrase of the same grammar in its place (each sentence stays one sentence).
IN_THE_TUI = tuple((re.compile(said), in_tui) for said, in_tui in (
    (
        rf"check with \./start\.sh order status {_ORDER_ID} once the stack is up \(\./start\.sh status\)",
        r"check order \1 on the Live dashboard or in the Audit log once the stack is up (see the health line)",
    ),
    (rf"check with \./start\.sh order status {_ORDER_ID}", r"check order \1 on the Live dashboard or in the Audit log"),
    (rf"see it with \./start\.sh order status {_ORDER_ID}", "see it on the Live dashboard or in the Audit log"),
    (rf"\(\./start\.sh order status {_ORDER_ID}\)", r"(see order \1 on the Live dashboard)"),
    (r"check the stack with \./start\.sh status", "see the health line"),
    (r"see \./start\.sh status", "see the health line"),
    # WORKFLOW_TASKS_FAILING (app.service.temporal_errors); a stopped worker is on the health line
    # right after, and naming it too took a sixth line at 80 columns (a key to press).
    (
        r"\(an order worker stopped, or an error in its log: \./start\.sh logs order-worker\)",
        "(an order worker stopped, or an error in its log, which ./start.sh logs order-worker shows from another shell)",
    ),
    # Settings._local_remedy: back at the menu the TUI asks "Start what is down?" (once an outage).
    (
        r"start the stack with \./start\.sh up",
        "start the stack when the TUI offers to, or from another shell with ./start.sh up",
    ),
))


def in_the_tui(error: OperatorError) -> str:
    """``error``'s sentence as a TUI screen shows it. The service's own is the command line's,
    which the CLI and the API keep: shown as it was, a command Temporal did not answer said
    "check with ./start.sh order status o-7 once the stack is up (./start.sh status)"."""
    if isinstance(error, Unanswered):
        return error.in_tui()
    sentence = str(error)
    for said, in_tui in IN_THE_TUI:
        sentence = said.sub(in_tui, sentence)
    return sentence

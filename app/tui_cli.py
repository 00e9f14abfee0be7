"""The `tui` command (also what `./start.sh` runs with no command): the interactive menus."""

from __future__ import annotations

import argparse
import sys

from app.errors import OperatorError


class NotATerminal(OperatorError):
    exit_code = 2


def register(commands: argparse._SubParsersAction) -> None:
    tui = commands.add_parser(
        "tui",
        help="the interactive terminal UI (the default command)",
        description="Starts what of the stack is not running, then a menu: create an order, approve or reject one,"
        " change its address, cancel it, the live dashboard, an order's audit log, a simulation. Arrows and Enter"
        " choose; Esc or Ctrl-C"
        " goes back to the menu; q leaves the dashboard and long pages; Quit (or Ctrl-C at the menu) leaves the"
        " TUI, and the stack keeps running (./start.sh down stops it).",
    )
    tui.set_defaults(handler=_tui)


async def _tui(args: argparse.Namespace) -> int:
    # A closed stdin or stdout (`0<&-`, `>&-`: cron, a service manager) is None here.
    if not (sys.stdin is not None and sys.stdin.isatty() and sys.stdout is not None and sys.stdout.isatty()):
        raise NotATerminal(
            "The TUI needs an interactive terminal; without one, use the order commands (./start.sh order --help)."
        )
    from app.stack_cli import UP_INTERRUPTED
    from app.tui.app import run_tui

    # Ctrl-C while the TUI starts the stack says what `up` says then; from the menu on, the TUI
    # takes Ctrl-C itself.
    args.on_interrupt = UP_INTERRUPTED
    return await run_tui(on_up=lambda: setattr(args, "on_interrupt", None))

"""The stack's health as `status` and the TUI show it: a table of its parts, the commands that
resume a stopped one, where each logs, and the addresses to reach it."""

from __future__ import annotations

import re
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

# Below this width the log paths leave the table for lines of their own (a path folded inside
# a cell cannot be copied).
WIDE_STACK_TABLE = 120


# Below this width the table has no box and no pid column (a stopped part's detail names its pid):
# boxed, the detail, what says why a part is down, was squeezed to nothing at 40 columns.
NARROW_STACK_TABLE = 72


def stack_table(status: Any, width: int = WIDE_STACK_TABLE) -> Table:
    """The parts of the stack, one row each (status is an app.stack.StackStatus)."""
    wide, narrow = width >= WIDE_STACK_TABLE, width < NARROW_STACK_TABLE
    table = Table(title="Order Tracker stack", title_justify="left", expand=False)
    if narrow:
        table = Table(
            title="Order Tracker stack", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
            collapse_padding=True,
        )
    table.add_column("part", no_wrap=True)
    table.add_column("health", no_wrap=True)
    if not narrow:
        table.add_column("pid", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    if wide:
        table.add_column("log", overflow="fold")
    for part in status.parts:
        health = Text("healthy", style="green") if part.healthy else Text("DOWN", style="bold red")
        where = "" if part.local else "external"
        cells = [part.name, health, *([] if narrow else [str(part.pid or "")]), resume_split(part.detail)[0]]
        table.add_row(*cells, *([part.log or where] if wide else []))
    return table


# "; kill -CONT 12 $(pgrep -P 12) resumes them" at the end of a stopped part's detail (app.stack.health).
_RESUME = re.compile(r"; (kill -CONT [^;]+?) resumes (it|them)$")


def resume_split(detail: str) -> tuple[str, str | None]:
    """A part's detail without the command that resumes it, and that command (None if none):
    folded inside a table cell at 80 columns, `kill -CONT <pid> $(pgrep -P <pid>)` was awkward
    to copy, so the cell points below the table, where stack_resume prints it whole."""
    found = _RESUME.search(detail)
    if found is None:
        return detail, None
    return f"{detail[: found.start()]}; the command below resumes {found.group(2)}", found.group(1)


def stack_resume(status: Any) -> Text | None:
    """The commands that resume the stopped parts, one line each and whole (print it with
    soft_wrap=True), each line fit to paste as it is: "kill -CONT 12  # resumes postgres"."""
    commands = [(part.name, resume_split(part.detail)[1]) for part in status.parts]
    lines = [f"{command}  # resumes {name}" for name, command in commands if command]
    return Text("\n".join(lines), style="bold") if lines else None


def stack_logs(status: Any) -> Text:
    """Where each part logs, one line each: for a narrow screen or a pipe, under stack_table
    (print it with soft_wrap=True, so that a long path stays whole)."""
    lines = [f"{part.name} log: {part.log}" for part in status.parts if part.log]
    return Text("\n".join(lines), style="dim")


def stack_links(status: Any) -> Text:
    text = Text()
    text.append("Temporal ")
    text.append(status.temporal_address, style="cyan")
    if status.temporal_ui_url:
        text.append("  Web UI ")
        text.append(status.temporal_ui_url, style="cyan underline")
    text.append("  PostgreSQL ")
    text.append(status.database_url, style="cyan")
    return text

"""The health line printed above the main menu: one mark per part of the stack and the link
to the Temporal Web UI. A pure function of app.stack.StackStatus."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from app.stack.health import is_stopped

# The order the operator reads them in, and the name they know each part by.
HEALTH_PARTS = (
    ("temporal", "Temporal"),
    ("postgres", "PostgreSQL"),
    ("order-worker", "order worker"),
    ("shipping-worker", "shipping worker"),
)


def health_line(status: Any, width: int = 80) -> Text:
    """The parts and the Web UI link on as few lines as ``width`` allows, a line breaking only
    between two of them: the terminal broke "✓ shipping worker" after its mark."""
    parts = {part.name: part for part in status.parts}
    pieces = []
    for name, label in HEALTH_PARTS:
        part = parts.get(name)
        if part is not None and part.healthy:
            pieces.append(Text.assemble(("✓ ", "green"), label))
        else:
            pieces.append(Text.assemble(("✗ ", "bold red"), (f"{label} {_how_down(part)}", "bold red")))
    if status.temporal_ui_url:
        pieces.append(Text.assemble(("Web UI ", "dim"), (status.temporal_ui_url, "cyan underline")))
    text, used = Text(), 0
    for piece in pieces:
        if used and used + 2 + piece.cell_len > width:
            text.append("\n")
            used = 0
        elif used:
            text.append("  ")
            used += 2
        text.append_text(piece)
        used += piece.cell_len
    return text


def _how_down(part: Any) -> str:
    """"stopped" for a part whose process is stopped (SIGSTOP: its pooled connections may still
    answer, and starting it cannot help; the menu's line says what resumes it), else "down"."""
    return "stopped" if part is not None and is_stopped(part) else "down"


def health_summary(status: Any) -> Text:
    """The health line in one line, for a terminal too short for it: the parts that are down,
    or that none is; cut at the edge."""
    parts = {part.name: part for part in status.parts}
    down = [(label, _how_down(parts.get(name))) for name, label in HEALTH_PARTS if parts.get(name) is None or not parts[name].healthy]
    if down:
        if all(how == "down" for _, how in down):
            said = ", ".join(label for label, _ in down) + " down"
        else:
            said = ", ".join(f"{label} {how}" for label, how in down)
        text = Text.assemble(("✗ ", "bold red"), (said, "bold red"))
    else:
        text = Text.assemble(("✓ ", "green"), "the stack is healthy")
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def health_interrupted() -> Text:
    """The health line when Ctrl-C stopped its check (seconds long with a server stopped): the
    menu came with no line above it. One line, cut at the edge."""
    return Text(
        "? Health check interrupted (Ctrl-C); it is read again after the next screen.",
        style="yellow", no_wrap=True, overflow="ellipsis",
    )


def down_parts(status: Any) -> list[str]:
    """One sentence per part that is down, naming it the way the health line does."""
    labels = dict(HEALTH_PARTS)
    return [
        f"{labels.get(p.name, p.name)} is {p.detail}." if is_stopped(p) else f"{labels.get(p.name, p.name)} is down: {p.detail}."
        for p in status.parts
        if not p.healthy
    ]


def goodbye(local: dict[str, bool]) -> str:
    """What the TUI says as it quits, from whether each part this machine runs for the stack
    has a process (it said "still running" after the stack had been stopped from another
    shell). Only the processes: asking the servers could keep the operator waiting."""
    labels = dict(HEALTH_PARTS)
    local = {name: alive for name, alive in local.items() if name in labels}  # not the watchdog: it serves them
    running = [labels[name] for name, alive in local.items() if alive]
    if not running:
        return "The stack is not running here; ./start.sh up starts it." if local else ""
    if len(running) == len(local):
        return "The stack is still running; stop it with ./start.sh down."
    return f"Part of the stack is still running ({', '.join(running)}); stop it with ./start.sh down."

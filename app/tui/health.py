"""The health line printed above the main menu: one mark per part of the stack and the link
to the Temporal Web UI. A pure function of app.stack.StackStatus."""

from __future__ import annotations

from typing import Any

from rich.text import Text

# The order the operator reads them in, and the name they know each part by.
HEALTH_PARTS = (
    ("temporal", "Temporal"),
    ("postgres", "PostgreSQL"),
    ("order-worker", "order worker"),
    ("shipping-worker", "shipping worker"),
)


def health_line(status: Any, width: int = 80) -> Text:
    """One line when it fits in ``width``; the Web UI link goes on its own line otherwise."""
    parts = {part.name: part for part in status.parts}
    text = Text()
    for index, (name, label) in enumerate(HEALTH_PARTS):
        if index:
            text.append("  ")
        part = parts.get(name)
        if part is not None and part.healthy:
            text.append("✓ ", style="green")
            text.append(label)
        else:
            text.append("✗ ", style="bold red")
            text.append(f"{label} down", style="bold red")
    if status.temporal_ui_url:
        link = f"Web UI {status.temporal_ui_url}"
        text.append("  " if len(text) + 2 + len(link) <= width else "\n")
        text.append("Web UI ", style="dim")
        text.append(status.temporal_ui_url, style="cyan underline")
    return text


def down_parts(status: Any) -> list[str]:
    """One sentence per part that is down, naming it the way the health line does."""
    labels = dict(HEALTH_PARTS)
    return [f"{labels.get(p.name, p.name)} is down: {p.detail}." for p in status.parts if not p.healthy]


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

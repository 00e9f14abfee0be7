"""Render the TUI's screens to SVG for the docs, from the live stack's real data:
``python -m app.tui.screenshots [DIR]`` writes menu.svg, dashboard.svg and audit.svg."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

from rich.console import Console, Group
from rich.text import Text

from app.config import ROOT
from app.render import audit_link
from app.render_audit import audit_timeline
from app.service import OrderService
from app.stack import Stack
from app.tui.dashboard import fetch_view
from app.tui.dashboard_layout import rows_for_height
from app.tui.health import health_line

MENU_ENTRIES = ("Create order", "Approve / reject", "Update address", "Cancel order", "Live dashboard",
                "Audit log", "Simulate orders", "Quit")
WIDTH, HEIGHT = 80, 24


def menu_picture(status) -> Group:
    """What the main menu looks like (questionary draws the real one)."""
    lines = [health_line(status, WIDTH), Text.assemble(("? ", "cyan"), ("What next? ", "bold"), ("(Use arrow keys)", "dim"))]
    for index, label in enumerate(MENU_ENTRIES):
        lines.append(Text(f" » {label}", style="bold #ff9d00") if index == 0 else Text(f"   {label}"))
    return Group(*lines)


def save(renderable, path: Path, title: str) -> None:
    console = Console(record=True, width=WIDTH, height=HEIGHT, force_terminal=True, color_system="truecolor",
                      file=io.StringIO())
    console.print(renderable)
    console.save_svg(str(path), title=title)
    print(f"wrote {path}")


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save(menu_picture(await Stack().status()), out / "menu.svg", "./start.sh")
    async with await OrderService.connect() as service:
        save(await fetch_view(service, state_filter=None, rows=rows_for_height(HEIGHT)), out / "dashboard.svg",
             "Live dashboard")
        orders = await service.list_orders(limit=200)
        retried = [o for o in orders if o["retries"] and o["terminal"]] or orders
        if retried:
            best = max(retried, key=lambda o: o["retries"])
            audit = await service.audit(best["order_id"])
            save(Group(audit_timeline(audit), audit_link(audit) or ""), out / "audit.svg", "Audit log")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"))

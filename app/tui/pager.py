"""Output taller than the terminal (the audit timeline of an order with many retries) goes
through `less`, so the operator can scroll back to its first lines; output that fits, or a
machine without `less`, or no terminal (or TERM unset or dumb), prints as it is."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from typing import Any

from rich.console import Console

# Lines kept free below the output: the prompt and the line it leaves behind.
SPARE_LINES = 2


def prompt_literal(text: str) -> str:
    """``text`` as literal characters of a less prompt, where ? : . % and \\ mean something."""
    return re.sub(r"([?:.%\\])", r"\\\1", text)


def less_command(title: str) -> list[str] | None:
    less = shutil.which("less")
    # Without a known terminal type less stops first to warn that it is "not fully functional".
    if less is None or os.environ.get("TERM", "dumb") in ("", "dumb"):
        return None
    prompt = f"{prompt_literal(title)}  lines %lt-%lb of %L  (arrows, space: scroll; q: back)"
    # -R keeps the colours, -X leaves the last page on the screen after q, -K makes Ctrl-C
    # leave as q does, -S keeps long lines whole (scroll sideways) rather than folded twice.
    return [less, "-R", "-X", "-K", "-S", f"-Ps{prompt}"]


async def run_pager(command: list[str], text: str) -> None:
    process = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.PIPE)
    try:
        await process.communicate(text.encode())
    except BrokenPipeError:  # q before it read everything
        await process.wait()


async def show(console: Console, renderable: Any, title: str) -> bool:
    """Print ``renderable``, through a pager when it is taller than the terminal; True when
    the pager showed it (the operator has already left it with q: no need to pause)."""
    command = less_command(title) if console.is_terminal else None
    if command is None:
        console.print(renderable)
        return False
    with console.capture() as captured:
        console.print(renderable)
    text = captured.get()
    if text.count("\n") <= console.height - SPARE_LINES:
        console.file.write(text)
        console.file.flush()
        return False
    await run_pager(command, text)
    return True

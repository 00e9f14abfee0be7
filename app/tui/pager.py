"""Output taller than the terminal (the audit timeline of an order with many retries) goes
through `less`, so the operator can scroll back to its first lines; output that fits, or a
machine without `less`, or no terminal (or TERM unset or dumb), prints as it is."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from typing import Callable

from rich.console import Console, RenderableType
from rich.text import Text

# The line below the output that fits: the "press any key" prompt.
SPARE_LINES = 1
# The rows the last answer given with ``say`` took on the screen, 0 once read in the pager: the
# main menu (app/tui/app.py) waits for a key before it is drawn where it would push part of
# that answer out of view.
_answer_rows = 0
# Short: less shows a prompt wider than the screen from its end. With the longest id the
# audit shows (24 characters, app/tui/order_labels.short_id) the prompt takes ~71 of 80 columns.
HELP = "q: back, space: more"


def prompt_literal(text: str) -> str:
    """``text`` as literal characters of a less prompt, where ? : . % and \\ mean something."""
    return re.sub(r"([?:.%\\])", r"\\\1", text)


def less_command(title: str, path: str, width: int = 80, lines: int = 999) -> list[str] | None:
    less = shutil.which("less")
    # Without a known terminal type less stops first to warn that it is "not fully functional".
    if less is None or os.environ.get("TERM", "dumb") in ("", "dumb"):
        return None
    # ASCII only: less 590 shows the "…" of a shortened id as raw bytes, and counts it as wider.
    title = title.replace("…", "...").encode("ascii", "replace").decode("ascii")
    # A prompt wider than the screen less two columns is shown from its end: the title went, all
    # but a letter or two, and at 40 columns "lines 142-150/150 …" lost its "l". The first that
    # fits with line numbers as long as ``lines``; the last fits 23 columns.
    choices = (
        (f"{title}  lines ", "%lt-%lb/%L", f"  {HELP}"), ("lines ", "%lt-%lb/%L", f"  {HELP}"),
        ("line ", "%lb/%L", f"  {HELP}"), ("line ", "%lb/%L", "  q: back"),
    )
    number = "9" * len(str(lines))
    before, numbers, after = next(
        (choice for choice in choices if len(re.sub("%l?[tbL]", number, "".join(choice))) <= width - 2), choices[-1]
    )
    prompt = f"{prompt_literal(before)}{numbers}{prompt_literal(after)}"
    # -R keeps the colours, -X leaves the last page on the screen after q, -K makes less exit
    # on Ctrl-C (which also takes the TUI back to the menu). The prompt is set for every
    # prompt style, so that -m or -M in the operator's $LESS does not replace it.
    return [less, "-R", "-X", "-K", f"-Ps{prompt}", f"-Pm{prompt}", f"-PM{prompt}", "--", path]


async def run_pager(command: list[str]) -> None:
    # LESSSECURE: no shell, editor or log file from inside the TUI (!, v, s).
    process = await asyncio.create_subprocess_exec(*command, env={**os.environ, "LESSSECURE": "1"})
    try:
        await process.wait()
    finally:
        # Ctrl-C cancels the screen while less is still restoring the terminal: the menu must
        # not be drawn (and the terminal set up for it) until less has gone.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            await asyncio.shield(process.wait())


def screen_rows(text: str, width: int) -> int:
    """Rows ``text`` takes on a terminal ``width`` wide, a line longer than that (a link kept
    whole) wrapped by the terminal."""
    return sum(max(1, -(-Text.from_ansi(line).cell_len // width)) for line in text.splitlines())


async def show(console: Console, draw: Callable[[Console], None], title: str) -> bool:
    """What ``draw`` prints, through a pager when it is taller than the terminal; True when
    the pager showed it (the operator has already left it with q: no need to pause)."""
    if not console.is_terminal:
        draw(console)
        return False
    with console.capture() as captured:
        draw(console)
    text = captured.get()
    if screen_rows(text, console.width) <= console.height - SPARE_LINES:
        console.file.write(text)
        console.file.flush()
        return False
    # From a file rather than a pipe, so that less knows the number of lines from the start.
    with tempfile.NamedTemporaryFile(
        "w", prefix="order-tracker-", suffix=".txt", encoding=console.encoding, errors="replace"
    ) as page:
        page.write(text)
        page.flush()
        command = less_command(title, page.name, console.width, text.count("\n"))
        if command is None:
            console.file.write(text)
            console.file.flush()
            return False
        await run_pager(command)
    return True


async def say(console: Console, text: RenderableType) -> None:
    """A screen's answer (what a command did, or why it was not done): through the pager when
    taller than the terminal, else printed, its rows remembered for ``answer_rows``. At 40x12
    the menu left the last two lines of a ten-line refusal in view, the rest scrolled away."""
    global _answer_rows
    if await show(console, lambda c: c.print(text), "The answer"):
        _answer_rows = 0
        return
    _answer_rows = rows(console, text)


def rows(console: Console, text: RenderableType) -> int:
    """The rows ``text`` takes printed on ``console``'s terminal."""
    with console.capture() as captured:
        console.print(text)
    return screen_rows(captured.get(), console.width)


def answer_rows() -> int:
    """The rows of the answer given with ``say`` since this was last asked, 0 if none."""
    global _answer_rows
    rows, _answer_rows = _answer_rows, 0
    return rows

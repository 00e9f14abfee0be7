"""How the TUI asks and backs out. Every question goes through ``ask``: Ctrl-C in a prompt
raises Back. Outside prompts (the dashboard, waiting on a simulation) Ctrl-C is a SIGINT,
which cancels only the screen that is running, so the operator lands back at the menu."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import termios
from typing import Any, Awaitable, Iterator

from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples, to_formatted_text
from prompt_toolkit.input.typeahead import clear_typeahead
from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings
from prompt_toolkit.keys import Keys
from questionary import Question

from app.tui.fitting import (
    drawn_afresh_when_narrowed,
    list_within_the_terminal,
    refusal_under_the_answer,
    refusals_wrapped,
)
from app.tui.question_line import arrows_hint_while_it_fits, echo_between_words, prompt_session


class Back(Exception):
    """The operator backed out of a screen (Ctrl-C or a Back choice)."""


_current_screen: asyncio.Task | None = None


def _interrupt() -> None:
    if _current_screen is not None and not _current_screen.done():
        _current_screen.cancel()


def watch_sigint() -> None:
    """(Re)install our SIGINT handler: prompt_toolkit replaces it while a prompt runs."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, _interrupt)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        pass


def stop_watching_sigint() -> None:
    """When the TUI ends: Ctrl-C is Python's again (KeyboardInterrupt), not a no-op left behind
    in whatever runs next on this event loop."""
    try:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
    except (NotImplementedError, RuntimeError):
        pass


async def run_screen(screen: Awaitable[Any]) -> bool:
    """Run one screen; False when Ctrl-C cancelled it."""
    global _current_screen
    task = asyncio.ensure_future(screen)
    _current_screen = task
    watch_sigint()
    try:
        await task
        return True
    except asyncio.CancelledError:
        if not task.cancelled():  # we ourselves were cancelled, not the screen
            raise
        return False
    finally:
        _current_screen = None


def _forget_keys_typed_ahead(question: Question) -> None:
    """Keys pressed while a screen worked (a simulation, a wait) would otherwise answer the
    next question: arrows and Enter typed during a simulation picked a menu entry. So would
    those read in one go with the key that ended the question before (Esc then j j typed
    quickly, a paste, Enter pressed twice), which prompt_toolkit keeps for the next one: the
    menu opened two entries down from the one it pointed at."""
    clear_typeahead(question.application.input)
    try:
        if sys.stdin.isatty():
            termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)
    except (OSError, ValueError, termios.error):
        pass


@contextlib.contextmanager
def keys_not_echoed(fd: int | None = None) -> Iterator[None]:
    """While a screen waits (a spinner, a progress bar): keys typed are not echoed, where an
    arrow printed ^[[B and each Enter left a copy of the bar behind. Ctrl-C still interrupts,
    and the keys are dropped at the next question (_forget_keys_typed_ahead)."""
    try:
        fd = sys.stdin.fileno() if fd is None else fd
        if not os.isatty(fd):
            fd = None
    except (OSError, ValueError):
        fd = None
    if fd is None:
        yield
        return
    saved = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~termios.ECHO  # lflag
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _bind_escape(question: Question, back: bool) -> None:
    """With ``back``, Esc (and Ctrl-D) leave a question the way Ctrl-C does: operators reach
    for Esc first. Without it Esc does nothing, and is taken at once: left to prompt_toolkit,
    Esc then Enter within a second reads as Meta+Enter, which made a select return text."""
    bindings = KeyBindings()

    if back:

        @bindings.add("escape", eager=True)
        @bindings.add("c-d")
        def _back(event: Any) -> None:
            event.app.exit(result=None)

    else:

        @bindings.add("escape", eager=True)
        def _ignore(event: Any) -> None:
            pass

    application = question.application
    application.key_bindings = merge_key_bindings([application.key_bindings, bindings])


def _erase_unless_answered(question: Question) -> None:
    """A question left without an answer (Ctrl-C, Esc, an error, the screen cancelled) is
    erased: drawn as done it kept what was typed or offered ("? Order id ord-63125125" above
    "Back to the menu."), as if that had been the answer."""
    application = question.application

    def ended(future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None or future.result() is None:
            application.erase_when_done = True

    # Run with the application's future set and before its final drawing, which this decides.
    application.pre_run_callables.append(lambda: application.future.add_done_callback(ended))


async def ask(question: Question, *, escape: bool = True) -> Any:
    """The answer, or Back when the operator pressed Ctrl-C (or Esc, with ``escape``)."""
    _forget_keys_typed_ahead(question)
    _bind_escape(question, back=escape)
    _erase_unless_answered(question)
    refusals_wrapped(question)
    refusal_under_the_answer(question)
    arrows_hint_while_it_fits(question)
    echo_between_words(question)
    list_within_the_terminal(question)
    drawn_afresh_when_narrowed(question)
    try:
        answer = await question.unsafe_ask_async()
    except KeyboardInterrupt:
        answer = None
    finally:
        _forget_keys_typed_ahead(question)
        watch_sigint()
    if answer is None:
        raise Back()
    return answer


def offering(message: str, default: str, validate: Any) -> Question:
    """A question offering ``default`` (Enter takes it) that the first key typed replaces rather
    than extends: with "10" offered, typing 5 asked for 105 orders, 2 after a quantity's "1"
    ordered 12, and an id typed over the suggested one made "ord-1a2b3c4dmy-id"; a paste
    replaces it too. Once the cursor moves (an arrow, a backspace) it is text to edit."""
    import questionary

    question = questionary.text(message, default=default, validate=validate)
    session = prompt_session(question.application)
    if session is None:
        return question
    buffer = session.default_buffer
    offered = [True]  # the default still stands as offered, untouched

    def touched(_: Any) -> None:
        offered[0] = False

    buffer.on_cursor_position_changed += touched
    bindings = KeyBindings()

    @bindings.add(Keys.Any, filter=Condition(lambda: offered[0]))
    def _replace(event: Any) -> None:
        offered[0] = False
        if event.data.isprintable():
            buffer.text = ""
        buffer.insert_text(event.data)

    # A paste too (a terminal's bracketed paste is one key of its own): an id pasted over the
    # suggested one made "ord-1a2b3c4dmy-1", and 5 pasted over the offered 10 orders 105.
    @bindings.add(Keys.BracketedPaste, filter=Condition(lambda: offered[0]))
    def _replace_pasted(event: Any) -> None:
        offered[0] = False
        buffer.text = ""
        buffer.insert_text(event.data.replace("\r\n", "\n").replace("\r", "\n"))

    application = question.application
    application.key_bindings = merge_key_bindings([application.key_bindings, bindings])
    return question


async def pause(message: str = "Press any key to go back to the menu") -> None:
    """Keep a screen's output in view until the operator has read it."""
    try:
        await ask(any_key(message))
    except Back:
        pass


def any_key(message: str, **options: Any) -> Question:
    """questionary's "press any key" question, without the space it draws before the message:
    under an answer, " Press any key…" was the only line of the screen not at its edge."""
    import questionary

    question = questionary.press_any_key_to_continue(message, **options)
    session = prompt_session(question.application)
    if session is not None:
        asked = session.message

        def at_the_edge() -> StyleAndTextTuples:
            fragments = to_formatted_text(asked)
            return [(fragments[0][0], fragments[0][1].lstrip()), *fragments[1:]] if fragments else fragments

        session.message = at_the_edge
    return question

"""How a question's drawing is fitted to the terminal: a list kept within it and its choices
relabelled for the width, a refusal wrapped and right under the answer, and all of it drawn
afresh to fit when the terminal is narrowed (the question's own line is app.tui.question_line's).
``prompts.ask`` applies what every question needs; the questions that call for more add it."""

from __future__ import annotations

import textwrap
from typing import Any, Callable

from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import to_filter
from prompt_toolkit.formatted_text import StyleAndTextTuples, fragment_list_to_text, to_formatted_text
from prompt_toolkit.layout import Dimension, walk
from prompt_toolkit.layout.controls import FormattedTextControl
from questionary import Question
from questionary.prompts.common import InquirerControl

from app.tui.question_line import prompt_session


def list_within_the_terminal(question: Question) -> None:
    """A select's or a checkbox's list is kept a line shorter than the terminal, and scrolls to
    the choice pointed at. As tall as the terminal, the question stood on its top line, and
    erasing the prompt from there (an answer given, Esc) is, in tmux and other terminals,
    clearing the screen, which they keep in the scrollback: "? Which order to review?" and the
    list stayed there, above the next screen."""
    application = question.application
    layout = application.layout.container
    lists = [window for window in application.layout.find_all_windows() if isinstance(window.content, InquirerControl)]
    if not lists or not hasattr(layout, "children"):  # a text or a confirm: a line or two
        return
    window = lists[0]

    def height() -> Dimension:
        size = application.output.get_size()
        # The question, wrapped as the terminal has it, and an error under the list, if any.
        others = sum(
            child.preferred_height(size.columns, size.rows).preferred
            for child in layout.children
            if window not in walk(child)
        )
        return Dimension(max=max(1, size.rows - 1 - others))

    window.height = height


def refusals_wrapped(question: Question) -> None:
    """The line under a question that says why an answer is refused is wrapped between words,
    not cut: it is one line high (prompt_toolkit's validation toolbar; a select's or checkbox's
    bottom toolbar does not wrap), and at 40 columns "Use 1-64 letters, digits, - or _ (start"
    was all an operator read of why an order id was refused."""
    application = question.application
    for window in application.layout.find_all_windows():
        if not isinstance(window.content, FormattedTextControl):
            continue
        if getattr(window.content.text, "__qualname__", "").startswith("ValidationToolbar."):
            window.height = Dimension(min=1)
        elif window.style != "class:bottom-toolbar":
            continue
        window.wrap_lines = to_filter(True)  # what cannot break between words (a long word, wide characters)
        window.content.text = _between_words(window.content.text, lambda: application.output.get_size().columns)


def refusal_under_the_answer(question: Question) -> None:
    """Every part of a question keeps to the height of what it shows, so that the line saying
    why an answer is refused comes right under the answer. prompt_toolkit lets the input grow
    to the bottom of the terminal (to keep room for a completion menu we have none of), and the
    refusal stood there, lines below the question at 40x12 and at the foot of a taller terminal.
    A list's refusal is drawn in a prompt session of its own (questionary's), whose input line,
    empty, is left out: it stood between the list and the refusal."""
    asking = prompt_session(question.application)
    for window in question.application.layout.find_all_windows():
        window.dont_extend_height = to_filter(True)
        buffer = getattr(window.content, "buffer", None)
        an_input = buffer is not None and buffer.name == DEFAULT_BUFFER
        if asking is not None and an_input and buffer is not asking.default_buffer:
            window.height = Dimension.exact(0)


def _between_words(text: Any, columns: Callable[[], int]) -> Callable[[], StyleAndTextTuples]:
    def wrapped() -> StyleAndTextTuples:
        fragments = to_formatted_text(text)
        plain = fragment_list_to_text(fragments)
        if not plain:
            return fragments
        # One style for the whole sentence, the first fragment's: a refusal is all one colour.
        return [(fragments[0][0], textwrap.fill(plain, max(10, columns() - 1), break_on_hyphens=False))]

    return wrapped


def drawn_afresh_when_narrowed(question: Question) -> None:
    """Narrowed under a line the question drew, the screen is cleared and the question drawn
    again at its top. Terminals that rewrap their lines (tmux, VTE, iTerm2) made two of such a
    line, and prompt_toolkit, erasing from where it thinks the question starts, left the first
    above the redrawing ("? Items (arrows move, space picks, enter" twice). The dashboard and a
    simulation clear the screen on a resize too. Narrowed with every line of the question still
    within the terminal, nothing is cleared: what is above it ("Press any key…" under an answer,
    "Create this order?" under its summary) stays in view."""
    application = question.application
    widest = [0]  # the widest line of the last drawing, in cells

    def measure(app: Any) -> None:
        screen = app.renderer.last_rendered_screen
        if screen is not None:
            widest[0] = max(
                (max((x for x, char in row.items() if char.char != " "), default=-1) + 1
                 for row in screen.data_buffer.values()),
                default=0,
            )

    def clear_if_rewrapped(app: Any) -> None:
        if widest[0] > app.output.get_size().columns and not app.is_done:
            # After the resize's erase (the renderer's cursor is at its start): nothing is drawn yet.
            app.output.erase_screen()
            app.output.cursor_goto(0, 0)
            app.output.flush()
            widest[0] = 0

    application.after_render += measure
    application.before_render += clear_if_rewrapped


def relabel_on_resize(application: Any, choices: list[Any], labels: Callable[[int], list[str]]) -> None:
    """Before each drawing, the choices' titles made for the terminal's width as it is now
    (``labels(width)``): prompt_toolkit redraws an open list after a resize, but with the titles
    it was given, and narrowed, each row was cut or wrapped. (The choices are questionary's
    own: it keeps those given.)"""
    drawn_for = [0]

    def refit(app: Any) -> None:
        width = app.output.get_size().columns
        if width != drawn_for[0]:
            drawn_for[0] = width
            for choice, label in zip(choices, labels(width)):
                choice.title = label

    application.before_render += refit

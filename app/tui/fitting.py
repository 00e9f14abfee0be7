"""How a question's drawing is fitted to the terminal: a list kept within it, a refusal wrapped
and right under the answer, the question, its hint and its echo broken between words, and all of
it drawn afresh to fit when the terminal is narrowed. ``prompts.ask`` applies what every question
needs; the questions that call for more (a hint, relabelled choices, a checkbox's echo) add it."""

from __future__ import annotations

import re
import textwrap
from typing import Any, Callable

from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import Condition, to_filter
from prompt_toolkit.formatted_text import StyleAndTextTuples, fragment_list_to_text, to_formatted_text
from prompt_toolkit.layout import Dimension, walk
from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl
from prompt_toolkit.layout.processors import ConditionalProcessor, Processor, Transformation, TransformationInput
from prompt_toolkit.shortcuts import PromptSession
from prompt_toolkit.utils import get_cwidth
from questionary import Question
from questionary.prompts.common import InquirerControl


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


def arrows_hint_while_it_fits(question: Question) -> None:
    """A select's "(Use arrow keys)" is left out at each drawing where it does not fit after the
    question (select_hint decides so for the width a list opens at): opened at 160 columns and
    narrowed to 40, "? Which order to review? (Use arrow keys" stood above ")"."""

    def fitted(fragments: StyleAndTextTuples, columns: int) -> StyleAndTextTuples:
        message = "".join(text for style, text, *_ in fragments if "class:question" in style).strip()
        if select_hint(message, columns) is None:
            return fragments
        return [
            fragment for fragment in fragments
            if not ("class:instruction" in fragment[0] and fragment[1] == ARROWS_HINT)
        ]

    _refitted_at_each_drawing(question, fitted)


def _refitted_at_each_drawing(
    question: Question, fit: Callable[[StyleAndTextTuples, int], StyleAndTextTuples]
) -> None:
    """The question's line, as ``fit(its fragments, the terminal's columns)`` makes it, at each
    drawing (a resize redraws it)."""
    application = question.application
    session = prompt_session(application)
    if session is None:
        return
    asked = session.message
    session.message = lambda: fit(to_formatted_text(asked), application.output.get_size().columns)


def echo_between_words(question: Question) -> None:
    """The question, and once answered its echo ("? Show orders in which state?
    AWAITING_APPROVAL"), broken between words where it is wider than the terminal: the
    terminal broke it mid-word at 40 columns ("AWAITING_A" / "PPROVAL"). questionary draws the
    answer into the question's prompt session's message, which the prompt's window after it
    shows."""
    application = question.application
    session = prompt_session(application)
    if session is None:
        return
    message = session.message
    typed = session.default_buffer  # a text's answer, drawn after the message (a select's stays empty)

    def echo() -> StyleAndTextTuples:
        fragments = to_formatted_text(message)
        if not application.is_done:
            # The question too, for the width it is drawn at: broken for 80 columns (actions.fitted)
            # and narrowed to 40, its first line was cut at the edge ("? Ship order … to Simulate").
            return _fragments_between_words(fragments, application.output.get_size().columns - 1)
        answer = [("class:answer", typed.text)] if typed.text else []
        # Short of the last column: a line that filled it put the cursor on a line of its own,
        # blank, under the echo ("? Show orders in which state? All states" at 40 columns).
        return _fragments_between_words(fragments + answer, application.output.get_size().columns - 1)

    session.message = echo
    # Drawn in the message, the typed answer is not drawn again where it was typed: there the
    # terminal broke it mid-word ("? Reason (optional) customer changed the" / "ir mind").
    for control in application.layout.find_all_controls():
        if isinstance(control, BufferControl) and control.buffer is typed:
            control.input_processors = [
                *(control.input_processors or []),
                ConditionalProcessor(_Hidden(), filter=Condition(lambda: application.is_done)),
            ]


def prompt_session(application: Any) -> PromptSession | None:
    """The prompt session whose message is the question's line (and, answered, its echo)."""
    sessions = [
        window.get_line_prefix.func.__self__
        for window in application.layout.find_all_windows()
        if isinstance(getattr(getattr(window.get_line_prefix, "func", None), "__self__", None), PromptSession)
    ]
    return sessions[0] if sessions else None


def echo_picked(question: Question, echo: Callable[[list[Any]], str]) -> None:
    """A checkbox answered echoes ``echo(the values picked)``, not questionary's own echo: the
    whole title of a single choice, or "done (2 selections)" for more."""
    application = question.application
    lists = [window.content for window in application.layout.find_all_windows() if isinstance(window.content, InquirerControl)]
    session = prompt_session(application)
    if not lists or session is None:
        return
    control, message = lists[0], session.message

    def picked() -> StyleAndTextTuples:
        fragments = to_formatted_text(message)
        if not control.is_answered:
            return fragments
        asked = [fragment for fragment in fragments if "class:answer" not in fragment[0]]
        return [*asked, ("class:answer", echo([choice.value for choice in control.get_selected_values()]))]

    session.message = picked


class _Hidden(Processor):
    """Shows nothing of the line it is given."""

    def apply_transformation(self, transformation_input: TransformationInput) -> Transformation:
        return Transformation([])


def _fragments_between_words(fragments: StyleAndTextTuples, columns: int) -> StyleAndTextTuples:
    """The fragments with a line break before each word that would go past ``columns`` (in
    cells), and within a word longer than a line; spaces at the end of a line are dropped."""
    broken: StyleAndTextTuples = []
    column, full = 0, False
    for style, text, *_handler in fragments:
        for piece in re.split(r"( +|\n)", text):
            if piece == "\n":
                broken.append((style, piece))
                column, full = 0, False
            elif piece.isspace():
                if column + get_cwidth(piece) < columns:
                    broken.append((style, piece))
                    column += get_cwidth(piece)
                else:
                    full = True  # the next word starts a line
            elif piece:
                if full or (column and column + get_cwidth(piece) > columns):
                    broken.append((style, "\n"))
                    column, full = 0, False
                while column + get_cwidth(piece) > columns:  # a word longer than a line, in pieces
                    fits = next((n for n in range(len(piece), 0, -1) if column + get_cwidth(piece[:n]) <= columns), 1)
                    broken += [(style, piece[:fits]), (style, "\n")]
                    piece, column = piece[fits:], 0
                broken.append((style, piece))
                column += get_cwidth(piece)
    return broken


# questionary's hint after a select's question, and what it puts before the question ("? ").
ARROWS_HINT = "(Use arrow keys)"
QUESTION_FRAME = 4


def select_hint(message: str, width: int) -> str | None:
    """questionary's hint (None), or none at all (a blank) when the question and the hint are
    wider than the terminal: wrapped, the hint broke mid-word ("(Use arrow key" / "s)")."""
    return None if len(message) + len(ARROWS_HINT) + QUESTION_FRAME <= width else " "


def hint_between_words(message: str, hint: str, width: int) -> str:
    """``hint`` with a line break before each word that would reach the terminal's edge after
    "? message ": the Items question's hint broke mid-word at 43 columns ("… enter wh" / "en
    done)"), and at 40 its second line began with a space."""
    broken, column = "", len(message) + QUESTION_FRAME - 1  # after "? ", the message and a space
    for word in hint.split():
        gap = " " if broken and not broken.endswith("\n") else ""
        if column + len(gap + word) >= width:  # a line as wide as the terminal wraps too
            broken, gap, column = broken + "\n", "", 0
        broken += gap + word
        column += len(gap + word)
    return broken


def hint_on_resize(question: Question, message: str, hint: str) -> None:
    """The question's hint (questionary's instruction, given as ``hint``) broken between words
    for the terminal's width at each drawing: fitted once, narrowed, it wrapped mid-word again.
    When its first word starts a line, "? message" ends there without questionary's space
    (under 16 columns the Items question's line ended "? Items " before the break)."""

    def fitted(fragments: StyleAndTextTuples, columns: int) -> StyleAndTextTuples:
        broken = hint_between_words(message, hint, columns)
        drawn: StyleAndTextTuples = []
        for style, text, *handler in fragments:
            if "class:instruction" in style and text == hint:
                if broken.startswith("\n") and drawn:
                    drawn[-1] = (drawn[-1][0], drawn[-1][1].rstrip(), *drawn[-1][2:])
                drawn.append((style, broken))
            else:
                drawn.append((style, text, *handler))
        return drawn

    _refitted_at_each_drawing(question, fitted)


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

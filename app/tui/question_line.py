"""The question's own line fitted to the terminal: at each drawing the question, its hint and,
once answered, its echo broken between words, the arrows hint left out where it does not fit,
and a checkbox's echo of what was picked; a confirm's question broken before it is asked."""

from __future__ import annotations

import re
from typing import Any, Callable

from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples, to_formatted_text
from prompt_toolkit.layout.controls import BufferControl
from prompt_toolkit.layout.processors import ConditionalProcessor, Processor, Transformation, TransformationInput
from prompt_toolkit.shortcuts import PromptSession
from prompt_toolkit.utils import get_cwidth
from questionary import Question
from questionary.prompts.common import InquirerControl
from rich.cells import cell_len


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
            # The question too, for the width it is drawn at: broken for 80 columns (fitted)
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


# What questionary puts around a confirm's question: "? " before its first line, " (Y/n) " after
# its last (then the answer, which the echo breaks anew); every line keeps the last column free.
CONFIRM_BEFORE = 2
CONFIRM_AFTER = 7
# No line of a question is made narrower than this, however narrow the terminal.
NARROWEST_LINE = 10


def fitted(question: str, width: int) -> str:
    """The question broken between words to fit the terminal: the terminal broke a long one
    (an address, a long order id) in the middle of a word. A word longer than a line (a
    64-character id at 60 columns) is broken too: a line of a question wider than the
    terminal is cut, and the id lost its end. Measured in terminal cells, not characters: a
    Japanese address or emoji take two cells a character (lines of 122 cells at 100 columns).
    Only the first line and the last leave room for what questionary draws around them: 12
    columns left free on every line broke "Ship order h4-rev-1 to Ann" at 28 of 40 columns."""
    line = max(NARROWEST_LINE, width - 1)
    first = max(NARROWEST_LINE, line - CONFIRM_BEFORE)
    lines = between_words(question.split(), first, line)
    last = max(NARROWEST_LINE, line - CONFIRM_AFTER)
    if len(lines) == 1 and cell_len(lines[0]) > max(NARROWEST_LINE, last - CONFIRM_BEFORE):
        # The first line is the last too, with "? " and " (Y/n) " around it: its last word goes
        # to a line of its own (41 columns were drawn at 40, and the terminal wrapped "(Y/n)").
        *head, tail = lines[0].split()
        lines = [*between_words(head, first, line), tail] if head else between_words([tail], first - CONFIRM_AFTER, last)
    if cell_len(lines[-1]) > last:  # no room left for " (Y/n) ": the last line broken again, narrower
        lines[-1:] = between_words(lines[-1].split(), last, last)
    return "\n".join(lines)


def between_words(words: list[str], first: int, rest: int) -> list[str]:
    """``words`` on lines of at most ``first`` cells, then ``rest``; a word longer than a line in pieces."""
    lines = [""]
    for word in words:
        room = first if len(lines) == 1 else rest
        if lines[-1] and cell_len(f"{lines[-1]} {word}") <= room:
            lines[-1] += f" {word}"
            continue
        if lines[-1]:
            lines.append("")  # a word that does not fit goes to a line of its own, in pieces if it must
        for char in word:
            if cell_len(lines[-1] + char) > (first if len(lines) == 1 else rest):
                lines.append("")
            lines[-1] += char
    return lines

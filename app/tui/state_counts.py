"""The orders per state, in the order an order moves through them: the dashboard's summary bar,
the short layout's shortened counts, and a simulation's live line under its progress bars."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from app.render import packed, plural, state_pieces, state_style
from workflows.model import OrderState


def summary_bar(counts: dict[str, int], width: int | None = None) -> Text:
    """Orders per state, in the order an order moves through them; states with none are left
    out. Given a ``width``, a line breaks between two states, not between a state and its count."""
    return packed(summary_pieces(counts), width)


def summary_pieces(counts: dict[str, int]) -> list[Text]:
    """The count of all orders, then each state's with it."""
    return [Text(plural(sum(counts.values()), "order"), style="bold"), *state_pieces(counts)]


class SimulationLine:
    """A simulation's live line under its progress bars (``simulation`` an
    app.tui.simulation.Simulation): its orders per state, laid out for the terminal's width
    (broken between two states, not within one), and the approvals answered."""

    def __init__(self, simulation: Any) -> None:
        self.simulation = simulation

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        sim = self.simulation
        pieces = summary_pieces(Counter(sim.states.values()))
        if sim.auto_approve:
            refused = f", refused {sim.refusals}" if sim.refusals else ""
            pieces.append(Text(f"approved {sim.approvals_done}{refused}", style="dim"))
            if lagging := len(sim.approvals_not_recorded()):
                # The rows lag the approvals answered: "AWAITING_APPROVAL 7  approved 7" read as a contradiction.
                pieces.append(Text(f"({lagging} not recorded yet)", style="dim"))
        text = packed(pieces, options.max_width)
        if sim.database_problem:
            text.append(f"\n{sim.database_problem}; retrying…", style="red")
        yield text


# The states' names where the short layout has no room for them whole ("51 orders  AWAITING_APPROVAL …"
# hid every state after the first at 30 columns).
SHORT_STATE_NAMES = {
    "RECEIVED": "RECV", "VALIDATED": "VALID", "AWAITING_APPROVAL": "REVIEW", "APPROVED": "APPR", "PAID": "PAID",
    "PACKED": "PACK", "DISPATCHED": "DISP", "SHIPPED": "SHIP", "CANCELLED": "CANC", "REJECTED": "REJ",
    "EXPIRED": "EXP", "FAILED": "FAIL",
}


def short_summary(counts: dict[str, int], width: int, lines: int) -> list[Text]:
    """The counts per state for the short layout: on one line if they fit whole, else with the
    states' names shortened, on up to ``lines`` lines, the last cut at the edge."""
    whole = summary_bar(counts)
    if whole.cell_len <= width:
        return [whole]
    entries = [Text(plural(sum(counts.values()), "order"), style="bold")] + [
        Text(f"{SHORT_STATE_NAMES.get(state.value, state.value)} {counts[state.value]}", style=state_style(state.value))
        for state in OrderState
        if counts.get(state.value)
    ]
    packed = [entries[0]]
    for entry in entries[1:]:
        if packed[-1].cell_len + 2 + entry.cell_len > width and len(packed) < lines:
            packed.append(entry)
        else:
            packed[-1] = Text.assemble(packed[-1], "  ", entry)
    return packed

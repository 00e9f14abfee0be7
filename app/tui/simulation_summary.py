"""What a simulation says once it ends or is stopped: how many orders started and were
approved, how many ended in which state, and what is left for the operator."""

from __future__ import annotations

from collections import Counter

from rich.text import Text

from app.render import packed, plural, state_pieces
from app.tui.simulation import Simulation
from workflows.model import OrderState


def summary_lines(sim: Simulation, n: int, took: float, stopped: bool, width: int | None = None) -> list[Text]:
    """What the simulation did: how many orders started (and were approved), how many ended in
    which state, how many were still running, which of those are left for the operator to
    review, and which are not recorded yet (no menu lists those). Given a ``width``, the lines
    of counts per state break between two states."""
    started = sim.started
    span = f" ({started[0]} … {started[-1]})" if len(started) > 1 else f" ({started[0]})" if started else ""
    done = [f"{len(started)} of {plural(n, 'order')} started{span}"]
    if sim.auto_approve:
        done.append(f"{sim.approvals_done} approved")
    verb = "Stopped waiting after" if stopped else "Done in"
    lines = [Text(f"{verb} {took:.1f} s: {', '.join(done)}.")]
    ended = Counter(state for state in sim.states.values() if OrderState(state).terminal)
    running = Counter(state for state in sim.states.values() if not OrderState(state).terminal)
    if ended:
        lines.append(states_line(f"Ended {sum(ended.values())}:", ended, width))
    if running:
        # Counted as approved above: said, lest "12 approved" read against "AWAITING_APPROVAL 12".
        lagging = len(sim.approvals_not_recorded())
        note = f"({lagging} of them approved; the database does not show it yet)" if lagging else None
        lines.append(states_line(f"Still running {sum(running.values())}:", running, width, note))
    waiting = sim.awaiting_review()
    # Approvals cut off before their answer: they may still take effect.
    on_the_way = sum(1 for order_id in waiting if order_id in sim.sent - sim.answered)
    left = len(waiting) - on_the_way
    review = []
    if left:
        review.append(f"{plural(left, 'order')} {'awaits' if left == 1 else 'await'} review in the Approve / reject menu")
    if on_the_way:
        review.append(
            f"{plural(on_the_way, 'approval')} {'was' if on_the_way == 1 else 'were'} sent and may still take effect"
        )
    if review:
        lines.append(Text("; ".join(review) + ".", style="yellow"))
    if unrecorded := len(sim.not_recorded):
        lines.append(Text(
            f"{plural(unrecorded, 'order')} started {'is' if unrecorded == 1 else 'are'} not recorded in the database"
            f" yet; Approve / reject lists {'it' if unrecorded == 1 else 'them'} once {'its' if unrecorded == 1 else 'their'}"
            " workflow records it.",
            style="yellow",
        ))
    if cut_off := len(sim.cut_off - set(started)):
        lines.append(Text(
            f"{plural(cut_off, 'create')} {'was' if cut_off == 1 else 'were'} cut off by the stop and may have started.",
            style="yellow",
        ))
    return lines


def states_line(label: str, counts: Counter, width: int | None = None, note: str | None = None) -> Text:
    """``label`` and the count of each state, in the order an order moves through them, then
    ``note``; given a ``width``, broken between two states, not within one."""
    pieces = state_pieces(counts)
    pieces[0] = Text.assemble(f"{label} ", pieces[0])  # the label stays with the first
    return packed(pieces + ([Text(note)] if note else []), width)

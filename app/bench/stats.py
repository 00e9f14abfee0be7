"""The benchmark's arithmetic as pure functions: percentiles, the latency histogram, the
summary document (the JSON of `bench --json`) and the targets of SPEC section 7."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from app.render import plural

SLA_S = 15.0


@dataclass(frozen=True)
class Target:
    key: str
    limit: float
    # "<=": the value must not exceed the limit; "==": it must equal it.
    op: str = "<="

    def met(self, value: float | None) -> bool:
        if value is None:
            return False
        return value <= self.limit if self.op == "<=" else value == self.limit


# SPEC section 7, for N=300 at C=100 on a 2-core machine.
TARGETS = (
    Target("max_s", 15.0),
    Target("p99_s", 8.0),
    Target("p50_s", 3.0),
    Target("double_charges", 0, "=="),
    Target("lost_orders", 0, "=="),
)


@dataclass(frozen=True)
class TargetCheck:
    key: str
    op: str
    limit: float
    value: float | None
    met: bool


def check_targets(summary: dict, targets: Sequence[Target] = TARGETS) -> list[TargetCheck]:
    return [
        TargetCheck(t.key, t.op, t.limit, summary.get(t.key), t.met(summary.get(t.key))) for t in targets
    ]


def broken_invariants(summary: dict) -> str | None:
    """One sentence when the run lost orders or charged one twice, whatever N and C: those are
    faults of the product, not numbers of the machine (a missed timing target is not)."""
    broken = []
    if summary.get("lost_orders"):
        broken.append(f"{plural(summary['lost_orders'], 'order')} lost")
    if summary.get("double_charges"):
        broken.append(f"{plural(summary['double_charges'], 'order')} charged twice")
    if not broken:
        return None
    return f"The run broke the product's promises: {' and '.join(broken)} (see the report above)."


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) with linear interpolation between closest ranks, as
    numpy's default; None for no values."""
    if not values:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Bucket:
    low: float
    high: float
    count: int


BUCKET_WIDTHS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def bucket_width(largest: float, max_buckets: int = 20) -> float:
    """The finest of a few round widths that covers 0..largest in at most max_buckets bars."""
    for width in BUCKET_WIDTHS:
        if math.floor(largest / width) + 1 <= max_buckets:
            return width
    return BUCKET_WIDTHS[-1] * math.ceil((largest / BUCKET_WIDTHS[-1] + 1) / max_buckets)


def histogram(values: Sequence[float], width: float | None = None) -> list[Bucket]:
    """Counts per [low, high) bucket from 0 up to the largest value, empty buckets included."""
    if not values:
        return []
    width = width or bucket_width(max(values))
    counts = [0] * (math.floor(max(values) / width) + 1)
    for value in values:
        counts[min(len(counts) - 1, max(0, math.floor(value / width)))] += 1
    return [Bucket(round(i * width, 6), round((i + 1) * width, 6), n) for i, n in enumerate(counts)]


@dataclass
class OrderResult:
    """One order as the database and Temporal see it after the run."""

    order_id: str
    state: str | None  # None: no row in the database
    processing_ms: int | None = None
    review_ms: int | None = None
    terminal_in_db: bool = False
    workflow_completed: bool = False
    first_task_wait_ms: int | None = None  # Temporal's workflow start to orders.created_at: a clock cross-check, ~0

    @property
    def lost(self) -> bool:
        return not (self.terminal_in_db and self.workflow_completed)


@dataclass
class AttemptStats:
    outcome: str
    count: int
    total_ms: int
    activity: str = ""


# The six business functions, each of which calls flaky_call first (SPEC section 3); the other
# steps (MarkAwaitingApproval, RecordDecision, FinishOrder, RecordEvent…) are bookkeeping.
BUSINESS_ACTIVITIES = frozenset(
    {"ReceiveOrder", "ValidateOrder", "ChargePayment", "PreparePackage", "DispatchCarrier", "MarkShipped"}
)


@dataclass
class RunFacts:
    """Everything `summarize` needs, read from PostgreSQL and Temporal after the run."""

    orders: int
    concurrency: int
    results: list[OrderResult]
    attempts: list[AttemptStats] = field(default_factory=list)
    double_charges: int = 0
    refunded_payments: int = 0
    wall_s: float | None = None  # first workflow start to last terminal state, database clock
    elapsed_s: float = 0.0  # the benchmark's own clock, for comparison
    not_started: int = 0
    run_id: str = ""
    client: dict = field(default_factory=dict)  # the driver's own timings, for diagnosis only


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def summarize(facts: RunFacts) -> dict:
    """The benchmark's JSON document."""
    finished = [r for r in facts.results if r.terminal_in_db and r.processing_ms is not None]
    times = [r.processing_ms / 1000 for r in finished]
    reviews = [r.review_ms / 1000 for r in facts.results if r.terminal_in_db and r.review_ms is not None]
    states: dict[str, int] = {}
    for r in facts.results:
        key = r.state or "MISSING"
        states[key] = states.get(key, 0) + 1
    terminal = sum(1 for r in facts.results if r.terminal_in_db)
    shipped = states.get("SHIPPED", 0)
    # Orders of the N that never ended (or never started): their time is unknown but at least
    # the run's, so there is no maximum, and the run lasted as long as it waited for them.
    unfinished = facts.orders - len(finished)
    wall = facts.wall_s if facts.wall_s else facts.elapsed_s
    if unfinished:
        wall = max(wall or 0.0, facts.elapsed_s)
    attempts_total = sum(a.count for a in facts.attempts)
    business = sum(a.count for a in facts.attempts if a.activity in BUSINESS_ACTIVITIES)
    by_outcome: dict[str, list[int]] = {}
    for a in facts.attempts:
        counted = by_outcome.setdefault(a.outcome, [0, 0])
        counted[0] += a.count
        counted[1] += a.total_ms
    return {
        "run_id": facts.run_id,
        "orders": facts.orders,
        "concurrency": facts.concurrency,
        "shipped": shipped,
        "failed": terminal - shipped,
        "states": dict(sorted(states.items())),
        "p50_s": _round(percentile(times, 50)),
        "p95_s": _round(percentile(times, 95)),
        "p99_s": _round(percentile(times, 99)),
        "max_s": _round(max(times) if times and not unfinished else None),
        "unfinished": unfinished,
        "mean_s": _round(sum(times) / len(times) if times else None),
        "review_mean_s": _round(sum(reviews) / len(reviews) if reviews else None),
        # From Temporal's own record of each workflow's start (equal to the above while
        # orders.created_at is that start; a cross-check of the two clocks):
        "from_workflow_start": timing(
            [t + r.first_task_wait_ms / 1000 for t, r in zip(times, finished) if r.first_task_wait_ms is not None]
        ),
        # Every order counts: one that never finished missed the SLA.
        "sla_15s_hit_rate": _round(sum(1 for t in times if t <= SLA_S) / facts.orders if facts.orders else None, 4),
        "throughput_orders_per_s": _round(terminal / wall if wall else None),
        "attempts_per_order": _round(attempts_total / facts.orders if facts.orders else None, 2),
        # Of those, the attempts of the six business functions, the ones flaky_call decides
        # (~3 each: 1/p with p = 1/3); the rest are bookkeeping steps of one attempt or so.
        "business_attempts_per_order": _round(business / facts.orders if facts.orders else None, 2),
        "attempts_by_outcome": {outcome: n for outcome, (n, _) in sorted(by_outcome.items())},
        "attempt_mean_ms_by_outcome": {
            outcome: _round(ms / n, 1) for outcome, (n, ms) in sorted(by_outcome.items()) if n
        },
        "double_charges": facts.double_charges,
        "refunded_payments": facts.refunded_payments,
        "lost_orders": sum(1 for r in facts.results if r.lost),
        "not_started": facts.not_started,
        "wall_s": _round(wall, 2),
        "elapsed_s": _round(facts.elapsed_s, 2),
        "client": facts.client,
    }


def timing(values: Sequence[float]) -> dict:
    """Mean, p50, p99 and max of some durations in seconds, for the client's diagnostics."""
    if not values:
        return {}
    return {
        "mean_s": _round(sum(values) / len(values)),
        "p50_s": _round(percentile(values, 50)),
        "p99_s": _round(percentile(values, 99)),
        "max_s": _round(max(values)),
    }


def processing_times(results: Iterable[OrderResult]) -> list[float]:
    return [r.processing_ms / 1000 for r in results if r.terminal_in_db and r.processing_ms is not None]

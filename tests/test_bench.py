"""The benchmark's arithmetic and report, without servers."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from app.bench.report import histogram_text, report, summary_table, targets_text
from app.bench.stats import (
    AttemptStats,
    Bucket,
    OrderResult,
    RunFacts,
    bucket_width,
    check_targets,
    histogram,
    percentile,
    processing_times,
    summarize,
)


def _text(renderable) -> str:
    console = Console(record=True, width=100)
    console.print(renderable)
    return console.export_text()


def test_percentile_interpolates_between_ranks_like_numpy():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 95) == 7.0


def test_percentile_ignores_input_order_and_is_none_without_values():
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_bucket_width_picks_the_finest_round_width_within_the_bar_limit():
    assert bucket_width(0.5) == 0.1
    assert bucket_width(2.9) == 0.25
    assert bucket_width(14.0) == 1.0
    assert bucket_width(100.0) == 10.0


def test_histogram_counts_every_value_once_and_keeps_empty_buckets():
    buckets = histogram([0.1, 0.2, 1.5, 3.0], width=1.0)
    assert [(b.low, b.high, b.count) for b in buckets] == [(0, 1, 2), (1, 2, 1), (2, 3, 0), (3, 4, 1)]
    assert histogram([]) == []


def test_histogram_text_scales_bars_to_the_fullest_bucket():
    text = _text(histogram_text([Bucket(0, 1, 10), Bucket(1, 2, 5), Bucket(2, 3, 0)], width=20))
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].count("█") == 20 and lines[0].rstrip().endswith("10")
    assert lines[1].count("█") == 10
    assert lines[2].count("█") == 0 and lines[2].rstrip().endswith("0")
    assert "0–1 s" in lines[0]


def _facts(**overrides) -> RunFacts:
    results = [
        OrderResult(f"o{i}", "SHIPPED", processing_ms=1000 * i, terminal_in_db=True, workflow_completed=True)
        for i in range(1, 11)
    ]
    facts = RunFacts(
        orders=12,
        concurrency=5,
        results=results
        + [
            OrderResult("o11", "FAILED", processing_ms=20_000, terminal_in_db=True, workflow_completed=True),
            OrderResult("o12", "PAID", terminal_in_db=False, workflow_completed=False),
        ],
        attempts=[
            AttemptStats("ok", 72, 180, "ReceiveOrder"), AttemptStats("ok", 24, 60, "FinishOrder"),
            AttemptStats("error", 60, 60, "ChargePayment"), AttemptStats("timeout", 60, 18_000, "DispatchCarrier"),
        ],
        double_charges=0,
        refunded_payments=1,
        wall_s=24.0,
        elapsed_s=25.0,
        run_id="abc123",
    )
    for key, value in overrides.items():
        setattr(facts, key, value)
    return facts


def test_summarize_reads_states_times_and_invariants_from_the_facts():
    summary = summarize(_facts())
    assert summary["orders"] == 12 and summary["concurrency"] == 5
    assert summary["shipped"] == 10
    assert summary["failed"] == 1  # terminal but not shipped
    assert summary["lost_orders"] == 1  # o12 never finished
    assert summary["states"] == {"FAILED": 1, "PAID": 1, "SHIPPED": 10}
    assert summary["p50_s"] == 6.0  # 1..10 and 20
    # o12 never finished: its time is unknown, so there is no maximum (the target is missed,
    # where 20 s looked like the worst), and the run lasted as long as the benchmark waited.
    assert summary["max_s"] is None and summary["unfinished"] == 1
    assert summary["wall_s"] == 25.0
    assert summary["throughput_orders_per_s"] == pytest.approx(11 / 25, abs=1e-3)
    # 10 of the 12 started orders finished within 15 s; the unfinished one is a miss.
    assert summary["sla_15s_hit_rate"] == pytest.approx(10 / 12, abs=1e-4)
    assert summary["attempts_per_order"] == 18.0
    assert summary["business_attempts_per_order"] == 16.0  # without FinishOrder's 24 (bookkeeping)
    assert summary["attempts_by_outcome"] == {"error": 60, "ok": 96, "timeout": 60}
    assert summary["attempt_mean_ms_by_outcome"]["timeout"] == 300.0
    assert summary["refunded_payments"] == 1 and summary["double_charges"] == 0


def test_when_every_order_finished_the_maximum_and_the_wall_clock_are_the_databases():
    facts = _facts()
    facts.results = facts.results[:11]
    facts.orders = 11
    summary = summarize(facts)
    assert summary["max_s"] == 20.0 and summary["unfinished"] == 0
    assert summary["wall_s"] == 24.0
    assert summary["throughput_orders_per_s"] == pytest.approx(11 / 24, abs=1e-3)


def test_summarize_falls_back_to_the_benchmarks_clock_and_survives_no_results():
    summary = summarize(_facts(results=[], attempts=[], wall_s=None))
    assert summary["p50_s"] is None and summary["max_s"] is None
    assert summary["sla_15s_hit_rate"] == 0.0
    assert summary["throughput_orders_per_s"] == 0.0
    assert summary["wall_s"] == 25.0


def test_a_workflow_still_running_makes_an_order_lost_even_if_the_row_is_terminal():
    assert OrderResult("x", "SHIPPED", 1, terminal_in_db=True, workflow_completed=False).lost
    assert OrderResult("x", None).lost
    assert not OrderResult("x", "SHIPPED", 1, terminal_in_db=True, workflow_completed=True).lost
    assert processing_times([OrderResult("x", "PAID", 5000, terminal_in_db=False)]) == []


def test_targets_are_met_or_missed_and_a_missing_value_is_missed():
    good = {"max_s": 15.0, "p99_s": 8.0, "p50_s": 2.0, "double_charges": 0, "lost_orders": 0}
    assert all(c.met for c in check_targets(good))
    checks = {c.key: c for c in check_targets({**good, "max_s": 15.1, "lost_orders": 1, "p50_s": None})}
    assert not checks["max_s"].met and not checks["lost_orders"].met and not checks["p50_s"].met
    assert checks["p99_s"].met and checks["double_charges"].met


def test_the_report_shows_the_summary_the_histogram_and_which_targets_were_missed():
    summary = summarize(_facts())
    text = _text(report(summary, histogram(processing_times(_facts().results)), check_targets(summary)))
    assert "Benchmark abc123" in text
    assert "12 / 5" in text
    # o12 never finished: the worst time is unknown, not the 20 s of the worst that did.
    assert "over  max_s <= 15 (measured unknown: 1 order did not finish)" in text
    assert "within  p50_s <= 3" not in text  # p50 is 6 s here
    assert "within  double_charges == 0" in text
    assert "█" in text
    assert "timeout 60 (~300 ms)" in text
    # The targets are set for N=300, C=100: a smaller run is compared with them, not said to
    # meet them (it said "does not show them", then "met" five times).
    assert "this run had N=12, C=5: compared with them, not met or missed" in " ".join(text.split())
    assert "  met  " not in text and "MISSED" not in text
    full = _text(report({**summary, "orders": 300, "concurrency": 100}, [], check_targets(summary)))
    assert "Targets (SPEC section 7: N=300, C=100)" in full and "compared with them" not in full
    assert "MISSED  max_s <= 15 (measured unknown: 1 order did not finish)" in full
    assert "met  double_charges == 0" in full


def test_the_summary_table_shows_dashes_for_unknown_values():
    text = _text(summary_table(summarize(_facts(results=[], attempts=[]))))
    assert "— / — / —" in text
    assert "MISSED" in _text(targets_text(check_targets({})))


def test_summarize_reports_the_review_wait_apart_and_passes_the_clients_timings_through():
    facts = _facts()
    facts.results[0].review_ms = 400
    facts.results[1].review_ms = 600
    summary = summarize(facts)
    assert summary["review_mean_s"] == 0.5
    assert summarize(_facts(client={"start": {"mean_s": 0.1}}))["client"] == {"start": {"mean_s": 0.1}}


def test_timing_summarises_durations_and_is_empty_without_any():
    from app.bench.stats import timing

    assert timing([1.0, 2.0, 3.0]) == {"mean_s": 2.0, "p50_s": 2.0, "p99_s": 2.98, "max_s": 3.0}
    assert timing([]) == {}


def test_processing_from_the_workflows_own_start_adds_the_wait_for_its_first_task():
    facts = _facts()
    for result in facts.results:
        result.first_task_wait_ms = 500
    timing = summarize(facts)["from_workflow_start"]
    assert timing["max_s"] == 20.5  # o11's 20 s plus the half second before its first task
    assert summarize(_facts())["from_workflow_start"] == {}


def test_the_table_shows_processing_counted_from_the_workflows_start_when_known():
    facts = _facts()
    for result in facts.results:
        result.first_task_wait_ms = 500
    text = _text(summary_table(summarize(facts)))
    assert "counted from the workflow's start" in text and "20.5 s (p50 / p99 / max)" in text
    assert "counted from the workflow's start" not in _text(summary_table(summarize(_facts())))


class _StartFailsOnce:
    """Every order ships at once, but the start of order 3 fails with Temporal's own error."""

    def __init__(self) -> None:
        self.created: list[str] = []

    async def create_order(self, *, order_id: str, **order) -> None:
        if order_id.endswith("-3"):
            raise RuntimeError("Temporal failed the call")  # not an OperatorError
        self.created.append(order_id)

    async def order_states(self, ids: list[str]) -> dict[str, str]:
        return {i: "SHIPPED" for i in ids if i in self.created}


async def test_an_order_whose_start_fails_otherwise_than_refused_is_counted_not_started():
    """It vanished from the report: not started, not lost, and its task's error was never
    retrieved (a traceback on stderr)."""
    from app.bench.driver import DriveConfig, Driver

    service = _StartFailsOnce()
    config = DriveConfig(run_id="t", orders=5, concurrency=2, poll_interval_s=0.01, order_timeout_s=2.0)
    outcome = await Driver(service, config).run()  # type: ignore[arg-type]
    assert outcome.not_started == 1 and outcome.timed_out == []
    assert sorted(outcome.started_ids) == ["bench-t-1", "bench-t-2", "bench-t-4", "bench-t-5"]


class _DatabaseGoneForAWhile:
    """Every order ships at once, but the first three watches find PostgreSQL refusing."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.refusals = 3
        self.settings = type(
            "S", (), {"database_url_redacted": "postgresql://postgres@127.0.0.1:5433/orders", "database_remedy": "start the stack with ./start.sh up"}
        )()

    async def create_order(self, *, order_id: str, **order) -> None:
        self.created.append(order_id)

    async def order_states(self, ids: list[str]) -> dict[str, str]:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionRefusedError(111, "Connect call failed")
        return {i: "SHIPPED" for i in ids if i in self.created}


async def test_the_benchmark_rides_out_postgresql_gone_for_a_while_and_says_so():
    """A review killed PostgreSQL mid-run: the benchmark itself crashed, its orders unapproved."""
    from app.bench.driver import DriveConfig, Driver

    service = _DatabaseGoneForAWhile()
    troubles: list[str] = []
    config = DriveConfig(run_id="t", orders=4, concurrency=2, poll_interval_s=0.01, order_timeout_s=5.0)
    outcome = await Driver(service, config, lambda p: troubles.append(p.trouble)).run()  # type: ignore[arg-type]
    assert sorted(outcome.started_ids) == ["bench-t-1", "bench-t-2", "bench-t-3", "bench-t-4"]
    assert outcome.timed_out == [] and outcome.not_started == 0
    assert "PostgreSQL at postgresql://postgres@127.0.0.1:5433/orders is not reachable" in troubles[0]
    assert troubles[-1] == ""  # said while it lasted, not after


async def test_the_benchmark_does_not_hide_an_error_that_is_not_a_lost_database():
    from app.bench.driver import DriveConfig, Driver

    service = _DatabaseGoneForAWhile()

    async def broken(ids: list[str]) -> dict[str, str]:
        raise ValueError("a bug in the watch query")

    service.order_states = broken  # type: ignore[method-assign]
    config = DriveConfig(run_id="t", orders=2, concurrency=2, poll_interval_s=0.01, order_timeout_s=5.0)
    with pytest.raises(ValueError, match="a bug in the watch query"):
        await Driver(service, config).run()  # type: ignore[arg-type]


class _TemporalSilentAtFirst:
    """Every order awaits review; its first approval is not sent (Temporal did not answer the
    check before it, as under heavy load or stopped), the next one ships it."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.approvals: list[str] = []

    async def create_order(self, *, order_id: str, **order) -> None:
        self.states[order_id] = "AWAITING_APPROVAL"

    async def approve(self, order_id: str, by: str) -> str:
        from app.errors import Unanswered

        self.approvals.append(order_id)
        if self.approvals.count(order_id) == 1:
            raise Unanswered(order_id, "approve", False, 3, temporal="127.0.0.1:7233")
        self.states[order_id] = "SHIPPED"
        return f"Order {order_id} approved."

    async def order_states(self, ids: list[str]) -> dict[str, str]:
        return {i: self.states[i] for i in ids if i in self.states}


async def test_an_approval_not_sent_because_temporal_did_not_answer_is_sent_again():
    """A command is not sent when Temporal does not answer the check before it: the benchmark
    must approve that order again, not leave it to time out as lost."""
    from app.bench.driver import DriveConfig, Driver

    service = _TemporalSilentAtFirst()
    config = DriveConfig(run_id="t", orders=3, concurrency=3, poll_interval_s=0.01, order_timeout_s=5.0)
    outcome = await Driver(service, config).run()  # type: ignore[arg-type]
    assert outcome.timed_out == [] and outcome.not_started == 0 and len(outcome.turnaround_s) == 3
    assert sorted(service.approvals) == sorted(2 * ["bench-t-1", "bench-t-2", "bench-t-3"])


def test_a_lost_order_or_a_double_charge_is_a_broken_invariant_and_a_missed_target_is_not():
    from app.bench.stats import broken_invariants

    assert broken_invariants({"lost_orders": 0, "double_charges": 0, "p50_s": 9.0}) is None
    assert broken_invariants({"lost_orders": 1, "double_charges": 0}) == (
        "The run broke the product's promises: 1 order lost (see the report above)."
    )
    assert broken_invariants({"lost_orders": 2, "double_charges": 3}) == (
        "The run broke the product's promises: 2 orders lost and 3 orders charged twice (see the report above)."
    )


def _bench_run_that_gives(monkeypatch, results: list[OrderResult]):
    """`bench`'s arguments, and a run of them that needs no stack and ends with ``results``."""
    import argparse

    from app import bench_cli
    from app.bench import BenchResult

    class _Service:
        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return None

    async def connect(**_):
        return _Service()

    async def nothing(*_):
        return None

    summary = summarize(RunFacts(orders=len(results), concurrency=1, results=results, run_id="t"))

    async def run_bench(*_args, **_kwargs):
        return BenchResult(summary, [], check_targets(summary))

    monkeypatch.setattr(bench_cli, "ensure_up", nothing)
    monkeypatch.setattr(bench_cli.OrderService, "connect", staticmethod(connect))
    monkeypatch.setattr(bench_cli, "run_bench", run_bench)
    return argparse.Namespace(
        orders=len(results), concurrency=1, json=None, review_wait=0.0, poll_interval=0.1, order_timeout=10.0
    )


@pytest.mark.parametrize(("lost", "p50", "code"), [(0, 2.0, 0), (0, 9.0, 0), (1, 2.0, 4)])
async def test_bench_exits_4_only_when_the_run_broke_an_invariant(monkeypatch, capsys, lost, p50, code):
    """The report was the only sign: a script running the benchmark saw exit 0 with orders lost."""
    from app import bench_cli

    args = _bench_run_that_gives(monkeypatch, [
        OrderResult(f"bench-t-{n}", "SHIPPED", int(p50 * 1000), 0, terminal_in_db=True, workflow_completed=n > lost)
        for n in (1, 2, 3)
    ])
    assert await bench_cli._bench(args) == code
    err = capsys.readouterr().err
    assert ("1 order lost" in err) == bool(lost)


async def test_bench_keeps_its_exit_code_when_the_reader_of_the_report_went_away(monkeypatch):
    """`./start.sh bench | head -1`: the report met the closed pipe before the invariants were
    judged, and a run that lost an order exited 0; the verdict is known before the report."""
    import io

    from app import bench_cli

    args = _bench_run_that_gives(
        monkeypatch, [OrderResult("bench-t-1", "SHIPPED", 2000, 0, terminal_in_db=True, workflow_completed=False)]
    )
    sink = os.open(os.devnull, os.O_WRONLY)  # Rich points the stdout it gave up on here

    class _ClosedPipe(io.StringIO):
        def write(self, _text):
            raise BrokenPipeError

        def fileno(self):
            return sink

    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    try:
        with pytest.raises((BrokenPipeError, SystemExit)):
            await bench_cli._bench(args)
    finally:
        os.close(sink)
    from app.cli import _verdict

    assert _verdict(args) == bench_cli.EXIT_BROKEN_INVARIANT

"""The benchmark of SPEC section 7: N orders with the real flaky dependency, C in flight,
each approved as soon as it awaits review, then the database and Temporal checked.

`stats` and `report` are pure (tested without servers); `driver` runs the orders and
`results` reads what the stack says about them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable

from app.bench.driver import DriveConfig, DriveProgress, Driver
from app.bench.results import collect
from app.bench import stack_cpu
from app.bench.server_metrics import per_order, scrape
from app.bench.stats import Bucket, TargetCheck, check_targets, histogram, processing_times, summarize, timing
from app.service import OrderService

__all__ = ["BenchResult", "DriveConfig", "DriveProgress", "new_run_id", "run_bench"]


@dataclass
class BenchResult:
    summary: dict
    buckets: list[Bucket]
    checks: list[TargetCheck]


def new_run_id() -> str:
    return secrets.token_hex(3)


async def run_bench(
    service: OrderService,
    config: DriveConfig,
    on_progress: Callable[[DriveProgress], None] = lambda _: None,
    server_metrics_url: str | None = None,
) -> BenchResult:
    """Drive the run, then read its results; with the dev server's /metrics URL, the summary
    also says what the run cost the server per order (`server`). `cpu` is the CPU per order of
    the stack's processes on this machine, which the latencies follow (stack_cpu)."""
    before = await scrape(server_metrics_url)
    cpu_before = stack_cpu.sample(service.settings)
    outcome = await Driver(service, config, on_progress).run()
    facts = await collect(
        service,
        run_id=config.run_id,
        orders=config.orders,
        concurrency=config.concurrency,
        started_ids=outcome.started_ids,
        not_started=outcome.not_started,
        elapsed_s=outcome.elapsed_s,
        client={
            "start": timing(outcome.start_s),
            "approve": timing(outcome.approve_s),
            "watch_query": timing(outcome.watch_s),
            "start_to_noticed_end": timing(outcome.turnaround_s),
        },
    )
    summary = summarize(facts)
    # Read after collect(), which waits for the workflows to complete: their last writes count.
    cpu = stack_cpu.per_order(cpu_before, stack_cpu.sample(service.settings), len(outcome.started_ids))
    if cpu is not None:
        summary["cpu"] = cpu
    server = per_order(before, await scrape(server_metrics_url), len(outcome.started_ids))
    if server is not None:
        summary["server"] = server
    return BenchResult(summary, histogram(processing_times(facts.results)), check_targets(summary))

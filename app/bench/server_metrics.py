"""What the Temporal server says about a benchmark run: its Prometheus /metrics read before and
after, the difference divided by the orders. This is where the server's side of an order's
time goes without a profiler: how many writes each order makes through the history shard and
how long each waited for the shard's write gate (docs/performance.md, "The ceiling").

Only for the local dev server, which always serves /metrics on 127.0.0.1: on
ORDER_TRACKER_TEMPORAL_METRICS_PORT when set, otherwise on a random port it prints to its
log when it starts. Anything missing or unreadable leaves the server section out of the
report; it never fails a run.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from app.config import Settings

# The dev server's start-up banner, e.g. "Temporal Metrics:     http://localhost:41234/metrics".
_BANNER = re.compile(r"Temporal Metrics:\s+https?://[^\s/]+:(\d+)/metrics")
_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")
_OPERATION = re.compile(r'(?:^|,)operation="([^"]*)"')
# Histograms read as _sum and _count, summed over every label but the operation.
FAMILIES = (
    "semaphore_latency",  # the history shard's write gate (history.shardIOConcurrency)
    "persistence_latency",  # every call to the server's own database, by operation
    "visibility_persistence_latency",  # the visibility index (Web UI, `workflow list`)
    "task_schedule_to_start_latency",  # a workflow task waiting for a worker's poll
)
SCRAPE_TIMEOUT_S = 3.0
TOP_OPERATIONS = 6

Sample = dict[tuple[str, str], float]  # (family_sum | family_count, operation) -> value


def metrics_url(settings: Settings) -> str | None:
    """The local dev server's /metrics, or None when Temporal is someone else's or the port is unknown."""
    if settings.external_temporal_address:
        return None
    port = settings.temporal_metrics_port or _port_from_log(settings.logs_dir / "temporal.log")
    return f"http://127.0.0.1:{port}/metrics" if port else None


def _port_from_log(log: Path) -> int | None:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    ports = _BANNER.findall(text)
    return int(ports[-1]) if ports else None  # the last start is the running server


def parse(text: str) -> Sample:
    """The _sum and _count of FAMILIES by operation; everything else in the page is skipped."""
    wanted = {f"{family}{suffix}" for family in FAMILIES for suffix in ("_sum", "_count")}
    sample: Sample = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match.group(1) not in wanted:
            continue
        operation = _OPERATION.search(match.group(2))
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        key = (match.group(1), operation.group(1) if operation else "")
        sample[key] = sample.get(key, 0.0) + value
    return sample


async def scrape(url: str | None) -> Sample | None:
    if url is None:
        return None

    def read() -> str:
        # Straight to 127.0.0.1: an HTTP(S)_PROXY in the environment must not take this request.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=SCRAPE_TIMEOUT_S) as response:
            return response.read().decode("utf-8", errors="replace")

    try:
        return parse(await asyncio.to_thread(read))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class _Histogram:
    count: float
    total_s: float

    def per_order(self, orders: int) -> float:
        return round(self.count / orders, 2)

    @property
    def mean_ms(self) -> float | None:
        return round(1000 * self.total_s / self.count, 2) if self.count else None


def _delta(before: Sample, after: Sample, family: str, operation: str) -> _Histogram:
    def diff(suffix: str) -> float:
        key = (family + suffix, operation)
        return max(0.0, after.get(key, 0.0) - before.get(key, 0.0))

    return _Histogram(diff("_count"), diff("_sum"))


def _operations(sample: Sample, family: str) -> set[str]:
    return {operation for name, operation in sample if name == f"{family}_count"}


def per_order(before: Sample | None, after: Sample | None, orders: int) -> dict | None:
    """The run's share of the server's work, per order, or None without both samples."""
    if before is None or after is None or orders < 1:
        return None
    gate = _delta(before, after, "semaphore_latency", "ShardInfo")
    calls = {op: _delta(before, after, "persistence_latency", op) for op in _operations(after, "persistence_latency")}
    busiest = sorted(((h.total_s, op) for op, h in calls.items() if h.count), reverse=True)[:TOP_OPERATIONS]
    visibility = [
        _delta(before, after, "visibility_persistence_latency", op)
        for op in _operations(after, "visibility_persistence_latency")
        if op.startswith(("Record", "Upsert"))
    ]
    visibility_writes = _Histogram(sum(h.count for h in visibility), sum(h.total_s for h in visibility))
    task_wait = _delta(before, after, "task_schedule_to_start_latency", "RecordWorkflowTaskStarted")
    return {
        "shard_writes_per_order": gate.per_order(orders),
        "shard_write_gate_wait_mean_ms": gate.mean_ms,
        "visibility_writes_per_order": visibility_writes.per_order(orders),
        "visibility_write_mean_ms": visibility_writes.mean_ms,
        "workflow_task_schedule_to_start_mean_ms": task_wait.mean_ms,
        "persistence_calls": {
            op: {"per_order": calls[op].per_order(orders), "mean_ms": calls[op].mean_ms} for _, op in busiest
        },
    }

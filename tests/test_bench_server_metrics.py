"""The benchmark's reading of the Temporal server's /metrics, without a server."""

from __future__ import annotations

import asyncio
import http.server
import threading
from pathlib import Path

from rich.console import Console

from app.bench.report import report
from app.bench.server_metrics import metrics_url, parse, per_order, scrape
from app.config import Settings

PAGE = """\
# HELP semaphore_latency semaphore_latency histogram
# TYPE semaphore_latency histogram
semaphore_latency_bucket{operation="ShardInfo",service_name="history",le="0.001"} 3
semaphore_latency_sum{operation="ShardInfo",service_name="history"} {gate_s}
semaphore_latency_count{operation="ShardInfo",service_name="history"} {gate_n}
persistence_latency_sum{operation="UpdateWorkflowExecution",service_name="history"} {update_s}
persistence_latency_count{operation="UpdateWorkflowExecution",service_name="history"} {update_n}
persistence_latency_sum{operation="UpdateWorkflowExecution",service_name="matching"} 0
persistence_latency_count{operation="UpdateWorkflowExecution",service_name="matching"} 0
persistence_latency_sum{operation="GetCurrentExecution",service_name="history"} {current_s}
persistence_latency_count{operation="GetCurrentExecution",service_name="history"} {current_n}
visibility_persistence_latency_sum{operation="RecordWorkflowExecutionClosed",service_name="history"} {closed_s}
visibility_persistence_latency_count{operation="RecordWorkflowExecutionClosed",service_name="history"} {closed_n}
visibility_persistence_latency_sum{operation="ListWorkflowExecutions",service_name="frontend"} 9
visibility_persistence_latency_count{operation="ListWorkflowExecutions",service_name="frontend"} {list_n}
task_schedule_to_start_latency_sum{operation="RecordWorkflowTaskStarted",taskqueue="order-tq"} {wait_s}
task_schedule_to_start_latency_count{operation="RecordWorkflowTaskStarted",taskqueue="order-tq"} {wait_n}
task_schedule_to_start_latency_sum{operation="RecordWorkflowTaskStarted",taskqueue="shipping-tq"} 0
task_schedule_to_start_latency_count{operation="RecordWorkflowTaskStarted",taskqueue="shipping-tq"} 0
other_metric_sum{operation="ShardInfo"} 12345
semaphore_latency_count{operation="ShardInfo"} not-a-number
"""


def _page(**values: float) -> str:
    defaults = dict(gate_s=0, gate_n=0, update_s=0, update_n=0, current_s=0, current_n=0, closed_s=0, closed_n=0,
                    wait_s=0, wait_n=0, list_n=0)
    text = PAGE
    for key, value in {**defaults, **values}.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def _settings(tmp_path: Path, **overrides) -> Settings:
    env = {"ORDER_TRACKER_DATA_DIR": str(tmp_path), **overrides}
    return Settings.from_env(env)


def test_parse_keeps_the_wanted_histograms_by_operation_summed_over_other_labels():
    sample = parse(_page(update_s=1.5, update_n=30, gate_n=7))
    assert sample[("persistence_latency_sum", "UpdateWorkflowExecution")] == 1.5
    assert sample[("persistence_latency_count", "UpdateWorkflowExecution")] == 30
    assert sample[("semaphore_latency_count", "ShardInfo")] == 7  # the malformed line is skipped
    assert not any(name.startswith("other_metric") for name, _ in sample)
    assert not any(name.endswith("_bucket") for name, _ in sample)


def test_per_order_divides_the_runs_difference_by_the_orders():
    before = parse(_page(gate_s=10, gate_n=100, update_s=1, update_n=50, current_s=0.1, current_n=10,
                         closed_s=0.2, closed_n=40, wait_s=1, wait_n=20, list_n=100))
    after = parse(_page(gate_s=14, gate_n=240, update_s=1.24, update_n=170, current_s=0.13, current_n=40,
                        closed_s=0.24, closed_n=60, wait_s=3, wait_n=70, list_n=1000))
    server = per_order(before, after, orders=10)
    assert server["shard_writes_per_order"] == 14
    assert server["shard_write_gate_wait_mean_ms"] == round(4000 / 140, 2)
    # Visibility writes only: the 900 list queries in between are reads.
    assert server["visibility_writes_per_order"] == 2
    assert server["visibility_write_mean_ms"] == 2.0
    assert server["workflow_task_schedule_to_start_mean_ms"] == 40.0
    # Busiest first, by total time: 240 ms of updates before 30 ms of current-run lookups.
    assert list(server["persistence_calls"]) == ["UpdateWorkflowExecution", "GetCurrentExecution"]
    assert server["persistence_calls"]["UpdateWorkflowExecution"] == {"per_order": 12, "mean_ms": 2.0}


def test_per_order_is_none_without_both_samples_and_has_no_mean_without_calls():
    sample = parse(_page())
    assert per_order(None, sample, 10) is None
    assert per_order(sample, None, 10) is None
    assert per_order(sample, sample, 0) is None
    idle = per_order(sample, sample, 5)
    assert idle["shard_writes_per_order"] == 0 and idle["shard_write_gate_wait_mean_ms"] is None
    assert idle["persistence_calls"] == {}


def test_a_server_restarted_in_between_counts_nothing_negative():
    server = per_order(parse(_page(gate_n=500, gate_s=5)), parse(_page(gate_n=20, gate_s=1)), 10)
    assert server["shard_writes_per_order"] == 0


def test_the_url_is_the_configured_port_or_the_one_the_dev_server_printed_last(tmp_path):
    assert metrics_url(_settings(tmp_path)) is None  # no log yet
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "temporal.log").write_text(
        "Temporal Metrics:     http://localhost:41111/metrics\n{\"level\":\"WARN\"}\n"
        "Temporal Metrics:     http://localhost:42222/metrics\n"
    )
    assert metrics_url(_settings(tmp_path)) == "http://127.0.0.1:42222/metrics"
    assert metrics_url(_settings(tmp_path, ORDER_TRACKER_TEMPORAL_METRICS_PORT="49090")) == "http://127.0.0.1:49090/metrics"
    assert metrics_url(_settings(tmp_path, TEMPORAL_ADDRESS="temporal.example:7233")) is None


def test_an_unreachable_endpoint_reads_as_no_sample():
    assert asyncio.run(scrape(None)) is None
    # A port nothing listens on (connection refused): no sample, no exception.
    assert asyncio.run(scrape("http://127.0.0.1:9/metrics")) is None


def test_the_endpoint_is_read_directly_even_with_a_proxy_in_the_environment(monkeypatch):
    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = _page(gate_n=42).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # A proxy nothing listens on: a request that went through it would fail.
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, "http://127.0.0.1:9")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        sample = asyncio.run(scrape(f"http://127.0.0.1:{server.server_port}/metrics"))
    finally:
        server.shutdown()
        server.server_close()
    assert sample is not None and sample[("semaphore_latency_count", "ShardInfo")] == 42


def test_the_report_shows_the_servers_share_when_the_summary_has_it():
    summary = {
        "run_id": "abc123", "orders": 10, "concurrency": 5, "shipped": 10, "failed": 0, "lost_orders": 0,
        "p50_s": 1.0, "p95_s": 2.0, "p99_s": 2.5, "max_s": 3.0, "sla_15s_hit_rate": 1.0,
        "throughput_orders_per_s": 5.0, "attempts_per_order": 20.0, "double_charges": 0, "refunded_payments": 0,
        "wall_s": 2.0,
        "server": {
            "shard_writes_per_order": 14, "shard_write_gate_wait_mean_ms": 131.5, "visibility_writes_per_order": 3.5,
            "visibility_write_mean_ms": 2.2, "workflow_task_schedule_to_start_mean_ms": 160.0,
            "persistence_calls": {"UpdateWorkflowExecution": {"per_order": 12, "mean_ms": 3.1}},
        },
    }
    console = Console(record=True, width=120)
    console.print(report(summary, [], []))
    text = console.export_text()
    assert "14, each waited 131.5 ms for the shard's write gate" in text
    assert "UpdateWorkflowExecution" in text and "12 × 3.1 ms" in text
    del summary["server"]
    console = Console(record=True, width=120)
    console.print(report(summary, [], []))
    assert "Temporal server" not in console.export_text()

"""A worker started while PostgreSQL or Temporal is out of reach (killed during an outage and
started again by the watchdog): it used to crash with a traceback in its log, and while the
database was down the watchdog's back-off (1, 2, 4 … 60 s) then held it down for up to a
minute after the database was back."""

from __future__ import annotations

import logging

import pytest
from temporalio import activity

from workers import runner


async def test_a_worker_waits_for_the_database_and_says_so_in_one_line(monkeypatch, caplog):
    tries = []

    async def create_pool(url: str, *, max_size: int):
        tries.append(url)
        if len(tries) < 3:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5433)")
        return "the pool"

    monkeypatch.setattr(runner, "create_pool", create_pool)
    with caplog.at_level(logging.INFO, logger="workers"):
        assert await runner._pool_when_reachable("order-worker", "postgresql://db", 5, retry_s=0) == "the pool"
    assert len(tries) == 3
    said = [r for r in caplog.records if "worker_waiting_for_database" in r.getMessage()]
    assert len(said) == 1 and not said[0].exc_info, caplog.text
    assert said[0].getMessage().startswith("event=worker_waiting_for_database worker=order-worker tries=1 ")


async def test_a_database_error_that_is_not_an_outage_still_stops_the_worker(monkeypatch):
    async def create_pool(url: str, *, max_size: int):
        raise ValueError("a bug")

    monkeypatch.setattr(runner, "create_pool", create_pool)
    with pytest.raises(ValueError):
        await runner._pool_when_reachable("order-worker", "postgresql://db", 5, retry_s=0)


async def test_a_worker_that_cannot_reach_temporal_exits_with_one_line(monkeypatch, caplog):
    async def connect(*args, **kwargs):
        raise RuntimeError(
            "Failed client connect: Server connection error: tonic::transport::Error(Transport, "
            'ConnectError("tcp connect error", 127.0.0.1:7233, Connection refused))'
        )

    monkeypatch.setattr(runner.Client, "connect", connect)
    monkeypatch.setattr(runner, "configure_logging", lambda: None)
    monkeypatch.delenv(runner.liveness.PATH_VARIABLE, raising=False)
    with caplog.at_level(logging.INFO, logger="workers"), pytest.raises(SystemExit) as exited:
        await runner.run_worker(name="order-worker", task_queue="q", workflows=[], activities=lambda pool: [])
    assert exited.value.code == 1
    [line] = [r for r in caplog.records if r.name == "workers"]
    assert line.getMessage().startswith("event=worker_start_failed worker=order-worker reason=temporal_unreachable")
    assert not line.exc_info


@activity.defn
async def _nothing() -> None:
    pass


class _Pool:
    closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_worker_given_a_namespace_temporal_lacks_exits_with_one_line(dev_env, monkeypatch, caplog):
    """TEMPORAL_NAMESPACE mistyped: the worker crashed with a traceback, and `up` quoted its raw
    last line ("Status { code: NotFound, message: ..., details: b\"\\x08\\x05...")."""
    pool = _Pool()

    async def pool_when_reachable(*args, **kwargs):
        return pool

    monkeypatch.setattr(runner, "_pool_when_reachable", pool_when_reachable)
    monkeypatch.setattr(runner, "configure_logging", lambda: None)
    monkeypatch.delenv(runner.liveness.PATH_VARIABLE, raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "no-such-namespace")
    with caplog.at_level(logging.INFO, logger="workers"), pytest.raises(SystemExit) as exited:
        await runner.run_worker(name="order-worker", task_queue="q", workflows=[], activities=lambda pool: [_nothing])
    assert exited.value.code == 1
    [line] = [r for r in caplog.records if r.name == "workers" and r.levelno >= logging.ERROR]
    assert line.getMessage().startswith(
        "event=worker_start_failed worker=order-worker reason=namespace_not_found namespace='no-such-namespace'"
    ), line.getMessage()
    assert "TEMPORAL_NAMESPACE" in line.getMessage() and "Status {" not in line.getMessage()
    assert not line.exc_info
    assert pool.closed

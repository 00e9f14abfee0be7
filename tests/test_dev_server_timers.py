"""Short timers on the dev server as the stack starts it (app/stack/temporal.py): the timer
queue's "reader stuck" check stays off.

With timers shifted 50 ms, the queue loads its tasks several times a second, and the check,
which counts the loads whose last timer is due in the same second, took that for a stuck reader
about twice a second. Each time it handed that second's timers not yet loaded to a second,
lower-priority reader, and some fired seconds to a minute late: the approval's 1 ms pause
(OrderWorkflow._updates_on_record) held orders up to 66 s in a knee run (docs/performance.md).
The server counts every time the check fires (whether or not it then finds timers to move) in
its queue_actions metric; the second case shows that this load makes the check fire when it is
on, so the first can fail. (A server with temporalio/temporal#11554, newer than 1.32, counts
otherwise, and the second case may then stop firing: a sign the setting is no longer needed.)"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from app.config import Settings
from app.stack import temporal
from tests.conftest import eventually

READER_STUCK_OFF = "history.queueReaderStuckCriticalAttempts=1000000"
STUCK_ACTIONS = re.compile(r'^queue_actions\{[^}]*queue_action="reader_stuck"[^}]*\} (\S+)$', re.MULTILINE)


@workflow.defn(sandboxed=False)
class ShortTimers:
    @workflow.run
    async def run(self, count: int) -> None:
        for _ in range(count):
            await workflow.sleep(timedelta(milliseconds=1))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _without(command: list[str], value: str) -> list[str]:
    at = command.index(value)
    return command[: at - 1] + command[at + 1 :]


def _stuck_actions(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return sum(float(count) for count in STUCK_ACTIONS.findall(text))


async def _connected(address: str) -> Client:
    client: Client | None = None

    async def connects() -> bool:
        nonlocal client
        try:
            client = await Client.connect(address)  # asks the server's system info
        except Exception:
            return False
        return True

    await eventually(connects, f"a client connected to the dev server at {address}", timeout=30)
    assert client is not None
    return client


@pytest.mark.parametrize("check", ["off, as the stack starts it", "on, the server's default"])
async def test_short_timers_under_load_stay_with_the_queue_s_main_reader(tmp_path: Path, check: str):
    grpc, ui, metrics = _free_ports(3)
    settings = Settings.from_env(
        {
            "ORDER_TRACKER_DATA_DIR": str(tmp_path),
            "ORDER_TRACKER_TEMPORAL_PORT": str(grpc),
            "ORDER_TRACKER_TEMPORAL_UI_PORT": str(ui),
            "ORDER_TRACKER_TEMPORAL_METRICS_PORT": str(metrics),
        }
    )
    command = temporal.spec(settings).command
    assert READER_STUCK_OFF in command
    if check.startswith("on"):
        command = _without(command, READER_STUCK_OFF)
    temporal.db_file(settings).parent.mkdir(parents=True)
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = await _connected(f"127.0.0.1:{grpc}")
        queue = f"timers-{uuid.uuid4().hex[:8]}"
        async with Worker(client, task_queue=queue, workflows=[ShortTimers], workflow_runner=UnsandboxedWorkflowRunner()):
            await asyncio.gather(
                *(
                    client.execute_workflow(ShortTimers.run, 40, id=f"timers-{n}-{uuid.uuid4().hex[:6]}", task_queue=queue)
                    for n in range(6)
                )
            )
        moved = _stuck_actions(metrics)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if check.startswith("off"):
        assert moved == 0
    else:
        assert moved > 0

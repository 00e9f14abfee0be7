"""End-to-end fixtures: a private stack (Temporal dev server, PostgreSQL, both worker
processes) in a temporary directory on free ports, driven through ./start.sh's own command
line exactly as an operator would. It never touches the user's .data/ or a running stack."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Collection, Iterator, TypeVar

import asyncpg
import psutil
import pytest

from app.config import ROOT, Settings


# Ports handed out in this session, so that no two stacks are given one.
_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port below the kernel's ephemeral range. A port from that range (what binding to
    port 0 gives) can be taken by an outgoing connection, or a server asking for any port (the
    dev server's metrics), between the moment it is picked and the moment the part it is given
    binds it: PostgreSQL once failed CI so, "could not bind ... Address already in use"."""
    high = max(_ephemeral_low(), 21000)
    while True:
        port = random.randrange(20000, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


def running(pid: int) -> bool:
    """Whether the process runs: one that exited but is not reaped yet (a zombie) does not. The
    parts `up` starts are init's children, and who reaps them, and when, is init's business: a
    PID 1 that never does (a container whose entrypoint is .ci/run, which makes ./start.sh test
    PID 1) keeps every exited part a zombie, which psutil.pid_exists and Process.wait (for a
    process not our child) still count as alive."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_exited(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while running(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs after {timeout:.0f} s"
        time.sleep(0.05)


T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout: float = 60) -> T:
    """Poll ``condition`` until it gives something true, and return that; fail with ``what``
    (what did not happen) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.2)
    return value


async def wait_for_state(db: asyncpg.Pool, order_id: str, states: str | Collection[str], timeout: float = 60) -> str:
    """Wait until the order's row is in ``states`` (one state, or any of several); the state it reached."""
    wanted = {states} if isinstance(states, str) else set(states)
    deadline = time.monotonic() + timeout
    while (state := await db.fetchval("SELECT state FROM orders WHERE id = $1", order_id)) not in wanted:
        assert time.monotonic() < deadline, f"order {order_id} is {state}, not in {sorted(wanted)} after {timeout:g} s"
        await asyncio.sleep(0.05)
    return state


@dataclass
class PrivateStack:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, restart_workers: bool = True) -> "PrivateStack":
        """A stack on free ports in a temporary directory; ``restart_workers=False`` for a test
        that needs a killed worker to stay down (no watchdog)."""
        data_dir = Path(tempfile.mkdtemp(prefix="order-tracker-e2e-"))
        # Nothing of the caller's own set-up reaches the private stack: an exported
        # ORDER_TRACKER_TEMPORAL_METRICS_PORT (docs/performance.md) made every stack after the
        # first fail to start its dev server on the one port, and Temporal's environment
        # configuration (TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, a profile in temporal.toml) would
        # point the clients at a namespace or TLS the dev server does not have.
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("ORDER_TRACKER_", "TEMPORAL_")) and name != "DATABASE_URL"
        }
        env = {
            **inherited,
            "TEMPORAL_CONFIG_FILE": os.devnull,  # an empty file: no profile of the caller's is read
            "ORDER_TRACKER_DATA_DIR": str(data_dir),
            "ORDER_TRACKER_TEMPORAL_PORT": str(free_port()),
            "ORDER_TRACKER_TEMPORAL_UI_PORT": str(free_port()),
            "ORDER_TRACKER_POSTGRES_PORT": str(free_port()),
            "ORDER_TRACKER_API_PORT": str(free_port()),
            "ORDER_TRACKER_RESTART_WORKERS": "1" if restart_workers else "0",
        }
        return cls(data_dir=data_dir, env=env)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def run(self, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
        """``python -m app ARGS`` against this stack, as ./start.sh would run it."""
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def ok(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, f"{args} exited {result.returncode}: {result.stderr}{result.stdout}{self.log_tails()}"
        return result

    def log_tails(self, lines: int = 15) -> str:
        """The end of each part's log: the data directory is gone by the time anyone reads a
        failed run's output."""
        tails = []
        for log in sorted((self.data_dir / "logs").glob("*.log")):
            tails.append(f"\n--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "".join(tails)

    def json(self, *args: str, timeout: float = 120) -> Any:
        return json.loads(self.ok(*args, "--json", timeout=timeout).stdout)

    def status(self) -> dict:
        result = self.run("status", "--json")
        return json.loads(result.stdout)

    def destroy(self) -> None:
        self.run("down", timeout=120)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def no_temporal_profile_in_the_tests() -> Iterator[None]:
    """The clients these tests connect in-process read Temporal's environment configuration
    too: none of the caller's applies to the private stacks."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("TEMPORAL_")]:
            patch.delenv(name)
        patch.setenv("TEMPORAL_CONFIG_FILE", os.devnull)  # an empty file: no profile is read
        yield


@pytest.fixture(scope="session")
def stack() -> Iterator[PrivateStack]:
    """One private stack for the session, up and healthy."""
    private = PrivateStack.create()
    try:
        private.ok("up", timeout=180)
        yield private
    finally:
        private.destroy()


@pytest.fixture
async def db(stack: PrivateStack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the stack's database, for tests that read or hold its rows."""
    pool = await asyncpg.create_pool(stack.settings.database_url, min_size=1, max_size=10)
    try:
        yield pool
    finally:
        await pool.close()

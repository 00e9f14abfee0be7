"""Background processes with pid files: start detached with a log file, find again, stop.

A pid file holds the pid and the process's start time, so a recycled pid is never taken for
ours. Each process leads its own session, so stopping it stops its children too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import psutil


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: list[str]
    log_path: Path
    pid_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    # PostgreSQL's "fast" shutdown is SIGINT; SIGTERM would wait for every client to leave.
    stop_signal: int = signal.SIGTERM


def start(spec: ProcessSpec) -> int:
    """Start the process and write its pid file (the caller holds the stack's lock and found no
    live process of ours behind the file)."""
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    spec.pid_path.parent.mkdir(parents=True, exist_ok=True)
    # A stale file, gone before the process starts: a new watchdog that read the old one's pid
    # there took itself for a stray and exited.
    spec.pid_path.unlink(missing_ok=True)
    with open(spec.log_path, "ab") as log:
        process = subprocess.Popen(
            spec.command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=spec.cwd,
            env={**os.environ, **spec.env},
            user=spec.user,
            start_new_session=True,
        )
    # Whoever finds the pid file finds the process's own command line (its ports, which `up`,
    # `status` and the commands compare), and the whole file, never an empty or half one.
    _wait_exec_done(process.pid)
    created = psutil.Process(process.pid).create_time()
    write_whole(spec.pid_path, f"{process.pid} {created}\n")
    # Collect it whenever it exits: a part the TUI started and `down` in another shell stopped
    # otherwise stayed the TUI's zombie ("[postgres] <defunct>") until the TUI quit.
    threading.Thread(target=process.wait, name=f"reap-{spec.name}", daemon=True).start()
    return process.pid


EXEC_TIMEOUT_S = 5.0


def _wait_exec_done(pid: int) -> None:
    """Wait until the child runs its new program: Popen returns once the exec has begun, and
    until the kernel has laid out the new program's arguments, /proc/PID/cmdline reads empty
    (under load, a server's pid file read at once showed a command line without its ports)."""
    deadline = time.monotonic() + EXEC_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).cmdline():
                return
        except psutil.Error:  # exited already: nothing more to wait for
            return
        time.sleep(0.001)


def write_whole(path: Path, text: str) -> None:
    """Replace the file whole (a temporary file renamed over it), so that a reader never sees
    it empty or half-written."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


def running_pid(spec: ProcessSpec) -> int | None:
    """The pid of our process if it is alive, else None. It never removes the pid file: one it
    read as stale may have been replaced since by a `start` (forget_if_stale does, under the
    lock that every start holds)."""
    try:
        pid_text, created_text = spec.pid_path.read_text().split()
        process = psutil.Process(int(pid_text))
        if abs(process.create_time() - float(created_text)) < 0.01 and not _gone(process.pid):
            return process.pid
    except (OSError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):  # none, unreadable, or stale
        pass
    return None


def forget_if_stale(spec: ProcessSpec) -> None:
    """Remove the pid file unless it names our live process; only under the stack's lock."""
    if running_pid(spec) is None:
        with contextlib.suppress(OSError):  # a data directory that cannot be written is said elsewhere
            spec.pid_path.unlink(missing_ok=True)


STOP_TIMEOUT_S = 15.0


def stop(spec: ProcessSpec, timeout: float = STOP_TIMEOUT_S) -> str | None:
    """Ask the process (and its session) to stop; kill it if it has not after ``timeout``.
    Returns None if nothing was running, else "stopped", or "killed" when it had to be."""
    pid = running_pid(spec)
    if pid is None:
        return None
    _signal_group(pid, spec.stop_signal)
    # A stopped process (SIGSTOP) acts on that signal only once resumed: `down` waited out the
    # timeout for it, then killed it.
    _resume_tree(pid)
    how = "stopped"
    if not _wait_gone(pid, timeout):
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
        how = "killed"
    spec.pid_path.unlink(missing_ok=True)
    return how


def resume(spec: ProcessSpec) -> None:
    """Resume our process and its children if any is stopped (SIGSTOP); nothing otherwise."""
    if (pid := running_pid(spec)) is not None:
        _resume_tree(pid)


def _resume_tree(pid: int) -> None:
    """SIGCONT to the process and every process under it (PostgreSQL's backends lead their
    own process groups, so the group's signal misses them); a running process ignores it."""
    try:
        parent = psutil.Process(pid)
        tree = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return
    for process in tree:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGCONT)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _gone(pid: int) -> bool:
    """Whether the process has exited: no such process, or a zombie, which is reaped if it is
    ours. A part the TUI started is the TUI's child: once it exits, it stays a zombie until the
    TUI collects it, and `down` from another shell waited for it, then claimed to kill it."""
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    return True


# How long an exited process whose parent is not init is given to be collected before it counts
# as gone anyway: the TUI collects the parts it started only when it quits.
REAP_GRACE_S = 1.0
INIT_REAP_S = 5.0


def _wait_gone(pid: int, timeout: float) -> bool:
    """Whether the process and the rest of its session (PostgreSQL's backends, which leave with
    their parent) are gone within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (_gone(pid) and not _group_alive(pid)):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    # An exited part that `up` started is init's child; init collects it (here within ~2 s),
    # and until then it is still there for anyone who looks, so wait for that.
    try:
        by_init = psutil.Process(pid).ppid() == 1
    except psutil.NoSuchProcess:
        return True
    # At most INIT_REAP_S even for init: one that never collects must not hold `down` for long.
    collected_by = time.monotonic() + (INIT_REAP_S if by_init else REAP_GRACE_S)
    while psutil.pid_exists(pid) and time.monotonic() < collected_by:
        time.sleep(0.02)
    return True


def _group_alive(pgid: int) -> bool:
    for process in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(process.info["pid"]) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return False


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def tail(path: Path, lines: int = 20) -> list[str]:
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - 64 * 1024))
            return file.read().decode("utf-8", "replace").splitlines()[-lines:]
    except FileNotFoundError:
        return []

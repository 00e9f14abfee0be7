"""Which Temporal a worker of ours serves: the stack gives each worker it starts the address and
namespace the settings resolve then, and `up` and `status` compare it with theirs, as they
compare the servers' ports (the commands do not: they may go to the Temporal an order was started
on, on purpose). `up` with another TEMPORAL_ADDRESS waited 60 s for a poller
on that Temporal, then called the worker, which served the one it was started for, unhealthy."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import psutil

from app.config import Settings
from app.server_addresses import on_this_machine

# In the worker's environment: "address namespace". A worker started before it was given has none.
VARIABLE = "ORDER_TRACKER_WORKER_SERVES"


def temporal_served(settings: Settings) -> str | None:
    """The Temporal a worker started now under ``settings`` serves: "address namespace"; None if
    Temporal's configuration cannot be read (the connection says why, where it is made)."""
    try:
        namespace = settings.temporal_connect_config()["namespace"]
    except RuntimeError:
        return None
    return f"{settings.temporal_address} {namespace}"


def elsewhere(pid: int, settings: Settings) -> str | None:
    """How worker process ``pid`` serves another Temporal address or namespace than ``settings``
    give, and what to do, to go after health.ON_ANOTHER_PORT ("already runs here"); None if it
    does not, or it is not known."""
    try:
        environ = psutil.Process(pid).environ()
    except psutil.Error:
        return None
    has, wanted = environ.get(VARIABLE), temporal_served(settings)
    if has is None or wanted is None:
        return None
    (has_address, _, has_namespace), (address, _, namespace) = has.partition(" "), wanted.partition(" ")
    other_server, other_namespace = _server(has_address) != _server(address), has_namespace != namespace
    if not other_server and not other_namespace:
        return None
    fixes = []
    if other_server:
        if (environ.get("TEMPORAL_ADDRESS") or "").strip():
            fixes.append(f"set TEMPORAL_ADDRESS={has_address}")
        elif settings.external_temporal_address:
            fixes.append("unset TEMPORAL_ADDRESS")
        else:
            fixes.append(f"set ORDER_TRACKER_TEMPORAL_PORT={has_address.rpartition(':')[2]}")
    if other_namespace:
        # Temporal's configuration reads this process's environment; TEMPORAL_NAMESPACE wins over a profile.
        unset = os.environ.get("TEMPORAL_NAMESPACE") and not environ.get("TEMPORAL_NAMESPACE")
        fixes.append("unset TEMPORAL_NAMESPACE" if unset else f"set TEMPORAL_NAMESPACE={has_namespace}")
    if not other_server:
        serves = f"for namespace {has_namespace} of Temporal at {address}, not namespace {namespace}"
    else:
        serves = f"for Temporal at {has_address} in namespace {has_namespace}, not at {address} in namespace {namespace}"
        if _server(has_address)[1] == _server(address)[1]:  # the same port: only the host's name told them apart
            serves += f" (hosts are compared by name, {LOOPBACK} counting as one)"
    return f"(pid {pid}) {serves}; stop it with ./start.sh down (then ./start.sh up), or {' and '.join(fixes)}"


LOOPBACK = "localhost, 127.0.0.0/8 and ::1"


def _server(address: str) -> tuple[str, int | str]:
    """``host:port`` as servers are told apart: the host in lower case, with every name of this
    machine's loopback (LOOPBACK) as one, and the port as a number. No name is looked up: a
    worker given localhost:7233 serves the Temporal that 127.0.0.1:7233 names, and was refused."""
    try:
        parts = urlsplit(f"//{address}")
        host, port = parts.hostname or "", parts.port or ""
    except ValueError:  # not host:port (the settings refuse such a TEMPORAL_ADDRESS): as written
        return address.lower(), ""
    return ("loopback" if on_this_machine(address) else host), port

"""`./start.sh api` when its port is taken: one sentence naming the port and what changes it,
before anything is announced, and uvicorn never binds a port of its own."""

from __future__ import annotations

import logging
import socket
from typing import Iterator

import pytest
import uvicorn

from app import api_cli
from app.cli import main


@pytest.fixture
def taken_port(tmp_path, monkeypatch) -> Iterator[int]:
    """A port another program listens on; the stack check passes (a stand-in)."""
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ORDER_TRACKER_DEBUG", raising=False)

    async def reachable() -> None:
        return None

    monkeypatch.setattr(api_cli, "_stack_reachable", reachable)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() points the root logger at its log
    try:
        yield other.getsockname()[1]
    finally:
        root.handlers[:], root.level = handlers, level
        other.close()


def test_a_taken_api_port_is_refused_in_one_sentence_naming_its_variable(taken_port, monkeypatch, capsys):
    """It announced "Order Tracker API on http://..." and then printed uvicorn's raw
    "[Errno 98] error while attempting to bind on address"."""
    monkeypatch.setenv("ORDER_TRACKER_API_PORT", str(taken_port))
    code = main(["api"])
    out, err = capsys.readouterr()
    assert (code, out) == (3, "")
    assert err == (
        f"Port {taken_port} for the API is already in use by another program;"
        " stop it or set ORDER_TRACKER_API_PORT to a free port.\n"
    )


def test_a_taken_port_given_with_the_flag_names_the_flag(taken_port, capsys):
    code = main(["api", "--port", str(taken_port)])
    out, err = capsys.readouterr()
    assert (code, out) == (3, "")
    assert err == (
        f"Port {taken_port} for the API is already in use by another program; stop it or choose a free port with --port.\n"
    )


def test_the_api_serves_on_the_socket_it_bound_before_announcing(tmp_path, monkeypatch, capsys):
    """No second bind that another program could win between the check and uvicorn's start."""
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ORDER_TRACKER_API_PORT", str(port))
    served: list[tuple[int, str]] = []

    async def reachable() -> None:
        return None

    def run(_server, sockets=None) -> None:
        # Announced by now, on a socket that already holds the port.
        served.append((sockets[0].getsockname()[1], capsys.readouterr().out))
        with socket.socket() as rival, pytest.raises(OSError):
            rival.bind(("127.0.0.1", port))

    monkeypatch.setattr(api_cli, "_stack_reachable", reachable)
    monkeypatch.setattr(uvicorn.Server, "run", run)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert main(["api"]) == 0
    finally:
        root.handlers[:], root.level = handlers, level
    assert served == [(port, f"Order Tracker API on http://127.0.0.1:{port} (docs at /docs); Ctrl-C stops it.\n")]


@pytest.mark.parametrize("port", ["99999", "-1", "0", "http"])
def test_a_port_flag_out_of_range_is_a_usage_error_in_one_sentence(tmp_path, monkeypatch, capsys, port):
    """`api --port 99999` reached bind() as an OverflowError: "Sorry, something unexpected
    went wrong" (exit 1), where ORDER_TRACKER_API_PORT=99999 is refused in one sentence."""
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main(["api", "--port", port])
    assert exited.value.code == 2
    assert f"give a port number between 1 and 65535, not {port!r}." in capsys.readouterr().err


def test_an_ipv6_host_is_announced_as_a_url_one_can_use():
    """`api --host ::1` announced http://::1:8000, which neither a browser nor curl takes."""
    assert api_cli._url("::1", 8000) == "http://[::1]:8000"
    assert api_cli._url("127.0.0.1", 8000) == "http://127.0.0.1:8000"


@pytest.mark.parametrize("host", ["", "  "])
def test_a_blank_host_is_a_usage_error_not_every_interface(tmp_path, monkeypatch, capsys, host):
    """`api --host "$HOST"` with HOST unset bound the API on every interface (an empty address is
    "any" to bind()) and announced "http://:8000": README has it on 127.0.0.1. Refused, as a
    blank --id is, before anything listens."""
    monkeypatch.setenv("ORDER_TRACKER_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main(["api", "--host", host])
    assert exited.value.code == 2
    assert f"give a host name or address to listen on, such as 127.0.0.1, not {host!r}." in capsys.readouterr().err


def test_a_host_it_cannot_listen_on_is_quoted_cut_short(taken_port, capsys):
    """A --host of 4,000 characters came back whole in the sentence."""
    code = main(["api", "--host", "a." * 2000, "--port", str(taken_port)])
    out, err = capsys.readouterr()
    assert (code, out) == (3, "")
    assert err.startswith("The API cannot listen on a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.…:") and len(err) < 300, err

"""`api`: the REST API on 127.0.0.1 (OpenAPI docs at /docs)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import socket

from app.checks import cut
from app.cli_numbers import plain_whole
from app.config import Settings, debug_to_stderr
from app.errors import OperatorError
from app.logging_setup import configure_logging

log = logging.getLogger("app.api")


class CannotListen(OperatorError):
    """The API's port is taken or cannot be bound: exit 3, as `up` refuses a taken port."""

    exit_code = 3


def register(commands: argparse._SubParsersAction) -> None:
    api = commands.add_parser(
        "api", help="REST API on 127.0.0.1 (port: --port, ORDER_TRACKER_API_PORT or 8000; OpenAPI docs at /docs)"
    )
    api.add_argument("--host", default="127.0.0.1", type=_host, help="address to bind (default 127.0.0.1)")
    api.add_argument("--port", type=_port_number, help="port (default ORDER_TRACKER_API_PORT or 8000)")
    api.set_defaults(handler=_api)


def _host(text: str) -> str:
    """--host, not blank: an empty address is "every interface" to bind(), and `--host "$HOST"`
    with HOST unset put the API on the network, announced as http://:8000."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"give a host name or address to listen on, such as 127.0.0.1, not {text!r}.")
    return text


def _port_number(text: str) -> int:
    """--port in plain decimal, as every number of the command line ("80_80" was 8080): one out
    of range reached bind() as an OverflowError, and the operator got the unexpected-error apology."""
    port = plain_whole(text)
    if port is None or not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"give a port number between 1 and 65535, not {text!r}.")
    return port


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from app.api import create_app

    settings = Settings.from_env()
    port = args.port or settings.api_port
    if not debug_to_stderr():  # then it logs to stderr, as every command does
        # Its own log, apart from the commands' cli.log: what `./start.sh logs api` shows.
        configure_logging(path=settings.logs_dir / "api.log")
    # The port first, and held from here on: uvicorn binding it itself would announce nothing
    # of ours but print its raw "[Errno 98] ... address already in use" after our "API on ...".
    sock = _bind(args.host, port, "--port" if args.port else "ORDER_TRACKER_API_PORT")
    with sock:
        # The stack next, as every command checks it: uvicorn would log a failed start-up with
        # its traceback, and the operator would get that instead of one sentence (exit 3).
        asyncio.run(_stack_reachable())
        log.info("event=api_started host=%s port=%s", args.host, port)
        print(f"Order Tracker API on {_url(args.host, port)} (docs at /docs); Ctrl-C stops it.")
        config = uvicorn.Config(create_app(), host=args.host, port=port, log_level="warning")
        uvicorn.Server(config).run(sockets=[sock])  # serves on the socket bound above: no second bind to fail
    return 0


def _url(host: str, port: int) -> str:
    """The address to announce: an IPv6 host goes in brackets (http://[::1]:8000), or no
    browser or curl can use the URL."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _bind(host: str, port: int, set_by: str) -> socket.socket:
    """The API's socket, bound before anything is announced, or the refusal in one sentence
    naming the port and what changes it (``set_by``: --port or ORDER_TRACKER_API_PORT)."""
    change = "choose a free port with --port" if set_by == "--port" else f"set {set_by} to a free port"
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)  # as uvicorn does
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # listening, it is ours: another SO_REUSEADDR socket cannot bind it meanwhile
    except OSError as error:
        sock.close()
        log.warning("event=api_bind_failed host=%s port=%s error=%r", host, port, error)
        if error.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"Port {port} for the API is already in use by another program; stop it or {change}."
            ) from None
        reason = (error.strerror or str(error)).rstrip(".").lower()
        raise CannotListen(f"The API cannot listen on {cut(host)}:{port} ({reason}); check --host, or {change}.") from None
    return sock


async def _stack_reachable() -> None:
    from app.service import OrderService

    service = await OrderService.connect(pool_size=1)  # StackUnreachable says which part, and how to start it
    await service.close()

"""`api`: the REST API on 127.0.0.1 (OpenAPI docs at /docs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from app.config import Settings
from app.logging_setup import configure_logging

log = logging.getLogger("app.api")


def register(commands: argparse._SubParsersAction) -> None:
    api = commands.add_parser(
        "api", help="REST API on 127.0.0.1 (port: --port, ORDER_TRACKER_API_PORT or 8000; OpenAPI docs at /docs)"
    )
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    api.add_argument("--port", type=int, help="port (default ORDER_TRACKER_API_PORT or 8000)")
    api.set_defaults(handler=_api)


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from app.api import create_app

    settings = Settings.from_env()
    port = args.port or settings.api_port
    if not os.environ.get("ORDER_TRACKER_DEBUG"):  # then it logs to stderr, as every command does
        # Its own log, apart from the commands' cli.log: what `./start.sh logs api` shows.
        configure_logging(path=settings.logs_dir / "api.log")
    # The stack first, as every command checks it: uvicorn would log a failed start-up with
    # its traceback, and the operator would get that instead of one sentence (exit 3).
    asyncio.run(_stack_reachable())
    log.info("event=api_started host=%s port=%s", args.host, port)
    print(f"Order Tracker API on http://{args.host}:{port} (docs at /docs); Ctrl-C stops it.")
    uvicorn.run(create_app(), host=args.host, port=port, log_level="warning")
    return 0


async def _stack_reachable() -> None:
    from app.service import OrderService

    service = await OrderService.connect(pool_size=1)  # StackUnreachable says which part, and how to start it
    await service.close()

"""The REST API: a thin shell over OrderService, like the CLI and the TUI. OpenAPI docs at
/docs. Operator errors map to HTTP statuses with the same one-sentence reasons (app/api_errors.py);
the bodies are app/api_bodies.py's, the routes app/api_reads.py's and app/api_commands.py's."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from app.api_bodies import no_unknown_query
from app.api_body_limit import BodyLimit
from app.api_commands import commands
from app.api_errors import answer_errors
from app.api_reads import reads
from app.service import OrderService


def create_app(service: OrderService | None = None) -> FastAPI:
    """The app; with no service given it connects on start-up and closes on shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = service or await OrderService.connect(pool_size=10)
        try:
            yield
        finally:
            if service is None:
                await app.state.service.close()

    # /docs and /redoc with Swagger UI and ReDoc served from the installed package: FastAPI's own
    # pages load them from cdn.jsdelivr.net, and stayed blank on a machine without the internet.
    app = FastAPIOffline(
        title="Order Tracker", version="1.0", lifespan=lifespan, dependencies=[Depends(no_unknown_query)]
    )
    app.add_middleware(BodyLimit)
    answer_errors(app)

    # Reads first: GET /orders/counts is matched before GET /orders/{order_id}.
    app.include_router(reads)
    app.include_router(commands)
    return app

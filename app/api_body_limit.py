"""The REST API's limit on request bodies: refused as they arrive, not read whole first."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException

# Nothing the API takes comes near this (an order of every product with a full address is ~2 KB);
# past it a body is refused as it arrives, not read whole into memory first.
MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = "The request body is larger than 1 MiB, far more than any request needs."


class BodyLimit:
    """ASGI middleware: a request body past MAX_BODY_BYTES is a 413, whether its Content-Length
    says so or its chunks add up to it. Raised from ``receive``, so FastAPI's own handler of
    HTTP errors answers it, in one sentence like every refusal."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        received = int(declared) if declared.isdigit() else 0

        async def limited() -> dict:
            nonlocal received
            if received > MAX_BODY_BYTES:
                raise StarletteHTTPException(413, TOO_LARGE)
            message = await receive()
            if not declared.isdigit():
                received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise StarletteHTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, limited, send)

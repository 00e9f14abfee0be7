"""The API's docs pages work on a machine without the internet: FastAPI's own /docs loaded
Swagger UI from cdn.jsdelivr.net, and stayed blank offline."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.api import create_app
from tests.test_api_errors import asgi_request


async def _get(app: Any, path: str, query: str = "") -> tuple[int, str, bytes]:
    """status, content type, body"""
    status, headers, body = await asgi_request(app, "GET", path, query=query.encode())
    return status, headers.get("content-type", ""), body


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_everything_from_the_api_itself(page):
    app = create_app(object())  # type: ignore[arg-type]  (no route that needs the service is called)
    status, content_type, body = await _get(app, page)
    assert status == 200 and content_type.startswith("text/html")
    html = body.decode()
    assert not re.findall(r"(?:src|href)=['\"]?(?:https?:)?//", html), "the page loads something from another host"
    scripts = re.findall(r"<script src=['\"]([^'\"]+)['\"]", html)
    styles = re.findall(r"<link [^>]*href=['\"]([^'\"]+\.css)['\"]", html)
    assert scripts, "the page loads no script: it would render nothing"
    for asset in scripts + styles:
        status, _, served = await _get(app, asset)
        assert status == 200 and len(served) > 10_000, f"{asset} is not served ({status}, {len(served)} bytes)"
    assert "/openapi.json" in html


@pytest.mark.parametrize(
    ("page", "query"), [("/docs", "x=1"), ("/redoc", "x=1"), ("/docs/oauth2-redirect", "code=a&state=b")]
)
async def test_the_docs_pages_take_a_query_as_fastapis_own_did(page, query):
    """Served as routes of the app, they met its check of query parameters (meant for the API's
    filters: GET /orders?sate=PAID): /docs?x=1 answered 422, and the OAuth redirect page refused
    the code and state it is there to receive, while /openapi.json?x=1 answered 200."""
    app = create_app(object())  # type: ignore[arg-type]
    status, content_type, _ = await _get(app, page, query)
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    status, _, body = await _get(app, "/orders", "sate=PAID")  # the API's own routes are still checked
    assert status == 422 and b"no query parameter 'sate'" in body

"""Pure-ASGI middleware: API-key check, body-size limit, request metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) so that streamed responses pass through untouched
and a refused request is answered before its body is read.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from api.links import READ_PREFIX, signed_ok
from api.metrics import Metrics

OPEN_PATHS = frozenset({"/health", "/", "/favicon.ico"})
"""Reachable without a key. /health is for probes; the chat page and its static files hold
no data (every data request the page makes carries the key the user typed in)."""
OPEN_PREFIXES = ("/static/",)


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class ApiKeyMiddleware:
    """``Authorization: Bearer <QA_API_KEY>`` on every route but the open ones."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            # CORS preflights carry no credentials by design; CORS middleware answers them.
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if path.startswith(READ_PREFIX):
            # A reading-page link from a chat reply: signed for its one article.
            sig = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("sig", [""])[0]
            if sig and signed_ok(self._key.decode(), path, sig):
                await self.app(scope, receive, send)
                return
        header = _header(scope, b"authorization") or b""
        scheme, _, token = header.partition(b" ")
        # compare_digest runs in time independent of where the strings differ.
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._key):
            await self.app(scope, receive, send)
            return
        message = (
            "missing API key: send 'Authorization: Bearer <key>'" if not header else "wrong API key"
        )
        await send_json(
            send,
            401,
            error_body(401, message),
            [(b"www-authenticate", b'Bearer realm="article-qa"')],
        )


class _TooLarge(StarletteHTTPException):
    """An HTTPException, so FastAPI's body parsing re-raises it as it is (any other error
    while reading becomes a 400) and the app's handler renders it as JSON."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit)["error"]["message"])


class BodyLimitMiddleware:
    """413 for bodies over the limit, by Content-Length up front and by counting the bytes of
    chunked bodies as they arrive. Multipart uploads get the upload limit plus room for the
    form around the file; the upload route checks the file itself exactly."""

    def __init__(self, app: ASGIApp, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    def _limit(self, scope: Scope) -> int:
        ctype = (_header(scope, b"content-type") or b"").lower()
        if ctype.startswith(b"multipart/form-data"):
            return self.max_upload + 64 * 1024
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await send_json(send, 400, error_body(400, "bad Content-Length header"))
                return
            if declared > limit:
                await send_json(send, 413, _too_large(limit))
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await send_json(send, 413, _too_large(limit))


def _too_large(limit: int) -> dict[str, Any]:
    return error_body(
        413,
        f"the request body is larger than the limit of {limit:,} bytes "
        "(QA_MAX_BODY_BYTES, or QA_MAX_UPLOAD_BYTES for uploads)",
    )


class MetricsMiddleware:
    """Counts and times every request, labelled by route template (``/articles/{id}``), never
    the raw path, so label cardinality stays bounded."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                scope.get("method", "?"), template, status, time.perf_counter() - started
            )

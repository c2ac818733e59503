"""ASGI middleware: request ids, body size limit, the /metrics listener split, metrics and the access log.

Pure ASGI (not BaseHTTPMiddleware) so the body limit can count streamed bytes and so the hot
path stays cheap.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neo_service_layer.api.metrics import ApiMetrics
from neo_service_layer.api.problems import PROBLEM_JSON, REQUEST_ID_HEADER, json_bytes, problem_body
from neo_service_layer.errors import BadRequest, NotFound, NSLError, PayloadTooLarge
from neo_service_layer.logging import get_logger

ACCESS_LOGGER = "nsl.api.access"
log = get_logger(ACCESS_LOGGER)
# The stdlib logger behind ``log``: asked whether INFO is on before the access line is built, since
# structlog runs its whole processor chain (context, timestamp) even for a line the level drops.
_access_level = logging.getLogger(ACCESS_LOGGER)
# A caller-supplied request id is kept only if it is short and harmless in logs.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()
_CONTENT_LENGTH_KEY = b"content-length"
_MAX_CONTENT_LENGTH_DIGITS = 18
METRICS_PATH = "/metrics"


def _route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label cardinality), or 'unmatched'.

    The router stores the matched route in the scope, which the app shares with us.
    """
    return str(getattr(scope.get("route"), "path", "unmatched"))


class RequestContextMiddleware:
    """Assigns the request id, enforces the body limit, records metrics and one access log line.

    With ``metrics_port`` (``nsl api`` then listens there too), requests that arrive on that port may
    only ask for /metrics, and /metrics is not served on any other port.
    """

    def __init__(
        self, app: ASGIApp, *, metrics: ApiMetrics, max_body_bytes: int, metrics_port: int | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.metrics_port = metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only the two headers we need, not a dict of all of them (the last occurrence wins, as
        # in that dict). lower(): the ASGI spec lowercases names, but a caller may not.
        supplied, declared_length = "", None
        for key, value in scope["headers"]:
            name = key.lower()
            if name == _REQUEST_ID_KEY:
                supplied = value.decode("latin-1")
            elif name == _CONTENT_LENGTH_KEY:
                declared_length = value.decode("latin-1")
        request_id = supplied if _SAFE_REQUEST_ID.fullmatch(supplied) else f"req_{secrets.token_hex(8)}"
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        # Stays 500 if the app raises past us (Starlette's ServerErrorMiddleware then answers 500).
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                # Exactly one X-Request-ID, whoever else set it (problem responses do too).
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != _REQUEST_ID_KEY]
                message["headers"] = [*kept, (_REQUEST_ID_KEY, request_id.encode())]
            await send(message)

        try:
            rejection = self._check_listener(scope) or self._check_content_length(declared_length)
            if rejection is not None:
                await self._reject(rejection, scope, send_with_id, request_id)
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(scope["method"], route, status_holder["status"], elapsed)
            if _access_level.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    route=route,
                    status=status_holder["status"],
                    duration_ms=round(elapsed * 1000, 2),
                )

    def _check_listener(self, scope: Scope) -> NSLError | None:
        if self.metrics_port is None:
            return None
        # The local address the connection came in on (uvicorn's transport sockname).
        server = scope.get("server")
        on_metrics_listener = server is not None and server[1] == self.metrics_port
        if on_metrics_listener != (scope["path"] == METRICS_PATH):
            return NotFound("Not Found")
        return None

    def _check_content_length(self, declared: str | None) -> NSLError | None:
        if declared is None:
            return None
        # isascii: str.isdigit() also accepts digits such as "²" that int() refuses; the length
        # bound keeps int() away from its limit on huge digit strings.
        if not (declared.isascii() and declared.isdigit() and len(declared) <= _MAX_CONTENT_LENGTH_DIGITS):
            return BadRequest("Content-Length is not a valid number")
        if int(declared) > self.max_body_bytes:
            return PayloadTooLarge(f"request body exceeds {self.max_body_bytes} bytes")
        return None

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # An HTTPException passes through FastAPI's body parsing untouched and is
                    # turned into problem+json by the handlers in api.problems.
                    raise HTTPException(413, detail=f"request body exceeds {self.max_body_bytes} bytes")
            return message

        return receive_limited

    async def _reject(self, error: NSLError, scope: Scope, send: Send, request_id: str) -> None:
        payload = json_bytes(problem_body(error, request_id, Request(scope).url.path))
        headers: list[Any] = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

"""The oracle benchmark's data source: one JSON document over HTTPS, as a price API would answer.

A bare ASGI app (no framework) so that the source costs as little as possible next to what is measured.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

type Scope = MutableMapping[str, Any]
type Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
type Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

BODY: Final = b'{"data": {"symbol": "NEOUSDT", "price": "12.3456", "volume": 1234567.5}, "ok": true}'
HEADERS: Final = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Every GET answers :data:`BODY`; lifespan events are acknowledged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def create_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The factory ``bench.servers.start`` serves."""
    return app

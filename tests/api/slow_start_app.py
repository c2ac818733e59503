"""An ASGI app that takes seconds to import, as a real one does on a busy machine, and answers with the
serving process's id (``tests/api/test_workers_startup.py``)."""

from __future__ import annotations

import os
import time
from typing import Any

# tests/api/test_workers_startup.py's IMPORT_SECONDS
time.sleep(3.0)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Every HTTP request: 200 with this process's id; lifespan events are acknowledged."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = str(os.getpid()).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})

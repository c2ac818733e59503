"""CPU per request of ``GET /v1/account``, the ASGI app driven in-process (no server, no sockets).

N tasks on uvloop call the app directly, each one request at a time; a window's CPU is
``time.process_time()`` (this process only: the app, the driver's tiny share, the asyncpg/redis
clients), divided by the requests it answered. Steadier than a server on the shared machine, and it
leaves uvicorn and the kernel's HTTP sockets out: what remains is the app's own work.

Usage: ``python -m bench.inprocess --database-url postgresql+asyncpg://…/nsl_bench_x --redis-url
redis://127.0.0.1:6379 [--requests 4000] [--windows 5] [--concurrency 16] [--profile out.pstats]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.api import UNLIMITED_RATE, bootstrap_admin, reset_postgres


async def _call(app: Any, method: str, path: str, key: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request through the ASGI app; its status and body."""
    headers = [(b"host", b"bench"), (b"x-api-key", key.encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _provision(app: Any, admin: str) -> str:
    status, body = await _call(app, "POST", "/v1/admin/accounts", admin, b'{"name": "bench"}')
    assert status == 201, body
    account = json.loads(body)["id"]
    payload = b'{"name": "bench", "role": "owner"}'
    status, body = await _call(app, "POST", f"/v1/admin/accounts/{account}/api-keys", admin, payload)
    assert status == 201, body
    secret: str = json.loads(body)["secret"]
    return secret


async def _window(app: Any, key: str, requests: int, concurrency: int) -> tuple[float, float]:
    """CPU µs per request and requests per second over ``requests`` requests from ``concurrency`` tasks."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, body = await _call(app, "GET", "/v1/account", key)
            if status != 200:
                raise RuntimeError(f"{status} {body!r}")

    started, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / requests * 1e6, requests / (time.perf_counter() - wall)


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="nsl-inproc-"))
    os.environ |= {
        "NSL_DATA_DIR": str(data_dir),
        "NSL_LOG_LEVEL": "WARNING",
        "NSL_RATE_LIMIT_KEY_PER_SECOND": UNLIMITED_RATE,
        "NSL_RATE_LIMIT_KEY_BURST": UNLIMITED_RATE,
        "NSL_RATE_LIMIT_ACCOUNT_PER_SECOND": UNLIMITED_RATE,
        "NSL_RATE_LIMIT_ACCOUNT_BURST": UNLIMITED_RATE,
    }
    if args.redis_url:
        os.environ["NSL_REDIS_URL"] = args.redis_url
    url = args.database_url or f"sqlite+aiosqlite:///{data_dir}/nsl.db"
    os.environ["NSL_DATABASE_URL"] = url
    if args.database_url:
        await reset_postgres(url, create=True)
    admin = await bootstrap_admin(url)
    from neo_service_layer.api.server import app_from_environment

    app = app_from_environment()
    async with app.router.lifespan_context(app):
        key = await _provision(app, admin)
        await _window(app, key, args.requests // 4, args.concurrency)  # warm-up
        figures = []
        profiler = cProfile.Profile() if args.profile else None
        for _ in range(args.windows):
            if profiler is not None:
                profiler.enable()
            figures.append(await _window(app, key, args.requests, args.concurrency))
            if profiler is not None:
                profiler.disable()
        writer = app.state.nsl.audit
        cpu = [f for f, _ in figures]
        print(
            f"µs/request: median {statistics.median(cpu):.0f}, windows "
            + ", ".join(f"{f:.0f}" for f in cpu)
            + f"; req/s {statistics.median(r for _, r in figures):,.0f}"
            + f"; audit batches {writer.batches}, entries {writer.entries}"
        )
        if profiler is not None:
            profiler.dump_stats(args.profile)
    if args.database_url:
        await reset_postgres(url, create=False)
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", help="write cProfile stats of the measured windows here")
    uvloop.run(main(parser.parse_args()))

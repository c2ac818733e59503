"""The API's HTTP server, as ``nsl api`` runs it: uvicorn on ``host:port``, and on ``metrics_host:
metrics_port`` too when that is set. One server with two listening sockets: the app tells them apart by
the port a request came in on (``api.middleware``), so /metrics can be bound to an internal address
while the API faces the world, with no second server or event loop to manage.

With ``api_workers`` N > 1 (``nsl api --workers N``) this process binds the sockets and becomes uvicorn's
multiprocess supervisor: it spawns N worker processes that accept on the same sockets, each building its
own app from the environment (:func:`app_from_environment`), restarts any that dies, and on SIGTERM or
SIGINT stops them all gracefully (each runs its lifespan shutdown: the audit writer drains). What the
workers share goes through the database and Redis (rate limits; the settings refuse N > 1 without it).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from neo_service_layer.api.app import create_app
from neo_service_layer.config import Settings
from neo_service_layer.db.migrate import upgrade
from neo_service_layer.db.session import Database
from neo_service_layer.logging import configure_logging
from neo_service_layer.services.accounts.tokens import TokenSigner

#: What each worker process imports (uvicorn ``factory=True``): spawned, it inherits only the environment.
APP_FACTORY = "neo_service_layer.api.server:app_from_environment"


def app_from_environment() -> FastAPI:
    """The app of one worker process: settings loaded as ``nsl api`` loads them, logging configured."""
    settings = Settings.load()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


async def prepare_shared_state(settings: Settings) -> None:
    """Create what N workers starting at once would race for: the schema (migrations) and the JWT key."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    TokenSigner.from_file(settings.effective_jwt_key_file, settings.jwt_issuer, settings.jwt_max_ttl_seconds)


@dataclass(frozen=True, slots=True)
class ApiServer:
    settings: Settings
    server: uvicorn.Server
    # None: uvicorn binds host:port itself (one process only).
    sockets: list[socket.socket] | None

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (with several workers: until they are all stopped).

        Raises:
            SystemExit: with uvicorn's startup-failure status (3) when a worker could not start.
        """
        if self.server.config.workers == 1:
            self.server.run(sockets=self.sockets)
            return
        assert self.sockets is not None, "the supervisor hands bound sockets to its workers"
        asyncio.run(prepare_shared_state(self.settings))
        supervisor = Multiprocess(self.server.config, self.sockets)
        supervisor.run()
        # uvicorn stops every worker when one fails before serving (it would fail again on restart);
        # say so with the same status a single process exits with.
        if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
            raise SystemExit(STARTUP_FAILURE)

    async def serve(self) -> None:
        """Serve in the running event loop until ``server.should_exit`` is set (or a signal); one worker."""
        if self.server.config.workers != 1:
            raise RuntimeError("several workers are served by run(), which supervises their processes")
        await self.server.serve(sockets=self.sockets)


def api_server(settings: Settings) -> ApiServer:
    """The server for ``settings``; with ``metrics_port`` or several workers the sockets are bound here,
    before it starts."""
    workers = settings.api_workers or 1
    config = uvicorn.Config(
        # Several workers: each process imports the factory and loads the settings itself.
        create_app(settings) if workers == 1 else APP_FACTORY,
        factory=workers > 1,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level,
    )
    sockets = [config.bind_socket()] if workers > 1 or settings.metrics_port is not None else None
    if sockets is not None and settings.metrics_port is not None:
        metrics = uvicorn.Config(
            config.app, host=settings.metrics_host, port=settings.metrics_port, log_config=None
        )
        sockets.append(metrics.bind_socket())
    return ApiServer(settings, uvicorn.Server(config), sockets)

"""The API's HTTP server, as ``nsl api`` runs it: uvicorn on ``host:port``, and on ``metrics_host:
metrics_port`` too when that is set. One server with two listening sockets: the app tells them apart by
the port a request came in on (``api.middleware``), so /metrics can be bound to an internal address
while the API faces the world, with no second server or event loop to manage.

With ``api_workers`` N > 1 (``nsl api --workers N``) this process binds the sockets (one API socket per
worker, ``SO_REUSEPORT``: ``api.workers``) and supervises N worker processes, each building its own app
from the environment (:func:`app_from_environment`); it restarts any that dies, and on SIGTERM or SIGINT
stops them all gracefully (each runs its lifespan shutdown). What the workers share goes through the
database and Redis (rate limits; the settings refuse N > 1 without it), and on SQLite their
group-committed audit entries through the one audit-writer process it runs beside them
(``api.audit_writer``), stopped last (on PostgreSQL each worker appends its own: ``needs_audit_writer``);
their metrics through files in a directory of its own (``api.metrics``), so any worker's /metrics
answers for all of them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from neo_service_layer.api.app import create_app
from neo_service_layer.api.audit_writer import RELAY_SOCKET_ENV, AuditWriterProcess
from neo_service_layer.api.metrics import MULTIPROCESS_DIR_ENV
from neo_service_layer.api.workers import STARTUP_GRACE_SECONDS, Workers, reuse_port_sockets
from neo_service_layer.config import Settings
from neo_service_layer.db.migrate import upgrade
from neo_service_layer.db.session import Database
from neo_service_layer.logging import configure_logging, get_logger
from neo_service_layer.services.accounts.tokens import TokenSigner

log = get_logger("nsl.api.server")
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


def supervise_workers(
    config: uvicorn.Config, slots: list[list[socket.socket]], settings: Settings
) -> Workers:
    """Run one worker per slot until a stop signal; return the supervisor, stopped. On SQLite also the
    audit writer they all send their entries to (:func:`needs_audit_writer`)."""
    writer = None
    if needs_audit_writer(settings):
        writer = AuditWriterProcess(
            healthcheck_timeout=config.timeout_worker_healthcheck, startup_grace=STARTUP_GRACE_SECONDS
        )
        # The spawned workers inherit the environment: each app loads its settings from it.
        os.environ[RELAY_SOCKET_ENV] = str(writer.path)
    # And prometheus_client its multiprocess directory (api.metrics), one file per worker in it.
    metrics_dir = tempfile.mkdtemp(prefix="nsl-metrics-")  # mode 0700
    os.environ[MULTIPROCESS_DIR_ENV] = metrics_dir
    workers = Workers(config, slots, writer)
    try:
        workers.run()
    finally:
        if writer is not None:
            writer.stop()  # a second stop does nothing: this one is for an exception out of run()
        del os.environ[MULTIPROCESS_DIR_ENV]
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return workers


def needs_audit_writer(settings: Settings) -> bool:
    """Whether N workers hand their group-committed audit entries to one writer process.

    On SQLite, yes: the database has one writer, and N processes' batches would queue for its lock. On
    PostgreSQL, no: each worker appends its own batches in one statement, and the database chains them
    under the head's row lock (``services/audit/pg_batch``); a writer process cost more than it saved
    (docs/performance.md, "Eighth round")."""
    return settings.is_sqlite


@dataclass(frozen=True, slots=True)
class ApiServer:
    settings: Settings
    server: uvicorn.Server
    # One process: None (uvicorn binds host:port itself) or the API and metrics sockets. Several
    # workers: each worker's own sockets (api.workers), its API socket first.
    sockets: list[socket.socket] | None
    slots: list[list[socket.socket]] | None = None

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (with several workers: until they are all stopped).

        Raises:
            SystemExit: with uvicorn's startup-failure status (3) when a worker could not start.
        """
        if self.slots is None:
            self.server.run(sockets=self.sockets)
            return
        try:
            asyncio.run(prepare_shared_state(self.settings))
        except Exception:  # the process boundary: any cause (database down, key unreadable) is fatal
            # Logged and ended as one process's failed startup is: uvicorn's status 3, no traceback dump.
            log.exception("api_startup_failed")
            raise SystemExit(STARTUP_FAILURE) from None
        workers = supervise_workers(self.server.config, self.slots, self.settings)
        # A worker that fails before serving would fail again on restart: every worker was stopped.
        # Say so with the status a single process exits with.
        if workers.failed_to_start:
            raise SystemExit(STARTUP_FAILURE)

    async def serve(self) -> None:
        """Serve in the running event loop until ``server.should_exit`` is set (or a signal); one worker."""
        if self.slots is not None:
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
    metrics = None
    if settings.metrics_port is not None:
        metrics = uvicorn.Config(
            config.app, host=settings.metrics_host, port=settings.metrics_port, log_config=None
        ).bind_socket()
    if workers == 1:
        sockets = None if metrics is None else [config.bind_socket(), metrics]
        return ApiServer(settings, uvicorn.Server(config), sockets)
    # Scrapes are few: the workers share one metrics socket.
    shared = [] if metrics is None else [metrics]
    slots = [[api, *shared] for api in reuse_port_sockets(config.host, config.port, workers)]
    return ApiServer(settings, uvicorn.Server(config), None, slots)

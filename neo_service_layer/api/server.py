"""The API's HTTP server, as ``nsl api`` runs it: uvicorn on ``host:port``, and on ``metrics_host:
metrics_port`` too when that is set. One server with two listening sockets: the app tells them apart by
the port a request came in on (``api.middleware``), so /metrics can be bound to an internal address
while the API faces the world, with no second server or event loop to manage."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import uvicorn

from neo_service_layer.api.app import create_app
from neo_service_layer.config import Settings


@dataclass(frozen=True, slots=True)
class ApiServer:
    server: uvicorn.Server
    # None: uvicorn binds host:port itself.
    sockets: list[socket.socket] | None

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM."""
        self.server.run(sockets=self.sockets)

    async def serve(self) -> None:
        """Serve in the running event loop until ``server.should_exit`` is set (or a signal)."""
        await self.server.serve(sockets=self.sockets)


def api_server(settings: Settings) -> ApiServer:
    """The server for ``settings``; with ``metrics_port`` both sockets are bound here, before it starts."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level,
    )
    if settings.metrics_port is None:
        return ApiServer(uvicorn.Server(config), None)
    metrics = uvicorn.Config(
        config.app, host=settings.metrics_host, port=settings.metrics_port, log_config=None
    )
    return ApiServer(uvicorn.Server(config), [config.bind_socket(), metrics.bind_socket()])

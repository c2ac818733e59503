"""Serve an app factory with N worker processes exactly as ``nsl api --workers N`` does (api.workers:
one ``SO_REUSEPORT`` socket per worker), so that bare, floor and ours scale out the same way.

Usage (by ``bench.servers``): ``python -m bench.multiworker <module:factory> --port P --workers N``.
"""

from __future__ import annotations

import argparse

import uvicorn

from bench.loadgen import HOST
from neo_service_layer.api.server import supervise_workers
from neo_service_layer.api.workers import Workers, reuse_port_sockets
from neo_service_layer.config import Settings


def main(argv: list[str] | None = None) -> None:
    """Bind the sockets, then supervise the workers until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("factory")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--nsl",
        action="store_true",
        help="an NSL app: supervised as nsl api --workers N supervises it (the shared metrics directory, "
        "on SQLite the audit-writer process), with the settings of the environment",
    )
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        args.factory,
        factory=True,
        workers=args.workers,
        host=HOST,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
    )
    slots = [[sock] for sock in reuse_port_sockets(HOST, args.port, args.workers)]
    if args.nsl:
        supervise_workers(config, slots, Settings.load())
    else:
        Workers(config, slots).run()


if __name__ == "__main__":
    main()

"""The NSL API as a uvicorn factory for the benchmarks: what each ``nsl api`` worker process serves.

Run by uvicorn as ``bench.nsl_app:create_app --factory``: settings from ``NSL_*`` env, logging configured
the way a deployed server configures it (structlog JSON on stderr at ``NSL_LOG_LEVEL``), so its cost is
measured too.
"""

from __future__ import annotations

from neo_service_layer.api.server import app_from_environment as create_app

__all__ = ["create_app"]

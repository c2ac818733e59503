"""The NSL API as a uvicorn factory for the benchmark: settings from ``NSL_*`` env, logging configured.

Run by uvicorn as ``bench.nsl_app:create_app --factory``. Logging is configured the way a deployed
server configures it (structlog JSON on stderr at ``NSL_LOG_LEVEL``), so its cost is measured too.
"""

from __future__ import annotations

from fastapi import FastAPI

from neo_service_layer.api.app import create_app as create_nsl_app
from neo_service_layer.config import Settings
from neo_service_layer.logging import configure_logging


def create_app() -> FastAPI:
    """``create_app(Settings())`` after ``configure_logging`` with the settings' level and format."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_nsl_app(settings)

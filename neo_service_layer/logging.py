"""Structured logging (structlog): JSON lines with the request id, service and error code bound in context."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def resolve_format(fmt: str, stream: TextIO) -> str:
    """``"auto"`` is ``"console"`` when ``stream`` is a terminal (someone reads it) and ``"json"``
    otherwise (a log collector does); other formats are themselves."""
    if fmt != "auto":
        return fmt
    return "console" if stream.isatty() else "json"


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route stdlib and structlog logs through one JSON (or console) renderer on stderr."""
    fmt = resolve_format(fmt, sys.stderr)
    # Plain tracebacks only: structlog's rich console traceback prints local variables, which may
    # hold secrets; JSON logs carry the traceback as text (format_exc_info), never the locals.
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        shared.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log duplicates ours (which carries the request id).
    logging.getLogger("uvicorn.access").disabled = True
    # aiosqlite logs every statement with its parameters at debug level; they include wrapped key
    # material and sealed blobs, which belong in the database, not in logs.
    logging.getLogger("aiosqlite").setLevel(max(root.level, logging.INFO))
    # httpx logs every request's URL at info level: chain RPC URLs often carry a provider's API key,
    # and the chain watchers poll every second, so these lines would be both a leak and noise.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger bound to ``name`` (the module or service)."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger

"""Where an app's audit entries go: its own writer, or, under ``nsl api --workers N``, the one writer
process over the relay, waiting for its answer as long as ``audit.relay_timeout_seconds`` says."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from neo_service_layer.api.app import _audit_sink
from neo_service_layer.api.metrics import ApiMetrics
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.services.audit.errors import AuditWriterUnavailable
from neo_service_layer.services.audit.relay import AuditRelayClient
from neo_service_layer.services.audit.writer import AuditWriter
from tests.services.audit.test_relay import never_answer, socket_path
from tests.services.audit.test_writer import EVENT
from tests.settings_helpers import settings_with

__all__ = ["socket_path"]  # the relay tests' fixture: a short socket path, removed after the test

# Far below the default (10 s): a client built without the setting would not fail within it.
OUTER_SECONDS = 5.0


def test_without_a_relay_socket_the_app_writes_its_own(settings: Settings) -> None:
    assert isinstance(
        _audit_sink(settings, Database(settings.effective_database_url), ApiMetrics()), AuditWriter
    )


async def test_the_relay_client_waits_for_an_answer_as_long_as_configured(
    settings: Settings, socket_path: Path
) -> None:
    configured = settings_with(settings, audit={"relay_socket": socket_path, "relay_timeout_seconds": 0.2})
    sink = _audit_sink(configured, Database(configured.effective_database_url), ApiMetrics())
    assert isinstance(sink, AuditRelayClient)
    server = await asyncio.start_unix_server(never_answer, str(socket_path))
    try:
        async with asyncio.timeout(OUTER_SECONDS):
            with pytest.raises(AuditWriterUnavailable):
                await sink.append(EVENT)
    finally:
        await sink.stop()
        server.close()


@pytest.mark.parametrize("seconds", [0.0, -1.0, 301.0])
def test_the_relay_timeout_is_bounded(settings: Settings, seconds: float) -> None:
    with pytest.raises(ValueError, match="relay_timeout_seconds"):
        settings_with(settings, audit={"relay_timeout_seconds": seconds})

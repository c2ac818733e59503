"""Audit fixtures: an enclave client on the real in-process enclave server, its verified identity, and a
running group-commit writer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from neo_service_layer.client import VerifiedIdentity, verify_attestation
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.audit.writer import AuditWriter


@pytest.fixture
def identity(enclave_server: EnclaveServer) -> VerifiedIdentity:
    return verify_attestation(enclave_server.ctx.report, allow_software=True)


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[AuditWriter]:
    """A started :class:`AuditWriter` (batches of at most 8), stopped after the test."""
    audit = AuditWriter(db, max_batch=8)
    await audit.start()
    yield audit
    await audit.stop()

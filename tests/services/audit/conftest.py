"""Audit fixtures: an enclave client on the real in-process enclave server, and its verified identity."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from neo_service_layer.client import VerifiedIdentity, verify_attestation
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.server import EnclaveServer


@pytest.fixture
async def enclave(enclave_server: EnclaveServer) -> AsyncIterator[UnixEnclaveClient]:
    client = UnixEnclaveClient(enclave_server.path, timeout=5.0, pool_size=1)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def identity(enclave_server: EnclaveServer) -> VerifiedIdentity:
    return verify_attestation(enclave_server.ctx.report, allow_software=True)

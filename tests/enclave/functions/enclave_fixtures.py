"""A real sandbox pool and a real safe fetcher for the in-process enclave (tests/conftest.py
``enclave_server``), used by the functions handler tests and the oracle API tests. Import them into a test
module by name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from tests.enclave.oracle.servers import OraclePKI


@pytest.fixture
async def enclave_sandbox() -> AsyncIterator[SandboxPool]:
    """A real pool of two sandbox processes for the in-process enclave (conftest ``enclave_server``)."""
    async with SandboxPool(2, grace_seconds=0.5) as pool:
        yield pool


@pytest.fixture
async def enclave_fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    """The real fetcher, trusting the test CA and allowed to reach 127.0.0.1 (a devnet's policy)."""
    async with SafeFetcher(
        FetchPolicy(allow_private_hosts=True), ssl_context=pki.client_context()
    ) as fetcher:
        yield fetcher

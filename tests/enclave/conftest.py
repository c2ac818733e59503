"""Enclave test fixtures: short private directories (AF_UNIX paths are ≤ 107 bytes), a context with a
real identity and sealer, and an in-process enclave server with the built-in ops plus test ops."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.measurement import compute_measurement
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.enclave.tee.software import SoftwareBackend
from tests.enclave import testops


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh 0700 directory under /tmp with a short path (pytest's tmp_path is too long for sockets)."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix="nsl"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def measurement() -> str:
    return compute_measurement("software")


@pytest.fixture
def identity() -> Identity:
    return Identity.generate()


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(os.urandom(32))


@pytest.fixture
def ctx(identity: Identity, sealer: Sealer, measurement: str) -> EnclaveContext:
    backend = SoftwareBackend()
    report = build_report(identity, backend, measurement)
    return EnclaveContext(identity=identity, sealer=sealer, backend=backend, report=report)


@pytest.fixture
def registry() -> OpRegistry:
    """The enclave's real ops plus the test-only ops of ``testops``."""
    return testops.full_registry()


@pytest.fixture
def socket_path(short_dir: Path) -> Path:
    return short_dir / "run" / "enclave.sock"


@pytest.fixture
async def server(
    ctx: EnclaveContext, registry: OpRegistry, socket_path: Path
) -> AsyncIterator[EnclaveServer]:
    enclave = EnclaveServer(ctx, registry, socket_path, stop_grace_seconds=2.0)
    await enclave.start()
    try:
        yield enclave
    finally:
        await enclave.stop()


@pytest.fixture
async def client(server: EnclaveServer) -> AsyncIterator[UnixEnclaveClient]:
    enclave_client = UnixEnclaveClient(server.path, timeout=5.0, pool_size=2)
    try:
        yield enclave_client
    finally:
        await enclave_client.close()

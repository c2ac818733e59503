"""API test fixtures: apps with custom settings, and keys of each role in the ``tenant`` account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from neo_service_layer.api.app import create_app
from neo_service_layer.api.state import AppState
from neo_service_layer.client import VerifiedIdentity, verify_attestation
from neo_service_layer.config import Settings
from neo_service_layer.enclave.server import EnclaveServer
from tests.api.helpers import new_secret
from tests.conftest import Tenant
from tests.leaks import LeakScanner, leak_scanner
from tests.settings_helpers import settings_with


@dataclass(frozen=True)
class RunningApp:
    app: FastAPI
    client: httpx.AsyncClient
    state: AppState


AppFactory = Callable[..., Awaitable[RunningApp]]


@pytest.fixture
async def app_factory(settings: Settings, enclave_server: EnclaveServer) -> AsyncIterator[AppFactory]:
    """Start more apps on the test's database, with settings overridden by keyword."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> RunningApp:
            app = create_app(settings_with(settings, **overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nsl.test")
            )
            return RunningApp(app, client, app.state.nsl)

        yield start


RoleKeys = dict[str, str]


@pytest.fixture
async def role_keys(client: httpx.AsyncClient, tenant: Tenant) -> RoleKeys:
    """A key of each tenant role (all scopes) in the ``tenant`` account, by role name."""
    keys = {"owner": tenant.owner_key}
    for role in ("developer", "viewer"):
        keys[role] = await new_secret(client, tenant.owner_key, name=role, role=role)
    return keys


@pytest.fixture
def leak_scan(
    tmp_path: Path,
    database_url: str,
    enclave_socket: Path,
    enclave_server: EnclaveServer,
    restore_logging: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> LeakScanner:
    """Run an app whose database files, logs and responses are all kept for a leak scan (tests.leaks).

    Its database is read as files: parametrize ``database_url`` with ``["sqlite"]`` (indirect)."""
    assert database_url.startswith("sqlite"), "a leak scan reads the database files"
    return leak_scanner(tmp_path, database_url, enclave_socket, caplog, capsys)


@pytest.fixture
async def identity(client: httpx.AsyncClient) -> VerifiedIdentity:
    """The enclave identity the app attests to (software TEE allowed: the tests' enclave)."""
    report = (await client.get("/v1/attestation")).json()
    return verify_attestation(report, allow_software=True)

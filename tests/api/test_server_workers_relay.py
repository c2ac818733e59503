"""The single audit writer of ``nsl api --workers 2`` as real processes, on SQLite (on PostgreSQL each
worker appends its own entries: ``api.server.needs_audit_writer``) and the machine's Redis: killed
mid-load, requests in flight fail closed (503, never a 200 without its entry), the supervisor replaces
it and the workers reconnect by themselves; a garbage frame sent to it is refused without harm. The
writer in one process, on both databases: tests/services/audit/test_relay.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from neo_service_layer.db.models import AuditEntry
from neo_service_layer.db.session import Database
from neo_service_layer.services.accounts.service import bootstrap
from tests.api.workers_helpers import (
    CONNECTIONS,
    NO_LIMITS,
    START_TIMEOUT,
    Api,
    nsl,
    open_connections,
    spawn_api,
    tenant_on,
    wait_until_serving,
)

pytestmark = pytest.mark.slow
# Answers after the new writer took over, before the load stops.
AFTER_RESTART = 100


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty SQLite database: the one backend with an audit-writer process."""
    path = tmp_path / "nsl.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def api(tmp_path: Path, database_url: str, db: Database) -> AsyncIterator[Api]:
    """``nsl api --workers 2`` without rate limits; the admin key in its env as NSL_TEST_ADMIN_KEY."""
    async with db.transaction() as session:
        issued = await bootstrap(session)
    assert issued is not None
    running = spawn_api(tmp_path, database_url, "api", **NO_LIMITS)
    running.env["NSL_TEST_ADMIN_KEY"] = issued.plaintext
    try:
        yield await wait_until_serving(running)
    finally:
        running.stop()


async def audited(db: Database) -> Counter[str]:
    async with db.session() as session:
        return Counter((await session.scalars(select(AuditEntry.request_id))).all())


async def test_a_killed_writer_fails_requests_closed_and_is_replaced(api: Api, db: Database) -> None:
    tenant = await tenant_on(api, api.env["NSL_TEST_ADMIN_KEY"])
    answers: list[tuple[int, str, str]] = []  # status, request id, problem code
    (killed,) = api.audit_writers()
    replaced = asyncio.Event()
    after_restart = 0
    done = False

    async def load(http: httpx.AsyncClient) -> None:
        nonlocal after_restart
        while not done:
            response = await http.get("/v1/account", headers=tenant.headers)
            code = response.json().get("code", "") if response.status_code != 200 else ""
            answers.append((response.status_code, response.headers["X-Request-ID"], code))
            if replaced.is_set() and response.status_code == 200:
                after_restart += 1

    try:
        async with open_connections(api, CONNECTIONS) as clients:
            running = [asyncio.create_task(load(http)) for http in clients]
            await asyncio.sleep(1.0)
            os.kill(killed, signal.SIGKILL)
            deadline = time.monotonic() + START_TIMEOUT
            while api.audit_writers() in (set(), {killed}):
                assert time.monotonic() < deadline, api.output()[-4000:]
                await asyncio.sleep(0.05)
            replaced.set()
            while after_restart < AFTER_RESTART:
                assert time.monotonic() < deadline, api.output()[-4000:]
                await asyncio.sleep(0.05)
            done = True
            await asyncio.gather(*running)
    finally:
        stopped = api.stop()
    assert stopped == 0

    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) == {200, 503}, statuses
    assert {code for status, _, code in answers if status == 503} == {"audit_writer_unavailable"}
    log = await audited(db)
    # Never a 200 without its entry, and never an entry twice.
    assert all(log[request_id] == 1 for status, request_id, _ in answers if status == 200)
    assert set(log.values()) == {1}
    verified = nsl(api.env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_a_garbage_frame_does_not_harm_the_writer(api: Api, db: Database) -> None:
    tenant = await tenant_on(api, api.env["NSL_TEST_ADMIN_KEY"])
    (writer,) = api.audit_writers()
    path = api.audit_socket()
    assert os.stat(path.parent).st_mode & 0o777 == 0o700, "only the service user reaches the socket"

    def send_garbage() -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            sock.sendall(b"\x00\x00\x00\x0c" + b"\x00" * 8 + b"nope")
            return sock.recv(64)  # b"": the writer closed the connection, answering nothing

    async with open_connections(api, CONNECTIONS) as clients:

        async def traffic(http: httpx.AsyncClient) -> list[str]:
            ids = []
            for _ in range(10):
                response = await http.get("/v1/account", headers=tenant.headers)
                assert response.status_code == 200, response.text + api.output()[-3000:]
                ids.append(response.headers["X-Request-ID"])
            return ids

        garbage = asyncio.create_task(asyncio.to_thread(send_garbage))
        answered = [rid for ids in await asyncio.gather(*(traffic(h) for h in clients)) for rid in ids]
        assert await garbage == b""
    assert api.audit_writers() == {writer}, "the same writer still serves"
    assert "audit_relay_bad_frame" in api.output()
    assert api.stop() == 0
    log = await audited(db)
    assert all(log[request_id] == 1 for request_id in answered)
    verified = nsl(api.env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

"""``nsl api --workers 2`` as a real subprocess, on both databases and the machine's Redis (started by
``tests/api/workers_helpers.py``): the audit log stays one valid chain across the workers, SIGTERM stops
both after answering and auditing what they accepted, a dead worker is replaced, the workers stop with
their supervisor; without Redis or without its database the command refuses to start. Rate limits and
revocation across workers: ``test_server_workers_shared.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from uvicorn.config import STARTUP_FAILURE

from neo_service_layer.api.metrics import MULTIPROCESS_DIR_ENV
from neo_service_layer.chains.devnet.processes import free_port
from neo_service_layer.db.models import AuditEntry
from neo_service_layer.db.session import Database
from neo_service_layer.services.accounts.service import bootstrap
from tests.api.helpers import create_key
from tests.api.workers_helpers import (
    CONNECTIONS,
    NO_LIMITS,
    REDIS_URL,
    START_TIMEOUT,
    STOP_TIMEOUT,
    WORKERS,
    Api,
    audit_writer_processes,
    cmdline,
    environment,
    metric_by_worker,
    nsl,
    nsl_env,
    open_connections,
    spawn_api,
    tenant_on,
    wait_until_every_worker_serves,
    wait_until_serving,
)

pytestmark = pytest.mark.slow
StartApi = Callable[..., Awaitable[Api]]


@pytest.fixture
def writers(database_url: str) -> int:
    """How many audit-writer processes run beside the workers on this database."""
    return audit_writer_processes(database_url)


@pytest.fixture
def start_api(tmp_path: Path, database_url: str) -> Iterator[StartApi]:
    """Starts ``nsl api --workers 2`` with the given ``NSL_*`` settings; stops it after the test."""
    started: list[Api] = []

    async def start(**settings: str) -> Api:
        api = spawn_api(tmp_path, database_url, f"api-{len(started)}", **settings)
        started.append(api)
        return await wait_until_serving(api)

    yield start
    for api in started:
        api.stop()


@pytest.fixture
async def bootstrap_key(db: Database) -> str:
    async with db.transaction() as session:
        issued = await bootstrap(session)
    assert issued is not None
    return issued.plaintext


def test_more_than_one_worker_without_redis_is_refused(tmp_path: Path) -> None:
    env = nsl_env(tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'nsl.db'}", NSL_PORT=str(free_port()))
    refused = nsl(env, "api", "--workers", "2")
    assert refused.returncode == 2, refused.stderr
    message = " ".join(refused.stderr.split())  # rich wraps long lines
    assert "[configuration_error]" in message
    assert "NSL_API_WORKERS" in message
    assert "NSL_REDIS_URL" in message
    assert not (tmp_path / "data").exists(), "refused before it touched anything"


def test_workers_do_not_start_without_their_database(tmp_path: Path) -> None:
    closed = f"postgresql+asyncpg://nsl@127.0.0.1:{free_port()}/nsl"  # nothing listens there
    env = nsl_env(tmp_path / "data", closed, NSL_REDIS_URL=REDIS_URL, NSL_PORT=str(free_port()))
    failed = nsl(env, "api", "--workers", "2")
    assert failed.returncode == STARTUP_FAILURE, failed.stdout + failed.stderr
    assert "api_startup_failed" in failed.stderr


async def test_the_audit_chain_stays_one_valid_chain(
    start_api: StartApi, bootstrap_key: str, db: Database, writers: int
) -> None:
    api = await start_api(**NO_LIMITS)
    tenant = await tenant_on(api, bootstrap_key)
    pids: Counter[int] = Counter()

    async def traffic(http: httpx.AsyncClient) -> None:
        for _ in range(20):
            response = await http.get("/v1/account", headers=tenant.headers)
            assert response.status_code == 200, response.text
            pids[api.server_pid(response)] += 1
        # A write too: its entry commits with the change, not through the writer's group commit.
        assert (await create_key(http, tenant.owner_key)).status_code == 201

    async with open_connections(api, CONNECTIONS) as clients:
        await asyncio.gather(*(traffic(http) for http in clients))
    assert set(pids) == api.workers(), pids
    # SQLite: one audit writer for both workers, a process of its own; PostgreSQL: none, the workers
    # append their own batches and the database chains them.
    audit_writers = api.audit_writers()
    assert len(audit_writers) == writers
    assert not audit_writers & set(pids)
    assert api.stop() == 0
    assert not any(cmdline(pid) for pid in audit_writers), "the writer stopped with the supervisor"

    verified = nsl(api.env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The tenant's account and owner key, then every request above (bootstrapping is not audited).
    assert f"audit log OK: {2 + CONNECTIONS * 21} entries" in verified.stdout
    async with db.session() as session:
        audited = Counter((await session.scalars(select(AuditEntry.request_id))).all())
    assert set(audited.values()) == {1}, "every request audited once"


async def test_a_worker_that_dies_is_replaced(start_api: StartApi) -> None:
    api = await start_api()
    probes = {"method": "GET", "route": "/healthz", "status": "200"}
    (probed,) = set((await metric_by_worker(api, "nsl_http_requests_total", **probes)).values())
    killed = min(api.workers())
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + START_TIMEOUT
    while killed in api.workers() or len(api.workers()) < WORKERS:
        assert time.monotonic() < deadline, api.output()[-4000:]
        await asyncio.sleep(0.1)
    assert await wait_until_every_worker_serves(api) == api.workers()
    # The killed worker's counts stay in the sum: a counter never goes back when a worker is replaced.
    (probed_since,) = set((await metric_by_worker(api, "nsl_http_requests_total", **probes)).values())
    assert probed_since > probed
    assert api.stop() == 0


async def test_the_workers_stop_when_the_supervisor_is_killed(start_api: StartApi, writers: int) -> None:
    api = await start_api()
    workers = api.workers() | api.audit_writers()
    assert len(workers) == WORKERS + writers
    api.process.kill()  # no chance to stop its workers
    api.process.wait(STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(cmdline(pid) for pid in workers):
        assert time.monotonic() < deadline, "orphaned workers (or audit writer) still run"
        await asyncio.sleep(0.1)
    assert api.output().count("Application shutdown complete.") == WORKERS


async def test_sigterm_stops_every_worker_after_auditing_what_it_answered(
    start_api: StartApi, bootstrap_key: str, db: Database, writers: int
) -> None:
    api = await start_api(**NO_LIMITS)
    tenant = await tenant_on(api, bootstrap_key)
    answered: list[str] = []
    workers = api.workers()
    audit_writers = api.audit_writers()
    assert len(audit_writers) == writers
    metrics_dir = Path(environment(min(workers))[MULTIPROCESS_DIR_ENV])
    # Only the service user may read or forge the workers' counts.
    assert stat.S_IMODE((await asyncio.to_thread(metrics_dir.stat)).st_mode) == 0o700
    loaded: set[int] = set()
    stopping = False

    async def load(http: httpx.AsyncClient) -> None:
        with contextlib.suppress(httpx.TransportError):  # the server closes the connection as it stops
            while True:
                response = await http.get("/v1/account", headers=tenant.headers)
                if response.status_code != 200:  # refused while stopping: never answered with data
                    break
                answered.append(response.headers["X-Request-ID"])
                if not stopping:  # once stopping, the worker may be gone by the time we look
                    loaded.add(api.server_pid(response))

    async with open_connections(api, CONNECTIONS) as clients:
        running = [asyncio.create_task(load(http)) for http in clients]
        await asyncio.sleep(1.0)
        stopping = True
        api.process.send_signal(signal.SIGTERM)
        await asyncio.gather(*running)
    assert await asyncio.to_thread(api.process.wait, STOP_TIMEOUT) == 0
    assert loaded == workers, "both workers were busy when the signal came"
    assert not any(cmdline(pid) for pid in workers | audit_writers), "the workers and the writer are gone"
    assert not await asyncio.to_thread(metrics_dir.exists), "the workers' metrics files went with them"
    # Each worker ran its lifespan shutdown: the audit writer drained before the process ended.
    assert api.output().count("Application shutdown complete.") == WORKERS

    assert answered
    async with db.session() as session:
        audited = Counter((await session.scalars(select(AuditEntry.request_id))).all())
    assert all(audited[request_id] == 1 for request_id in answered), "every answer audited, once"

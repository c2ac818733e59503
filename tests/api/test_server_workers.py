"""``nsl api --workers 2`` as a real subprocess, on both databases and the machine's Redis: two processes
serve one port, the rate limits are exact across them, the audit log stays one valid chain, a revoked
key stops working on both within the auth-cache TTL, SIGTERM stops both after answering and auditing
what they accepted; without Redis the command refuses to start.

Which process served a request is asked of the kernel, not of the app: the server end of the client's
TCP connection is a socket that exactly one worker process holds (``/proc/net/tcp``, ``/proc/<pid>/fd``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from uvicorn.config import STARTUP_FAILURE

from neo_service_layer.chains.devnet.processes import free_port
from neo_service_layer.db.models import AuditEntry
from neo_service_layer.db.session import Database
from neo_service_layer.services.accounts.service import bootstrap
from tests.api.helpers import create_key
from tests.conftest import Tenant, make_tenant

pytestmark = pytest.mark.slow
REDIS_URL = "redis://127.0.0.1:6379/0"
WORKERS = 2
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
AUTH_CACHE_SECONDS = 1.0
# Slow enough that no token comes back during a test.
NO_REFILL = "0.001"
BURST = 25
# High enough that heavy traffic never waits (the limiter still runs on every request).
NO_LIMITS = {
    f"NSL_RATE_LIMIT_{bucket}_{knob}": "1000000"
    for bucket in ("KEY", "ACCOUNT")
    for knob in ("PER_SECOND", "BURST")
}
CONNECTIONS = 16


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):  # an fd closed while we look
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    return inodes


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone
        return b""


def _connection_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the IPv4 TCP socket ``127.0.0.1:local_port`` <-> ``remote_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == local_port and int(remote, 16) == remote_port:
            return fields[9]
    return None


@dataclass
class Api:
    """A running ``nsl api --workers 2``."""

    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> set[int]:
        """The pids of the worker processes: the supervisor's children spawned by multiprocessing (not
        its resource tracker, a child too)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()]
        return {pid for pid in pids if b"spawn_main" in _cmdline(pid)}

    def server_pid(self, response: httpx.Response) -> int:
        """The worker that holds the server end of the connection ``response`` came on."""
        client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        inode = _connection_inode(self.port, client_port)
        owners = [pid for pid in self.workers() if inode in _socket_inodes(pid)]
        assert len(owners) == 1, (inode, owners)
        return owners[0]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM the supervisor (only it: it stops its workers) and wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT)


def nsl_env(data_dir: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of an ``nsl`` process (none of the test runner's NSL_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSL_")}
    return env | {"NSL_DATA_DIR": str(data_dir), "NSL_DATABASE_URL": database_url} | settings


def nsl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neo_service_layer.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )


async def _wait_until_every_worker_serves(api: Api) -> set[int]:
    """New connections until each of the workers has answered one (a worker still starting takes none)."""
    served: set[int] = set()
    deadline = time.monotonic() + START_TIMEOUT
    while len(served) < WORKERS:
        assert api.process.poll() is None, f"nsl api exited:\n{api.output()[-4000:]}"
        assert time.monotonic() < deadline, f"served by {served} only:\n{api.output()[-4000:]}"
        with contextlib.suppress(httpx.TransportError):
            async with httpx.AsyncClient(base_url=api.url, timeout=5) as http:
                response = await http.get("/healthz")
                if response.status_code == 200:
                    served.add(api.server_pid(response))
                    continue
        await asyncio.sleep(0.1)
    return served


def spawn_api(directory: Path, database_url: str, name: str, **settings: str) -> Api:
    """Start ``nsl api --workers 2`` on ``database_url`` (data and log under ``directory``), not waiting."""
    port = free_port()
    env = nsl_env(
        directory / "data",
        database_url,
        NSL_REDIS_URL=REDIS_URL,
        NSL_PORT=str(port),
        NSL_AUTH_CACHE_SECONDS=str(AUTH_CACHE_SECONDS),
        **settings,
    )
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "neo_service_layer.cli.main", "api", "--workers", str(WORKERS)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Api(process, port, env, log)


async def wait_until_serving(api: Api) -> Api:
    """``api`` once each of its workers serves (and only they do)."""
    assert await _wait_until_every_worker_serves(api) == api.workers()
    return api


StartApi = Callable[..., Awaitable[Api]]


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


async def tenant_on(api: Api, admin_key: str) -> Tenant:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        return await make_tenant(http, admin_key, "acme")


@contextlib.asynccontextmanager
async def open_connections(api: Api, count: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``count`` clients of one keep-alive connection each, already connected (by a first request)."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for _ in range(count):
            http = httpx.AsyncClient(base_url=api.url, timeout=10, limits=httpx.Limits(max_connections=1))
            clients.append(await stack.enter_async_context(http))
            assert (await http.get("/healthz")).status_code == 200
        yield clients


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


async def test_the_audit_chain_stays_one_valid_chain(start_api: StartApi, bootstrap_key: str) -> None:
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
    assert api.stop() == 0

    verified = nsl(api.env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The tenant's account and owner key, then every request above (bootstrapping is not audited).
    assert f"audit log OK: {2 + CONNECTIONS * 21} entries" in verified.stdout


async def test_a_worker_that_dies_is_replaced(start_api: StartApi) -> None:
    api = await start_api()
    killed = min(api.workers())
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + START_TIMEOUT
    while killed in api.workers() or len(api.workers()) < WORKERS:
        assert time.monotonic() < deadline, api.output()[-4000:]
        await asyncio.sleep(0.1)
    assert await _wait_until_every_worker_serves(api) == api.workers()
    assert api.stop() == 0


async def test_the_workers_stop_when_the_supervisor_is_killed(start_api: StartApi) -> None:
    api = await start_api()
    workers = api.workers()
    api.process.kill()  # no chance to stop its workers
    api.process.wait(STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(_cmdline(pid) for pid in workers):
        assert time.monotonic() < deadline, "orphaned workers still run"
        await asyncio.sleep(0.1)
    assert api.output().count("Application shutdown complete.") == WORKERS


async def test_sigterm_stops_every_worker_after_auditing_what_it_answered(
    start_api: StartApi, bootstrap_key: str, db: Database
) -> None:
    api = await start_api(**NO_LIMITS)
    tenant = await tenant_on(api, bootstrap_key)
    answered: list[str] = []
    workers = api.workers()
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
    assert not any(_cmdline(pid) for pid in workers), "the workers are gone"
    # Each worker ran its lifespan shutdown: the audit writer drained before the process ended.
    assert api.output().count("Application shutdown complete.") == WORKERS

    assert answered
    async with db.session() as session:
        audited = set((await session.scalars(select(AuditEntry.request_id))).all())
    assert set(answered) <= audited

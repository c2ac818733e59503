"""``nsl api --workers 2`` as a real subprocess for the tests (``test_server_workers*.py``): start it, wait
until each worker serves, and tell which worker served a connection.

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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from neo_service_layer.api.audit_writer import SOCKET_NAME
from neo_service_layer.chains.devnet.processes import free_port
from tests.api.helpers import samples
from tests.conftest import Tenant, make_tenant

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


def _audit_sockets() -> dict[str, Path]:
    """The Unix sockets listening on an audit writer's path (``api.audit_writer``): inode -> path."""
    sockets = {}
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        # Num RefCount Protocol Flags Type St Inode Path; flag 00010000 = __SO_ACCEPTCON (listening).
        if len(fields) == 8 and fields[7].endswith(f"/{SOCKET_NAME}") and int(fields[3], 16) & 0x10000:
            sockets[fields[6]] = Path(fields[7])
    return sockets


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone
        return b""


def environment(pid: int) -> dict[str, str]:
    """The environment process ``pid`` started with."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().partition("=")[::2] for entry in entries if entry)


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

    def _spawned(self) -> set[int]:
        """The supervisor's children spawned by multiprocessing (not its resource tracker, a child too)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()]
        return {pid for pid in pids if b"spawn_main" in cmdline(pid)}

    def workers(self) -> set[int]:
        """The pids of the worker processes: the spawned children but the audit writer."""
        writers = self.audit_writers()
        return {pid for pid in self._spawned() if pid not in writers}

    def audit_writers(self) -> set[int]:
        """The spawned children that listen on the audit writer's Unix socket (normally one)."""
        listening = set(_audit_sockets())
        return {pid for pid in self._spawned() if _socket_inodes(pid) & listening}

    def audit_socket(self) -> Path:
        """The Unix socket the audit writer listens on."""
        (writer,) = self.audit_writers()
        (path,) = {path for inode, path in _audit_sockets().items() if inode in _socket_inodes(writer)}
        return path

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


def audit_writer_processes(database_url: str) -> int:
    """How many audit-writer processes ``nsl api --workers N`` runs on ``database_url``: one on SQLite,
    none on PostgreSQL, where each worker appends its own entries (``api.server.needs_audit_writer``)."""
    return 1 if database_url.startswith("sqlite") else 0


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


async def wait_until_every_worker_serves(api: Api) -> set[int]:
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
    assert await wait_until_every_worker_serves(api) == api.workers()
    return api


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


async def metric_by_worker(api: Api, name: str, **labels: str) -> dict[int, float]:
    """The sum of the samples ``name`` that carry ``labels``, as each worker answers /metrics: new
    connections until every worker has answered a scrape."""
    seen: dict[int, float] = {}
    deadline = time.monotonic() + START_TIMEOUT
    while seen.keys() != api.workers():
        assert time.monotonic() < deadline, f"scraped {set(seen)} only:\n{api.output()[-4000:]}"
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
            response = await http.get("/metrics")
            assert response.status_code == 200, response.text
            found = [s.value for s in samples(response.text, name) if labels.items() <= s.labels.items()]
            seen[api.server_pid(response)] = sum(found)
    return seen

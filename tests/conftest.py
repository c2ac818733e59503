"""Shared fixtures: a real database (SQLite; PostgreSQL when NSL_TEST_POSTGRES_URL is set), the app, keys.

Database-backed fixtures are parametrized over both backends, so every test that uses them runs
twice when PostgreSQL is configured (as in CI).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy import event, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

from neo_service_layer.api.app import create_app
from neo_service_layer.api.state import AppState
from neo_service_layer.config import Settings
from neo_service_layer.db.base import Base
from neo_service_layer.db.migrate import upgrade
from neo_service_layer.db.registry import import_all_models
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.exchanges import Market, SimulatorServer
from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.capabilities import HttpFetcher, SandboxRunner
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.measurement import compute_measurement
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.enclave.tee.software import SoftwareBackend
from neo_service_layer.services.accounts.service import bootstrap
from neo_service_layer.services.audit.chain import GENESIS_HASH
from tests.enclave.oracle.servers import OraclePKI

import_all_models()
POSTGRES_URL = os.environ.get("NSL_TEST_POSTGRES_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(not POSTGRES_URL, reason="NSL_TEST_POSTGRES_URL is not set"),
    ),
]
# Every table but the audit head (reset to genesis instead) is emptied between PostgreSQL tests.
_KEPT_TABLES = frozenset({"audit_head"})


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own NSL_* settings or ~/.nsl."""
    for name in list(os.environ):
        if name.startswith("NSL_") and name != "NSL_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating every test would cost seconds)."""
    path = tmp_path_factory.mktemp("template") / "nsl.db"

    async def migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(db)
        await db.dispose()

    asyncio.run(migrate())
    return path


class _PostgresReset:
    """Empties the PostgreSQL test database between tests over ONE connection kept for the session, on an
    event loop of its own (each test's loop is gone by the next test): a new engine and connection per test
    cost more than the emptying itself.

    DELETE is several times faster than TRUNCATE on tables this small; ``replica`` mode skips triggers for
    this transaction only: the audit log's append-only trigger, and the foreign key checks (every table is
    emptied, so no reference is left dangling). The statements go as one simple-protocol script: one round
    trip."""

    def __init__(self, url: str) -> None:
        self._runner = asyncio.Runner()
        self._db = Database(url)
        self._connection: AsyncConnection | None = None
        emptied = [table for table in Base.metadata.sorted_tables if table.name not in _KEPT_TABLES]
        statements: list[UpdateBase] = [table.delete() for table in reversed(emptied)]
        statements.append(update(Base.metadata.tables["audit_head"]).values(seq=0, hash=GENESIS_HASH))
        compiled = [
            str(statement.compile(dialect=self._db.engine.dialect, compile_kwargs={"literal_binds": True}))
            for statement in statements
        ]
        replica = "SET LOCAL session_replication_role = replica"
        self._script = "; ".join(["BEGIN", replica, *compiled, "COMMIT"])

    def migrate(self) -> None:
        """Start from an empty public schema, migrated."""
        self._runner.run(self._migrate())

    async def _migrate(self) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(self._db)

    def empty(self) -> None:
        """Empty every table but the audit head, which goes back to genesis."""
        self._runner.run(self._empty())

    async def _empty(self) -> None:
        if self._connection is None:
            self._connection = await self._db.engine.connect()
        asyncpg = (await self._connection.get_raw_connection()).driver_connection
        assert asyncpg is not None
        # asyncpg's execute() without arguments takes a multi-statement script (the simple protocol).
        await asyncpg.execute(self._script)

    def close(self) -> None:
        if self._connection is not None:
            self._runner.run(self._connection.close())
        self._runner.run(self._db.dispose())
        self._runner.close()


@pytest.fixture(scope="session")
def postgres_reset() -> Iterator[_PostgresReset]:
    """The PostgreSQL test database, migrated from an empty public schema once per session."""
    assert POSTGRES_URL
    reset = _PostgresReset(POSTGRES_URL)
    try:
        reset.migrate()
        yield reset
    finally:
        reset.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "nsl.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    request.getfixturevalue("postgres_reset").empty()
    assert POSTGRES_URL
    return POSTGRES_URL


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def enclave_measurement() -> str:
    return compute_measurement("software")


@pytest.fixture
def enclave_socket() -> Iterator[Path]:
    """A short socket path (AF_UNIX paths are limited to 107 bytes; pytest's tmp_path is longer)."""
    directory = Path(tempfile.mkdtemp(dir="/tmp", prefix="nsl"))
    try:
        yield directory / "enclave.sock"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the logging setup back after a test that calls configure_logging."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("uvicorn.access").disabled)
    try:
        yield
    finally:
        root.handlers[:], level, logging.getLogger("uvicorn.access").disabled = saved
        root.setLevel(level)
        structlog.reset_defaults()


@pytest.fixture(scope="session")
def pki() -> OraclePKI:
    """A local CA and a certificate for the oracle's local HTTPS servers (tests.enclave.oracle.servers)."""
    return OraclePKI.build()


@pytest.fixture(scope="session")
def exchange_sim(pki: OraclePKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorServer]:
    """The local exchange simulator (``devnet.exchanges``), started once: Binance, Coinbase, Kraken, OKX
    and CoinGecko on ``exchange_sim.base_url`` (HTTPS with the :func:`pki` certificate, so a fetcher
    trusting it — ``enclave_fetcher`` overridden as tests/api/test_oracle.py does — reaches it).
    ``exchange_sim.market`` sets prices and misbehaviour; ``exchange_sim.source(exchange, symbol)`` is a
    SourceSpec pointing at it. Shared by the session: a test that changes it uses
    :func:`fresh_exchange_sim` (or calls ``market.reset()``)."""
    _, cert, key = pki.write(tmp_path_factory.mktemp("exchange-sim"))
    with SimulatorServer(Market(), cert=cert, key=key) as server:
        yield server


@pytest.fixture
def fresh_exchange_sim(exchange_sim: SimulatorServer) -> Iterator[SimulatorServer]:
    """:func:`exchange_sim` with its default prices and every exchange behaving, before and after the test."""
    exchange_sim.market.reset()
    try:
        yield exchange_sim
    finally:
        exchange_sim.market.reset()


@pytest.fixture
def enclave_fetcher() -> HttpFetcher | None:
    """The in-process enclave's HTTP fetcher: none (the oracle's ops refuse) unless a module overrides
    this fixture (tests/api/test_oracle.py: the real fetcher, trusting :func:`pki`)."""
    return None


@pytest.fixture
def enclave_sandbox() -> SandboxRunner | None:
    """The in-process enclave's sandbox: none (the functions ops refuse) unless a module overrides this
    fixture with a started ``SandboxPool`` (tests/enclave/test_functions_handlers.py)."""
    return None


@pytest.fixture
async def enclave_server(
    enclave_socket: Path,
    enclave_measurement: str,
    enclave_fetcher: HttpFetcher | None,
    enclave_sandbox: SandboxRunner | None,
) -> AsyncIterator[EnclaveServer]:
    """A real enclave server with every op, in this process (its own process is tested in tests/enclave)."""
    identity = Identity.generate()
    backend = SoftwareBackend()
    ctx = EnclaveContext(
        identity=identity,
        sealer=Sealer(os.urandom(32)),
        backend=backend,
        report=build_report(identity, backend, enclave_measurement),
        fetcher=enclave_fetcher,
        sandbox=enclave_sandbox,
    )
    server = EnclaveServer(ctx, default_registry(), enclave_socket, stop_grace_seconds=2.0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def enclave(enclave_server: EnclaveServer) -> AsyncIterator[UnixEnclaveClient]:
    """A client of the in-process enclave server, as the API and worker use it."""
    client = UnixEnclaveClient(enclave_server.path, timeout=10.0)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, enclave_socket: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        log_format="console",
        enclave={"socket": enclave_socket},
    )


@pytest.fixture
async def app(settings: Settings, enclave_server: EnclaveServer) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def state(app: FastAPI) -> AppState:
    app_state: AppState = app.state.nsl
    return app_state


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nsl.test") as http:
        yield http


@pytest.fixture
async def admin_key(state: AppState) -> str:
    """The bootstrap admin API key of the system account."""
    async with state.db.transaction() as session:
        issued = await bootstrap(session)
    assert issued is not None
    return issued.plaintext


@dataclass(frozen=True)
class Tenant:
    account_id: str
    owner_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.owner_key}


async def make_tenant(client: httpx.AsyncClient, admin_key: str, name: str) -> Tenant:
    """Create an account and an owner key for it through the admin API."""
    admin = {"X-API-Key": admin_key}
    response = await client.post("/v1/admin/accounts", json={"name": name}, headers=admin)
    assert response.status_code == 201, response.text
    account_id = response.json()["id"]
    response = await client.post(
        f"/v1/admin/accounts/{account_id}/api-keys", json={"name": "owner", "role": "owner"}, headers=admin
    )
    assert response.status_code == 201, response.text
    return Tenant(account_id, response.json()["secret"])


@pytest.fixture
async def tenant(client: httpx.AsyncClient, admin_key: str) -> Tenant:
    return await make_tenant(client, admin_key, "acme")


@pytest.fixture
async def other_tenant(client: httpx.AsyncClient, admin_key: str) -> Tenant:
    return await make_tenant(client, admin_key, "globex")


@contextmanager
def recorded_statements(db: Database) -> Iterator[list[str]]:
    """The SQL of every statement ``db`` sends to its driver while the block runs, in order."""
    statements: list[str] = []

    def note(_connection: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)

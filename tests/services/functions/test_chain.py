"""The functions host step's database side (``services/functions/chain.py``), on SQLite and PostgreSQL:
which function and version a payload resolves to, when nothing is resolved, and the run row's life
(one per request however often it is prepared; settled, or removed when nothing ran; an outcome for
another run refused). The chain tests (tests/chains/*/test_functions.py) drive the same code through the
gateways; here each rule is pinned down on its own, with the real enclave's syntax check at deploy.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.functions.onchain import FunctionCall
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.enclave.opdefs.functions import RunOutcome
from neo_service_layer.errors import EnclaveRejected
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.accounts.service import create_account
from neo_service_layer.services.functions import service
from neo_service_layer.services.functions.chain import (
    ChainCall,
    Prepared,
    prepare_chain_run,
    record_chain_run,
)
from neo_service_layer.services.functions.models import FunctionRun
from neo_service_layer.services.functions.runner import syntax_check
from neo_service_layer.services.secrets.models import Secret

FIRST = "return 1;"
SECOND = "return 2;"
CONSUMER = "evm:31337:0x" + "ab" * 20
SCHEMA = {"type": "object", "required": ["a"]}


@pytest.fixture
async def enclave_sandbox() -> AsyncIterator[SandboxPool]:
    """The in-process enclave's sandbox (tests/conftest.py ``enclave_server``): one real process."""
    async with SandboxPool(1) as pool:
        yield pool


async def deployed(db: Database, enclave: UnixEnclaveClient, **spec: Any) -> str:
    """A function at version 2 (FIRST, then SECOND) of a new account, allowing :data:`CONSUMER`."""
    check = syntax_check(enclave)
    async with db.transaction() as session:
        account_id = (await create_account(session, "acme")).id
    async with db.transaction(account_id) as session:
        for name in spec.get("secrets", []):  # a secret of the account, granted to no one
            session.add(Secret(id=new_id(IdPrefix.SECRET), account_id=account_id, name=name, max_versions=10))
        wanted = {"name": "f", "source": FIRST, "onchain_consumers": [CONSUMER], **spec}
        function, _ = await service.deploy(session, account_id, service.FunctionSpec(**wanted), check)
        await service.update(session, function, service.FunctionSpec(source=SECOND), check)
        return function.id


def call(
    function_id: str, pin: str | None = None, args: Any = None, error: str | None = None
) -> FunctionCall:
    digest = None if pin is None else hashlib.sha256(pin.encode()).digest()
    return FunctionCall(function_id, digest, args, "", error)


def chain_call(function_call: FunctionCall | None, key: str = "evm:31337:" + "11" * 32) -> ChainCall:
    return ChainCall(key, function_call)


async def rows(db: Database) -> list[FunctionRun]:
    async with db.session() as session:
        return list((await session.execute(select(FunctionRun))).scalars())


async def test_a_pinned_hash_picks_its_version_else_the_current_one(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    function_id = await deployed(db, enclave)
    cases = {
        "pinned old": (call(function_id, FIRST), 1, FIRST),
        "no pin": (call(function_id), 2, SECOND),
        # No version has that hash: the current one goes, and the enclave answers SourceMismatch.
        "unknown pin": (call(function_id, "return 3;"), 2, SECOND),
    }
    for index, (name, (function_call, version, source)) in enumerate(cases.items()):
        prepared = await prepare_chain_run(db, chain_call(function_call, f"evm:31337:{index:064x}"))
        assert prepared.function is not None, name
        assert (prepared.function.version, prepared.function.source) == (version, source), name
        assert prepared.function.consumers == [CONSUMER], name
        assert prepared.function.args_valid, name
    recorded = await rows(db)
    assert sorted((r.version, r.trigger, r.status) for r in recorded) == [
        (1, "chain", "running"),
        (2, "chain", "running"),
        (2, "chain", "running"),
    ]


async def test_a_pin_of_a_source_with_several_versions_picks_the_latest_and_runs_its_snapshot(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    """A PATCH of limits, domains or secrets keeps the source: the pin names the code, the newest
    version of it says how it runs (limits, domains, secrets, args schema)."""
    function_id = await deployed(db, enclave)  # v1 FIRST, v2 SECOND
    account_id = await _owner(db, function_id)
    check = syntax_check(enclave)
    changes = [
        service.FunctionSpec(limits={"timeout_ms": 3000}),  # v3: SECOND
        service.FunctionSpec(source=FIRST),  # v4: FIRST, 3000 ms
        service.FunctionSpec(allowed_domains=["api.example.com"], args_schema=SCHEMA),  # v5: FIRST
        service.FunctionSpec(source=SECOND, secrets=["api-token"]),  # v6: SECOND, not granted
    ]
    async with db.transaction(account_id) as session:
        # A secret of the account, granted to no one.
        session.add(
            Secret(id=new_id(IdPrefix.SECRET), account_id=account_id, name="api-token", max_versions=10)
        )
        function = await service.get_function(session, function_id)
        for change in changes:
            await service.update(session, function, change, check)
        assert function.version == 6
    first = await prepare_chain_run(
        db, chain_call(call(function_id, FIRST, {"b": 1}), "evm:31337:" + "01" * 32)
    )
    assert first.function is not None
    assert (first.function.version, first.function.source) == (5, FIRST)
    assert (first.function.limits.timeout_ms, first.function.allowed_domains) == (3000, ["api.example.com"])
    assert not first.function.args_valid  # version 5's schema, which needs "a"
    # SECOND's newest version names a secret not granted: nothing runs (not an older version of it).
    second = await prepare_chain_run(db, chain_call(call(function_id, SECOND), "evm:31337:" + "02" * 32))
    assert second.function is None
    assert [(r.id, r.version) for r in await rows(db)] == [(first.run_id, 5)]


async def _owner(db: Database, function_id: str) -> str:
    async with db.session() as session:
        return (await service.get_any_function(session, function_id)).account_id


async def test_nothing_is_resolved_and_no_row_written_when_nothing_can_run(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    deleted = await deployed(db, enclave)
    async with db.transaction() as session:
        await service.delete(session, await service.get_any_function(session, deleted))
    ungranted = await deployed(db, enclave, name="g", secrets=["api-token"])
    for function_call in (call(deleted), call(ungranted), call(new_id(IdPrefix.FUNCTION)), None):
        prepared = await prepare_chain_run(db, chain_call(function_call))
        assert prepared.function is None
        assert prepared.run_id.startswith("fnr_")
        await record_chain_run(db, prepared, None)  # nothing to record
    assert await rows(db) == []


async def test_args_the_schema_refuses_are_flagged_for_the_enclave(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    function_id = await deployed(db, enclave, args_schema=SCHEMA)
    verdicts = []
    for index, function_call in enumerate(
        [
            call(function_id, args={"a": 1}),
            call(function_id, args={"b": 1}),
            call(function_id, error="not JSON"),
        ]
    ):
        prepared = await prepare_chain_run(db, chain_call(function_call, f"n3:56753:0x{'ab' * 20}:{index}"))
        assert prepared.function is not None
        verdicts.append(prepared.function.args_valid)
    assert verdicts == [True, False, False]


def outcome(prepared: Prepared, **changes: Any) -> RunOutcome:
    assert prepared.function is not None
    values: dict[str, Any] = {
        "run_id": prepared.run_id,
        "function_id": prepared.function.function_id,
        "version": prepared.function.version,
        "source_sha256": hashlib.sha256(prepared.function.source.encode()).hexdigest(),
        "args_sha256": "00" * 32,
        "status": "succeeded",
        "result": "2",
        "error": None,
        "logs": "",
        "logs_truncated": False,
        "fetches": 0,
        "duration_ms": 3,
        "memory_bytes": None,
    }
    return RunOutcome(**(values | changes))


async def test_one_run_row_per_request_settled_or_removed(db: Database, enclave: UnixEnclaveClient) -> None:
    function_id = await deployed(db, enclave)
    first = await prepare_chain_run(db, chain_call(call(function_id)))
    again = await prepare_chain_run(db, chain_call(call(function_id)))  # a retry: the same run
    assert again.run_id == first.run_id
    assert [r.id for r in await rows(db)] == [first.run_id]

    # An answer for another run, function, version or source is refused; the row stays as it was.
    for lie in ({"run_id": new_id(IdPrefix.FUNCTION_RUN)}, {"version": 1}, {"source_sha256": "ab" * 32}):
        with pytest.raises(EnclaveRejected):
            await record_chain_run(db, first, outcome(first, **lie))
    assert [r.status for r in await rows(db)] == ["running"]

    await record_chain_run(db, first, outcome(first))
    (run,) = await rows(db)
    assert (run.status, run.result, run.duration_ms, run.envelope) == ("succeeded", "2", 3, None)
    assert run.chain_request == "evm:31337:" + "11" * 32

    other = await prepare_chain_run(db, chain_call(call(function_id), "evm:31337:" + "22" * 32))
    await record_chain_run(db, other, None)  # the enclave ran nothing: the row goes
    async with db.session() as session:
        count = (await session.execute(select(func.count()).select_from(FunctionRun))).scalar_one()
    assert count == 1

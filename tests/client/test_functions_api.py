"""``FunctionsClient`` against the real API: a real app over an ASGI transport, the in-process enclave
with a real sandbox pool (one QuickJS process), the real worker for async runs, SQLite and PostgreSQL.

Runs are verified offline against the attestation the app serves; what a compromised host could
change in the records (args, the stored source, the signed outcome) is refused by ``verified_run``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.api.state import AppState
from neo_service_layer.client import FunctionsClient, VerifiedIdentity, verify_attestation
from neo_service_layer.config import Settings
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.errors import ApiRequestFailed, FunctionVerificationFailed, SignatureInvalid
from neo_service_layer.services.functions.models import FunctionRun, FunctionVersion
from neo_service_layer.worker.functions_jobs import functions_handlers
from neo_service_layer.worker.runner import Worker
from tests.api.helpers import NO_RATE_LIMITS, new_secret
from tests.conftest import Tenant
from tests.settings_helpers import settings_with

ADD = "return args.a + args.b;"
SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
Tamper = Callable[[AsyncSession, str, str], Awaitable[None]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings_with(settings, rate_limits=NO_RATE_LIMITS)


@pytest.fixture
async def enclave_sandbox() -> AsyncIterator[SandboxPool]:
    """The in-process enclave's sandbox (tests/conftest.py ``enclave_server``): one real process."""
    async with SandboxPool(1) as pool:
        yield pool


@pytest.fixture
async def identity(client: httpx.AsyncClient) -> VerifiedIdentity:
    """The enclave identity, checked as a user would: from the attestation the API serves."""
    return verify_attestation((await client.get("/v1/attestation")).json(), allow_software=True)


@pytest.fixture
def functions(client: httpx.AsyncClient, tenant: Tenant) -> FunctionsClient:
    return FunctionsClient("http://nsl.test", tenant.owner_key, http=client)


async def test_deploy_run_update_and_verify(
    functions: FunctionsClient, identity: VerifiedIdentity, tenant: Tenant, client: httpx.AsyncClient
) -> None:
    fn = await functions.deploy("add", ADD, args_schema=SCHEMA, limits={"timeout_ms": 2000})
    assert (fn["name"], fn["version"], fn["limits"]["timeout_ms"]) == ("add", 1, 2000)
    assert (await functions.get(fn["id"]))["id"] == fn["id"]
    first = await functions.run(fn["id"], {"a": 2, "b": 40})
    assert (first["status"], first["result"], first["version"]) == ("succeeded", "42", 1)
    outcome = await functions.verified_run(fn["id"], first["id"], identity)
    assert (outcome.status, outcome.result, outcome.version, outcome.run_id) == (
        "succeeded",
        "42",
        1,
        first["id"],
    )
    assert (
        await functions.verified_run(fn["id"], first["id"], identity, account_id=tenant.account_id)
    ) == outcome

    updated = await functions.update(fn["id"], source="return args.a * args.b;")
    assert updated["version"] == 2
    second = await functions.run(fn["id"], {"a": 6, "b": 7})
    assert (second["result"], second["version"]) == ("42", 2)
    assert (await functions.verified_run(fn["id"], second["id"], identity)).version == 2
    # New limits: version 3. The first run still verifies: it names version 1, which the versions still
    # show as it ran (source, limits, domains).
    assert (await functions.update(fn["id"], limits={"timeout_ms": 3000}))["version"] == 3
    assert (await functions.verified_run(fn["id"], first["id"], identity)).result == "42"
    assert (await functions.verified_run(fn["id"], second["id"], identity)).version == 2
    versions = [v async for v in functions.versions(fn["id"], page_size=1)]
    assert [(v["version"], v["source"], v["limits"]["timeout_ms"]) for v in versions] == [
        (1, ADD, 2000),
        (2, "return args.a * args.b;", 2000),
        (3, "return args.a * args.b;", 3000),
    ]
    assert [f["id"] async for f in functions.functions(page_size=1)] == [fn["id"]]

    await functions.delete(fn["id"])
    assert [r["id"] async for r in functions.runs(fn["id"])] == [first["id"], second["id"]]
    with pytest.raises(ApiRequestFailed) as gone:
        await functions.get(fn["id"])
    assert (gone.value.api_code, gone.value.api_status) == ("function_not_found", 404)
    with pytest.raises(ApiRequestFailed) as unverifiable:  # its versions are no longer shown
        await functions.verified_run(fn["id"], first["id"], identity)
    assert unverifiable.value.api_code == "function_not_found"
    await functions.close()  # the caller's HTTP client stays open
    assert (await client.get("/healthz")).status_code == 200


async def test_runs_page_by_cursor_and_a_key_runs_once(functions: FunctionsClient) -> None:
    fn = await functions.deploy("echo", "return args;")
    ids = [(await functions.run(fn["id"], n))["id"] for n in range(3)]
    listed = [r async for r in functions.runs(fn["id"], page_size=2)]
    assert [(r["id"], r["result"]) for r in listed] == list(zip(ids, ["0", "1", "2"], strict=True))
    once = await functions.run(fn["id"], 9, idempotency_key="run-once")
    again = await functions.run(fn["id"], 9, idempotency_key="run-once")
    assert again == once
    assert len([r async for r in functions.runs(fn["id"], page_size=2)]) == 4


async def test_an_async_run_is_started_then_waited_for(
    functions: FunctionsClient, identity: VerifiedIdentity, state: AppState, settings: Settings
) -> None:
    fn = await functions.deploy("add", ADD, args_schema=SCHEMA)
    queued = await functions.start(fn["id"], {"a": 20, "b": 22})
    assert (queued["status"], queued["mode"], queued["envelope"]) == ("queued", "async", None)
    with pytest.raises(FunctionVerificationFailed):  # nothing signed yet
        await functions.verified_run(fn["id"], queued["id"], identity)
    worker = Worker(state.db, settings, functions_handlers(), poll_seconds=0.05)
    await worker.start()
    try:
        ended = await functions.wait(fn["id"], queued["id"], timeout_seconds=20, poll_seconds=0.05)
    finally:
        await worker.stop()
    assert (ended["status"], ended["result"], ended["mode"]) == ("succeeded", "42", "async")
    assert (await functions.verified_run(fn["id"], queued["id"], identity)).result == "42"


async def test_wait_gives_up_on_a_run_that_does_not_end(functions: FunctionsClient) -> None:
    fn = await functions.deploy("echo", "return args;")
    queued = await functions.start(fn["id"], 1)  # no worker: it stays queued
    with pytest.raises(TimeoutError):
        await functions.wait(fn["id"], queued["id"], timeout_seconds=0.2, poll_seconds=0.05)


async def test_errors_carry_the_api_code(
    functions: FunctionsClient, client: httpx.AsyncClient, other_tenant: Tenant, identity: VerifiedIdentity
) -> None:
    with pytest.raises(ApiRequestFailed) as syntax:
        await functions.deploy("bad", "return (;")
    assert (syntax.value.api_code, syntax.value.api_status) == ("function_syntax_error", 422)
    fn = await functions.deploy("add", ADD)
    with pytest.raises(ApiRequestFailed) as taken:
        await functions.deploy("add", ADD)
    assert (taken.value.api_code, taken.value.api_status) == ("function_name_taken", 409)
    with pytest.raises(ApiRequestFailed) as unknown:
        await functions.run("fn_01NOPE", {})
    assert (unknown.value.api_code, unknown.value.api_status) == ("function_not_found", 404)
    run = await functions.run(fn["id"], {"a": 1, "b": 2})
    # Another account's function and run are not found, whatever is asked of them.
    other = FunctionsClient("http://nsl.test", other_tenant.owner_key, http=client)
    probes: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("get", lambda: other.get(fn["id"])),
        ("update", lambda: other.update(fn["id"], name="mine")),
        ("delete", lambda: other.delete(fn["id"])),
        ("run", lambda: other.run(fn["id"], {"a": 1, "b": 2})),
        ("start", lambda: other.start(fn["id"], {"a": 1, "b": 2})),
        ("run_record", lambda: other.run_record(fn["id"], run["id"])),
        ("verified_run", lambda: other.verified_run(fn["id"], run["id"], identity)),
        ("runs", lambda: _listed(other.runs(fn["id"]))),
        ("versions", lambda: _listed(other.versions(fn["id"]))),
    ]
    for name, probe in probes:
        with pytest.raises(ApiRequestFailed) as hidden:
            await probe()
        assert (name, hidden.value.api_status) == (name, 404)
        assert hidden.value.api_code in ("function_not_found", "function_run_not_found"), name
    assert (await functions.get(fn["id"]))["name"] == "add"


async def _listed(items: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item async for item in items]


@pytest.mark.parametrize(
    "bad_id", ["../account", "fn_1/runs", "", "FN_1"], ids=["dots", "slash", "empty", "upper"]
)
async def test_a_text_that_is_no_id_never_reaches_the_api(functions: FunctionsClient, bad_id: str) -> None:
    with pytest.raises(ValueError, match="not a resource id"):
        await functions.get(bad_id)
    with pytest.raises(ValueError, match="not a resource id"):
        await functions.run_record("fn_1", bad_id)


# What a compromised host (API or database) could change in the records a run is verified from.
async def _tamper_args(session: AsyncSession, run_id: str, function_id: str) -> None:
    await session.execute(update(FunctionRun).where(FunctionRun.id == run_id).values(args={"a": 1, "b": 1}))


async def _tamper_source(session: AsyncSession, run_id: str, function_id: str) -> None:
    await session.execute(
        update(FunctionVersion).where(FunctionVersion.function_id == function_id).values(source="return 3;")
    )


async def _tamper_result(session: AsyncSession, run_id: str, function_id: str) -> None:
    run = await session.get(FunctionRun, run_id)
    assert run is not None
    assert run.envelope is not None
    run.envelope = {**run.envelope, "result": {**run.envelope["result"], "result": "4"}}
    run.result = "4"


async def _tamper_limits(session: AsyncSession, run_id: str, function_id: str) -> None:
    # A version is never changed by the service: a database writer rewrites the limits it ran with.
    await session.execute(
        update(FunctionVersion)
        .where(FunctionVersion.function_id == function_id)
        .values(limits={"timeout_ms": 999})
    )


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        pytest.param(_tamper_args, SignatureInvalid, id="args"),
        pytest.param(_tamper_source, SignatureInvalid, id="stored-source"),
        pytest.param(_tamper_result, SignatureInvalid, id="signed-result"),
        pytest.param(_tamper_limits, SignatureInvalid, id="stored-limits"),
    ],
)
async def test_a_tampered_record_is_refused(
    functions: FunctionsClient,
    identity: VerifiedIdentity,
    state: AppState,
    tenant: Tenant,
    tamper: Tamper,
    error: type[Exception],
) -> None:
    fn = await functions.deploy("add", ADD)
    run = await functions.run(fn["id"], {"a": 1, "b": 2})
    await functions.verified_run(fn["id"], run["id"], identity)
    async with state.db.transaction(tenant.account_id) as session:
        await tamper(session, run["id"], fn["id"])
    with pytest.raises(error):
        await functions.verified_run(fn["id"], run["id"], identity)


async def test_a_run_for_another_account_is_refused(
    functions: FunctionsClient, identity: VerifiedIdentity, other_tenant: Tenant
) -> None:
    fn = await functions.deploy("add", ADD)
    run = await functions.run(fn["id"], {"a": 1, "b": 2})
    with pytest.raises(SignatureInvalid):
        await functions.verified_run(fn["id"], run["id"], identity, account_id=other_tenant.account_id)


async def test_a_read_only_key_verifies_with_the_account_it_is_told(
    functions: FunctionsClient, identity: VerifiedIdentity, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    fn = await functions.deploy("add", ADD)
    run = await functions.run(fn["id"], {"a": 1, "b": 2})
    key = await new_secret(client, tenant.owner_key, role="developer", scopes=["functions:read"])
    reader = FunctionsClient("http://nsl.test", key, http=client)
    outcome = await reader.verified_run(fn["id"], run["id"], identity, account_id=tenant.account_id)
    assert outcome.result == "3"
    # Without account:read the key cannot look its account up, nor write.
    with pytest.raises(ApiRequestFailed) as unread:
        await reader.verified_run(fn["id"], run["id"], identity)
    assert (unread.value.api_code, unread.value.api_status) == ("missing_scope", 403)
    with pytest.raises(ApiRequestFailed) as unwritten:
        await reader.deploy("x", ADD)
    assert (unwritten.value.api_code, unwritten.value.api_status) == ("missing_scope", 403)


class SwappingTransport(httpx.AsyncBaseTransport):
    """A compromised API: asked for one path, it answers with another's response."""

    def __init__(self, inner: httpx.AsyncBaseTransport, asked: str, served: str) -> None:
        self._inner, self._asked, self._served = inner, asked, served

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self._asked:
            request = httpx.Request(
                request.method, request.url.copy_with(path=self._served), headers=request.headers
            )
        return await self._inner.handle_async_request(request)


async def test_a_run_served_in_place_of_another_is_refused(
    functions: FunctionsClient, identity: VerifiedIdentity, app: FastAPI, tenant: Tenant
) -> None:
    fn = await functions.deploy("echo", "return args;")
    asked, served = (await functions.run(fn["id"], 1))["id"], (await functions.run(fn["id"], 2))["id"]
    path = f"/v1/functions/{fn['id']}/runs/"
    transport = SwappingTransport(httpx.ASGITransport(app=app), path + asked, path + served)
    async with httpx.AsyncClient(transport=transport, base_url="http://nsl.test") as http:
        lying = FunctionsClient("http://nsl.test", tenant.owner_key, http=http)
        assert (await lying.run_record(fn["id"], asked))["id"] == served  # the lie is served
        with pytest.raises(SignatureInvalid):
            await lying.verified_run(fn["id"], asked, identity)

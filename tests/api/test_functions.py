"""``/v1/functions`` end to end: a real app, a real in-process enclave with a real sandbox pool (one
QuickJS process), SQLite and PostgreSQL.

Deploys are checked in the enclave (``functions.check``); runs go through ``functions.run`` — sync in
the request, async through the ``functions.run`` job run by a real worker. Bad input is table-driven:
each case is its 4xx with its code, and nothing is recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from neo_service_layer.api.state import AppState
from neo_service_layer.config import Settings
from neo_service_layer.enclave.functions.pool import SandboxPool
from neo_service_layer.services.functions.models import Function, FunctionRun, FunctionVersion
from neo_service_layer.worker.functions_jobs import functions_handlers
from neo_service_layer.worker.runner import Worker
from tests.api.helpers import NO_RATE_LIMITS, assert_problem, audit_entries
from tests.conftest import Tenant
from tests.settings_helpers import settings_with

URL = "/v1/functions"
ADD = "return args.a + args.b;"
SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings_with(settings, rate_limits=NO_RATE_LIMITS)


@pytest.fixture
async def enclave_sandbox() -> AsyncIterator[SandboxPool]:
    """The in-process enclave's sandbox (tests/conftest.py ``enclave_server``): one real process."""
    async with SandboxPool(1) as pool:
        yield pool


async def _deploy(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(URL, json={"name": "add", "source": ADD, **body}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _run(
    client: httpx.AsyncClient, tenant: Tenant, function_id: str, args: Any, status: int = 200, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{URL}/{function_id}/runs", json={"args": args, **body}, headers=tenant.headers
    )
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def _counts(state: AppState) -> tuple[int, int, int]:
    async with state.db.session() as session:
        return (
            (await session.execute(select(func.count()).select_from(Function))).scalar_one(),
            (await session.execute(select(func.count()).select_from(FunctionVersion))).scalar_one(),
            (await session.execute(select(func.count()).select_from(FunctionRun))).scalar_one(),
        )


async def test_deploy_read_update_versions_and_delete(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    created = await _deploy(
        client, tenant, limits={"timeout_ms": 2000}, allowed_domains=["api.example.com"], args_schema=SCHEMA
    )
    assert created["id"].startswith("fn_")
    assert created["version"] == 1
    assert created["limits"]["timeout_ms"] == 2000
    assert created["limits"]["memory_mb"] == 128  # the default filled in
    fid = created["id"]
    assert (await client.get(f"{URL}/{fid}", headers=tenant.headers)).json() == created
    # Settings only: the same version.
    patched = await client.patch(f"{URL}/{fid}", json={"allowed_domains": []}, headers=tenant.headers)
    assert (patched.status_code, patched.json()["version"], patched.json()["allowed_domains"]) == (200, 1, [])
    # A new source: a new version; the old one stays.
    source = "return args.a * args.b;"
    patched = await client.patch(f"{URL}/{fid}", json={"source": source}, headers=tenant.headers)
    assert patched.json()["version"] == 2
    versions = (await client.get(f"{URL}/{fid}/versions", headers=tenant.headers)).json()
    assert [(v["version"], v["source"]) for v in versions["items"]] == [(1, ADD), (2, source)]
    assert versions["items"][1]["source_sha256"] == hashlib.sha256(source.encode()).hexdigest()
    listed = (await client.get(URL, headers=tenant.headers)).json()
    assert [f["id"] for f in listed["items"]] == [fid]
    # Deleted: gone from reads and runs, its name free again.
    assert (await client.delete(f"{URL}/{fid}", headers=tenant.headers)).status_code == 204
    assert_problem(await client.get(f"{URL}/{fid}", headers=tenant.headers), 404, "function_not_found")
    assert_problem(
        await client.post(f"{URL}/{fid}/runs", json={"args": {}}, headers=tenant.headers),
        404,
        "function_not_found",
    )
    assert (await _deploy(client, tenant))["id"] != fid
    actions = [
        e.action
        for e in await audit_entries(state.db, tenant.account_id)
        if e.action.startswith("functions.")
    ]
    assert actions.count("functions.create") == 2
    assert "functions.update" in actions
    assert "functions.delete" in actions


BAD_DEPLOYS: list[tuple[str, dict[str, Any], int, str]] = [
    ("syntax error", {"source": "return 1 +;"}, 422, "function_syntax_error"),
    ("unclosed brace", {"source": "if (args) {\n  return 1;\n"}, 422, "function_syntax_error"),
    ("source over the limit", {"source": "//" + "x" * (256 * 1024)}, 422, "function_source_too_large"),
    ("timeout above the maximum", {"limits": {"timeout_ms": 60_001}}, 422, "function_limit_above_maximum"),
    ("memory above the maximum", {"limits": {"memory_mb": 4096}}, 422, "function_limit_above_maximum"),
    ("fetches above the maximum", {"limits": {"max_fetches": 51}}, 422, "function_limit_above_maximum"),
    ("memory below the minimum", {"limits": {"memory_mb": 1}}, 422, "validation_failed"),
    ("unknown limit", {"limits": {"cpu": 1}}, 422, "validation_failed"),
    ("args_schema not a schema", {"args_schema": {"type": 5}}, 422, "function_args_schema_invalid"),
    (
        "args_schema with a remote $ref",
        {"args_schema": {"$ref": "https://a.example/s.json"}},
        422,
        "function_args_schema_invalid",
    ),
    ("bad name", {"name": "no spaces"}, 422, "validation_failed"),
    ("bad domain", {"allowed_domains": ["https://a.example"]}, 422, "validation_failed"),
    ("wildcard domain", {"allowed_domains": ["*.example.com"]}, 422, "validation_failed"),
    ("upper-case domain", {"allowed_domains": ["API.example.com"]}, 422, "validation_failed"),
    (
        "too many domains",
        {"allowed_domains": [f"d{i}.example.com" for i in range(33)]},
        422,
        "validation_failed",
    ),
    ("bad secret name", {"secrets": ["a b"]}, 422, "validation_failed"),
    ("empty source", {"source": ""}, 422, "validation_failed"),
    ("unknown field", {"code": "x"}, 422, "validation_failed"),
    *(
        (f"consumer {case}", {"onchain_consumers": [entry]}, 422, "function_consumer_invalid")
        for case, entry in [
            ("of an unknown family", "eth:1:0x" + "ab" * 20),
            ("without a chain", "evm:0x" + "ab" * 20),
            ("with chain id 0", "evm:0:0x" + "ab" * 20),
            ("with a leading zero", "evm:01:0x" + "ab" * 20),
            ("with a chain id above 2^53-1", f"evm:{2**53}:0x" + "ab" * 20),
            ("with a magic above 2^32-1", f"n3:{2**32}:0x" + "ab" * 20),
            ("with a short address", "evm:1:0x" + "ab" * 19),
            ("with a non-hex address", "evm:1:0x" + "zz" * 20),
            ("with a non-ASCII digit", "evm:\u0661:0x" + "ab" * 20),
            ("as an N3 address", "n3:860833102:NNLi44dJNXtDNSBkofB48aTVYtb1zZrNEs"),
            ("with a fourth part", "evm:1:0x" + "ab" * 20 + ":x"),
            ("empty", ""),
        ]
    ),
    (
        "65 consumers",
        {"onchain_consumers": [f"evm:1:0x{i:040x}" for i in range(65)]},
        422,
        "function_consumer_invalid",
    ),
    ("a consumer not a string", {"onchain_consumers": [1]}, 422, "validation_failed"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_DEPLOYS, ids=[c[0] for c in BAD_DEPLOYS])
async def test_a_bad_deploy_is_refused_and_nothing_recorded(
    client: httpx.AsyncClient,
    tenant: Tenant,
    state: AppState,
    case: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = await client.post(URL, json={"name": "f", "source": ADD, **body}, headers=tenant.headers)
    problem = assert_problem(response, status, code)
    if code == "function_syntax_error":
        assert isinstance(problem["line"], int)
        assert isinstance(problem["column"], int)
    assert await _counts(state) == (0, 0, 0)


async def test_onchain_consumers_are_kept_in_the_enclaves_form(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    """Lower case, duplicates dropped, sorted; a PATCH replaces the list, a bad one changes nothing."""
    address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    script_hash = "0x" + "AB" * 20
    created = await _deploy(
        client, tenant, onchain_consumers=[f"n3:860833102:{script_hash}", f"evm:31337:{address}"] * 2
    )
    assert created["onchain_consumers"] == [
        f"evm:31337:{address.lower()}",
        f"n3:860833102:{script_hash.lower()}",
    ]
    fid = created["id"]
    bad = await client.patch(
        f"{URL}/{fid}", json={"onchain_consumers": ["evm:1:0x12"]}, headers=tenant.headers
    )
    assert assert_problem(bad, 422, "function_consumer_invalid")["consumer"] == "evm:1:0x12"
    got = (await client.get(f"{URL}/{fid}", headers=tenant.headers)).json()
    assert got["onchain_consumers"] == created["onchain_consumers"]
    cleared = await client.patch(f"{URL}/{fid}", json={"onchain_consumers": []}, headers=tenant.headers)
    assert (cleared.status_code, cleared.json()["onchain_consumers"]) == (200, [])
    assert (await _deploy(client, tenant, name="plain"))["onchain_consumers"] == []


async def test_a_syntax_error_names_its_line_and_column(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        URL, json={"name": "f", "source": "let a = 1;\nlet b = ;"}, headers=tenant.headers
    )
    problem = assert_problem(response, 422, "function_syntax_error")
    assert problem["line"] == 2


async def test_a_name_is_unique_per_account(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, state: AppState
) -> None:
    await _deploy(client, tenant)
    assert_problem(
        await client.post(URL, json={"name": "add", "source": ADD}, headers=tenant.headers),
        409,
        "function_name_taken",
    )
    await _deploy(client, other_tenant)  # another account's namespace
    assert (await _counts(state))[0] == 2


async def test_another_tenants_function_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    fid = (await _deploy(client, tenant))["id"]
    run = await _run(client, tenant, fid, {"a": 1, "b": 2})
    h = other_tenant.headers
    for response in (
        await client.get(f"{URL}/{fid}", headers=h),
        await client.patch(f"{URL}/{fid}", json={"source": "return 0;"}, headers=h),
        await client.delete(f"{URL}/{fid}", headers=h),
        await client.get(f"{URL}/{fid}/versions", headers=h),
        await client.post(f"{URL}/{fid}/runs", json={"args": {}}, headers=h),
        await client.get(f"{URL}/{fid}/runs", headers=h),
    ):
        assert_problem(response, 404, "function_not_found")
    assert_problem(
        await client.get(f"{URL}/{fid}/runs/{run['id']}", headers=h), 404, "function_run_not_found"
    )
    assert (await client.get(URL, headers=h)).json()["items"] == []
    assert (await client.get(f"{URL}/{fid}", headers=tenant.headers)).json()["version"] == 1


async def test_a_sync_run_answers_with_the_ended_run(client: httpx.AsyncClient, tenant: Tenant) -> None:
    fid = (
        await _deploy(
            client, tenant, args_schema=SCHEMA, source='console.log("adding"); return args.a + args.b;'
        )
    )["id"]
    run = await _run(client, tenant, fid, {"a": 2, "b": 40})
    assert run["id"].startswith("fnr_")
    assert (run["status"], run["result"], run["mode"], run["version"]) == ("succeeded", "42", "sync", 1)
    assert (run["trigger"], run["chain_request"]) == ("api", None)
    assert "adding" in run["logs"]
    assert run["error"] is None
    assert run["envelope"] is not None
    assert isinstance(run["duration_ms"], int)
    assert run["finished_at"] is not None
    stored = await client.get(f"{URL}/{fid}/runs/{run['id']}", headers=tenant.headers)
    assert stored.json() == run
    rendered = (await client.get("/metrics")).text
    assert 'nsl_function_runs_total{status="succeeded"} 1.0' in rendered
    assert "nsl_function_run_duration_seconds_count 1.0" in rendered


async def test_a_thrown_error_is_a_failed_run_not_an_http_error(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    fid = (await _deploy(client, tenant, source='throw new TypeError("no luck");'))["id"]
    run = await _run(client, tenant, fid, None)
    assert run["status"] == "failed"
    assert run["result"] is None
    assert (run["error"]["name"], run["error"]["message"]) == ("TypeError", "no luck")


async def test_a_run_names_the_version_it_used(client: httpx.AsyncClient, tenant: Tenant) -> None:
    fid = (await _deploy(client, tenant, source="return 1;"))["id"]
    first = await _run(client, tenant, fid, None)
    await client.patch(f"{URL}/{fid}", json={"source": "return 2;"}, headers=tenant.headers)
    second = await _run(client, tenant, fid, None)
    assert [(first["version"], first["result"]), (second["version"], second["result"])] == [
        (1, "1"),
        (2, "2"),
    ]


BAD_RUNS: list[tuple[str, dict[str, Any], int, str]] = [
    ("args missing a field", {"args": {"a": 1}}, 422, "function_args_invalid"),
    ("args of the wrong type", {"args": {"a": "1", "b": 2}}, 422, "function_args_invalid"),
    ("args not an object", {"args": [1, 2]}, 422, "function_args_invalid"),
    ("unknown mode", {"args": {"a": 1, "b": 2}, "mode": "later"}, 422, "validation_failed"),
    ("unknown field", {"args": {"a": 1, "b": 2}, "version": 1}, 422, "validation_failed"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_RUNS, ids=[c[0] for c in BAD_RUNS])
async def test_a_bad_run_is_refused_and_nothing_recorded(
    client: httpx.AsyncClient,
    tenant: Tenant,
    state: AppState,
    case: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    fid = (await _deploy(client, tenant, args_schema=SCHEMA))["id"]
    assert_problem(await client.post(f"{URL}/{fid}/runs", json=body, headers=tenant.headers), status, code)
    assert await _counts(state) == (1, 1, 0)


async def test_an_async_run_is_queued_then_run_by_the_worker(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, settings: Settings
) -> None:
    fid = (await _deploy(client, tenant, args_schema=SCHEMA))["id"]
    queued = await _run(client, tenant, fid, {"a": 20, "b": 22}, status=202, mode="async")
    assert (queued["status"], queued["mode"], queued["result"], queued["envelope"]) == (
        "queued",
        "async",
        None,
        None,
    )
    worker = Worker(state.db, settings, functions_handlers(), poll_seconds=0.05)
    await worker.start()
    try:
        async with asyncio.timeout(20):
            while True:
                run = (await client.get(f"{URL}/{fid}/runs/{queued['id']}", headers=tenant.headers)).json()
                if run["status"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert (run["status"], run["result"], run["version"]) == ("succeeded", "42", 1)
    assert run["envelope"] is not None
    assert run["started_at"] is not None


async def test_runs_are_listed_with_cursor_pagination(client: httpx.AsyncClient, tenant: Tenant) -> None:
    fid = (await _deploy(client, tenant, source="return args;"))["id"]
    ids = [(await _run(client, tenant, fid, n))["id"] for n in range(3)]
    first = (await client.get(f"{URL}/{fid}/runs", params={"limit": 2}, headers=tenant.headers)).json()
    assert [r["id"] for r in first["items"]] == ids[:2]
    assert first["next_cursor"]
    rest = (
        await client.get(
            f"{URL}/{fid}/runs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant.headers
        )
    ).json()
    assert [r["id"] for r in rest["items"]] == ids[2:]
    assert rest["next_cursor"] is None
    assert [r["result"] for r in first["items"] + rest["items"]] == ["0", "1", "2"]


async def test_a_run_with_an_idempotency_key_runs_once_and_replays(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    # The key is looked up in the request's session before the run: the run's reads share it (on
    # SQLite a second session would wait for the one connection forever).
    fid = (await _deploy(client, tenant, secrets=[], source="return args;"))["id"]
    headers = {**tenant.headers, "Idempotency-Key": "run-once"}
    first = await client.post(f"{URL}/{fid}/runs", json={"args": 7}, headers=headers)
    again = await client.post(f"{URL}/{fid}/runs", json={"args": 7}, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert (await _counts(state))[2] == 1
    missing = await client.post(
        f"{URL}/fn_01NOPE/runs", json={"args": 7}, headers={**headers, "Idempotency-Key": "k2"}
    )
    assert_problem(missing, 404, "function_not_found")

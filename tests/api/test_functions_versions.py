"""A function's version is the immutable snapshot of everything that decides a run (docs/functions.md
§8 "Versions"): a change of any of it is a new version, a run runs with its version's snapshot, and a
stored run of an older version still verifies offline from what the API shows after any PATCH.

A real app, the real in-process enclave with one sandbox process and a real worker, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from neo_service_layer.api.state import AppState
from neo_service_layer.client import VerifiedIdentity, verify_function_result
from neo_service_layer.config import Settings
from neo_service_layer.errors import FunctionVerificationFailed, SignatureInvalid
from tests.api.helpers import assert_problem
from tests.api.test_functions import ADD, SCHEMA, URL, _deploy, _run, enclave_sandbox, settings
from tests.api.test_functions_runs import _queued, _worked, run_params
from tests.conftest import Tenant

__all__ = ["enclave_sandbox", "settings"]  # the fixtures this module shares with test_functions

CONSUMER = "evm:31337:0x" + "ab" * 20


async def _patch(client: httpx.AsyncClient, tenant: Tenant, fid: str, **body: Any) -> dict[str, Any]:
    response = await client.patch(f"{URL}/{fid}", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _versions(client: httpx.AsyncClient, tenant: Tenant, fid: str) -> dict[int, dict[str, Any]]:
    listed = (await client.get(f"{URL}/{fid}/versions", headers=tenant.headers)).json()["items"]
    return {version["version"]: version for version in listed}


async def _stored(client: httpx.AsyncClient, tenant: Tenant, fid: str, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = (await client.get(f"{URL}/{fid}/runs/{run_id}", headers=tenant.headers)).json()
    return run


def _verified(
    run: dict[str, Any], version: dict[str, Any], tenant: Tenant, identity: VerifiedIdentity
) -> str:
    outcome = verify_function_result(
        run["envelope"], identity, account_id=tenant.account_id, params=run_params(version, run)
    )
    assert (outcome.run_id, outcome.version, outcome.status) == (run["id"], run["version"], "succeeded")
    assert outcome.result is not None
    return outcome.result


async def test_a_patch_of_limits_is_a_new_version_and_an_older_run_still_verifies(
    client: httpx.AsyncClient, tenant: Tenant, identity: VerifiedIdentity
) -> None:
    fid = (
        await _deploy(
            client,
            tenant,
            limits={"timeout_ms": 2000},
            allowed_domains=["api.example.com"],
            args_schema=SCHEMA,
        )
    )["id"]
    first = await _run(client, tenant, fid, {"a": 2, "b": 40})
    assert first["version"] == 1
    patched = await _patch(client, tenant, fid, limits={"timeout_ms": 3000}, allowed_domains=[])
    assert (patched["version"], patched["limits"]["timeout_ms"], patched["allowed_domains"]) == (2, 3000, [])
    # The whole snapshot is carried over: what the PATCH did not name stays as it was.
    versions = await _versions(client, tenant, fid)
    assert versions[2]["source"] == versions[1]["source"] == ADD
    assert versions[2]["args_schema"] == versions[1]["args_schema"] == SCHEMA
    assert (versions[1]["limits"]["timeout_ms"], versions[1]["allowed_domains"]) == (
        2000,
        ["api.example.com"],
    )
    assert (await client.get(f"{URL}/{fid}", headers=tenant.headers)).json() == patched

    second = await _run(client, tenant, fid, {"a": 40, "b": 2})
    assert second["version"] == 2
    # The new run was signed with the new limits: it verifies with version 2's, not version 1's.
    assert _verified(await _stored(client, tenant, fid, second["id"]), versions[2], tenant, identity) == "42"
    stale = run_params(versions[2], second) | {"limits": versions[1]["limits"]}
    with pytest.raises((SignatureInvalid, FunctionVerificationFailed)):
        verify_function_result(second["envelope"], identity, account_id=tenant.account_id, params=stale)
    # The run made before the PATCH verifies from its own version as the API lists it now; the
    # function's current config would not rebuild its params.
    old = await _stored(client, tenant, fid, first["id"])
    assert _verified(old, versions[1], tenant, identity) == "42"
    current = run_params(versions[1], old) | {
        "limits": patched["limits"],
        "allowed_domains": patched["allowed_domains"],
    }
    with pytest.raises((SignatureInvalid, FunctionVerificationFailed)):
        verify_function_result(old["envelope"], identity, account_id=tenant.account_id, params=current)


async def test_a_queued_run_runs_with_its_own_versions_snapshot(
    client: httpx.AsyncClient,
    tenant: Tenant,
    state: AppState,
    settings: Settings,
    identity: VerifiedIdentity,
) -> None:
    """A run queued at version 1 and worked after a PATCH runs version 1's limits and domains (the
    worker's path), and verifies from version 1."""
    fid = (await _deploy(client, tenant, args_schema=SCHEMA, allowed_domains=["api.example.com"]))["id"]
    queued = await _queued(client, tenant, fid, {"a": 1, "b": 2})
    await _patch(client, tenant, fid, limits={"max_output_bytes": 4096}, allowed_domains=["b.example.com"])
    [run] = await _worked(state, settings, client, tenant, fid, queued)
    assert run["version"] == 1
    assert _verified(run, (await _versions(client, tenant, fid))[1], tenant, identity) == "3"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": "renamed"}, id="name"),
        pytest.param({"onchain_consumers": [CONSUMER]}, id="consumers"),
        pytest.param({"source": ADD}, id="the same source"),
        pytest.param({"limits": {"timeout_ms": 2000}}, id="the same limits"),
        pytest.param({"allowed_domains": ["api.example.com"], "secrets": []}, id="the same domains"),
        pytest.param({"args_schema": SCHEMA}, id="the same schema"),
    ],
)
async def test_a_patch_that_changes_nothing_a_run_uses_makes_no_version(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]
) -> None:
    created = await _deploy(
        client, tenant, limits={"timeout_ms": 2000}, allowed_domains=["api.example.com"], args_schema=SCHEMA
    )
    patched = await _patch(client, tenant, created["id"], **body)
    assert patched["version"] == 1
    assert list(await _versions(client, tenant, created["id"])) == [1]
    # What the PATCH named reads back as it was given (the function has no source field).
    named = [name for name in body if name != "source"]
    expected = {name: created[name] | body[name] if name == "limits" else body[name] for name in named}
    assert {name: patched[name] for name in named} == expected


async def test_args_are_checked_against_the_schema_of_the_version_that_runs(
    client: httpx.AsyncClient, tenant: Tenant, identity: VerifiedIdentity
) -> None:
    fid = (await _deploy(client, tenant, args_schema=SCHEMA))["id"]
    assert (await _run(client, tenant, fid, {"a": 1, "b": 2}))["result"] == "3"
    wider = {**SCHEMA, "required": ["a", "b", "c"]}
    assert (await _patch(client, tenant, fid, args_schema=wider))["version"] == 2
    refused = assert_problem(
        await client.post(f"{URL}/{fid}/runs", json={"args": {"a": 1, "b": 2}}, headers=tenant.headers),
        422,
        "function_args_invalid",
    )
    assert "c" in refused["detail"]
    run = await _run(client, tenant, fid, {"a": 1, "b": 2, "c": 3})
    assert (run["version"], run["result"]) == (2, "3")
    versions = await _versions(client, tenant, fid)
    assert (versions[1]["args_schema"], versions[2]["args_schema"]) == (SCHEMA, wider)
    assert _verified(run, versions[2], tenant, identity) == "3"


async def test_concurrent_patches_each_make_their_own_version(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Two PATCHes at once: each is a version of its own (the function row is locked while a version
    is made), never a conflict on the version number reported as something else."""
    fid = (await _deploy(client, tenant))["id"]
    sources = [f"return {n};" for n in range(4)]
    responses = await asyncio.gather(
        *(client.patch(f"{URL}/{fid}", json={"source": source}, headers=tenant.headers) for source in sources)
    )
    assert [response.status_code for response in responses] == [200] * len(sources)
    assert sorted(response.json()["version"] for response in responses) == [2, 3, 4, 5]
    versions = await _versions(client, tenant, fid)
    assert sorted(versions) == [1, 2, 3, 4, 5]
    assert {versions[n]["source"] for n in (2, 3, 4, 5)} == set(sources)

"""A function's secrets: named at deploy and PATCH (each must be a secret of the account), granted before
each run (grantee kind ``function``, grantee the function's id) — docs/functions.md §8 "Secrets at deploy".

The rule follows Vault (a policy may name any path; access is checked at each read) and Chainlink
Functions (a request's secrets are checked when it runs): a function has no id to grant to before it is
deployed, and a grant can be revoked at any time after. What deploy can check, it does: a name that is
no secret of the account — a typo, or another account's secret of that name — is refused at once.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from neo_service_layer.client import VerifiedIdentity
from neo_service_layer.client.secrets import seal_secret_value
from tests.api.helpers import assert_problem
from tests.api.test_functions import URL, _deploy, _run, enclave_sandbox, settings
from tests.conftest import Tenant

__all__ = ["enclave_sandbox", "settings"]  # the fixtures this module shares with test_functions

KEYS = "return Object.keys(secrets);"


async def _put_secret(client: httpx.AsyncClient, who: Tenant, identity: VerifiedIdentity, name: str) -> None:
    sealed = seal_secret_value(identity, who.account_id, name, b"s3cret-value-for-" + name.encode(), cas=0)
    response = await client.put(f"/v1/secrets/{name}", json={"sealed_value": sealed}, headers=who.headers)
    assert response.status_code == 201, response.text


async def _grant(client: httpx.AsyncClient, who: Tenant, name: str, function_id: str) -> None:
    response = await client.post(
        f"/v1/secrets/{name}/grants",
        json={"grantee_kind": "function", "grantee": function_id},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text


# (case, the account's own secrets, the other account's secrets, names the function asks for, refused name)
NAMED: list[Any] = [
    pytest.param([], [], [], None, id="none"),
    pytest.param(["api-token"], [], ["api-token"], None, id="own-secret-not-yet-granted"),
    pytest.param([], [], ["api-token"], "api-token", id="no-such-secret"),
    pytest.param([], ["api-token"], ["api-token"], "api-token", id="another-accounts-secret-of-that-name"),
    pytest.param(["a-key"], [], ["a-key", "b-key"], "b-key", id="one-of-two-missing"),
    pytest.param(["Api-Token"], [], ["api-token"], "api-token", id="names-are-exact"),
]


@pytest.mark.parametrize(("own", "others", "names", "refused"), NAMED)
async def test_deploy_and_patch_need_each_named_secret_to_be_the_accounts(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    identity: VerifiedIdentity,
    own: list[str],
    others: list[str],
    names: list[str],
    refused: str | None,
) -> None:
    for name in own:
        await _put_secret(client, tenant, identity, name)
    for name in others:
        await _put_secret(client, other_tenant, identity, name)
    body = {"name": "f", "source": KEYS, "secrets": names}
    deployed = await client.post(URL, json=body, headers=tenant.headers)
    patched_from = await _deploy(client, tenant, name="g", source=KEYS)
    patched = await client.patch(
        f"{URL}/{patched_from['id']}", json={"secrets": names}, headers=tenant.headers
    )
    after = (await client.get(f"{URL}/{patched_from['id']}", headers=tenant.headers)).json()
    if refused is None:
        assert (deployed.status_code, patched.status_code) == (201, 200), (deployed.text, patched.text)
        assert deployed.json()["secrets"] == after["secrets"] == sorted(names)
        return
    for response in (deployed, patched):
        problem = assert_problem(response, 422, "function_secret_not_found")
        assert problem["secret"] == refused
    assert (await client.get(URL, headers=tenant.headers)).json()["items"][0]["name"] == "g"
    assert after["secrets"] == []  # the refused PATCH changed nothing


async def test_a_run_needs_the_grant_of_its_own_accounts_secret(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, identity: VerifiedIdentity
) -> None:
    await _put_secret(client, tenant, identity, "api-token")
    fid = (await _deploy(client, tenant, source=KEYS, secrets=["api-token"]))["id"]
    for mode in ("sync", "async"):
        refused = assert_problem(
            await client.post(f"{URL}/{fid}/runs", json={"args": None, "mode": mode}, headers=tenant.headers),
            422,
            "function_secret_not_granted",
        )
        assert refused["secret"] == "api-token"
    assert (await client.get(f"{URL}/{fid}/runs", headers=tenant.headers)).json()["items"] == []
    # Another account grants its own secret of that name to this function's id: it does not count.
    await _put_secret(client, other_tenant, identity, "api-token")
    await _grant(client, other_tenant, "api-token", fid)
    assert_problem(
        await client.post(f"{URL}/{fid}/runs", json={"args": None}, headers=tenant.headers),
        422,
        "function_secret_not_granted",
    )
    await _grant(client, tenant, "api-token", fid)
    assert (await _run(client, tenant, fid, None))["result"] == '["api-token"]'
    revoked = await client.delete(f"/v1/secrets/api-token/grants/function/{fid}", headers=tenant.headers)
    assert revoked.status_code == 204, revoked.text
    assert_problem(
        await client.post(f"{URL}/{fid}/runs", json={"args": None}, headers=tenant.headers),
        422,
        "function_secret_not_granted",
    )

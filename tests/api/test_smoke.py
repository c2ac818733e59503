from __future__ import annotations

import httpx

from tests.conftest import Tenant


async def test_owner_reads_own_account(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/v1/account", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["id"] == tenant.account_id

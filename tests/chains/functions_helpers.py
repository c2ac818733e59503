"""What the functions-from-contracts tests of both chains share (tests/chains/*/test_functions.py): the
function they deploy over the REST API and how they read its runs back."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import text

from neo_service_layer.db.session import Database
from tests.conftest import Tenant

URL = "/v1/functions"
SOURCE = 'console.log("on chain"); return {sum: args.a + args.b, who: "nsl"};'
SCHEMA = {"type": "object", "required": ["a", "b"]}
NO_HASH = bytes(32)


def sha256(source: str) -> bytes:
    return hashlib.sha256(source.encode()).digest()


async def deploy(client: httpx.AsyncClient, tenant: Tenant, name: str, consumers: list[str]) -> str:
    """Deploy :data:`SOURCE` (args checked by :data:`SCHEMA`) allowing ``consumers``; its id."""
    body = {"name": name, "source": SOURCE, "args_schema": SCHEMA, "onchain_consumers": consumers}
    response = await client.post(URL, json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    function_id: str = response.json()["id"]
    return function_id


async def runs(client: httpx.AsyncClient, tenant: Tenant, function_id: str) -> list[dict[str, Any]]:
    """The function's runs as ``GET /v1/functions/{id}/runs`` lists them."""
    response = await client.get(f"{URL}/{function_id}/runs", headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def swap_source(db: Database, function_id: str, source: str) -> None:
    """What a host with write access to the database does: swap the code, keeping the recorded hash."""
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE function_versions SET source = :s WHERE function_id = :f"),
            {"s": source, "f": function_id},
        )

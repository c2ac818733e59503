"""Helpers shared by the keys service tests: creating keys over the API, reading private material back
out of the (in-process) enclave to cross-check results, and building signed-request params."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from sqlalchemy import select

from neo_service_layer.db.session import Database
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.wrapping import WrapPurpose, unwrap
from neo_service_layer.services.keys.models import KeyVersion
from neo_service_layer.services.masterkeys.models import AccountMasterKey

KEY_TYPES = ["secp256r1", "secp256k1", "ed25519", "aes256-gcm", "hmac-sha256", "bls12381"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


async def create_key(
    client: httpx.AsyncClient, headers: dict[str, str], key_type: str, name: str | None = None, **extra: Any
) -> dict[str, Any]:
    """POST /v1/keys; the created key (asserts 201)."""
    body = {"name": name or f"{key_type}-key", "type": key_type, **extra}
    response = await client.post("/v1/keys", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def private_material(
    db: Database, ctx: EnclaveContext, account_id: str, key_id: str, version: int = 1
) -> bytes:
    """The plaintext private material of a key version, unwrapped with the enclave's own context.

    Only tests do this: to cross-check results with other libraries, and to know what must never
    appear anywhere.
    """
    async with db.session() as session:
        row = (
            await session.execute(
                select(KeyVersion, AccountMasterKey)
                .join(
                    AccountMasterKey,
                    (AccountMasterKey.account_id == KeyVersion.account_id)
                    & (AccountMasterKey.version == KeyVersion.amk_version),
                )
                .where(KeyVersion.key_id == key_id, KeyVersion.version == version)
            )
        ).one()
    key_version, amk = row
    amk_key = ctx.open_amk(account_id, amk.version, amk.sealed)
    return unwrap(
        amk_key, account_id, WrapPurpose.KEY_MATERIAL, f"{key_id}:{version}", key_version.wrapped_material
    )


def request_of(op: str, account_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "account_id": account_id, "params": params}

"""``nsl admin platform-keys``: the platform's own chain keys, reachable only from here (docs/keys.md).

The relayers are reserved keys of the system account: no ``/v1/keys`` call uses or changes them, so an
operator rotates one with ``rotate`` (audited in the same transaction). The VRF keys are derived in the
enclave per chain family and version: ``vrf`` prints the public key of a version for the gateway owner to
register (``setVrfPublicKey`` / ``set_vrf_key``) — moving a gateway to a new version is its rotation.
"""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from neo_service_layer.cli.common import cli_event, load_settings, open_database, print_json, run
from neo_service_layer.db.base import utcnow
from neo_service_layer.enclave.chain_keys import MAX_KEY_VERSION, ChainFamily
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto import evm, neo
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.services.accounts.service import system_account
from neo_service_layer.services.audit.chain import append
from neo_service_layer.services.keys.errors import SystemAccountMissing
from neo_service_layer.services.keys.models import Key, KeyVersion
from neo_service_layer.services.keys.platform import (
    DEFAULT_VRF_KEY_VERSION,
    chain_vrf_public_key,
    public_key_of,
    rotate_platform_key,
)
from neo_service_layer.services.keys.reserved import RESERVED_KEY_PREFIX
from neo_service_layer.services.keys.service import not_deleted

app = typer.Typer(help="The platform's relayer and VRF keys.", no_args_is_help=True)


def _address(key_type: str, public_key: bytes) -> str:
    return evm.address(public_key) if key_type == KeyType.SECP256K1 else neo.address(public_key)


@app.command("list")
def list_keys() -> None:
    """The reserved keys (relayers): name, id, latest version and the address to fund."""
    settings = load_settings()

    async def body() -> list[dict[str, object]]:
        async with open_database(settings) as db, db.transaction() as session:
            statement = (
                select(Key, KeyVersion.public_key)
                .join(KeyVersion, (KeyVersion.key_id == Key.id) & (KeyVersion.version == Key.latest_version))
                .where(Key.name.startswith(RESERVED_KEY_PREFIX), not_deleted(utcnow()))
                .order_by(Key.name)
            )
            rows = (await session.execute(statement)).all()
        return [
            {
                "name": key.name,
                "id": key.id,
                "version": key.latest_version,
                "address": _address(key.type, public) if public else None,
            }
            for key, public in rows
        ]

    print_json(run(body))


@app.command("rotate")
def rotate(
    name: Annotated[
        str,
        typer.Argument(
            help="platform-evm-relayer-<chain id>, platform-n3-relayer-<magic>, "
            "platform-evm-anchor-<chain id>"
        ),
    ],
) -> None:
    """Give a relayer (or the audit anchor key) a new version (generated in the enclave; it signs from
    now on) and print its address: fund it before the next transaction."""
    settings = load_settings()

    async def body() -> dict[str, object]:
        enclave = UnixEnclaveClient.from_settings(settings, pool_size=1)
        try:
            async with open_database(settings) as db:
                async with db.transaction() as session:
                    account = await system_account(session)
                if account is None:
                    raise SystemAccountMissing("no system account: run nsl admin bootstrap first")
                async with db.transaction(account.id) as session:
                    rotated = await rotate_platform_key(session, enclave, name)
                    event = cli_event(
                        "admin.platform_keys.rotate",
                        f"/v1/keys/{rotated.key.id}",
                        account.id,
                        status_code=200,
                        details={"key_id": rotated.key.id, "name": name, "version": rotated.version.version},
                    )
                    await append(session, event)
        finally:
            await enclave.close()
        return {
            "name": name,
            "id": rotated.key.id,
            "version": rotated.version.version,
            "address": _address(rotated.key.type, public_key_of(rotated)),
        }

    print_json(run(body))


@app.command("vrf")
def vrf(
    family: Annotated[ChainFamily, typer.Argument(help="evm or n3")],
    version: Annotated[
        int, typer.Option(min=1, max=MAX_KEY_VERSION, help="Key version")
    ] = DEFAULT_VRF_KEY_VERSION,
) -> None:
    """The public key of a version of the enclave's VRF key for a chain family, as the gateways take it."""
    settings = load_settings()

    async def body() -> dict[str, object]:
        enclave = UnixEnclaveClient.from_settings(settings, pool_size=1)
        try:
            key = await chain_vrf_public_key(enclave, family, version)
        finally:
            await enclave.close()
        return {
            "family": family.value,
            "version": version,
            "public_key": key.public_key.hex(),
            "public_key_eip2537": key.public_key_eip2537.hex(),
            "key_hash": key.key_hash.hex(),
        }

    print_json(run(body))

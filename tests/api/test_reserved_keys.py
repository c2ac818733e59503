"""Reserved platform keys (issue 11, item 3): no ``/v1/keys`` call reaches a relayer key, whoever asks.

The attacker holds the system account's admin credential with every scope (``keys:write`` included), as
a leaked operator key would. Every ``/v1/keys/{key_id}…`` route is called on the EVM and N3 relayer keys
with the valid sample request of the route table (``test_route_access.ACCESS``), so the call reaches the
route's own logic; only reading the key's metadata and public key (to fund it) is allowed. Creating a
key under a reserved name first — which would let the attacker choose the relayer's policy, e.g.
``exportable`` — is refused in every account. The platform itself still uses and rotates the keys.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from neo_service_layer.api.state import AppState
from neo_service_layer.cli.main import app as cli
from neo_service_layer.db.models import AuditEntry
from neo_service_layer.enclave.chain_keys import ChainFamily, chain_vrf_secret
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto import dyvrf, evm
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys.operations import KeyUse
from neo_service_layer.services.keys.platform import evm_relayer_key, n3_relayer_key, public_key_of
from tests.api.helpers import assert_problem, auth
from tests.api.test_route_access import ACCESS
from tests.conftest import Tenant

CHAIN_ID, MAGIC = 31337, 56753
runner = CliRunner()
#: Reads of public data: the operator funds the relayer's address.
READABLE = {("GET", "/v1/keys/{key_id}"), ("GET", "/v1/keys/{key_id}/public-key")}
KEY_ROUTES = sorted(route for route in ACCESS if route[1].startswith("/v1/keys/{key_id}"))


@pytest.fixture
async def relayers(state: AppState, admin_key: str, enclave: UnixEnclaveClient) -> list[KeyUse]:
    """The platform's relayer keys, created the way the fulfillers create them (after bootstrap)."""
    return [
        await evm_relayer_key(state.db, enclave, CHAIN_ID),
        await n3_relayer_key(state.db, enclave, MAGIC),
    ]


async def test_no_keys_route_reaches_a_relayer_key(
    client: httpx.AsyncClient, admin_key: str, relayers: list[KeyUse]
) -> None:
    assert KEY_ROUTES  # the table covers the keys routes (test_route_access checks it is complete)
    failures = []
    for relayer in relayers:
        for method, path in KEY_ROUTES:
            access = ACCESS[(method, path)]
            assert access is not None
            url = path.format(key_id=relayer.key.id)
            response = await client.request(
                method, url, json=access.body, params=access.query, headers=auth(admin_key)
            )
            if (method, path) in READABLE:
                if response.status_code != 200:
                    failures.append(f"{method} {url}: {response.status_code}, expected 200")
                continue
            code = response.json().get("code")
            if (response.status_code, code) != (403, "key_reserved"):
                failures.append(f"{method} {url}: {response.status_code} {code}, expected 403 key_reserved")
    assert not failures, "\n".join(failures)


async def test_the_relayer_key_is_unchanged_and_still_serves_the_platform(
    client: httpx.AsyncClient,
    admin_key: str,
    state: AppState,
    enclave: UnixEnclaveClient,
    relayers: list[KeyUse],
) -> None:
    evm_relayer = relayers[0]
    admin = auth(admin_key)
    base = f"/v1/keys/{evm_relayer.key.id}"
    await client.patch(base, json={"exportable": True}, headers=admin)
    for action in ("rotate", "disable", "schedule-deletion", "backup"):
        await client.post(f"{base}/{action}", headers=admin)

    shown = (await client.get(base, headers=admin)).json()
    assert (shown["exportable"], shown["state"], shown["latest_version"]) == (False, "enabled", 1)
    assert shown["allowed_operations"] == ["evm_sign_transaction"]
    again = await evm_relayer_key(state.db, enclave, CHAIN_ID)  # the fulfiller's path
    assert (again.key.id, again.version.version) == (evm_relayer.key.id, 1)
    assert public_key_of(again) == public_key_of(evm_relayer)


@pytest.mark.parametrize(
    "name", ["platform-evm-relayer-31337", "platform-n3-relayer-999", "platform-anything"]
)
async def test_a_reserved_name_cannot_be_taken_first(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, name: str
) -> None:
    body = {"name": name, "type": "secp256k1", "exportable": True}
    for key in (admin_key, tenant.owner_key):  # the system account, and any tenant
        response = await client.post("/v1/keys", json=body, headers=auth(key))
        assert_problem(response, 403, "key_reserved")
    listed = (await client.get("/v1/keys", headers=auth(admin_key))).json()["items"]
    assert name not in {item["name"] for item in listed}


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, state: AppState, enclave_server: EnclaveServer
) -> None:
    """The CLI on the test's database and enclave."""
    monkeypatch.setenv("NSL_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("NSL_DATABASE_URL", state.db.url)
    monkeypatch.setenv("NSL_ENCLAVE_SOCKET", str(enclave_server.path))


async def _cli(*args: str) -> tuple[int, Any]:
    """Exit status and the JSON document the command printed (the in-process enclave logs around it)."""
    result = await asyncio.to_thread(runner.invoke, cli, list(args))
    lines = result.output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(("{", "["))), None)
    return result.exit_code, (result.output if start is None else json.loads("\n".join(lines[start:])))


@pytest.mark.usefixtures("cli_env")
async def test_the_operator_rotates_a_relayer_through_the_cli_and_it_is_audited(
    state: AppState, relayers: list[KeyUse], enclave: UnixEnclaveClient
) -> None:
    name = f"platform-evm-relayer-{CHAIN_ID}"
    code, shown = await _cli("admin", "platform-keys", "rotate", name)
    assert code == 0, shown
    rotated = await evm_relayer_key(state.db, enclave, CHAIN_ID)
    assert (rotated.key.id, rotated.version.version) == (relayers[0].key.id, 2)
    assert (shown["id"], shown["version"], shown["address"]) == (
        rotated.key.id,
        2,
        evm.address(public_key_of(rotated)),
    )
    assert shown["address"] != evm.address(public_key_of(relayers[0]))
    code, listing = await _cli("admin", "platform-keys", "list")
    assert code == 0, listing
    assert {item["name"]: item["version"] for item in listing} == {
        name: 2,
        f"platform-n3-relayer-{MAGIC}": 1,
    }
    for other in ("randomness-ecvrf-edwards25519-sha512-tai", "platform-evm-relayer-1"):
        code, refused = await _cli("admin", "platform-keys", "rotate", other)
        assert code == 2, refused
    async with state.db.transaction() as session:
        rotations = (
            (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.action == "admin.platform_keys.rotate")
                )
            )
            .scalars()
            .all()
        )
    assert [(e.details["key_id"], e.details["version"]) for e in rotations] == [(rotated.key.id, 2)]
    assert rotations[0].actor.startswith("cli:")


@pytest.mark.usefixtures("cli_env")
async def test_the_cli_prints_the_enclaves_vrf_key_of_a_version(enclave_server: EnclaveServer) -> None:
    code, shown = await _cli("admin", "platform-keys", "vrf", "evm", "--version", "3")
    assert code == 0, shown
    public = dyvrf.public_key(chain_vrf_secret(enclave_server.ctx.identity, ChainFamily.EVM, 3))
    assert (shown["family"], shown["version"], shown["public_key"]) == ("evm", 3, public.hex())
    assert shown["public_key_eip2537"] == dyvrf.eip2537_g1(public).hex()

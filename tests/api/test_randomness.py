"""``/v1/randomness`` end to end: a real app, a real in-process enclave, SQLite and PostgreSQL.

Every result is checked offline with ``client.verify_randomness`` under the key's public key read from
``/v1/keys`` (not the one in the result) and its envelope with ``client.verify_result``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from neo_service_layer.api.routes.randomness_schemas import RandomnessIn
from neo_service_layer.api.state import AppState
from neo_service_layer.client import VerifiedIdentity, verify_randomness, verify_result
from neo_service_layer.config import Settings
from neo_service_layer.db.session import CrossTenantWrite
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto.vrf import Scheme
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys.models import Key
from neo_service_layer.services.randomness import service
from neo_service_layer.services.randomness.models import RandomnessRequest
from tests.api.helpers import NO_RATE_LIMITS, assert_problem, audit_entries
from tests.conftest import Tenant, recorded_statements
from tests.keys_helpers import create_key, private_material, request_of
from tests.leaks import encodings
from tests.randomness_helpers import SCHEMES
from tests.settings_helpers import settings_with

URL = "/v1/randomness"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with rate limits out of the way (these tests make many calls per key)."""
    return settings_with(settings, rate_limits=NO_RATE_LIMITS)


async def _generate(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(URL, json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _public_key(client: httpx.AsyncClient, tenant: Tenant, key_id: str, version: int = 1) -> str:
    response = await client.get(f"/v1/keys/{key_id}/public-key?version={version}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    public: str = response.json()["public_key"]
    return public


def _prove_params(result: dict[str, Any], key_type: str) -> dict[str, Any]:
    """The signed request params of ``randomness.prove`` for an API result (docs/randomness.md §4)."""
    return {
        "key_id": result["key_id"],
        "version": result["key_version"],
        "key_type": key_type,
        "scheme": result["scheme"],
        "request_id": result["id"],
        "seed": __import__("base64").b64encode(bytes.fromhex(result["seed"])).decode(),
        "output": "bytes" if result["bytes"] is not None else "words",
        "count": len(result["words"]) if result["words"] is not None else len(result["bytes"]) // 2,
        "min": result["min"],
        "max": result["max"],
    }


# --- generate, verify, read back ---


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_generate_with_the_default_key_verifies_offline(
    client: httpx.AsyncClient, tenant: Tenant, identity: VerifiedIdentity, scheme: Scheme
) -> None:
    result = await _generate(client, tenant, scheme=scheme.value, seed="0xc0ffee", words=3)
    assert result["id"].startswith("rnd_")
    assert (result["scheme"], result["account_id"], result["seed"]) == (
        scheme.value,
        tenant.account_id,
        "c0ffee",
    )
    assert len(result["words"]) == 3
    assert result["bytes"] is None
    assert len(bytes.fromhex(result["nonce"])) == 32
    key = (await client.get(f"/v1/keys/{result['key_id']}", headers=tenant.headers)).json()
    assert key["name"] == f"randomness-{scheme.value}"
    assert key["allowed_operations"] == ["vrf"]
    public = await _public_key(client, tenant, result["key_id"])
    assert result["public_key"] == public
    verified = verify_randomness(result, public)
    assert [str(w) for w in verified.words or []] == result["words"]
    params = _prove_params(result, scheme.key_type.value)
    signed = verify_result(
        result["envelope"], identity, request=request_of("randomness.prove", tenant.account_id, params)
    )
    assert signed["beta"] == result["output"]


async def test_ranged_words_and_bytes(client: httpx.AsyncClient, tenant: Tenant) -> None:
    scheme = SCHEMES[0].value
    ranged = await _generate(client, tenant, scheme=scheme, words=50, min=-3, max="3")
    assert (ranged["min"], ranged["max"]) == ("-3", "3")
    assert all(-3 <= int(w) <= 3 for w in ranged["words"])
    data = await _generate(client, tenant, scheme=scheme, bytes=1024)
    assert len(bytes.fromhex(data["bytes"])) == 1024
    assert data["words"] is None
    public = await _public_key(client, tenant, data["key_id"])
    verify_randomness(ranged, public)
    assert verify_randomness(data, public).data == bytes.fromhex(data["bytes"])


async def test_get_and_list_return_the_stored_record(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = [await _generate(client, tenant, scheme=SCHEMES[0].value, seed="01") for _ in range(3)]
    got = (await client.get(f"{URL}/{created[1]['id']}", headers=tenant.headers)).json()
    assert got == created[1]
    first = (await client.get(f"{URL}?limit=2", headers=tenant.headers)).json()
    second = (await client.get(f"{URL}?limit=2&cursor={first['next_cursor']}", headers=tenant.headers)).json()
    assert [r["id"] for r in first["items"] + second["items"]] == [r["id"] for r in created]
    assert second["next_cursor"] is None
    assert first["items"][0] == created[0]


async def test_idempotency_key_replays_the_same_output(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "draw-1"}
    body = {"scheme": SCHEMES[0].value, "words": 2}
    first = await client.post(URL, json=body, headers=headers)
    again = await client.post(URL, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    async with state.db.session() as session:
        count = (await session.execute(select(func.count()).select_from(RandomnessRequest))).scalar_one()
    assert count == 1


async def test_reproving_a_record_gives_the_same_nonce_and_output(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, enclave_server: EnclaveServer
) -> None:
    result = await _generate(client, tenant, scheme=SCHEMES[0].value, words=4, min=1, max=6)
    enclave = UnixEnclaveClient(enclave_server.path, timeout=5.0)
    try:
        async with state.db.transaction(tenant.account_id) as session:
            record = await service.get_request(session, result["id"])
            again = await service.reprove(session, enclave, record)
    finally:
        await enclave.close()
    assert again.result.nonce.hex() == result["nonce"]
    assert (again.result.proof.hex(), again.result.beta.hex()) == (result["proof"], result["output"])
    assert again.result.words == result["words"]


async def test_concurrent_first_requests_create_one_default_key(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    scheme = SCHEMES[0].value
    results = await asyncio.gather(*(_generate(client, tenant, scheme=scheme) for _ in range(4)))
    assert len({r["key_id"] for r in results}) == 1
    async with state.db.session() as session:
        names = (await session.execute(select(Key.name).where(Key.account_id == tenant.account_id))).all()
    assert [n for (n,) in names] == [f"randomness-{scheme}"]


async def test_a_request_reads_its_key_and_stores_its_record_in_one_statement_each(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    scheme = SCHEMES[0].value
    await _generate(client, tenant, scheme=scheme)  # creates the default key
    with recorded_statements(state.db) as statements:
        await _generate(client, tenant, scheme=scheme)
        single = statements[:]
        statements.clear()
        items = [{"scheme": scheme}, {"scheme": scheme, "bytes": 8}, {"scheme": scheme, "words": 3}]
        response = await client.post(f"{URL}/batch", json={"requests": items}, headers=tenant.headers)
        assert response.status_code == 201, response.text
    # The default key, its version and AMK by name; the record; the audit append's three.
    assert len(single) == 5, single
    assert len([s for s in single if " keys" in s]) == 1
    assert len([s for s in single if s.startswith("INSERT INTO randomness_requests")]) == 1
    # A batch reads its key per item and stores its records together.
    assert len([s for s in statements if s.startswith("INSERT INTO randomness_requests")]) == 1
    async with state.db.session() as session:
        count = (await session.execute(select(func.count()).select_from(RandomnessRequest))).scalar_one()
    assert count == 5


async def test_a_record_of_another_account_is_refused_in_a_tenant_session(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, state: AppState
) -> None:
    scheme = SCHEMES[0]
    key = await create_key(client, tenant.headers, scheme.key_type.value, name="mine")
    params = RandomnessIn(scheme=scheme.value, key_id=key["id"]).params()
    with pytest.raises(CrossTenantWrite):
        async with state.db.transaction(tenant.account_id) as session:
            await service.generate(session, state.enclave, other_tenant.account_id, params)
    async with state.db.session() as session:
        count = (await session.execute(select(func.count()).select_from(RandomnessRequest))).scalar_one()
    assert count == 0


# --- keys: explicit, other accounts', disabled, not allowed ---


async def test_explicit_key_and_its_policy(client: httpx.AsyncClient, tenant: Tenant) -> None:
    scheme = SCHEMES[0]
    key = await create_key(client, tenant.headers, scheme.key_type.value, name="mine")
    result = await _generate(client, tenant, scheme=scheme.value, key_id=key["id"])
    assert result["key_id"] == key["id"]
    verify_randomness(result, key["versions"][0]["public_key"])
    await client.post(f"/v1/keys/{key['id']}/disable", headers=tenant.headers)
    response = await client.post(
        URL, json={"scheme": scheme.value, "key_id": key["id"]}, headers=tenant.headers
    )
    assert_problem(response, 409, "key_disabled")
    aes = await create_key(client, tenant.headers, "aes256-gcm", name="aes")
    response = await client.post(
        URL, json={"scheme": scheme.value, "key_id": aes["id"]}, headers=tenant.headers
    )
    assert_problem(response, 422, "operation_not_supported")


async def test_key_without_vrf_and_key_of_another_scheme(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ed = await create_key(client, tenant.headers, "ed25519", name="signer", allowed_operations=["sign"])
    response = await client.post(
        URL, json={"scheme": "ecvrf-edwards25519-sha512-tai", "key_id": ed["id"]}, headers=tenant.headers
    )
    assert_problem(response, 409, "operation_not_allowed")
    bls = await create_key(client, tenant.headers, "bls12381", name="bls")
    assert bls["allowed_operations"] == ["vrf"]
    response = await client.post(
        URL, json={"scheme": "ecvrf-p256-sha256-tai", "key_id": bls["id"]}, headers=tenant.headers
    )
    assert_problem(response, 422, "randomness_key_scheme_mismatch")


async def test_other_accounts_requests_and_keys_are_invisible(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    scheme = SCHEMES[0]
    theirs = await _generate(client, other_tenant, scheme=scheme.value)
    assert_problem(
        await client.get(f"{URL}/{theirs['id']}", headers=tenant.headers), 404, "randomness_not_found"
    )
    response = await client.post(
        URL, json={"scheme": scheme.value, "key_id": theirs["key_id"]}, headers=tenant.headers
    )
    assert_problem(response, 404, "key_not_found")
    listed = (await client.get(URL, headers=tenant.headers)).json()
    assert listed["items"] == []


# --- bad input: 422 with a stable code ---

BAD_REQUESTS = [
    ({"words": 0}, "randomness_words_out_of_range"),
    ({"words": 501}, "randomness_words_out_of_range"),
    ({"bytes": 0}, "randomness_bytes_out_of_range"),
    ({"bytes": 1025}, "randomness_bytes_out_of_range"),
    ({"words": 2, "min": 5, "max": 4}, "randomness_min_above_max"),
    ({"words": 2, "min": 5}, "randomness_range_incomplete"),
    ({"words": 2, "min": 0, "max": 2**255}, "randomness_range_out_of_bounds"),
    ({"words": 2, "min": "1e3", "max": 4}, "randomness_range_out_of_bounds"),
    ({"seed": "ab" * 257}, "randomness_seed_too_long"),
    ({"seed": "xyz"}, "randomness_seed_not_hex"),
    ({"seed": "abc"}, "randomness_seed_not_hex"),
    ({"scheme": "ecvrf-secp256k1"}, "randomness_unknown_scheme"),
    ({"words": 1, "bytes": 1}, "randomness_output_conflict"),
    ({"bytes": 8, "min": 1, "max": 2}, "randomness_range_with_bytes"),
    ({"words": "1"}, "validation_failed"),
    ({"colour": "blue"}, "validation_failed"),
]


@pytest.mark.parametrize(
    ("body", "code"), BAD_REQUESTS, ids=[f"{c}-{i}" for i, (_, c) in enumerate(BAD_REQUESTS)]
)
async def test_bad_requests_are_422_with_a_stable_code(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, body: dict[str, Any], code: str
) -> None:
    assert_problem(await client.post(URL, json=body, headers=tenant.headers), 422, code)
    async with state.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(Key))).scalar_one() == 0


@pytest.mark.parametrize(
    ("requests", "code"),
    [
        ([], "randomness_batch_size"),
        ([{}] * 101, "randomness_batch_size"),
        ([{}, {"words": 0}], "randomness_words_out_of_range"),
    ],
    ids=["empty", "too-large", "bad-item"],
)
async def test_bad_batches(
    client: httpx.AsyncClient, tenant: Tenant, requests: list[dict[str, Any]], code: str
) -> None:
    response = await client.post(f"{URL}/batch", json={"requests": requests}, headers=tenant.headers)
    assert_problem(response, 422, code)


# --- batch ---


async def test_batch_is_all_or_nothing(client: httpx.AsyncClient, tenant: Tenant, state: AppState) -> None:
    scheme = SCHEMES[0].value
    items = [
        {"scheme": scheme, "words": 2},
        {"scheme": scheme, "bytes": 16},
        {"scheme": scheme, "min": 1, "max": 9},
    ]
    response = await client.post(f"{URL}/batch", json={"requests": items}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    batch = response.json()
    assert len(batch["results"]) == 3
    public = await _public_key(client, tenant, batch["results"][0]["key_id"])
    for result in batch["results"]:
        assert result["batch_id"] == batch["batch_id"]
        verify_randomness(result, public)
    disabled = await create_key(client, tenant.headers, SCHEMES[0].key_type.value, name="off")
    await client.post(f"/v1/keys/{disabled['id']}/disable", headers=tenant.headers)
    bad = [{"scheme": scheme}, {"scheme": scheme, "key_id": disabled["id"]}]
    response = await client.post(f"{URL}/batch", json={"requests": bad}, headers=tenant.headers)
    assert_problem(response, 409, "key_disabled")
    async with state.db.session() as session:
        count = (await session.execute(select(func.count()).select_from(RandomnessRequest))).scalar_one()
    assert count == 3


# --- server-side verification ---


async def test_verify_endpoint(client: httpx.AsyncClient, tenant: Tenant) -> None:
    scheme = SCHEMES[0].value
    result = await _generate(client, tenant, scheme=scheme, words=2)
    public = result["public_key"]
    body = {"scheme": scheme, "public_key": public, "alpha": result["alpha"], "proof": result["proof"]}
    ok = (await client.post(f"{URL}/verify", json=body, headers=tenant.headers)).json()
    assert ok == {"valid": True, "output": result["output"], "reason": None}
    whole = {"public_key": public, "result": result}
    assert (await client.post(f"{URL}/verify", json=whole, headers=tenant.headers)).json()["valid"] is True
    tampered = {**result, "words": [str(int(result["words"][0]) ^ 1), result["words"][1]]}
    response = await client.post(
        f"{URL}/verify", json={"public_key": public, "result": tampered}, headers=tenant.headers
    )
    assert response.json() == {"valid": False, "output": None, "reason": "output_mismatch"}
    bad_proof = {**body, "alpha": result["alpha"] + "00"}
    assert (await client.post(f"{URL}/verify", json=bad_proof, headers=tenant.headers)).json()[
        "reason"
    ] == "invalid_proof"
    short_key = {**body, "public_key": public[:-2]}
    response = await client.post(f"{URL}/verify", json=short_key, headers=tenant.headers)
    assert response.json()["reason"] == "invalid_public_key"
    nothing = {"scheme": scheme, "public_key": public}
    assert_problem(
        await client.post(f"{URL}/verify", json=nothing, headers=tenant.headers), 422, "validation_failed"
    )
    unknown = {**body, "scheme": "nope"}
    response = await client.post(f"{URL}/verify", json=unknown, headers=tenant.headers)
    assert_problem(response, 422, "randomness_unknown_scheme")


# --- audit ---


async def test_requests_are_audited_without_secret_material(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, enclave_server: EnclaveServer
) -> None:
    result = await _generate(client, tenant, scheme=SCHEMES[0].value, seed="aa", words=1)
    await client.get(f"{URL}/{result['id']}", headers=tenant.headers)
    await client.post(URL, json={"words": 0}, headers=tenant.headers)
    entries = await audit_entries(state.db, tenant.account_id)
    generate = [e for e in entries if e.action == "randomness.generate"]
    assert [(e.outcome, e.status_code) for e in generate] == [("success", 201), ("denied", 422)]
    assert generate[0].resource == f"{URL}/{result['id']}"
    assert generate[0].details["beta"] == result["output"]
    assert generate[1].details["code"] == "randomness_words_out_of_range"
    get = [e for e in entries if e.action == "randomness.get"]
    assert get[0].resource == f"{URL}/{result['id']}"
    material = await private_material(state.db, enclave_server.ctx, tenant.account_id, result["key_id"])
    text = " ".join(repr(e.details) for e in entries).encode()
    assert not any(form in text for form in encodings(material))

"""``/v1/keys`` end to end: a real app, a real in-process enclave, SQLite and PostgreSQL.

Results are cross-checked with other implementations: N3 witnesses with neo-mamba, EVM transactions
and messages with eth-account, HMACs with the standard library; every operational response's
envelope verifies offline with ``client.verify_result`` against the attested identity.
"""

from __future__ import annotations

import hashlib
import hmac as std_hmac
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from eth_account import Account as EthAccount
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils.crypto import keccak
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from neo3.core import cryptography as neo_crypto
from neo3.core.utils import to_script_hash
from neo3.network.payloads.transaction import Transaction
from neo3.network.payloads.verification import Signer, WitnessScope
from neo3.wallet.account import Account as NeoAccount
from sqlalchemy import func, select, update

from neo_service_layer.api.state import AppState
from neo_service_layer.client import VerifiedIdentity, verify_result
from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import AuditEntry
from neo_service_layer.enclave.crypto import keys as crypto_keys
from neo_service_layer.enclave.crypto import signing
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys.models import Key, KeyVersion
from neo_service_layer.services.keys.purge import purge_deleted_keys
from tests.api.helpers import NO_RATE_LIMITS, assert_problem, audit_entries, new_secret
from tests.conftest import Tenant
from tests.keys_helpers import KEY_TYPES, b64, create_key, private_material, request_of, unb64
from tests.settings_helpers import settings_with

NEO_X_CHAIN_ID = 47763
N3_MAGIC = 860833102


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with rate limits out of the way (these tests make many calls per key)."""
    return settings_with(settings, rate_limits=NO_RATE_LIMITS)


def check_envelope(
    body: dict[str, Any], identity: VerifiedIdentity, op: str, account_id: str, params: dict[str, Any]
) -> dict[str, Any]:
    """The envelope verifies for exactly this request; returns its verified result."""
    return verify_result(body["envelope"], identity, request=request_of(op, account_id, params))


# --- lifecycle ---


@pytest.mark.parametrize("key_type", KEY_TYPES)
async def test_create_and_get_every_type(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, enclave_server: EnclaveServer, key_type: str
) -> None:
    created = await create_key(client, tenant.headers, key_type)
    assert created["id"].startswith("key_")
    assert (created["type"], created["state"], created["latest_version"]) == (key_type, "enabled", 1)
    assert created["exportable"] is False
    got = (await client.get(f"/v1/keys/{created['id']}", headers=tenant.headers)).json()
    assert got == created
    version = got["versions"][0]
    material = await private_material(state.db, enclave_server.ctx, tenant.account_id, created["id"])
    assert len(material) == 32
    if key_type in ("aes256-gcm", "hmac-sha256"):
        assert version["public_key"] is None
        return
    kt = KeyType(key_type)
    assert version["public_key"] == crypto_keys.public_key(kt, material).hex()
    if kt is KeyType.SECP256R1:
        neo_account = NeoAccount.from_private_key(material)
        assert version["n3_address"] == neo_account.address
        assert version["n3_script_hash"] == f"0x{neo_account.script_hash}"
    elif kt is KeyType.SECP256K1:
        assert version["evm_address"] == EthAccount.from_key(material).address
    else:
        assert (version["n3_address"], version["evm_address"]) == (None, None)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "k", "type": "rsa2048"}, 422, "validation_failed"),
        ({"name": "k"}, 422, "validation_failed"),
        (
            {"name": "k", "type": "secp256k1", "allowed_operations": ["encrypt"]},
            422,
            "operation_not_supported",
        ),
        ({"name": "k", "type": "aes256-gcm", "allowed_operations": ["sign"]}, 422, "operation_not_supported"),
        ({"name": "k", "type": "aes256-gcm", "allowed_operations": ["teleport"]}, 422, "validation_failed"),
        ({"name": "k", "type": "bls12381", "allowed_operations": ["sign"]}, 422, "operation_not_supported"),
        ({"name": "k", "type": "ed25519", "exportable": "yes"}, 422, "validation_failed"),
        ({"name": "k", "type": "ed25519", "material": "AAAA"}, 422, "validation_failed"),
        ({"name": "", "type": "ed25519"}, 422, "validation_failed"),
    ],
    ids=[
        "unknown-type",
        "no-type",
        "k1-encrypt",
        "aes-sign",
        "unknown-op",
        "bls12381-sign",
        "lax-bool",
        "extra-field",
        "no-name",
    ],
)
async def test_create_refuses_bad_input(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], status: int, code: str
) -> None:
    assert_problem(await client.post("/v1/keys", json=body, headers=tenant.headers), status, code)
    assert (await client.get("/v1/keys", headers=tenant.headers)).json()["items"] == []


async def test_create_duplicate_name_and_idempotency(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {"name": "signer", "type": "secp256r1"}
    headers = {**tenant.headers, "Idempotency-Key": "create-signer"}
    first = await client.post("/v1/keys", json=body, headers=headers)
    again = await client.post("/v1/keys", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert_problem(await client.post("/v1/keys", json=body, headers=tenant.headers), 409, "key_name_taken")


async def test_list_paginates_and_filters(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    ids = [(await create_key(client, tenant.headers, "ed25519", f"k{i}"))["id"] for i in range(5)]
    await create_key(client, other_tenant.headers, "ed25519", "theirs")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/keys", params=params, headers=tenant.headers)).json()
        seen += [item["id"] for item in page["items"]]
        assert all("versions" not in item for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids)


# --- sign / verify ---

SIGN_CASES = [
    ("secp256r1", "sha256", "raw", 64),
    ("secp256r1", "sha512", "der", None),
    ("secp256r1", "keccak256", "raw", 64),
    ("secp256k1", "keccak256", "evm", 65),
    ("secp256k1", "sha256", "raw", 64),
    ("secp256k1", "sha384", "der", None),
    ("ed25519", "none", "raw", 64),
]


@pytest.mark.parametrize(
    ("key_type", "hash_alg", "fmt", "size"), SIGN_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in SIGN_CASES]
)
async def test_sign_and_verify_messages(
    client: httpx.AsyncClient,
    tenant: Tenant,
    identity: VerifiedIdentity,
    key_type: str,
    hash_alg: str,
    fmt: str,
    size: int | None,
) -> None:
    key = await create_key(client, tenant.headers, key_type)
    url = f"/v1/keys/{key['id']}"
    message = b"transfer 10 GAS to NXV7ZhHiyM1aHXwpVsRZC6BwNFP2jghXAq"
    body = {"message": b64(message), "hash": hash_alg, "format": fmt}
    response = await client.post(f"{url}/sign", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    signed = response.json()
    signature = bytes.fromhex(signed["signature"])
    if size is not None:
        assert len(signature) == size
    assert (signed["version"], signed["hash"], signed["format"]) == (1, hash_alg, fmt)
    public = bytes.fromhex(key["versions"][0]["public_key"])
    assert signed["public_key"] == public.hex()
    kt = KeyType(key_type)
    assert signing.verify(
        kt, public, message, signature, hash_alg=HashAlgorithm(hash_alg), fmt=SignatureFormat(fmt)
    )
    params = {"key_id": key["id"], "version": 1, "key_type": key_type, "data": b64(message), "hash": hash_alg}
    result = check_envelope(signed, identity, "keys.sign", tenant.account_id, {**params, "format": fmt})
    assert result["signature"] == signed["signature"]

    verified = await client.post(
        f"{url}/verify", json={**body, "signature": signed["signature"]}, headers=tenant.headers
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["valid"] is True
    check_envelope(
        verified.json(),
        identity,
        "keys.verify",
        tenant.account_id,
        {**params, "format": fmt, "signature": signed["signature"]},
    )
    tampered = {**body, "message": b64(message + b"!"), "signature": signed["signature"]}
    assert (await client.post(f"{url}/verify", json=tampered, headers=tenant.headers)).json()[
        "valid"
    ] is False


@pytest.mark.parametrize("key_type", ["secp256r1", "secp256k1"])
async def test_sign_digest(client: httpx.AsyncClient, tenant: Tenant, key_type: str) -> None:
    key = await create_key(client, tenant.headers, key_type)
    digest = hashlib.sha256(b"already hashed").digest()
    response = await client.post(
        f"/v1/keys/{key['id']}/sign", json={"digest": "0x" + digest.hex()}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["hash"] == "none"
    public = bytes.fromhex(key["versions"][0]["public_key"])
    signature = bytes.fromhex(response.json()["signature"])
    kt = KeyType(key_type)
    # Signing the digest is signing the message with SHA-256.
    assert signing.verify(
        kt, public, b"already hashed", signature, hash_alg=HashAlgorithm.SHA256, fmt=SignatureFormat.RAW
    )


@pytest.mark.parametrize(
    ("key_type", "body", "status", "code"),
    [
        ("secp256r1", {"message": "AAAA", "digest": "00" * 32}, 422, "validation_failed"),
        ("secp256r1", {}, 422, "validation_failed"),
        ("secp256r1", {"message": "not base64!"}, 422, "validation_failed"),
        ("secp256r1", {"message": "AAA"}, 422, "validation_failed"),
        ("secp256r1", {"digest": "zz" * 32}, 422, "validation_failed"),
        ("secp256r1", {"digest": "00" * 31}, 422, "validation_failed"),
        ("secp256r1", {"message": "AAAA", "format": "evm"}, 422, "operation_not_supported"),
        ("secp256r1", {"message": "AAAA", "hash": "md5"}, 422, "validation_failed"),
        ("secp256r1", {"digest": "00" * 32, "hash": "sha512"}, 422, "operation_not_supported"),
        ("ed25519", {"message": "AAAA", "hash": "sha256"}, 422, "operation_not_supported"),
        ("ed25519", {"digest": "00" * 32}, 422, "operation_not_supported"),
        ("aes256-gcm", {"message": "AAAA"}, 422, "operation_not_supported"),
        ("hmac-sha256", {"message": "AAAA"}, 422, "operation_not_supported"),
        ("bls12381", {"message": "AAAA"}, 422, "operation_not_supported"),
        ("secp256r1", {"message": "AAAA", "version": 2}, 422, "invalid_key_version"),
        ("secp256r1", {"message": "AAAA", "version": 0}, 422, "validation_failed"),
        ("secp256r1", {"message": "AAAA", "version": "1"}, 422, "validation_failed"),
    ],
    ids=[
        "message-and-digest",
        "neither",
        "bad-base64",
        "unpadded-base64",
        "bad-hex",
        "short-digest",
        "evm-format-on-p256",
        "unknown-hash",
        "sha512-digest",
        "ed25519-prehash",
        "ed25519-digest",
        "aes-cannot-sign",
        "hmac-cannot-sign",
        "bls12381-cannot-sign",
        "no-such-version",
        "version-zero",
        "version-string",
    ],
)
async def test_sign_refuses_bad_input(
    client: httpx.AsyncClient, tenant: Tenant, key_type: str, body: dict[str, Any], status: int, code: str
) -> None:
    key = await create_key(client, tenant.headers, key_type)
    response = await client.post(f"/v1/keys/{key['id']}/sign", json=body, headers=tenant.headers)
    assert_problem(response, status, code)


# --- Neo N3 and EVM ---


def _n3_transaction(key: dict[str, Any]) -> Transaction:
    """A transaction that ``key`` (secp256r1) signs as its only signer."""
    account = NeoAccount.watch_only_from_address(key["versions"][0]["n3_address"])
    return Transaction(
        version=0,
        nonce=42,
        system_fee=1_000_000,
        network_fee=1_200_000,
        valid_until_block=5_000,
        signers=[Signer(account.script_hash, WitnessScope.CALLED_BY_ENTRY)],
        script=b"\x11\xc0\x1f\x0c\x06symbol",
    )


async def test_n3_witness_verifies_with_neo_mamba(
    client: httpx.AsyncClient, tenant: Tenant, identity: VerifiedIdentity
) -> None:
    key = await create_key(client, tenant.headers, "secp256r1")
    public = bytes.fromhex(key["versions"][0]["public_key"])
    account = NeoAccount.watch_only_from_address(key["versions"][0]["n3_address"])
    tx = _n3_transaction(key)
    tx_bytes = tx.to_array()
    body = {"transaction": b64(tx_bytes), "network_magic": N3_MAGIC}
    response = await client.post(
        f"/v1/keys/{key['id']}/neo/sign-transaction", json=body, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["tx_hash"] == f"0x{tx.hash()}"
    sign_data = N3_MAGIC.to_bytes(4, "little") + tx.hash().to_array()
    signature = bytes.fromhex(out["signature"])
    assert neo_crypto.verify_signature(sign_data, signature, public)
    assert bytes.fromhex(out["invocation_script"]) == b"\x0c\x40" + signature
    # The witness's verification script is the key's N3 account (its script hash is the address's).
    assert to_script_hash(bytes.fromhex(out["verification_script"])) == account.script_hash
    check_envelope(
        out,
        identity,
        "keys.n3_sign_tx",
        tenant.account_id,
        {"key_id": key["id"], "version": 1, "key_type": "secp256r1", **body},
    )
    bad = await client.post(
        f"/v1/keys/{key['id']}/neo/sign-transaction",
        json={"transaction": b64(b"\x00\x01"), "network_magic": N3_MAGIC},
        headers=tenant.headers,
    )
    assert_problem(bad, 422, "crypto_failed")


def _eip1559(**overrides: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {
        "type": 2,
        "nonce": 3,
        "maxFeePerGas": 40_000_000_000,
        "maxPriorityFeePerGas": 1_000_000_000,
        "gas": 60_000,
        "to": "0x" + "35" * 20,
        "value": "0xde0b6b3a7640000",  # 1 GAS in wei: above 2^53, so a 0x-hex string
        "data": "0xa9059cbb",
        "chainId": NEO_X_CHAIN_ID,
        "accessList": [],
    }
    return tx | overrides


LEGACY = {
    "nonce": 9,
    "gasPrice": 20_000_000_000,
    "gas": 21_000,
    "to": "0x3535353535353535353535353535353535353535",
    "value": 1_000_000,
    "data": "0x",
    "chainId": 1,
}


@pytest.mark.parametrize("tx", [_eip1559(), LEGACY], ids=["eip1559", "eip155-legacy"])
async def test_evm_transaction_recovers_to_the_key_address(
    client: httpx.AsyncClient, tenant: Tenant, identity: VerifiedIdentity, tx: dict[str, Any]
) -> None:
    key = await create_key(client, tenant.headers, "secp256k1")
    address = key["versions"][0]["evm_address"]
    response = await client.post(
        f"/v1/keys/{key['id']}/evm/sign-transaction", json={"transaction": tx}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["address"] == address
    assert EthAccount.recover_transaction(out["raw_transaction"]) == address
    assert out["tx_hash"] == "0x" + keccak(bytes.fromhex(out["raw_transaction"][2:])).hex()
    check_envelope(
        out,
        identity,
        "keys.evm_sign_tx",
        tenant.account_id,
        {"key_id": key["id"], "version": 1, "key_type": "secp256k1", "transaction": tx},
    )


@pytest.mark.parametrize(
    ("tx", "code"),
    [
        (_eip1559(value=10**18), "validation_failed"),
        (_eip1559(value="1000000000000000000"), "crypto_failed"),
        (_eip1559(chainId=None), "crypto_failed"),
        (_eip1559(gas=1.5), "validation_failed"),
        (_eip1559(**{"from": "0x" + "11" * 20}), "crypto_failed"),
    ],
    ids=["big-int-number", "decimal-string", "no-chain-id", "float", "other-sender"],
)
async def test_evm_transaction_refuses_bad_input(
    client: httpx.AsyncClient, tenant: Tenant, tx: dict[str, Any], code: str
) -> None:
    key = await create_key(client, tenant.headers, "secp256k1")
    response = await client.post(
        f"/v1/keys/{key['id']}/evm/sign-transaction", json={"transaction": tx}, headers=tenant.headers
    )
    assert_problem(response, 422, code)


TYPED_DATA: dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
        ],
        "Mail": [{"name": "contents", "type": "string"}, {"name": "amount", "type": "uint256"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "NSL", "version": "1", "chainId": NEO_X_CHAIN_ID},
    "message": {"contents": "Hello, Bob!", "amount": "1000000000000000000000"},
}


async def test_evm_messages_recover_to_the_key_address(
    client: httpx.AsyncClient, tenant: Tenant, identity: VerifiedIdentity
) -> None:
    key = await create_key(client, tenant.headers, "secp256k1")
    address = key["versions"][0]["evm_address"]
    url = f"/v1/keys/{key['id']}/evm"
    message = b"Sign in to NSL"
    out = (
        await client.post(f"{url}/sign-message", json={"message": b64(message)}, headers=tenant.headers)
    ).json()
    assert (
        EthAccount.recover_message(encode_defunct(primitive=message), signature=out["signature"]) == address
    )
    check_envelope(
        out,
        identity,
        "keys.evm_sign_message",
        tenant.account_id,
        {"key_id": key["id"], "version": 1, "key_type": "secp256k1", "message": b64(message)},
    )
    typed = (
        await client.post(f"{url}/sign-typed-data", json={"typed_data": TYPED_DATA}, headers=tenant.headers)
    ).json()
    recovered = EthAccount.recover_message(
        encode_typed_data(full_message=TYPED_DATA), signature=typed["signature"]
    )
    assert recovered == address
    bad = await client.post(
        f"{url}/sign-typed-data", json={"typed_data": {"types": {}}}, headers=tenant.headers
    )
    assert_problem(bad, 422, "crypto_failed")
    p256 = await create_key(client, tenant.headers, "secp256r1")
    wrong_type = await client.post(
        f"/v1/keys/{p256['id']}/evm/sign-message", json={"message": b64(message)}, headers=tenant.headers
    )
    assert_problem(wrong_type, 422, "operation_not_supported")


# --- encryption, data keys, HMAC ---


async def test_encrypt_decrypt_with_context(
    client: httpx.AsyncClient, tenant: Tenant, identity: VerifiedIdentity
) -> None:
    key = await create_key(client, tenant.headers, "aes256-gcm")
    url = f"/v1/keys/{key['id']}"
    plaintext, context = b"the launch code", b"tenant=acme"
    body = {"plaintext": b64(plaintext), "context": b64(context)}
    encrypted = (await client.post(f"{url}/encrypt", json=body, headers=tenant.headers)).json()
    assert encrypted["ciphertext"].startswith("nsl:v1:")
    check_envelope(
        encrypted,
        identity,
        "keys.encrypt",
        tenant.account_id,
        {"key_id": key["id"], "version": 1, "key_type": "aes256-gcm", **body},
    )
    decrypted = await client.post(
        f"{url}/decrypt",
        json={"ciphertext": encrypted["ciphertext"], "context": b64(context)},
        headers=tenant.headers,
    )
    assert decrypted.status_code == 200, decrypted.text
    assert unb64(decrypted.json()["plaintext"]) == plaintext
    result = check_envelope(
        decrypted.json(),
        identity,
        "keys.decrypt",
        tenant.account_id,
        {
            "key_id": key["id"],
            "version": 1,
            "key_type": "aes256-gcm",
            "ciphertext": encrypted["ciphertext"].removeprefix("nsl:v1:"),
            "context": b64(context),
        },
    )
    assert unb64(result["plaintext"]) == plaintext
    # Without or with another context, it does not decrypt.
    for other in ("", b64(b"tenant=evil")):
        response = await client.post(
            f"{url}/decrypt",
            json={"ciphertext": encrypted["ciphertext"], "context": other},
            headers=tenant.headers,
        )
        assert_problem(response, 422, "decryption_failed")


def _tamper(ciphertext: str) -> str:
    prefix, _, data = ciphertext.rpartition(":")
    raw = bytearray(unb64(data))
    raw[-1] ^= 1
    return f"{prefix}:{b64(bytes(raw))}"


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (lambda ct, other: _tamper(ct), 422, "decryption_failed"),
        (lambda ct, other: other, 422, "decryption_failed"),
        (lambda ct, other: ct.replace("nsl:v1:", "nsl:v2:"), 422, "invalid_key_version"),
        (lambda ct, other: ct.replace("nsl:v1:", "vault:v1:"), 422, "invalid_ciphertext"),
        (lambda ct, other: ct.replace("nsl:v1:", "nsl:v01:"), 422, "invalid_ciphertext"),
        (lambda ct, other: ct.replace("nsl:v1:", "nsl:v0:"), 422, "invalid_ciphertext"),
        (lambda ct, other: ct.replace("nsl:v1:", "nsl:v99999999999:"), 422, "invalid_ciphertext"),
        (lambda ct, other: ct + "=", 422, "invalid_ciphertext"),
        (lambda ct, other: ct[:-4] + "!!!!", 422, "invalid_ciphertext"),
        (lambda ct, other: "nsl:v1:", 422, "decryption_failed"),
        (lambda ct, other: "", 422, "validation_failed"),
    ],
    ids=[
        "tampered",
        "other-keys-ciphertext",
        "version-not-yet",
        "vault-prefix",
        "leading-zero",
        "version-zero",
        "version-overflow",
        "extra-padding",
        "not-base64",
        "empty-data",
        "empty",
    ],
)
async def test_decrypt_refuses_bad_ciphertexts(
    client: httpx.AsyncClient, tenant: Tenant, make: Any, status: int, code: str
) -> None:
    key = await create_key(client, tenant.headers, "aes256-gcm")
    other = await create_key(client, tenant.headers, "aes256-gcm", "other")
    body = {"plaintext": b64(b"secret")}
    ciphertext = (
        await client.post(f"/v1/keys/{key['id']}/encrypt", json=body, headers=tenant.headers)
    ).json()
    other_ct = (
        await client.post(f"/v1/keys/{other['id']}/encrypt", json=body, headers=tenant.headers)
    ).json()
    bad = make(ciphertext["ciphertext"], other_ct["ciphertext"])
    response = await client.post(
        f"/v1/keys/{key['id']}/decrypt", json={"ciphertext": bad}, headers=tenant.headers
    )
    assert_problem(response, status, code)


async def test_datakey_modes(client: httpx.AsyncClient, tenant: Tenant, identity: VerifiedIdentity) -> None:
    key = await create_key(client, tenant.headers, "aes256-gcm")
    url = f"/v1/keys/{key['id']}"
    context = b64(b"bucket=photos")
    with_plaintext = (
        await client.post(f"{url}/datakey", json={"context": context}, headers=tenant.headers)
    ).json()
    data_key = unb64(with_plaintext["plaintext"])
    assert len(data_key) == 32
    opened = (
        await client.post(
            f"{url}/decrypt",
            json={"ciphertext": with_plaintext["ciphertext"], "context": context},
            headers=tenant.headers,
        )
    ).json()
    assert unb64(opened["plaintext"]) == data_key
    check_envelope(
        with_plaintext,
        identity,
        "keys.datakey",
        tenant.account_id,
        {
            "key_id": key["id"],
            "version": 1,
            "key_type": "aes256-gcm",
            "context": context,
            "include_plaintext": True,
        },
    )
    wrapped = (
        await client.post(
            f"{url}/datakey", json={"mode": "wrapped", "context": context}, headers=tenant.headers
        )
    ).json()
    assert wrapped["plaintext"] is None
    assert wrapped["envelope"]["result"]["plaintext"] is None
    assert wrapped["ciphertext"].startswith("nsl:v1:")
    signer = await create_key(client, tenant.headers, "ed25519")
    refused = await client.post(f"/v1/keys/{signer['id']}/datakey", json={}, headers=tenant.headers)
    assert_problem(refused, 422, "operation_not_supported")


async def test_hmac_and_verify(
    client: httpx.AsyncClient,
    tenant: Tenant,
    state: AppState,
    enclave_server: EnclaveServer,
    identity: VerifiedIdentity,
) -> None:
    key = await create_key(client, tenant.headers, "hmac-sha256")
    url = f"/v1/keys/{key['id']}"
    data = b"webhook body"
    out = (await client.post(f"{url}/hmac", json={"data": b64(data)}, headers=tenant.headers)).json()
    material = await private_material(state.db, enclave_server.ctx, tenant.account_id, key["id"])
    assert out["hmac"] == "nsl:v1:" + b64(std_hmac.digest(material, data, "sha256"))  # RFC 2104
    check_envelope(
        out,
        identity,
        "keys.hmac",
        tenant.account_id,
        {"key_id": key["id"], "version": 1, "key_type": "hmac-sha256", "data": b64(data)},
    )
    ok = await client.post(
        f"{url}/hmac/verify", json={"data": b64(data), "hmac": out["hmac"]}, headers=tenant.headers
    )
    assert ok.json()["valid"] is True
    bad = await client.post(
        f"{url}/hmac/verify", json={"data": b64(data + b"x"), "hmac": out["hmac"]}, headers=tenant.headers
    )
    assert bad.json()["valid"] is False
    malformed = await client.post(
        f"{url}/hmac/verify", json={"data": b64(data), "hmac": "abc"}, headers=tenant.headers
    )
    assert_problem(malformed, 422, "invalid_hmac")


# --- rotation and minimum versions ---


async def test_rotation_and_min_versions(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create_key(client, tenant.headers, "aes256-gcm")
    url = f"/v1/keys/{key['id']}"
    body = {"plaintext": b64(b"v1 data")}
    v1 = (await client.post(f"{url}/encrypt", json=body, headers=tenant.headers)).json()["ciphertext"]
    rotated = await client.post(f"{url}/rotate", headers={**tenant.headers, "Idempotency-Key": "r1"})
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["latest_version"] == 2
    assert [v["version"] for v in rotated.json()["versions"]] == [1, 2]
    replay = await client.post(f"{url}/rotate", headers={**tenant.headers, "Idempotency-Key": "r1"})
    assert replay.json()["latest_version"] == 2
    v2 = (await client.post(f"{url}/encrypt", json=body, headers=tenant.headers)).json()["ciphertext"]
    assert v2.startswith("nsl:v2:")
    explicit = await client.post(f"{url}/encrypt", json={**body, "version": 1}, headers=tenant.headers)
    assert explicit.json()["ciphertext"].startswith("nsl:v1:")
    # v1 still decrypts; rewrap moves it to v2 without the plaintext leaving the enclave.
    assert (
        await client.post(f"{url}/decrypt", json={"ciphertext": v1}, headers=tenant.headers)
    ).status_code == 200
    rewrapped = (await client.post(f"{url}/rewrap", json={"ciphertext": v1}, headers=tenant.headers)).json()
    assert rewrapped["ciphertext"].startswith("nsl:v2:")
    opened = (
        await client.post(
            f"{url}/decrypt", json={"ciphertext": rewrapped["ciphertext"]}, headers=tenant.headers
        )
    ).json()
    assert unb64(opened["plaintext"]) == b"v1 data"

    patched = await client.patch(url, json={"min_decryption_version": 2}, headers=tenant.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["min_decryption_version"] == 2
    assert_problem(
        await client.post(f"{url}/decrypt", json={"ciphertext": v1}, headers=tenant.headers),
        422,
        "key_version_below_minimum",
    )
    assert_problem(
        await client.post(f"{url}/rewrap", json={"ciphertext": v1}, headers=tenant.headers),
        422,
        "key_version_below_minimum",
    )
    assert_problem(
        await client.post(f"{url}/encrypt", json={**body, "version": 1}, headers=tenant.headers),
        422,
        "key_version_below_minimum",
    )
    assert (
        await client.post(f"{url}/decrypt", json={"ciphertext": v2}, headers=tenant.headers)
    ).status_code == 200


@pytest.mark.parametrize(
    ("patch", "status", "code"),
    [
        ({"min_decryption_version": 3}, 422, "invalid_key_policy"),
        ({"min_encryption_version": 3}, 422, "invalid_key_policy"),
        ({"min_decryption_version": 2, "min_encryption_version": 1}, 422, "invalid_key_policy"),
        ({"min_decryption_version": 0}, 422, "validation_failed"),
        ({"min_encryption_version": -1}, 422, "validation_failed"),
        ({"allowed_operations": ["sign"]}, 422, "operation_not_supported"),
        ({"exportable": False, "min_decryption_version": 1}, 200, None),
        ({"min_decryption_version": 2, "min_encryption_version": 2}, 200, None),
        ({"min_encryption_version": 0}, 200, None),
    ],
    ids=[
        "min-dec-above-latest",
        "min-enc-above-latest",
        "min-enc-below-min-dec",
        "min-dec-zero",
        "min-enc-negative",
        "unsupported-op",
        "noop",
        "both-2",
        "min-enc-latest",
    ],
)
async def test_policy_update_rules(
    client: httpx.AsyncClient, tenant: Tenant, patch: dict[str, Any], status: int, code: str | None
) -> None:
    key = await create_key(client, tenant.headers, "aes256-gcm")
    await client.post(f"/v1/keys/{key['id']}/rotate", headers=tenant.headers)
    response = await client.patch(f"/v1/keys/{key['id']}", json=patch, headers=tenant.headers)
    if code is None:
        assert response.status_code == status, response.text
        for name, value in patch.items():
            assert response.json()[name] == value
    else:
        assert_problem(response, status, code)


async def test_allowed_operations_policy(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create_key(client, tenant.headers, "aes256-gcm", allowed_operations=["encrypt"])
    assert key["allowed_operations"] == ["encrypt"]
    url = f"/v1/keys/{key['id']}"
    ct = (await client.post(f"{url}/encrypt", json={"plaintext": "AAAA"}, headers=tenant.headers)).json()[
        "ciphertext"
    ]
    assert_problem(
        await client.post(f"{url}/decrypt", json={"ciphertext": ct}, headers=tenant.headers),
        409,
        "operation_not_allowed",
    )
    patched = await client.patch(
        url, json={"allowed_operations": ["encrypt", "decrypt"]}, headers=tenant.headers
    )
    assert patched.json()["allowed_operations"] == ["encrypt", "decrypt"]
    assert (
        await client.post(f"{url}/decrypt", json={"ciphertext": ct}, headers=tenant.headers)
    ).status_code == 200


# --- states and deletion ---


async def test_disable_enable_and_deletion_window(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    key = await create_key(client, tenant.headers, "ed25519")
    url = f"/v1/keys/{key['id']}"
    sign = {"message": "AAAA"}
    disabled = await client.post(f"{url}/disable", headers=tenant.headers)
    assert disabled.json()["state"] == "disabled"
    assert_problem(await client.post(f"{url}/sign", json=sign, headers=tenant.headers), 409, "key_disabled")
    assert_problem(await client.get(f"{url}/public-key", headers=tenant.headers), 409, "key_disabled")
    assert (await client.post(f"{url}/enable", headers=tenant.headers)).json()["state"] == "enabled"
    assert (await client.post(f"{url}/sign", json=sign, headers=tenant.headers)).status_code == 200

    for days in (6, 31, 0, "7"):
        response = await client.post(
            f"{url}/schedule-deletion", json={"pending_days": days}, headers=tenant.headers
        )
        assert_problem(response, 422, "validation_failed")
    before = utcnow()
    scheduled = (await client.post(f"{url}/schedule-deletion", headers=tenant.headers)).json()
    assert scheduled["state"] == "pending_deletion"
    deletion = datetime.fromisoformat(scheduled["deletion_date"])
    assert before + timedelta(days=30) <= deletion <= utcnow() + timedelta(days=30)
    for path, body in [("sign", sign), ("verify", {**sign, "signature": "00" * 64}), ("rotate", None)]:
        response = await client.post(f"{url}/{path}", json=body, headers=tenant.headers)
        assert_problem(response, 409, "key_pending_deletion")
    assert_problem(await client.post(f"{url}/enable", headers=tenant.headers), 409, "key_pending_deletion")
    assert_problem(
        await client.post(f"{url}/schedule-deletion", headers=tenant.headers), 409, "key_pending_deletion"
    )
    cancelled = (await client.post(f"{url}/cancel-deletion", headers=tenant.headers)).json()
    assert (cancelled["state"], cancelled["deletion_date"]) == ("disabled", None)
    await client.post(f"{url}/enable", headers=tenant.headers)

    seven = (
        await client.post(f"{url}/schedule-deletion", json={"pending_days": 7}, headers=tenant.headers)
    ).json()
    assert datetime.fromisoformat(seven["deletion_date"]) - utcnow() < timedelta(days=7)
    # The deletion date passes: the key is gone for every read at once, and the purge removes its rows.
    async with state.db.transaction() as session:
        await session.execute(
            update(Key).where(Key.id == key["id"]).values(deletion_date=utcnow() - timedelta(seconds=1))
        )
    assert_problem(await client.get(url, headers=tenant.headers), 404, "key_not_found")
    assert_problem(await client.post(f"{url}/cancel-deletion", headers=tenant.headers), 404, "key_not_found")
    assert (await client.get("/v1/keys", headers=tenant.headers)).json()["items"] == []
    assert await purge_deleted_keys(state.db, now=utcnow()) == 1
    async with state.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(KeyVersion))).scalar_one() == 0


# --- export, backup, restore ---


@pytest.mark.parametrize("key_type", ["secp256r1", "secp256k1", "ed25519"])
async def test_public_key_export(client: httpx.AsyncClient, tenant: Tenant, key_type: str) -> None:
    key = await create_key(client, tenant.headers, key_type)
    url = f"/v1/keys/{key['id']}/public-key"
    hex_out = (await client.get(url, headers=tenant.headers)).json()
    assert hex_out["public_key"] == key["versions"][0]["public_key"]
    pem = (await client.get(url, params={"format": "pem", "version": 1}, headers=tenant.headers)).json()
    loaded = serialization.load_pem_public_key(pem["public_key"].encode())
    raw = bytes.fromhex(hex_out["public_key"])
    if key_type == "ed25519":
        assert loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw
    else:
        compressed = serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        assert loaded.public_bytes(*compressed) == raw
    assert_problem(
        await client.get(url, params={"version": 2}, headers=tenant.headers), 422, "invalid_key_version"
    )
    assert_problem(
        await client.get(url, params={"format": "der"}, headers=tenant.headers), 422, "validation_failed"
    )


async def test_public_key_export_bls12381_is_hex_only(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    key = await create_key(client, tenant.headers, "bls12381")
    url = f"/v1/keys/{key['id']}/public-key"
    hex_out = (await client.get(url, headers=tenant.headers)).json()
    assert (hex_out["type"], hex_out["format"]) == ("bls12381", "hex")
    assert hex_out["public_key"] == key["versions"][0]["public_key"]
    public = bytes.fromhex(hex_out["public_key"])
    assert crypto_keys.normalize_public_key(KeyType.BLS12381, public) == public  # a G1 point, not identity
    assert (hex_out["n3_address"], hex_out["evm_address"]) == (None, None)
    # No SubjectPublicKeyInfo algorithm is registered for BLS12-381 keys: refused, audited as denied.
    problem = assert_problem(
        await client.get(url, params={"format": "pem"}, headers=tenant.headers),
        422,
        "operation_not_supported",
    )
    assert "format=hex" in problem["detail"]
    async with state.db.session() as session:
        entries = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "keys.public_key")))
            .scalars()
            .all()
        )
    assert [(e.outcome, e.details.get("code")) for e in entries] == [
        ("success", None),
        ("denied", "operation_not_supported"),
    ]


async def test_public_key_of_a_symmetric_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create_key(client, tenant.headers, "aes256-gcm")
    response = await client.get(f"/v1/keys/{key['id']}/public-key", headers=tenant.headers)
    assert_problem(response, 422, "operation_not_supported")


async def test_backup_and_restore(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, state: AppState
) -> None:
    key = await create_key(client, tenant.headers, "aes256-gcm", exportable=True)
    url = f"/v1/keys/{key['id']}"
    await client.post(f"{url}/rotate", headers=tenant.headers)
    await client.patch(
        url,
        json={"min_decryption_version": 1, "allowed_operations": ["encrypt", "decrypt"]},
        headers=tenant.headers,
    )
    ct = (
        await client.post(f"{url}/encrypt", json={"plaintext": b64(b"keep me")}, headers=tenant.headers)
    ).json()
    backup = (await client.post(f"{url}/backup", headers=tenant.headers)).json()
    assert backup["key_id"] == key["id"]
    blob = backup["backup"]
    # Restoring over a live key is refused; into another account too.
    assert_problem(
        await client.post("/v1/keys/restore", json={"backup": blob}, headers=tenant.headers),
        409,
        "key_exists",
    )
    assert_problem(
        await client.post("/v1/keys/restore", json={"backup": blob}, headers=other_tenant.headers),
        422,
        "invalid_backup",
    )
    raw = bytearray(unb64(blob))
    raw[-1] ^= 1
    await client.post(f"{url}/schedule-deletion", json={"pending_days": 7}, headers=tenant.headers)
    async with state.db.transaction() as session:
        await session.execute(
            update(Key).where(Key.id == key["id"]).values(deletion_date=utcnow() - timedelta(seconds=1))
        )
    assert_problem(await client.get(url, headers=tenant.headers), 404, "key_not_found")
    for bad in (b64(bytes(raw)), b64(b"NSLKB1"), b64(b"garbage that is not a backup")):
        response = await client.post("/v1/keys/restore", json={"backup": bad}, headers=tenant.headers)
        assert_problem(response, 422, "invalid_backup")
    restored = await client.post(
        "/v1/keys/restore", json={"backup": blob}, headers={**tenant.headers, "Idempotency-Key": "rs"}
    )
    assert restored.status_code == 201, restored.text
    out = restored.json()
    assert (out["id"], out["latest_version"], out["state"], out["exportable"]) == (
        key["id"],
        2,
        "enabled",
        True,
    )
    assert out["allowed_operations"] == ["encrypt", "decrypt"]
    opened = await client.post(
        f"{url}/decrypt", json={"ciphertext": ct["ciphertext"]}, headers=tenant.headers
    )
    assert unb64(opened.json()["plaintext"]) == b"keep me"


async def test_backup_refused_for_non_exportable(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create_key(client, tenant.headers, "secp256k1")
    assert_problem(
        await client.post(f"/v1/keys/{key['id']}/backup", headers=tenant.headers), 409, "key_not_exportable"
    )
    made_exportable = await client.patch(
        f"/v1/keys/{key['id']}", json={"exportable": True}, headers=tenant.headers
    )
    assert made_exportable.json()["exportable"] is True
    assert_problem(
        await client.patch(f"/v1/keys/{key['id']}", json={"exportable": False}, headers=tenant.headers),
        422,
        "invalid_key_policy",
    )


# --- isolation, scopes, audit ---


def _every_route(key_id: str) -> Iterator[tuple[str, str, Any]]:
    url = f"/v1/keys/{key_id}"
    yield "GET", url, None
    yield "PATCH", url, {"min_decryption_version": 1}
    yield "GET", f"{url}/public-key", None
    for path in ("rotate", "disable", "enable", "schedule-deletion", "cancel-deletion", "backup"):
        yield "POST", f"{url}/{path}", None
    yield "POST", f"{url}/sign", {"message": "AAAA"}
    yield "POST", f"{url}/verify", {"message": "AAAA", "signature": "00" * 64}
    yield "POST", f"{url}/encrypt", {"plaintext": "AAAA"}
    yield "POST", f"{url}/decrypt", {"ciphertext": "nsl:v1:AAAA"}
    yield "POST", f"{url}/rewrap", {"ciphertext": "nsl:v1:AAAA"}
    yield "POST", f"{url}/datakey", {}
    yield "POST", f"{url}/hmac", {"data": "AAAA"}
    yield "POST", f"{url}/hmac/verify", {"data": "AAAA", "hmac": "nsl:v1:AAAA"}
    yield "POST", f"{url}/neo/sign-transaction", {"transaction": "AAAA", "network_magic": 1}
    yield "POST", f"{url}/evm/sign-transaction", {"transaction": {"chainId": 1}}
    yield "POST", f"{url}/evm/sign-message", {"message": "AAAA"}
    yield "POST", f"{url}/evm/sign-typed-data", {"typed_data": {}}


@pytest.mark.parametrize("key_type", KEY_TYPES)
async def test_another_accounts_key_is_not_found_on_every_route(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, key_type: str
) -> None:
    key = await create_key(client, tenant.headers, key_type)
    for method, path, body in _every_route(key["id"]):
        response = await client.request(method, path, json=body, headers=other_tenant.headers)
        problem = assert_problem(response, 404, "key_not_found")
        assert key["id"] in problem["detail"]
        assert "public_key" not in response.text
    # The owner's key is untouched.
    assert (await client.get(f"/v1/keys/{key['id']}", headers=tenant.headers)).json()["state"] == "enabled"


async def test_scopes_and_roles(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = await create_key(client, tenant.headers, "secp256r1")
    url = f"/v1/keys/{key['id']}"
    viewer = {"X-API-Key": await new_secret(client, tenant.owner_key, name="v", role="viewer")}
    reader = {"X-API-Key": await new_secret(client, tenant.owner_key, name="r", scopes=["keys:read"])}
    writer = {"X-API-Key": await new_secret(client, tenant.owner_key, name="w", scopes=["keys:write"])}
    other = {"X-API-Key": await new_secret(client, tenant.owner_key, name="o", scopes=["secrets:write"])}
    signature = (await client.post(f"{url}/sign", json={"message": "AAAA"}, headers=writer)).json()[
        "signature"
    ]
    for headers in (viewer, reader):
        assert (await client.get(url, headers=headers)).status_code == 200
        verify = await client.post(
            f"{url}/verify", json={"message": "AAAA", "signature": signature}, headers=headers
        )
        assert verify.json()["valid"] is True
    assert_problem(
        await client.post(f"{url}/sign", json={"message": "AAAA"}, headers=viewer), 403, "forbidden"
    )
    assert_problem(
        await client.post(f"{url}/sign", json={"message": "AAAA"}, headers=reader), 403, "missing_scope"
    )
    assert_problem(
        await client.post("/v1/keys", json={"name": "x", "type": "ed25519"}, headers=viewer), 403, "forbidden"
    )
    assert_problem(await client.get(url, headers=other), 403, "missing_scope")


async def test_audit_names_key_op_and_version_never_data(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    key = await create_key(client, tenant.headers, "aes256-gcm")
    plaintext = b64(b"audit must not see this")
    await client.post(f"/v1/keys/{key['id']}/encrypt", json={"plaintext": plaintext}, headers=tenant.headers)
    async with state.db.session() as session:
        entries = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "keys.encrypt")))
            .scalars()
            .all()
        )
    assert [e.details for e in entries] == [{"key_id": key["id"], "op": "encrypt", "version": 1}]
    assert all(plaintext not in str(e.details) for e in entries)


async def test_every_route_audits_its_key_op_and_version(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, state: AppState
) -> None:
    """Each route's audit details, as routes declare them (``@audited``) or set them: the key, the
    operation and the version used, never data."""
    headers = tenant.headers
    created = {
        key_type: await create_key(client, headers, key_type, exportable=True)
        for key_type in ("aes256-gcm", "hmac-sha256", "secp256k1", "secp256r1")
    }
    aes, mac, k1, r1 = (f"/v1/keys/{key['id']}" for key in created.values())
    ids = {key_type: key["id"] for key_type, key in created.items()}
    ct = (await client.post(f"{aes}/encrypt", json={"plaintext": b64(b"p")}, headers=headers)).json()
    tag = (await client.post(f"{mac}/hmac", json={"data": b64(b"d")}, headers=headers)).json()["hmac"]
    signed = await client.post(f"{k1}/sign", json={"message": b64(b"m")}, headers=headers)
    n3_tx = {"transaction": b64(_n3_transaction(created["secp256r1"]).to_array()), "network_magic": N3_MAGIC}

    def on(key_type: str, op: str, version: int | None = None, **extra: object) -> dict[str, object]:
        return {"key_id": ids[key_type], "op": op, **({"version": version} if version else {}), **extra}

    calls: list[tuple[str, str, Any, dict[str, object]]] = [
        ("GET", "/v1/keys", None, {}),
        ("GET", aes, None, {}),
        ("PATCH", aes, {"min_decryption_version": 1}, on("aes256-gcm", "update")),
        ("POST", f"{aes}/rotate", None, on("aes256-gcm", "rotate", 2)),
        ("POST", f"{aes}/disable", None, on("aes256-gcm", "disable")),
        ("POST", f"{aes}/enable", None, on("aes256-gcm", "enable")),
        ("POST", f"{aes}/encrypt", {"plaintext": b64(b"p")}, on("aes256-gcm", "encrypt", 2)),
        ("POST", f"{aes}/decrypt", {"ciphertext": ct["ciphertext"]}, on("aes256-gcm", "decrypt", 1)),
        ("POST", f"{aes}/rewrap", {"ciphertext": ct["ciphertext"]}, on("aes256-gcm", "rewrap", 2)),
        ("POST", f"{aes}/datakey", {}, on("aes256-gcm", "datakey", 2)),
        ("POST", f"{mac}/hmac", {"data": b64(b"d")}, on("hmac-sha256", "hmac", 1)),
        ("POST", f"{mac}/hmac/verify", {"data": b64(b"d"), "hmac": tag}, on("hmac-sha256", "hmac_verify", 1)),
        ("POST", f"{k1}/sign", {"message": b64(b"m")}, on("secp256k1", "sign", 1)),
        (
            "POST",
            f"{k1}/verify",
            {"message": b64(b"m"), "signature": signed.json()["signature"]},
            on("secp256k1", "verify", 1),
        ),
        ("GET", f"{k1}/public-key", None, on("secp256k1", "export_public_key", 1)),
        (
            "POST",
            f"{k1}/evm/sign-transaction",
            {"transaction": LEGACY},
            on("secp256k1", "evm_sign_transaction", 1),
        ),
        ("POST", f"{k1}/evm/sign-message", {"message": b64(b"m")}, on("secp256k1", "evm_sign_message", 1)),
        (
            "POST",
            f"{k1}/evm/sign-typed-data",
            {"typed_data": TYPED_DATA},
            on("secp256k1", "evm_sign_typed_data", 1),
        ),
        ("POST", f"{r1}/neo/sign-transaction", n3_tx, on("secp256r1", "neo_sign_transaction", 1)),
        ("POST", f"{aes}/backup", None, on("aes256-gcm", "backup")),
        ("POST", f"{aes}/schedule-deletion", None, on("aes256-gcm", "schedule_deletion", pending_days=30)),
        ("POST", f"{aes}/cancel-deletion", None, on("aes256-gcm", "cancel_deletion")),
    ]
    entries = await audit_entries(state.db, tenant.account_id)
    creations = [entry.details for entry in entries if entry.action == "keys.create"]
    assert creations == [on(key_type, "create", 1) for key_type in ids]
    seen, answers = {"keys.create"}, {}
    for method, url, body, expected in calls:
        response = answers[url] = await client.request(method, url, json=body, headers=headers)
        assert response.status_code < 300, (url, response.text)
        entry = (await audit_entries(state.db, tenant.account_id))[-1]
        assert entry.request_id == response.headers["x-request-id"]
        assert entry.details == expected, (url, entry.details)
        seen.add(entry.action)
    # Restoring the backup once the key is deleted: the key's latest version.
    backup = answers[f"{aes}/backup"].json()["backup"]
    await client.post(f"{aes}/schedule-deletion", json={"pending_days": 7}, headers=headers)
    async with state.db.transaction() as session:
        await session.execute(
            update(Key)
            .where(Key.id == ids["aes256-gcm"])
            .values(deletion_date=utcnow() - timedelta(seconds=1))
        )
    restored = await client.post("/v1/keys/restore", json={"backup": backup}, headers=headers)
    assert restored.status_code == 201, restored.text
    entry = (await audit_entries(state.db, tenant.account_id))[-1]
    assert entry.details == on("aes256-gcm", "restore", 2)
    seen.add(entry.action)
    routes = {
        context.original_route.name
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    }
    assert seen == {name for name in routes if name.startswith("keys.")}  # every keys route, checked


async def test_enclave_down_is_503(
    client: httpx.AsyncClient, tenant: Tenant, enclave_server: EnclaveServer
) -> None:
    key = await create_key(client, tenant.headers, "ed25519")
    await enclave_server.stop()
    response = await client.post(
        f"/v1/keys/{key['id']}/sign", json={"message": "AAAA"}, headers=tenant.headers
    )
    assert_problem(response, 503, "enclave_unavailable")

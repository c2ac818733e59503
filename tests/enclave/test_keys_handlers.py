"""The keys ops over the real protocol: material stays bound to its account, key and version; results
are signed over exactly the public request; backups open only in their account."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neo_service_layer.client import VerifiedIdentity, verify_attestation, verify_result
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import keys, signing
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.enclave.opdefs import keys as keys_ops
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.keys import (
    BackupArgs,
    DecryptArgs,
    EncryptArgs,
    GenerateArgs,
    GenerateResult,
    RestoreArgs,
    SignArgs,
    WrappedVersion,
    material_context,
)
from neo_service_layer.enclave.wrapping import WrapPurpose, unwrap
from neo_service_layer.errors import EnclaveCryptoFailed, EnclaveKeyUnusable, EnclaveRejected

ACCOUNT = "acc_01KEYSACCOUNT"
OTHER = "acc_01OTHERACCOUNT"


@pytest.fixture
def verified(ctx: EnclaveContext) -> VerifiedIdentity:
    return verify_attestation(ctx.report, allow_software=True)


async def _amk(client: UnixEnclaveClient, account: str = ACCOUNT, version: int = 1) -> SealedAmk:
    created = await client.amk_create(account, version)
    return SealedAmk(version=version, sealed=created.sealed)


async def _generate(
    client: UnixEnclaveClient, amk: SealedAmk, key_type: KeyType, key_id: str = "key_01A", version: int = 1
) -> GenerateResult:
    args = GenerateArgs(account_id=ACCOUNT, key_id=key_id, version=version, key_type=key_type, amk=amk)
    return await client.run(keys_ops.GENERATE, args)


def _version_args(
    amk: SealedAmk, generated: GenerateResult, key_type: KeyType, **overrides: Any
) -> dict[str, Any]:
    return {
        "account_id": ACCOUNT,
        "key_id": "key_01A",
        "version": 1,
        "key_type": key_type,
        "amk": amk,
        "material": generated.wrapped,
    } | overrides


@pytest.mark.parametrize("key_type", list(KeyType), ids=[k.value for k in KeyType])
async def test_generate_wraps_material_for_the_key_version(
    ctx: EnclaveContext, client: UnixEnclaveClient, key_type: KeyType
) -> None:
    amk = await _amk(client)
    generated = await _generate(client, amk, key_type)
    material = unwrap(
        ctx.open_amk(ACCOUNT, 1, amk.sealed),
        ACCOUNT,
        WrapPurpose.KEY_MATERIAL,
        "key_01A:1",
        generated.wrapped,
    )
    keys.validate_material(key_type, material)
    if key_type.is_asymmetric:
        assert generated.public_key == keys.public_key(key_type, material)
    else:
        assert generated.public_key is None
    assert material not in generated.wrapped


async def test_sign_result_is_signed_over_the_public_request_only(
    client: UnixEnclaveClient, verified: VerifiedIdentity
) -> None:
    amk = await _amk(client)
    generated = await _generate(client, amk, KeyType.SECP256R1)
    args = SignArgs(
        **_version_args(amk, generated, KeyType.SECP256R1),
        data=b"hello",
        hash=HashAlgorithm.SHA256,
        format=SignatureFormat.RAW,
    )
    params = args.params()
    assert set(params) == {"key_id", "version", "key_type", "data", "hash", "format"}
    signed = await client.run(keys_ops.SIGN, args)
    assert generated.public_key is not None
    assert signing.verify(
        KeyType.SECP256R1,
        generated.public_key,
        b"hello",
        signed.result.signature,
        hash_alg=HashAlgorithm.SHA256,
        fmt=SignatureFormat.RAW,
    )
    request = {"op": "keys.sign", "account_id": ACCOUNT, "params": params}
    assert (
        verify_result(signed.envelope, verified, request=request)["signature"]
        == signed.result.signature.hex()
    )


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"key_id": "key_01B"}, EnclaveRejected),  # another key's row: the wrap context differs
        ({"version": 2}, EnclaveRejected),  # another version's row
        ({"account_id": OTHER}, EnclaveRejected),  # another account (its AMK does not open)
        ({"key_type": KeyType.AES256_GCM}, EnclaveKeyUnusable),  # a type that cannot sign
        ({"key_type": KeyType.BLS12381}, EnclaveKeyUnusable),  # asymmetric, but a VRF secret: no signing
    ],
    ids=["other-key", "other-version", "other-account", "symmetric-type", "bls12381-type"],
)
async def test_swapped_rows_never_sign(
    client: UnixEnclaveClient, overrides: dict[str, Any], error: type[EnclaveRejected]
) -> None:
    amk = await _amk(client)
    generated = await _generate(client, amk, KeyType.SECP256R1)
    args = SignArgs(
        **(_version_args(amk, generated, KeyType.SECP256R1) | overrides),
        data=b"x",
        hash=HashAlgorithm.SHA256,
        format=SignatureFormat.RAW,
    )
    with pytest.raises(error) as raised:
        await client.run(keys_ops.SIGN, args)
    assert "material" not in str(raised.value.extra)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plaintext=st.binary(max_size=256), context=st.binary(max_size=64))
async def test_encrypt_round_trip_and_context_binding(
    client: UnixEnclaveClient, plaintext: bytes, context: bytes
) -> None:
    amk = await _amk(client)
    generated = await _generate(client, amk, KeyType.AES256_GCM)
    base = _version_args(amk, generated, KeyType.AES256_GCM)
    encrypted = await client.run(keys_ops.ENCRYPT, EncryptArgs(**base, plaintext=plaintext, context=context))
    blob = encrypted.result.ciphertext
    opened = await client.run(keys_ops.DECRYPT, DecryptArgs(**base, ciphertext=blob, context=context))
    assert opened.result.plaintext == plaintext
    with pytest.raises(EnclaveCryptoFailed):
        await client.run(keys_ops.DECRYPT, DecryptArgs(**base, ciphertext=blob, context=context + b"!"))


async def test_backup_restores_only_in_its_account(ctx: EnclaveContext, client: UnixEnclaveClient) -> None:
    amk = await _amk(client)
    v1 = await _generate(client, amk, KeyType.ED25519)
    v2 = await _generate(client, amk, KeyType.ED25519, version=2)
    backup = await client.run(
        keys_ops.BACKUP,
        BackupArgs(
            account_id=ACCOUNT,
            key_id="key_01A",
            key_type=KeyType.ED25519,
            policy={"name": "n"},
            target=amk,
            amks=[amk],
            versions=[
                WrappedVersion(version=1, amk_version=1, material=v1.wrapped),
                WrappedVersion(version=2, amk_version=1, material=v2.wrapped),
            ],
        ),
    )
    amk2 = await _amk(client, version=2)
    restored = await client.run(
        keys_ops.RESTORE,
        RestoreArgs(account_id=ACCOUNT, key_id="key_01A", backup=backup.backup, source=amk, target=amk2),
    )
    assert restored.policy == {"name": "n"}
    assert [(v.version, v.public_key) for v in restored.versions] == [(1, v1.public_key), (2, v2.public_key)]
    opened = unwrap(
        ctx.open_amk(ACCOUNT, 2, amk2.sealed),
        ACCOUNT,
        WrapPurpose.KEY_MATERIAL,
        material_context("key_01A", 2),
        restored.versions[1].wrapped,
    )
    assert keys.public_key(KeyType.ED25519, opened) == v2.public_key

    other_amk = await _amk(client, OTHER)
    with pytest.raises(EnclaveCryptoFailed):
        await client.run(
            keys_ops.RESTORE,
            RestoreArgs(
                account_id=OTHER, key_id="key_01A", backup=backup.backup, source=other_amk, target=other_amk
            ),
        )
    with pytest.raises(EnclaveCryptoFailed):  # renamed to another key id
        await client.run(
            keys_ops.RESTORE,
            RestoreArgs(account_id=ACCOUNT, key_id="key_01B", backup=backup.backup, source=amk, target=amk),
        )
